//! Memory obtained from the OS and marked as ours in the page map: the chunks heaps carve
//! blocks from, and the mappings of large blocks. Also what the rest of the allocator needs to
//! know of it: bytes obtained for heaps, and the large blocks live now.
//!
//! Invariant: a page is marked in the page map exactly while bmalloc holds it. So bits are set
//! before memory is used and cleared before it is unmapped, never after: by then another
//! thread may have mapped the same addresses.

use crate::{header, os, pagemap};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes obtained for heaps (break and chunk mappings), for mallinfo's `arena`.
pub static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Large blocks live now, and the bytes of their mappings.
pub static LARGE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
pub static LARGE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The most `LARGE_BYTES` has been since the cache of mappings last decayed (`mapcache`).
pub static LARGE_PEAK: AtomicUsize = AtomicUsize::new(0);

/// Counts `len` more bytes of live large mappings.
pub fn large_grew(len: usize) {
    let live = LARGE_BYTES.fetch_add(len, Relaxed) + len;
    if live > LARGE_PEAK.load(Relaxed) {
        LARGE_PEAK.fetch_max(live, Relaxed);
    }
}

/// A fresh, zeroed, page-aligned range of `len` bytes (a page multiple) for a heap to carve:
/// from the program break when it can move, else mapped. Null when the OS has no memory.
#[cold]
pub fn heap_chunk(len: usize) -> *mut u8 {
    install_keys();
    let p = os::grow_break(len).unwrap_or_else(|| os::map(len));
    if p.is_null() || !pagemap::mark(p as usize, len) {
        // A chunk without page bits is lost to us (a break cannot shrink under other
        // threads' feet); it happens only when the page map itself cannot be mapped.
        return null_mut();
    }
    HEAP_BYTES.fetch_add(len, Relaxed);
    p
}

/// A mapping of `len` bytes for a large block, whose address `offset` bytes in is aligned to
/// `align` (see `os::map_aligned`), marked as ours. Null when the OS has no memory.
pub fn map_large(len: usize, align: usize, offset: usize) -> *mut u8 {
    install_keys();
    match os::Fresh::map_aligned(len, align, offset) {
        Some(fresh) if pagemap::mark(fresh.ptr() as usize, len) => fresh.keep(),
        _ => null_mut(), // a mapping the page map could not take is dropped: unmapped
    }
}

/// Every block lives in memory obtained here, so the keys of its header are chosen before the
/// first block exists.
fn install_keys() {
    if !header::keys_installed() {
        header::install_keys(os::random_seed());
    }
}

/// Gives a large block's mapping back to the OS, remembering its first page so that freeing
/// its pointer again is reported as a double free.
///
/// # Safety
/// `[start, start + len)` is a mapping of ours that nobody uses any more.
pub unsafe fn unmap_large(start: usize, len: usize) {
    pagemap::unmark(start, len);
    pagemap::retire(start);
    // SAFETY: the caller's promise.
    unsafe { os::unmap(start as *mut u8, len) };
}

/// Resizes the mapping `[start, start + len)`, ours and used by nobody else, to `new_len`
/// bytes, keeping its pages (mremap copies no byte): in place if it can, else moved onto a
/// fresh mapping of ours. The new start, or None with the mapping as it was.
///
/// # Safety
/// `[start, start + len)` is a mapping of the caller's that nobody else uses.
pub unsafe fn remap(start: usize, len: usize, new_len: usize) -> Option<usize> {
    if new_len <= len {
        pagemap::unmark(start + new_len, len - new_len);
        // SAFETY: the caller's promise.
        if !unsafe { os::resize_in_place(start, len, new_len) } {
            pagemap::mark(start + new_len, len - new_len); // its leaves exist: cannot fail
            return None;
        }
        return Some(start);
    }
    // SAFETY: the caller's promise.
    if unsafe { os::resize_in_place(start, len, new_len) } {
        if pagemap::mark(start + len, new_len - len) {
            return Some(start);
        }
        // No bitmap for the new pages: shrink back.
        pagemap::unmark(start + len, new_len - len);
        // SAFETY: the mapping is ours, now `new_len` long.
        unsafe { os::resize_in_place(start, new_len, len) };
        return None;
    }
    // Moved: onto a fresh mapping, marked before anything moves, so that on any failure the
    // old mapping is untouched.
    let dest = os::Fresh::map(new_len)?;
    if !pagemap::mark(dest.ptr() as usize, new_len) {
        return None; // `dest` is dropped: unmapped
    }
    pagemap::unmark(start, len);
    // SAFETY: both ranges are ours; `dest` is fresh and holds more than `len` bytes.
    if !unsafe { os::move_pages(start, len, dest.ptr()) } {
        pagemap::mark(start, len); // its leaves exist: this cannot fail
        pagemap::unmark(dest.ptr() as usize, new_len);
        return None;
    }
    Some(dest.keep() as usize)
}

/// Moves the pages of `[start, start + len)`, a mapping of ours, onto `dest`, inside another
/// mapping of ours (mremap: pages move, no byte is copied); the old range is no longer ours.
/// Whether it worked; on failure both ranges are as they were.
///
/// # Safety
/// Both ranges are the caller's and nobody else uses them; `[dest, dest + len)` lies in one
/// marked mapping.
pub unsafe fn move_into(start: usize, len: usize, dest: usize) -> bool {
    pagemap::unmark(start, len);
    // SAFETY: the caller's promise.
    if !unsafe { os::move_pages(start, len, dest as *mut u8) } {
        pagemap::mark(start, len); // its leaves exist: this cannot fail
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    // No test takes a heap chunk: the unit tests run on glibc's malloc, whose idea of the
    // program break a raw brk here would invalidate.
    use super::*;

    #[test]
    fn large_mappings_are_marked_while_held_and_retired_after() {
        let page = os::page_size();
        let p = map_large(4 * page, page, 0) as usize;
        assert_ne!(p, 0);
        assert!(pagemap::owns(p) && pagemap::owns(p + 4 * page - 1));
        unsafe { unmap_large(p, 4 * page) };
        assert!(!pagemap::owns(p));
        assert!(
            pagemap::retired(p),
            "a second free can be told from a wild pointer"
        );
    }

    #[test]
    fn aligned_large_mappings_honour_the_offset() {
        let page = os::page_size();
        let align = 64 << 10;
        let p = map_large(8 * page, align, page) as usize;
        assert_ne!(p, 0);
        assert_eq!((p + page) % align, 0);
        unsafe { unmap_large(p, 8 * page) };
    }

    #[test]
    fn remap_grows_and_shrinks_keeping_bytes_and_bits() {
        let page = os::page_size();
        let p = map_large(2 * page, page, 0) as usize;
        unsafe { (p as *mut u64).write(0xfeed) };
        let q = unsafe { remap(p, 2 * page, 64 * page) }.expect("grown");
        assert_eq!(
            unsafe { (q as *const u64).read() },
            0xfeed,
            "pages moved, not lost"
        );
        assert!(pagemap::owns(q + 64 * page - 1));
        if q != p {
            assert!(!pagemap::owns(p), "the old range is no longer ours");
        }
        let r = unsafe { remap(q, 64 * page, page) }.expect("shrunk");
        assert_eq!(r, q, "shrinking stays in place");
        assert!(pagemap::owns(r) && !pagemap::owns(r + page));
        unsafe { unmap_large(r, page) };
    }
}
