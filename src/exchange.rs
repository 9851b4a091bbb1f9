//! The global exchange of free blocks, which bounds memory when one thread allocates and
//! another frees (the cost of freeing into the freeing thread's heap, see DESIGN.md).
//!
//! A heap that holds more than `limit(b)` free blocks in bucket `b` hands a batch of
//! `batch_len(b)` of them to the exchange; a heap whose list runs dry takes a whole batch
//! from it before it carves new memory. Batches move as one item of a lock-free stack per
//! bucket, so a transfer costs one compare-and-swap for a whole batch, and the malloc and
//! free fast paths never touch the exchange.
//!
//! The exchange keeps at most `RETAIN_BYTES`: beyond that, everything in it is purged at once
//! (the whole pages its blocks cover go back to the OS, see `purge`), and batches that sat
//! unused for longer than the purge delay are purged the next time any heap overflows or
//! takes new memory.
//!
//! A batch is a chain of free blocks linked through their headers, like a free list. Its first
//! block's payload holds the stack link (word 0) and the batch's length and the time it was
//! handed over (word 1).

use crate::header::{self, Header};
use crate::heap::Heap;
use crate::size_class::{SMALL_BUCKETS, stride_of};
use crate::stack::Stack;
use crate::{options, purge};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// Bytes of blocks a batch carries, roughly: large enough that transfers are rare, small
/// enough that a heap idles with little (see README, "Memory").
const BATCH_BYTES: usize = 64 << 10;
const MAX_BATCH: usize = 1024;
/// Most bytes the exchange keeps for reuse before it purges what it is given.
pub const RETAIN_BYTES: usize = 32 << 20;

/// Blocks in a batch of bucket `b`.
pub const fn batch_len(b: usize) -> usize {
    let n = BATCH_BYTES / stride_of(b);
    if n == 0 {
        1
    } else if n > MAX_BATCH {
        MAX_BATCH
    } else {
        n
    }
}

/// Free blocks a heap keeps in bucket `b` before it hands a batch over: two batches, so
/// that a heap alternating between freeing and allocating around the limit does not send
/// and fetch the same batch over and over.
pub const fn limit(b: usize) -> u64 {
    2 * batch_len(b) as u64
}

/// `limit` for every bucket, for the free fast path (a constant, so it is read without a GOT
/// load).
pub const LIMITS: [u64; SMALL_BUCKETS] = {
    let mut l = [0; SMALL_BUCKETS];
    let mut b = 0;
    while b < SMALL_BUCKETS {
        l[b] = limit(b);
        b += 1;
    }
    l
};

struct Exchange {
    stacks: [Stack; SMALL_BUCKETS],
    /// Blocks held, by bucket, for the exit report.
    blocks: [AtomicU64; SMALL_BUCKETS],
    /// Bytes held in all buckets.
    bytes: AtomicUsize,
    /// When (coarse milliseconds) the last purge of old batches started.
    last_decay: AtomicU64,
    /// Set while a thread purges.
    purging: AtomicBool,
    /// Bytes the last purge could not release.
    kept_by_purge: AtomicUsize,
    /// The stamp clock when the last purge ran.
    last_purge: AtomicU64,
    /// Bytes the last purge of everything could not release.
    kept_by_full_purge: AtomicUsize,
}

static EXCHANGE: Exchange = Exchange {
    stacks: [const { Stack::new() }; SMALL_BUCKETS],
    blocks: [const { AtomicU64::new(0) }; SMALL_BUCKETS],
    bytes: AtomicUsize::new(0),
    last_decay: AtomicU64::new(0),
    purging: AtomicBool::new(false),
    kept_by_purge: AtomicUsize::new(0),
    last_purge: AtomicU64::new(0),
    kept_by_full_purge: AtomicUsize::new(0),
};

/// Blocks of bucket `b` in the exchange now.
pub fn blocks(b: usize) -> u64 {
    EXCHANGE.blocks[b].load(Relaxed)
}

/// A coarse monotonic clock in milliseconds (a vDSO read, no system call).
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into our timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

fn meta(first: *mut Header) -> &'static AtomicU64 {
    // SAFETY: word 1 of the first block's payload (every payload has 16 bytes at least), in
    // memory that is never unmapped; only the batch's owner reads or writes it.
    unsafe { AtomicU64::from_ptr(header::user_of(first).cast::<u64>().add(1)) }
}

/// Hands over a batch of `count` free blocks of bucket `b`, chained from `first`, from the
/// caller's heap `h`. When the exchange then holds more than it should keep, it is purged
/// with `h`'s lists at once. Blocks a purge kept (they share pages with blocks in use) are
/// sorted again only when the exchange has doubled since the last full purge, so the work stays
/// proportional to what is freed; in between, a purge takes what arrived since the last one.
pub fn give(h: *mut Heap, b: usize, first: *mut Header, count: usize) {
    push(b, first, count, now_ms());
    let held = EXCHANGE.bytes.load(Relaxed);
    if held <= RETAIN_BYTES || held <= EXCHANGE.kept_by_purge.load(Relaxed) + RETAIN_BYTES / 2 {
        maybe_decay();
    } else if held > 2 * EXCHANGE.kept_by_full_purge.load(Relaxed) {
        if purge(|_, _| true, h).is_some() {
            EXCHANGE
                .kept_by_full_purge
                .store(EXCHANGE.kept_by_purge.load(Relaxed), Relaxed);
        }
    } else {
        let since = EXCHANGE.last_purge.load(Relaxed);
        purge(
            |now, stamp| {
                now.wrapping_sub(stamp) & STAMP_MASK <= now.wrapping_sub(since) & STAMP_MASK
            },
            h,
        );
    }
}

/// Batch stamps are the low 32 bits of the millisecond clock.
const STAMP_MASK: u64 = 0xffff_ffff;

fn push(b: usize, first: *mut Header, count: usize, stamp: u64) {
    meta(first).store((stamp << 32) | count as u64, Relaxed);
    EXCHANGE.blocks[b].fetch_add(count as u64, Relaxed);
    EXCHANGE.bytes.fetch_add(count * stride_of(b), Relaxed);
    EXCHANGE.stacks[b].push(first);
}

/// Takes a batch of bucket `b`: its first block and length, or None.
pub fn take(b: usize) -> Option<(*mut Header, usize)> {
    let first = EXCHANGE.stacks[b].pop();
    if first.is_null() {
        return None;
    }
    let count = (meta(first).load(Relaxed) & 0xffff_ffff) as usize;
    EXCHANGE.blocks[b].fetch_sub(count as u64, Relaxed);
    EXCHANGE.bytes.fetch_sub(count * stride_of(b), Relaxed);
    Some((first, count))
}

/// Purges batches, and cached large mappings, older than the purge delay: at most once per
/// delay across all threads.
pub fn maybe_decay() {
    let delay = options::purge_delay_ms();
    let now = now_ms();
    let last = EXCHANGE.last_decay.load(Relaxed);
    if now.wrapping_sub(last) < delay.max(1) {
        return;
    }
    if EXCHANGE
        .last_decay
        .compare_exchange(last, now, Relaxed, Relaxed)
        .is_err()
    {
        return; // another thread does it
    }
    if EXCHANGE.bytes.load(Relaxed) != 0 {
        purge(
            |now, stamp| now.wrapping_sub(stamp) & STAMP_MASK >= delay,
            core::ptr::null_mut(),
        );
    }
    crate::mapcache::decay(now, delay);
}

/// Purges everything the exchange and the caller's heap `h` hold (malloc_trim).
pub fn purge_all(h: *mut Heap) {
    purge(|_, _| true, h);
}

/// When the OS has no more memory: purges everything the exchange and the caller's heap `h`
/// hold until `found` finds what it needs among the spans. A purge sorts at most a million
/// blocks, and spans grow as their neighbours are purged, so one round may not be enough:
/// rounds go on while they merge something, at most `ROUNDS` (each sorts up to a million).
#[cold]
pub fn reclaim<T>(h: *mut Heap, mut found: impl FnMut() -> Option<T>) -> Option<T> {
    const ROUNDS: usize = 32;
    for _ in 0..ROUNDS {
        let merged = purge(|_, _| true, h);
        if let Some(x) = found() {
            return Some(x);
        }
        if merged.unwrap_or(0) == 0 {
            break; // nothing merged (or another thread purges): no larger span to hope for
        }
    }
    None
}

/// Takes the batches whose stamp `pick(now, stamp)` selects out of the exchange, and every
/// free block of the caller's heap `h` (if not null), gives the whole pages they cover back to
/// the OS, and hands the blocks that remain to the exchange, stamped just before now. One
/// thread purges at a time; another that would purge meanwhile simply goes on (None).
/// Returns how many blocks and spans merged into spans.
fn purge(pick: impl Fn(u64, u64) -> bool, h: *mut Heap) -> Option<usize> {
    if EXCHANGE.purging.swap(true, Acquire) {
        return None;
    }
    let now = now_ms() & STAMP_MASK;
    let mut lists = [(core::ptr::null_mut::<Header>(), 0usize); SMALL_BUCKETS];
    if !h.is_null() {
        // SAFETY: `h` is the caller's own heap.
        unsafe { crate::heap::drain(h, &mut lists) };
    }
    for (b, list) in lists.iter_mut().enumerate() {
        let mut batch = EXCHANGE.stacks[b].take_all();
        while !batch.is_null() {
            let next = Stack::next(batch);
            let m = meta(batch).load(Relaxed);
            let (stamp, count) = (m >> 32, (m & 0xffff_ffff) as usize);
            EXCHANGE.blocks[b].fetch_sub(count as u64, Relaxed);
            EXCHANGE.bytes.fetch_sub(count * stride_of(b), Relaxed);
            if pick(now, stamp) {
                // Chain the batch in front of this bucket's list.
                let last = purge::last_of(batch);
                // SAFETY: we own every batch taken from the stack; `last` ends this one.
                unsafe { (*last).link = list.0 as usize };
                *list = (batch, list.1 + count);
            } else {
                push(b, batch, count, stamp);
            }
            batch = next;
        }
    }
    let (unexamined, merged) = purge::release(&mut lists);
    // Blocks kept are stamped just before now, so that the next purge of new arrivals leaves
    // them; blocks the purge had no room to examine count as new arrivals.
    let kept_stamp = now.wrapping_sub(1) & STAMP_MASK;
    let mut kept = 0;
    for (b, (&(list, count), &(rest, rest_count))) in
        lists.iter().zip(unexamined.iter()).enumerate()
    {
        requeue(b, list, count, kept_stamp);
        requeue(b, rest, rest_count, now);
        kept += count * stride_of(b);
    }
    // What this purge could not release (not what others handed over meanwhile).
    EXCHANGE.kept_by_purge.store(kept, Relaxed);
    EXCHANGE.last_purge.store(now, Relaxed);
    EXCHANGE.purging.store(false, Release);
    Some(merged)
}

/// Hands a list of free blocks back to the exchange in batches.
fn requeue(b: usize, mut list: *mut Header, mut count: usize, stamp: u64) {
    while count > 0 {
        let n = count.min(batch_len(b));
        let first = list;
        let last = purge::nth(first, n - 1);
        // SAFETY: we own the list; `last` is its n-th block.
        unsafe {
            list = (*last).link as *mut Header;
            (*last).link = 0;
        }
        push(b, first, n, stamp);
        count -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_carry_about_64k_and_limits_are_two_batches() {
        assert_eq!(batch_len(0), 1024, "16-byte blocks: capped");
        assert_eq!(batch_len(2), 65536 / 80);
        assert_eq!(batch_len(12), 1, "64 KiB blocks: one per batch");
        assert_eq!(batch_len(16), 1);
        for (b, &limit) in LIMITS.iter().enumerate() {
            assert_eq!(limit, 2 * batch_len(b) as u64);
            assert!(batch_len(b) * stride_of(b) <= 2 * BATCH_BYTES.max(stride_of(b)));
        }
    }
}
