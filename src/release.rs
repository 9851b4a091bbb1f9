//! Giving pages back to the OS (MADV_DONTNEED: they stay mapped and read as zeros), and
//! counting what that returned. In bmalloc "released" always means this: pages given back.
//!
//! Pages are released, never unmapped: the lock-free stacks may read a stale link from memory
//! that was once a block (see `stack`), so every page bmalloc carved stays mapped.

use crate::os;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes given back so far that were resident when they went: pages of older spans, released
/// before and not touched since, do not count again (malloc_trim tells from this whether it
/// gave anything back).
pub static RELEASED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Gives `[from, to)` back to the OS and counts the bytes that were resident.
///
/// # Safety
/// The range is page-aligned memory of ours whose content nobody needs: no block in use and
/// no span record lies on it.
pub unsafe fn release(from: usize, to: usize) {
    if to <= from {
        return;
    }
    let resident = resident_bytes(from, to);
    // SAFETY: the caller's promise.
    unsafe { os::discard(from, to) };
    RELEASED_BYTES.fetch_add(resident, Relaxed);
}

/// Bytes of the page-aligned range `[from, to)` of ours that are resident now.
fn resident_bytes(from: usize, to: usize) -> usize {
    let page = os::page_size();
    // A tail shorter than a page would make no progress below.
    debug_assert!(
        from % page == 0 && to % page == 0,
        "release of {from:#x}..{to:#x}"
    );
    // One byte per page, a slice of the range at a time (on the stack: any thread may purge).
    let mut vec = [0u8; 1024];
    let mut resident = 0;
    let mut at = from;
    while at < to {
        let pages = ((to - at) / page).min(vec.len());
        // The kernel cannot tell: count it all.
        resident += os::resident_pages(at, &mut vec[..pages]).unwrap_or(pages) * page;
        at += pages * page;
    }
    resident
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resident_pages_count_and_released_pages_read_zero() {
        let _alone = crate::tests_alone();
        let page = os::page_size();
        let mem = os::map(8 * page) as usize;
        assert_ne!(mem, 0);
        // Touch 3 of the 8 pages.
        for i in [0, 2, 5] {
            unsafe { ((mem + i * page) as *mut u8).write(1) };
        }
        let before = RELEASED_BYTES.load(Relaxed);
        unsafe { release(mem, mem + 8 * page) };
        let counted = RELEASED_BYTES.load(Relaxed) - before;
        if cfg!(miri) {
            assert_eq!(counted, 8 * page, "without mincore every page counts");
        } else {
            assert_eq!(counted, 3 * page);
        }
        assert_eq!(unsafe { ((mem + 2 * page) as *const u8).read() }, 0);
        unsafe { os::unmap(mem as *mut u8, 8 * page) };
    }
}
