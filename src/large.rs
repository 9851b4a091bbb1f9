//! Large blocks: more than a small bucket holds, or over-aligned beyond what fits in one. Each
//! has a mapping of its own. The header sits in the mapping's first page, 16 bytes before the
//! user pointer; its link holds the mapping's length, and the mapping starts at the header's
//! page.
//!
//! A freed mapping of up to 32 MiB is kept for reuse (`mapcache`, up to twice the live large
//! bytes, 16 to 96 MiB), for at most the purge delay: a program that allocates and frees big buffers in a loop then does
//! not pay a page fault for every page of every buffer. Anything larger, older or beyond that
//! goes back to the OS at once.

use crate::header::{self, Header, State, tag};
use crate::size_class::{ALIGN, HEADER, bucket_of};
use crate::{mapcache, os, pagemap};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering::*};

/// Large blocks live now, and the bytes of their mappings, for mallinfo.
pub static LIVE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
pub static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Where the user pointer sits in a mapping for `align`: right after the header, or at the
/// first multiple of `align` past it, or (for page alignment and more) one page in.
fn user_offset(align: usize) -> usize {
    let page = os::page_size();
    if align >= page {
        page
    } else {
        align.max(ALIGN).max(HEADER)
    }
}

/// A new large block of `size` bytes aligned to `align` (a power of two), or null. With
/// `zero`, its bytes read as zero (a fresh mapping is; a reused one is cleared).
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    let offset = user_offset(align);
    let Some(len) = size.checked_add(offset).and_then(os::round_to_page) else {
        return null_mut();
    };
    let page = os::page_size();
    let (base, len) = match (offset == HEADER).then(|| mapcache::take(len)).flatten() {
        Some((start, cached_len)) => {
            if zero {
                // SAFETY: the reused mapping is ours and holds offset + size bytes.
                unsafe { core::ptr::write_bytes((start + offset) as *mut u8, 0, size) };
            }
            (start as *mut u8, cached_len)
        }
        None => {
            let base = os::map_aligned(len, align.max(page), offset & !(page - 1));
            if base.is_null() {
                return base;
            }
            if !pagemap::mark(base as usize, len) {
                os::unmap(base, len);
                return null_mut();
            }
            (base, len)
        }
    };
    let p = base.wrapping_add(offset);
    let h = header::of_user(p);
    // SAFETY: the header lies inside the fresh mapping, in its first page.
    unsafe {
        (*h).tag = tag(State::Large, bucket_of(size));
        (*h).link = len;
    }
    LIVE_BLOCKS.fetch_add(1, Relaxed);
    LIVE_BYTES.fetch_add(len, Relaxed);
    p
}

/// The mapping that holds a large block: (start, length).
pub fn mapping(h: *mut Header) -> (usize, usize) {
    let page = os::page_size();
    // SAFETY: callers checked that `h` is the header of a large block.
    (h as usize & !(page - 1), unsafe { (*h).link })
}

/// Bytes usable from `p`, the user pointer of the large block with header `h`.
pub fn usable(p: *mut u8, h: *mut Header) -> usize {
    let (start, len) = mapping(h);
    start + len - p as usize
}

/// Gives a large block's mapping back: to the cache of mappings for reuse, or to the OS.
pub fn free(h: *mut Header) {
    let (start, len) = mapping(h);
    LIVE_BLOCKS.fetch_sub(1, Relaxed);
    LIVE_BYTES.fetch_sub(len, Relaxed);
    if start == h as usize {
        mapcache::keep(start, len, crate::exchange::now_ms());
    } else {
        mapcache::unmap(start, len); // over-aligned: its header is not at the start
    }
    // A program that only uses large blocks must see old cached mappings go back too.
    crate::exchange::maybe_decay();
}

/// Resizes the mapping `[start, start + len)`, ours and used by nobody else, to `new_len`
/// bytes, keeping its pages (mremap copies no byte): in place if it can, else moved onto a
/// fresh mapping of ours. The new start, or None with the mapping as it was.
pub fn remap(start: usize, len: usize, new_len: usize) -> Option<usize> {
    let resize_in_place = |from: usize, to: usize| {
        // SAFETY: [start, start + from) is our mapping; without MAYMOVE it stays where it is,
        // and growing fails rather than overlap anything.
        unsafe { libc::mremap(start as *mut libc::c_void, from, to, 0) != libc::MAP_FAILED }
    };
    // Bits are cleared before pages are unmapped, never after: by then another thread may
    // have mapped the same addresses.
    if new_len <= len {
        pagemap::unmark(start + new_len, len - new_len);
        if !resize_in_place(len, new_len) {
            pagemap::mark(start + new_len, len - new_len); // its leaves exist: cannot fail
            return None;
        }
        return Some(start);
    }
    if resize_in_place(len, new_len) {
        if pagemap::mark(start + len, new_len - len) {
            return Some(start);
        }
        // No bitmap for the new pages: shrink back.
        pagemap::unmark(start + len, new_len - len);
        resize_in_place(new_len, len);
        return None;
    }
    // Moved: onto a fresh mapping, marked before anything moves, so that on any failure the
    // old mapping is untouched.
    let dest = os::map(new_len);
    if dest.is_null() {
        return None;
    }
    if !pagemap::mark(dest as usize, new_len) {
        os::unmap(dest, new_len);
        return None;
    }
    pagemap::unmark(start, len);
    // SAFETY: both ranges are ours; FIXED puts the old pages over the start of `dest`, which
    // nobody else uses, and unmaps the old range.
    let moved = unsafe {
        libc::mremap(
            start as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            dest,
        )
    };
    if moved == libc::MAP_FAILED {
        pagemap::mark(start, len); // its leaves exist: this cannot fail
        pagemap::unmark(dest as usize, new_len);
        os::unmap(dest, new_len);
        return None;
    }
    Some(dest as usize)
}

/// Resizes a large block in place or by moving its mapping (mremap copies no bytes, it moves
/// pages). Returns the new user pointer, or null with the old block intact.
pub fn resize(p: *mut u8, h: *mut Header, size: usize) -> *mut u8 {
    let (start, len) = mapping(h);
    let offset = p as usize - start;
    let Some(new_len) = size.checked_add(offset).and_then(os::round_to_page) else {
        return null_mut();
    };
    if offset >= os::page_size() {
        return null_mut(); // over-aligned: mremap would lose the alignment; caller copies
    }
    // The block is the caller's: nobody else uses its mapping.
    let Some(new_start) = remap(start, len, new_len) else {
        return null_mut();
    };
    LIVE_BYTES.fetch_add(new_len.wrapping_sub(len), Relaxed);
    let q = (new_start + offset) as *mut u8;
    let nh = header::of_user(q);
    // SAFETY: the header moved with the mapping and lies in its first page.
    unsafe {
        (*nh).tag = tag(State::Large, bucket_of(size));
        (*nh).link = new_len;
    }
    q
}

/// A large block cut from a span of purged memory: the fallback when the OS refuses a new
/// mapping (address space exhausted) but freed memory waits in spans. Null if no span fits.
pub fn alloc_in_span(size: usize, align: usize) -> *mut u8 {
    let align = align.max(ALIGN);
    let Some(need) = size.checked_add(HEADER + align) else {
        return null_mut();
    };
    let Some((start, len)) = crate::purge::take_span_fitting(need) else {
        return null_mut();
    };
    let end = start + len;
    let p = (start + HEADER + align - 1) & !(align - 1);
    let h = p - HEADER;
    if h - start >= 2 * HEADER {
        crate::purge::add_span(start, h - start);
    }
    // Keep a tail worth a span of its own for later; else the block takes it.
    let block_end = (p + size + ALIGN - 1) & !(ALIGN - 1);
    let end = if end - block_end >= 64 << 10 {
        crate::purge::add_span(block_end, end - block_end);
        block_end
    } else {
        end
    };
    let hdr = h as *mut Header;
    // SAFETY: [h, end) is the span's memory, ours alone now.
    unsafe {
        (*hdr).tag = tag(State::Spanned, bucket_of(size));
        (*hdr).link = end - h;
    }
    p as *mut u8
}

/// Bytes usable from `p` in a block cut from a span.
pub fn spanned_usable(p: *mut u8, h: *mut Header) -> usize {
    // SAFETY: callers checked that `h` is the header of a spanned block.
    h as usize + unsafe { (*h).link } - p as usize
}

/// Gives a block cut from a span back as a span.
pub fn free_spanned(h: *mut Header) {
    // SAFETY: callers checked that `h` is the header of a spanned block they give up.
    crate::purge::add_span(h as usize, unsafe { (*h).link });
}
