//! The global exchange of free blocks, which bounds memory when one thread allocates and
//! another frees (the cost of freeing into the freeing thread's heap, see docs/DESIGN.md).
//!
//! A heap that holds more than `heap::LIMITS[b]` free blocks in bucket `b` hands a batch of
//! them over; a heap whose list runs dry takes a whole batch from here before it carves new
//! memory. Batches move as one item of a lock-free stack per bucket, so a transfer costs one
//! compare-and-swap for a whole batch, and the malloc and free fast paths never come here.
//! When batches go back to the OS is the purge's business (`purge`).
//!
//! A batch is a chain of free blocks (see `list`); its first block's payload holds the stack
//! link, the batch's length and when it was handed over (`header::Payload`).
//! Invariant: a batch on a stack of bucket `b` holds exactly the length its payload records,
//! of free blocks of `b`; `blocks(b)` and `bytes()` count what the stacks hold (they lag a
//! transfer in progress).

use crate::header::Carved;
use crate::list;
use crate::size_class::{SMALL_BUCKETS, stride_of};
use crate::stack::Stack;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Batch stamps are the low 32 bits of the millisecond clock.
pub const STAMP_MASK: u64 = 0xffff_ffff;

/// One bucket's stack of batches and the count of blocks on it, on a cache line of their own:
/// a hand-over or a take writes this one shared line, and no other bucket's.
#[repr(C, align(64))]
struct Bucket {
    stack: Stack,
    /// Blocks held, for the exit report and the purge's bound.
    blocks: AtomicU64,
}

static EXCHANGE: [Bucket; SMALL_BUCKETS] = [const {
    Bucket {
        stack: Stack::new(),
        blocks: AtomicU64::new(0),
    }
}; SMALL_BUCKETS];

/// Blocks of bucket `b` in the exchange now.
pub fn blocks(b: usize) -> u64 {
    EXCHANGE[b].blocks.load(Relaxed)
}

/// Bytes of blocks in the exchange now: a read of every bucket's line, for the purge's
/// decisions (once per chunk a heap takes, or per purge delay), never per block.
pub fn bytes() -> usize {
    (0..SMALL_BUCKETS)
        .map(|b| blocks(b) as usize * stride_of(b))
        .sum()
}

/// The word of a batch's first block that records its length and stamp (only the batch's
/// owner reads or writes it).
fn batch_word(first: Carved) -> &'static AtomicU64 {
    &first.payload().batch
}

/// Hands over a batch of `n` free blocks of bucket `b`, chained from `first`, stamped `stamp`:
/// the caller owned the chain, and gives it up.
pub fn give(b: usize, first: Carved, n: usize, stamp: u64) {
    let holds = || list::holds(Some(first), n, b);
    debug_assert!(holds(), "a batch's length is its chain's");
    batch_word(first).store(((stamp & STAMP_MASK) << 32) | n as u64, Relaxed);
    // Counted before it is pushed, so that a take that pops it first never counts below 0.
    EXCHANGE[b].blocks.fetch_add(n as u64, Relaxed);
    EXCHANGE[b].stack.push(first);
}

/// Takes a batch of bucket `b`: its first block and length, the caller's now; or None.
pub fn take(b: usize) -> Option<(Carved, usize)> {
    let first = EXCHANGE[b].stack.pop()?;
    let (n, _) = taken(b, first);
    Some((first, n))
}

/// Accounts for a batch taken off bucket `b`'s stack: its length and stamp.
fn taken(b: usize, first: Carved) -> (usize, u64) {
    let word = batch_word(first).load(Relaxed);
    let n = (word & STAMP_MASK) as usize;
    EXCHANGE[b].blocks.fetch_sub(n as u64, Relaxed);
    (n, word >> 32)
}

/// Takes every batch of bucket `b` at once.
pub fn take_all(b: usize) -> Batches {
    Batches {
        b,
        next: EXCHANGE[b].stack.take_all(),
    }
}

/// The batches of one bucket taken with `take_all`, the caller's now: each one's first block,
/// length and stamp.
pub struct Batches {
    b: usize,
    next: Option<Carved>,
}

impl Iterator for Batches {
    type Item = (Carved, usize, u64);

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.next?;
        self.next = Stack::next(first);
        let (n, stamp) = taken(self.b, first);
        Some((first, n, stamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TestCell;

    /// Free blocks of bucket 0 in `cells`, chained.
    fn batch(cells: &mut [TestCell]) -> Carved {
        let base = cells.as_mut_ptr() as usize;
        let n = cells.len();
        for i in 0..n {
            let h = unsafe { Carved::new((base + 32 * i) as *mut _) };
            h.make_free(0, if i + 1 < n { base + 32 * (i + 1) } else { 0 });
        }
        unsafe { Carved::new(base as *mut _) }
    }

    #[test]
    fn each_bucket_has_a_cache_line_of_its_own() {
        assert_eq!(core::mem::size_of::<Bucket>(), 64);
        assert_eq!(core::mem::align_of::<Bucket>(), 64);
        let at = |b: usize| &EXCHANGE[b] as *const Bucket as usize;
        assert_eq!(at(0) % 64, 0);
        assert_eq!(at(1) - at(0), 64);
    }

    #[test]
    fn batches_keep_their_length_and_stamp_and_the_counts_follow() {
        let _alone = crate::tests_alone();
        let mut a = [TestCell::default(); 3];
        let mut c = [TestCell::default(); 5];
        let (fa, fc) = (batch(&mut a), batch(&mut c));
        let before = (blocks(0), bytes());
        give(0, fa, 3, 7);
        give(0, fc, 5, 9);
        assert_eq!(blocks(0), before.0 + 8);
        assert_eq!(bytes(), before.1 + 8 * stride_of(0));
        assert_eq!(take(0), Some((fc, 5)), "last in, first out");
        let rest: std::vec::Vec<_> = take_all(0).collect();
        assert!(rest.contains(&(fa, 3, 7)), "{rest:?}");
        assert_eq!(blocks(0), 0, "every batch of the bucket was taken");
        assert_eq!(take(0), None);
    }
}
