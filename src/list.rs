//! Chains of free blocks, linked through their headers' encoded links (`header`), 0 ending
//! the chain: a heap's free lists, the exchange's batches and the purge's lists are all such
//! chains.
//!
//! Invariants: every block on a chain of bucket `b` carries the seal of `b` (a program that
//! writes past a block may break it: `heap::take` checks it, and the link, on every block it
//! hands out, and reports misuse), and a chain said to hold `n` blocks holds exactly `n`
//! (checked in debug builds where a chain is walked anyway).

use crate::header::{Carved, Header, seal};
use crate::size_class::SMALL_BUCKETS;

/// A chain (its first block, if any) and its length, per small bucket: what a heap gives a
/// purge, and what a purge gives back.
pub type Lists = [(Option<Carved>, usize); SMALL_BUCKETS];

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

/// The block `n` links after `first`, on a chain of more than `n` blocks (cutting a batch
/// walks this loop: it tests no link for the end).
pub fn nth(mut first: Carved, n: usize) -> Carved {
    for _ in 0..n {
        let link = first.link().unwrap_or(0);
        debug_assert!(link != 0, "a chain shorter than promised");
        // SAFETY: the chain holds more than n blocks, so every link up to the n-th names a
        // carved header (see `next`).
        first = unsafe { Carved::new(link as *mut Header) };
    }
    first
}

/// The last block of a chain.
pub fn last_of(mut first: Carved) -> Carved {
    while let Some(n) = next(first) {
        first = n;
    }
    first
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
        if blk.lead() != seal(b) || blk.link().is_none() {
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

    #[test]
    fn nth_and_last_follow_the_links() {
        let mut cells = [TestCell::default(); 5];
        let first = chain(&mut cells);
        assert_eq!(nth(first, 0), first);
        assert_eq!(nth(first, 3).addr(), first.addr() + 3 * 32);
        assert_eq!(last_of(first).addr(), first.addr() + 4 * 32);
    }

    #[test]
    fn holds_checks_the_length() {
        let mut cells = [TestCell::default(); 5];
        let head = chain(&mut cells);
        let first = Some(head);
        assert!(holds(first, 5, 2));
        assert!(!holds(first, 4, 2), "too short a count");
        assert!(!holds(first, 6, 2), "too long a count");
        nth(head, 2).set_lead(0);
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
        third.set_tag(third.tag() ^ (0x41 << 56));
        assert_eq!(last_of(head), third, "the walk stops at the broken link");
        assert_eq!(next(third), None);
    }
}
