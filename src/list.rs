//! Chains of free blocks, linked through their headers' `link` words, 0 ending the chain:
//! a heap's free lists, the exchange's batches and the purge's lists are all such chains.
//!
//! Invariants: every block on a chain of bucket `b` carries the free tag of `b` (a program
//! that writes past a block may break it: `heap::take` checks it on every block it hands out,
//! and reports misuse), and a chain said to hold `n` blocks holds exactly `n` (checked in debug
//! builds where a chain is walked anyway).

use crate::header::{Header, State, tag};
use crate::size_class::SMALL_BUCKETS;

/// A chain and its length, per small bucket: what a heap gives a purge, and what a purge
/// gives back.
pub type Lists = [(*mut Header, usize); SMALL_BUCKETS];

/// The block `n` links after `first`.
///
/// # Safety
/// The caller owns a chain of more than `n` blocks from `first`.
pub unsafe fn nth(mut first: *mut Header, n: usize) -> *mut Header {
    for _ in 0..n {
        // SAFETY: the caller's promise: every block up to the n-th is on the chain.
        first = unsafe { (*first).link } as *mut Header;
    }
    first
}

/// The last block of a chain.
///
/// # Safety
/// The caller owns the non-empty chain from `first`.
pub unsafe fn last_of(mut first: *mut Header) -> *mut Header {
    // SAFETY: the caller's promise: the chain ends with a zero link.
    unsafe {
        while (*first).link != 0 {
            first = (*first).link as *mut Header;
        }
    }
    first
}

/// Whether the chain from `first` holds exactly `n` free blocks of bucket `b` (for
/// `debug_assert!`: it walks the chain). A header that is not the free header of `b` was
/// overwritten by the program, not by us: that is misuse, which `heap::take` reports when the
/// block is reached, so the check stops there and says yes.
///
/// # Safety
/// The caller owns the chain from `first`.
pub unsafe fn holds(first: *mut Header, n: usize, b: usize) -> bool {
    let mut it = first;
    for _ in 0..n {
        if it.is_null() {
            return false;
        }
        // SAFETY: the caller's promise.
        if unsafe { (*it).tag } != tag(State::Free, b) {
            return true;
        }
        // SAFETY: as above.
        it = unsafe { (*it).link } as *mut Header;
    }
    it.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TestCell;

    /// Headers of `n` free blocks of bucket 2 in `cells`, chained in order.
    fn chain(cells: &mut [TestCell]) -> *mut Header {
        let n = cells.len();
        let base = cells.as_mut_ptr().cast::<Header>();
        for i in 0..n {
            // SAFETY: each cell is 32 bytes, two Headers; we write the first of each.
            unsafe {
                let h = base.add(2 * i);
                (*h).tag = tag(State::Free, 2);
                (*h).link = if i + 1 < n {
                    base.add(2 * i + 2) as usize
                } else {
                    0
                };
            }
        }
        base
    }

    #[test]
    fn nth_and_last_follow_the_links() {
        let mut cells = [TestCell::default(); 5];
        let first = chain(&mut cells);
        unsafe {
            assert_eq!(nth(first, 0), first);
            assert_eq!(nth(first, 3), first.add(6));
            assert_eq!(last_of(first), first.add(8));
        }
    }

    #[test]
    fn holds_checks_length_and_tags() {
        let mut cells = [TestCell::default(); 5];
        let first = chain(&mut cells);
        unsafe {
            assert!(holds(first, 5, 2));
            assert!(!holds(first, 4, 2), "too short a count");
            assert!(!holds(first, 6, 2), "too long a count");
            (*first.add(4)).tag = 0;
            assert!(
                holds(first, 9, 2),
                "a clobbered tag is the program's doing: misuse, reported elsewhere"
            );
        }
    }
}
