//! Large blocks: more than a small bucket holds, or over-aligned beyond what fits in one. Each
//! has a mapping of its own. The header sits in the mapping's first page, 16 bytes before the
//! user pointer; its link holds the mapping's length, and the mapping starts at the header's
//! page.
//!
//! A freed mapping of up to 32 MiB is kept for reuse (`mapcache`, up to twice the live large
//! bytes, 16 to 96 MiB), for at most the purge delay: a program that allocates and frees big
//! buffers in a loop then does not pay a page fault for every page of every buffer. Anything
//! larger, older or beyond that goes back to the OS at once.

use crate::header::{self, Carved, Header, State, tag};
use crate::mapping::{self, LARGE_BLOCKS, LARGE_BYTES};
use crate::size_class::{ALIGN, HEADER, bucket_of};
use crate::{mapcache, os, purge, spans};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::*;

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
            let base = mapping::map_large(len, align.max(page), offset & !(page - 1));
            if base.is_null() {
                return base;
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
    LARGE_BLOCKS.fetch_add(1, Relaxed);
    LARGE_BYTES.fetch_add(len, Relaxed);
    p
}

/// The mapping that holds a large block: (start, length).
///
/// # Safety
/// `h` is the header of a live large block.
unsafe fn mapping_of(h: *mut Header) -> (usize, usize) {
    let page = os::page_size();
    // SAFETY: the caller's promise.
    (h as usize & !(page - 1), unsafe { (*h).link })
}

/// Whether `h`, a header in our memory tagged large, records a mapping that is ours: a whole
/// number of pages, all of them marked.
pub fn header_ok(h: *mut Header) -> bool {
    let page = os::page_size();
    // SAFETY: the header's page is ours and mapped (the caller checked).
    let len = unsafe { (*h).link };
    len != 0 && len % page == 0 && crate::pagemap::owns((h as usize & !(page - 1)) + len - 1)
}

/// Bytes usable from `p`, the user pointer of the large block with header `h`.
///
/// # Safety
/// `h` is the header of a live large block.
pub unsafe fn usable(p: *mut u8, h: *mut Header) -> usize {
    // SAFETY: the caller's promise.
    let (start, len) = unsafe { mapping_of(h) };
    start + len - p as usize
}

/// Gives a large block's mapping back: to the cache of mappings for reuse, or to the OS.
///
/// # Safety
/// `h` is the header of a live large block (checked by `header_ok`) that the caller gives up.
pub unsafe fn free(h: *mut Header) {
    // SAFETY: the caller's promise: the mapping is ours and nobody uses it any more.
    unsafe {
        let (start, len) = mapping_of(h);
        LARGE_BLOCKS.fetch_sub(1, Relaxed);
        LARGE_BYTES.fetch_sub(len, Relaxed);
        if start == h as usize {
            mapcache::keep(start, len, os::now_ms());
        } else {
            mapping::unmap_large(start, len); // over-aligned: its header is not at the start
        }
    }
    // A program that only uses large blocks must see old cached mappings go back too.
    purge::maybe_decay();
}

/// Resizes a large block in place or by moving its mapping (mremap copies no bytes, it moves
/// pages). Returns the new user pointer, or null with the old block intact.
///
/// # Safety
/// `h` is the header of the live large block at `p`, which the caller owns.
pub unsafe fn resize(p: *mut u8, h: *mut Header, size: usize) -> *mut u8 {
    // SAFETY: the caller's promise.
    let (start, len) = unsafe { mapping_of(h) };
    let offset = p as usize - start;
    let Some(new_len) = size.checked_add(offset).and_then(os::round_to_page) else {
        return null_mut();
    };
    if offset >= os::page_size() {
        return null_mut(); // over-aligned: mremap would lose the alignment; caller copies
    }
    // SAFETY: the block is the caller's: nobody else uses its mapping.
    let Some(new_start) = (unsafe { mapping::remap(start, len, new_len) }) else {
        return null_mut();
    };
    LARGE_BYTES.fetch_add(new_len.wrapping_sub(len), Relaxed);
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
    let Some((start, len)) = spans::take_fitting(need) else {
        return null_mut();
    };
    let end = start + len;
    let p = (start + HEADER + align - 1) & !(align - 1);
    let h = p - HEADER;
    if h - start >= 2 * HEADER {
        // SAFETY: the span's head, in front of the block, stays a span.
        unsafe { spans::add(start, h - start) };
    }
    // Keep a tail worth a span of its own for later; else the block takes it.
    let block_end = (p + size + ALIGN - 1) & !(ALIGN - 1);
    let end = if end - block_end >= 64 << 10 {
        // SAFETY: the span's tail, behind the block, stays a span.
        unsafe { spans::add(block_end, end - block_end) };
        block_end
    } else {
        end
    };
    // SAFETY: [h, end) is the span's memory, carved and ours alone now.
    let hdr = unsafe { Carved::new(h as *mut _) };
    hdr.set_tag(tag(State::Spanned, bucket_of(size)));
    hdr.set_link(end - h);
    p as *mut u8
}

/// Bytes usable from `p` in the block cut from a span whose header is `h` (its link is the
/// block's length, header included).
pub fn spanned_usable(p: *mut u8, h: Carved) -> usize {
    h.addr() + h.link() - p as usize
}

/// Gives a block cut from a span back as a span.
///
/// # Safety
/// `h` is the header of a live spanned block that the caller gives up.
pub unsafe fn free_spanned(h: Carved) {
    // SAFETY: the caller's promise; the block's memory becomes a span again.
    unsafe { spans::add(h.addr(), h.link()) };
}
