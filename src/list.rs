//! Chains of free blocks, linked through their headers' encoded links (`header`), 0 ending
//! the chain: a heap's free lists, the exchange's batches and the purge's lists are all such
//! chains.
//!
//! Invariants: every block on a chain of bucket `b` carries the seal of `b` (a program that
//! writes past a block may break it: `heap::take` checks it, and the link, on every block it
//! hands out, and reports misuse), and a chain said to hold `n` blocks holds exactly `n`
//! (checked in debug builds where a chain is walked anyway).

use crate::header::Carved;
use crate::size_class::SMALL_BUCKETS;
use core::sync::atomic::Ordering::Relaxed;

/// Batches of one bucket that one thread holds (a purge): each a chain ending with a zero
/// link, whose first block's payload records its length and links it to the batch below
/// (`header::Payload`, as on the exchange's stacks). A batch goes on or off in constant time:
/// no chain is walked to join batches or to cut them apart.
#[derive(Clone, Copy, Default, Debug)]
pub struct Pile {
    top: Option<Carved>,
    blocks: usize,
}

/// A pile per small bucket: what a heap and the exchange give a purge, and what it gives back.
pub type Piles = [Pile; SMALL_BUCKETS];

/// No batches in any bucket.
pub const NO_PILES: Piles = [Pile::EMPTY; SMALL_BUCKETS];

impl Pile {
    pub const EMPTY: Pile = Pile {
        top: None,
        blocks: 0,
    };

    /// Puts the chain of `n` free blocks from `first`, which the caller owns, on the pile.
    pub fn push(&mut self, first: Carved, n: usize) {
        debug_assert!(n > 0 && n <= u32::MAX as usize);
        let payload = first.payload();
        payload.batch.store(n as u64, Relaxed);
        payload
            .next
            .store(self.top.map_or(0, Carved::addr), Relaxed);
        self.top = Some(first);
        self.blocks += n;
    }

    /// Takes the top batch: its first block and length.
    pub fn pop(&mut self) -> Option<(Carved, usize)> {
        let first = self.top?;
        let payload = first.payload();
        let n = (payload.batch.load(Relaxed) & u32::MAX as u64) as usize;
        // SAFETY: the link was written by `push`: a carved header, or 0.
        self.top = unsafe { Carved::from_link(payload.next.load(Relaxed)) };
        self.blocks -= n;
        Some((first, n))
    }

    /// Blocks in all the pile's batches.
    pub fn blocks(&self) -> usize {
        self.blocks
    }
}

/// The block after `blk` on its chain. The walkers here are safe functions: a chain's links
/// are written by bmalloc alone and name carved headers or are 0 (the invariant of `header`).
/// A link the program overwrote does not decode (`header::decode_link`), and the chain ends
/// there: the walk never leaves our memory (`heap::take` reports such a block when it reaches
/// it). Chains are walked by the thread that owns them (a heap's owner, the purge, a batch's
/// taker).
#[inline(always)]
pub fn next(blk: Carved) -> Option<Carved> {
    // SAFETY: a link that decodes names a carved header, or is 0 (see above).
    unsafe { Carved::from_link(blk.link()?) }
}

/// Whether the chain from `first` holds exactly `n` free blocks of bucket `b` (for
/// `debug_assert!`: it walks the chain). A header without the seal of `b`, or whose link does
/// not decode, was overwritten by the program, not by us: that is misuse, which `heap::take`
/// reports when the block is reached, so the check stops there and says yes.
pub fn holds(first: Option<Carved>, n: usize, b: usize) -> bool {
    let mut it = first;
    for _ in 0..n {
        let Some(blk) = it else {
            return false;
        };
        if !blk.sealed(b) || blk.link().is_none() {
            return true;
        }
        it = next(blk);
    }
    it.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TestCell;

    /// Headers of free blocks of bucket 2 in `cells`, chained in order.
    fn chain(cells: &mut [TestCell]) -> Carved {
        let n = cells.len();
        let at = |i: usize| unsafe { Carved::new((&mut cells[i] as *mut TestCell).cast()) };
        let blocks: std::vec::Vec<Carved> = (0..n).map(at).collect();
        for (i, b) in blocks.iter().enumerate() {
            b.make_free(2, blocks.get(i + 1).map_or(0, |n| n.addr()));
        }
        blocks[0]
    }

    /// The `n`-th block after `first`.
    fn nth(first: Carved, n: usize) -> Carved {
        (0..n).fold(first, |b, _| next(b).expect("long enough"))
    }

    #[test]
    fn piles_give_batches_back_last_first_with_their_lengths() {
        let mut cells = [TestCell::default(); 6];
        let head = chain(&mut cells);
        // Cut the chain of six into batches of 2 and 4, as their owner may.
        let second = nth(head, 2);
        nth(head, 1).set_link(0);
        let mut pile = Pile::EMPTY;
        pile.push(head, 2);
        pile.push(second, 4);
        assert_eq!(pile.blocks(), 6);
        assert_eq!(pile.pop(), Some((second, 4)));
        assert_eq!(pile.pop(), Some((head, 2)));
        assert_eq!((pile.pop(), pile.blocks()), (None, 0));
        assert!(
            holds(Some(head), 2, 2) && holds(Some(second), 4, 2),
            "chains untouched"
        );
    }

    #[test]
    fn holds_checks_the_length() {
        let mut cells = [TestCell::default(); 5];
        let head = chain(&mut cells);
        let first = Some(head);
        assert!(holds(first, 5, 2));
        assert!(!holds(first, 4, 2), "too short a count");
        assert!(!holds(first, 6, 2), "too long a count");
        nth(head, 2).set_tag(0);
        assert!(
            holds(first, 9, 2),
            "a clobbered seal is the program's doing: misuse, reported elsewhere"
        );
    }

    #[test]
    fn a_walk_ends_at_a_link_that_does_not_decode() {
        let mut cells = [TestCell::default(); 5];
        let head = chain(&mut cells);
        let third = nth(head, 2);
        third.set_lead(third.lead() ^ (0x41 << 56));
        assert_eq!(next(nth(head, 1)), Some(third));
        assert_eq!(next(third), None, "the walk stops at the broken link");
    }
}
