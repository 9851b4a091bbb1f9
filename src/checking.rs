//! What checking mode (`BMALLOC_CHECK=1`) adds to a block, and checks: the pieces `alloc`'s
//! slow paths put together. In checking mode every call takes a slow path (see `registry`),
//! so nothing here costs the normal mode anything.
//!
//! A block in checking mode holds `size + EXTRA` bytes or more; of its `usable` bytes:
//!
//! ```text
//! [0, size)              the caller's: junk on malloc (JUNK), zero on calloc
//! [size, usable - 8)     canary (at least 8 bytes of CANARY): a write past the end changes it
//! [usable - 8, usable)   record: size | kind << 56
//! ```
//! A freed block is poisoned (every byte before the record is POISON, the record's kind is
//! `Freed`) and waits in its heap's quarantine (`heap::OwnedHeap::quarantine`). When it
//! leaves, at a random later free, its poison is checked, so a write after free is reported
//! before the block can be handed out again; meanwhile the record says a second free is one.
//! Zero-size blocks lie in memory that cannot be touched (`zero_block`).

use crate::misuse::{self, Call, Fault};
use crate::os;
use core::sync::atomic::{AtomicUsize, Ordering::*};

/// Bytes checking mode adds to every request: at least 8 of canary, and the record.
pub const EXTRA: usize = 16;
pub const JUNK: u8 = 0xaa;
pub const CANARY: u8 = 0xcb;
pub const POISON: u8 = 0xdf;

/// What made a block, or that it was freed: the record's top byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    Malloc = 1,
    New = 2,
    NewArray = 3,
    Freed = 4,
}

impl Kind {
    /// What `call` makes, or what it may release.
    pub fn of(call: Call) -> Kind {
        match call {
            Call::New | Call::Delete => Kind::New,
            Call::NewArray | Call::DeleteArray => Kind::NewArray,
            _ => Kind::Malloc,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Malloc),
            2 => Some(Kind::New),
            3 => Some(Kind::NewArray),
            4 => Some(Kind::Freed),
            _ => None,
        }
    }
}

/// The record's address in a block of `usable` bytes at `p`.
fn record_at(p: *mut u8, usable: usize) -> *mut u64 {
    p.wrapping_add(usable - 8).cast()
}

/// Dresses a new block of `usable` bytes at `p` for a request of `size` bytes made by `kind`:
/// junk (or zero) for the caller, the canary, the record.
///
/// # Safety
/// `p` holds `usable >= size + EXTRA` bytes that the caller owns.
pub unsafe fn dress(p: *mut u8, usable: usize, size: usize, kind: Kind, zero: bool) {
    debug_assert!(usable >= size + EXTRA);
    // SAFETY: all of it lies in the block (the caller's promise).
    unsafe {
        core::ptr::write_bytes(p, if zero { 0 } else { JUNK }, size);
        core::ptr::write_bytes(p.add(size), CANARY, usable - 8 - size);
        record_at(p, usable).write_unaligned(size as u64 | (kind as u64) << 56);
    }
}

/// Reads the record of the live block of `usable` bytes at `p` handed to `call`, checks it and
/// the canary, and returns the size asked for and what made the block. Misuse is reported:
/// a block freed already (a double free), a record or canary that was overwritten.
///
/// # Safety
/// `p` holds `usable` bytes (a block of ours, inspected).
pub unsafe fn live(call: Call, p: *mut u8, usable: usize) -> (usize, Kind) {
    // SAFETY: the record lies in the block.
    let record = unsafe { record_at(p, usable).read_unaligned() };
    let size = (record & ((1 << 56) - 1)) as usize;
    let kind = Kind::from_byte((record >> 56) as u8);
    match kind {
        Some(Kind::Freed) => misuse::report(call, p, Fault::freed(call)),
        Some(kind) if size + EXTRA <= usable => {
            // SAFETY: [size, usable - 8) lies in the block.
            let canary = unsafe { core::slice::from_raw_parts(p.add(size), usable - 8 - size) };
            if canary.iter().any(|&b| b != CANARY) {
                misuse::report(call, p, Fault::CanaryOverwritten);
            }
            (size, kind)
        }
        _ => misuse::report(call, p, Fault::CanaryOverwritten),
    }
}

/// Checks that `call` may release a block made by `made` (free a malloc block, delete a new
/// one, delete[] a new[] one), and that a sized delete's size (`sized`, if any) is the one
/// asked for.
pub fn check_release(call: Call, p: *mut u8, made: Kind, size: usize, sized: Option<usize>) {
    if Kind::of(call) != made {
        let maker = match made {
            Kind::New => Call::New,
            Kind::NewArray => Call::NewArray,
            _ => Call::Malloc,
        };
        misuse::report(call, p, Fault::MadeBy(maker));
    }
    if sized.is_some_and(|s| s != size) {
        misuse::report(call, p, Fault::WrongSize);
    }
}

/// Poisons the freed block of `usable` bytes at `p` and marks its record freed.
///
/// # Safety
/// `p` holds `usable` bytes, a block the caller gave up and that waits in quarantine.
pub unsafe fn poison(p: *mut u8, usable: usize) {
    // SAFETY: the caller's promise.
    unsafe {
        core::ptr::write_bytes(p, POISON, usable - 8);
        record_at(p, usable).write_unaligned((Kind::Freed as u64) << 56);
    }
}

/// Checks that the poisoned block of `usable` bytes at `p`, leaving quarantine, was not
/// written while it waited; reports a write after free on behalf of `call`.
///
/// # Safety
/// As for `poison`.
pub unsafe fn check_poison(call: Call, p: *mut u8, usable: usize) {
    // SAFETY: the caller's promise.
    let bytes = unsafe { core::slice::from_raw_parts(p, usable - 8) };
    if bytes.iter().any(|&b| b != POISON) {
        misuse::report(call, p, Fault::WriteAfterFree);
    }
}

/// Address space for zero-size blocks: reserved without access, so that touching one faults.
const ZERO_SPACE: usize = 64 << 20;
static ZERO_BASE: AtomicUsize = AtomicUsize::new(0);
static ZERO_NEXT: AtomicUsize = AtomicUsize::new(0);

/// A distinct, 16-aligned pointer into memory that faults when read or written; null when the
/// reserved space is used up (or could not be had): the caller then makes a real block.
#[cold]
pub fn zero_block() -> *mut u8 {
    let mut base = ZERO_BASE.load(Acquire);
    if base == 0 {
        let fresh = os::reserve(ZERO_SPACE) as usize;
        if fresh == 0 {
            return core::ptr::null_mut();
        }
        base = match ZERO_BASE.compare_exchange(0, fresh, AcqRel, Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: our reservation is known to nobody.
                unsafe { os::unmap(fresh as *mut u8, ZERO_SPACE) };
                winner
            }
        };
    }
    let at = ZERO_NEXT.fetch_add(16, Relaxed);
    if at >= ZERO_SPACE {
        return core::ptr::null_mut();
    }
    (base + at) as *mut u8
}

/// Whether `p` is a zero-size block of `zero_block`.
pub fn is_zero_block(p: *mut u8) -> bool {
    let base = ZERO_BASE.load(Acquire);
    base != 0 && (p as usize).wrapping_sub(base) < ZERO_SPACE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dressed_block_reads_back_and_a_touched_canary_is_seen() {
        let mut cell = [0u64; 8];
        let p = cell.as_mut_ptr().cast::<u8>();
        unsafe { dress(p, 64, 20, Kind::NewArray, false) };
        assert_eq!(unsafe { *p.add(19) }, JUNK);
        assert_eq!(unsafe { live(Call::Free, p, 64) }, (20, Kind::NewArray));
        let canary = unsafe { core::slice::from_raw_parts(p.add(20), 36) };
        assert!(canary.iter().all(|&b| b == CANARY), "36 bytes of canary");
    }

    #[test]
    fn releases_must_match_what_made_the_block() {
        assert_eq!(Kind::of(Call::Delete), Kind::New);
        assert_eq!(Kind::of(Call::NewArray), Kind::NewArray);
        assert_eq!(Kind::of(Call::Realloc), Kind::Malloc);
        check_release(Call::Free, core::ptr::null_mut(), Kind::Malloc, 8, None);
        check_release(Call::Delete, core::ptr::null_mut(), Kind::New, 8, Some(8));
    }

    #[test]
    fn zero_size_blocks_are_distinct_and_known() {
        let (a, b) = (zero_block(), zero_block());
        assert!(!a.is_null() && a != b && a as usize % 16 == 0);
        assert!(is_zero_block(a) && is_zero_block(b));
        let mut x = 0u8;
        assert!(!is_zero_block(&mut x));
    }
}
