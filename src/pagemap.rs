//! Which pages of the address space bmalloc obtained: one bit per 4 KiB, so that free() can
//! tell a wild pointer from one of ours before it reads the header in front of it.
//!
//! Two levels: a static table with one slot per GiB of the 47-bit user address space, each
//! pointing (once that GiB holds any of our memory) to a 32 KiB bitmap mapped on demand.
//! A second bitmap of the same size behind it remembers the header pages of large blocks
//! that were freed, so that freeing one again is called a double free, not a wild pointer.
//! Lookups are two plain loads; marking is rare (once per chunk or large block) and uses
//! atomic or/and on bitmap words, so concurrent marks of neighbouring ranges never lose a bit.

use crate::os;
use crate::size_class::ALIGN;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};

const UNIT_SHIFT: u32 = 12;
const LEAF_SHIFT: u32 = 30;
const ADDRESS_BITS: u32 = 47;
const TOP_SLOTS: usize = 1 << (ADDRESS_BITS - LEAF_SHIFT);
const UNITS_PER_LEAF: usize = 1 << (LEAF_SHIFT - UNIT_SHIFT);
const LEAF_WORDS: usize = UNITS_PER_LEAF / 64;
const LEAF_BYTES: usize = 2 * LEAF_WORDS * 8;

static TOP: [AtomicPtr<AtomicU64>; TOP_SLOTS] = [const { AtomicPtr::new(null_mut()) }; TOP_SLOTS];

/// Whether the 4 KiB unit holding `addr` belongs to bmalloc.
#[inline(always)]
pub fn owns(addr: usize) -> bool {
    let slot = addr >> LEAF_SHIFT;
    if slot >= TOP_SLOTS {
        return false;
    }
    let leaf = TOP[slot].load(Acquire);
    if leaf.is_null() {
        return false;
    }
    let unit = (addr >> UNIT_SHIFT) & (UNITS_PER_LEAF - 1);
    // SAFETY: a non-null slot points to a live LEAF_WORDS-word bitmap (leaves are never
    // unmapped) and unit / 64 < LEAF_WORDS.
    let word = unsafe { (*leaf.add(unit / 64)).load(Relaxed) };
    (word >> (unit % 64)) & 1 != 0
}

/// Whether `addr` is 16-aligned and the 16-byte header there can be read: it lies in the
/// stretch of the program break that bmalloc moved (the common case: a subtraction, and a
/// rotation that turns a misaligned offset into one above any stretch, then a comparison), or
/// on a page of ours. Memory there may still be another's (a stretch of the break someone
/// else took): the caller checks what it reads.
#[inline(always)]
pub fn readable(addr: usize) -> bool {
    let off = addr.wrapping_sub(os::BREAK.lo.load(Relaxed));
    off.rotate_right(ALIGN.trailing_zeros()) < os::BREAK.units.load(Relaxed)
        || (addr % ALIGN == 0 && owns(addr))
}

/// Marks `[start, start + len)` as ours. Returns false if a bitmap could not be mapped.
#[cold]
pub fn mark(start: usize, len: usize) -> bool {
    debug_assert!(start % (1 << UNIT_SHIFT) == 0, "only whole pages are ours");
    update(start, len, true, 0) && update(start, len, false, LEAF_WORDS)
}

/// Remembers that the unit holding `addr` was a freed large block's header.
#[cold]
pub fn retire(addr: usize) {
    update(addr, 1, true, LEAF_WORDS);
}

/// Whether the unit holding `addr`, not ours now, held the header of a large block we freed.
#[cold]
pub fn retired(addr: usize) -> bool {
    let slot = addr >> LEAF_SHIFT;
    let leaf = match TOP.get(slot) {
        Some(s) => s.load(Acquire),
        None => return false,
    };
    if leaf.is_null() {
        return false;
    }
    let unit = (addr >> UNIT_SHIFT) & (UNITS_PER_LEAF - 1);
    // SAFETY: a live leaf has 2 * LEAF_WORDS words; the index is below that.
    let word = unsafe { (*leaf.add(LEAF_WORDS + unit / 64)).load(Relaxed) };
    (word >> (unit % 64)) & 1 != 0
}

/// Marks `[start, start + len)` as no longer ours. Call before the memory is unmapped, so that
/// a new mapping at the same address is never unmarked by us afterwards.
#[cold]
pub fn unmark(start: usize, len: usize) {
    update(start, len, false, 0);
}

/// Sets or clears the bits of `[start, start + len)` in the bitmap `words` words into each
/// leaf (0: ours, LEAF_WORDS: retired).
fn update(start: usize, len: usize, set: bool, words: usize) -> bool {
    let first = start >> UNIT_SHIFT;
    let end = (start + len).div_ceil(1 << UNIT_SHIFT);
    let mut unit = first;
    while unit < end {
        let slot = unit / UNITS_PER_LEAF;
        if slot >= TOP_SLOTS {
            return false;
        }
        let Some(leaf) = leaf_for(slot, set) else {
            if set {
                return false;
            }
            unit = (slot + 1) * UNITS_PER_LEAF;
            continue;
        };
        let in_leaf = unit % UNITS_PER_LEAF;
        let word_index = in_leaf / 64;
        let bit = in_leaf % 64;
        let run = (64 - bit).min(end - unit);
        let bits = if run == 64 {
            u64::MAX
        } else {
            ((1u64 << run) - 1) << bit
        };
        // SAFETY: leaf is a live bitmap of 2 * LEAF_WORDS words; words + word_index is below.
        let word = unsafe { &*leaf.add(words + word_index) };
        if set {
            word.fetch_or(bits, Release);
        } else {
            word.fetch_and(!bits, Release);
        }
        unit += run;
    }
    true
}

/// The bitmap of one GiB, mapped and installed on first use when `create` is set.
fn leaf_for(slot: usize, create: bool) -> Option<*mut AtomicU64> {
    let leaf = TOP[slot].load(Acquire);
    if !leaf.is_null() || !create {
        return (!leaf.is_null()).then_some(leaf);
    }
    let fresh = crate::os::Fresh::map(LEAF_BYTES)?;
    let ptr = fresh.ptr().cast::<AtomicU64>();
    match TOP[slot].compare_exchange(null_mut(), ptr, AcqRel, Acquire) {
        Ok(_) => Some(fresh.keep().cast()),
        // Another thread installed this GiB's bitmap first: use theirs, drop ours.
        Err(winner) => Some(winner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Addresses far above anything the test process maps, so the bits are ours alone.
    const BASE: usize = 0x6000_0000_0000;

    #[test]
    fn marked_ranges_are_owned_and_their_neighbours_are_not() {
        let start = BASE + 5 * 4096;
        assert!(mark(start, 3 * 4096));
        assert!(!owns(start - 1));
        assert!(owns(start));
        assert!(owns(start + 3 * 4096 - 1));
        assert!(!owns(start + 3 * 4096));
        unmark(start, 3 * 4096);
        assert!(!owns(start));
    }

    #[test]
    fn ranges_across_words_and_gigabytes() {
        let start = BASE + (1 << 30) - 70 * 4096;
        let len = 200 * 4096;
        assert!(mark(start, len));
        for off in (0..len).step_by(4096) {
            assert!(owns(start + off), "offset {off}");
        }
        assert!(!owns(start + len));
        unmark(start + 4096, 4096);
        assert!(owns(start) && !owns(start + 4096) && owns(start + 2 * 4096));
    }

    #[test]
    fn retired_units_are_remembered_until_marked_again() {
        let start = BASE + (7 << 30) + 9 * 4096;
        assert!(mark(start, 2 * 4096));
        assert!(!retired(start));
        unmark(start, 2 * 4096);
        retire(start);
        assert!(retired(start) && !owns(start));
        assert!(!retired(start + 4096));
        assert!(mark(start, 4096));
        assert!(owns(start) && !retired(start));
    }

    #[test]
    fn addresses_beyond_user_space_are_never_owned() {
        assert!(!owns(usize::MAX - 15));
        assert!(!owns(1 << 47));
        assert!(!owns(0));
    }
}
