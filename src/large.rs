//! Large blocks: more than a small bucket holds, or over-aligned beyond what fits in one. Each
//! has a mapping of its own. The header sits in the mapping's first page, 16 bytes before the
//! user pointer; its lead holds the mapping's length, and the mapping starts at the header's
//! page.
//!
//! ```text
//! mapping start                                   p (user pointer)      p + size16
//! | record of the cache, or slack | size | header |   the block ...      | canary | slack |
//!                                  p-24   p-16                             8 bytes
//! ```
//! The user pointer sits `OFFSET` bytes into the mapping (or further, for alignment), so an
//! underflow of up to 48 bytes stays in the block's own page and reaches its tag. The size
//! asked for, rounded up to 16 (`size16`), is kept at p-24; right behind the block lies an
//! 8-byte canary keyed with the address (`header::encode_link`): a write past the end is
//! reported when the block is next freed or reallocated (`tail_ok`). malloc_usable_size says
//! `size16`, so no legitimate write reaches the canary.
//!
//! A freed mapping of up to 32 MiB is kept for reuse (`mapcache`, within the recent peak of
//! the live large bytes, or twice them), for at most the purge delay: a program that allocates and frees big
//! buffers in a loop then does not pay a page fault for every page of every buffer. Anything
//! larger, older or beyond that goes back to the OS at once.

use crate::header::{self, Carved, Header, State, tag};
use crate::mapping::{self, LARGE_BLOCKS, LARGE_BYTES};
use crate::size_class::{ALIGN, HEADER, bucket_of};
use crate::{mapcache, os, purge, spans};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::*;

/// Where the user pointer of a large block sits in its mapping when its alignment is at most
/// that: room for the size record and the header, and slack before them.
pub const OFFSET: usize = 64;
/// Bytes behind the block: the canary, and rounding the size up to 16.
const TAIL: usize = 8 + ALIGN;
/// Where the size asked for is kept, in front of the header.
const SIZE_AT: usize = HEADER + 8;

/// Where the user pointer sits in a mapping for `align`: `OFFSET` in, or at the first multiple
/// of `align` past it, or (for page alignment and more) one page in.
fn user_offset(align: usize) -> usize {
    let page = os::page_size();
    if align >= page {
        page
    } else {
        align.max(OFFSET)
    }
}

/// `size` rounded up to 16: what a large block of `size` bytes holds.
const fn size16(size: usize) -> usize {
    (size + ALIGN - 1) & !(ALIGN - 1)
}

/// The canary of the large block at `p` of `size16` bytes: its address behind the block,
/// keyed.
fn canary(p: usize, size16: usize) -> u64 {
    header::encode_link(p + size16)
}

/// A new large block of `size` bytes aligned to `align` (a power of two), or null. With
/// `zero`, its bytes read as zero (a fresh mapping is; a reused one is cleared).
pub fn alloc(size: usize, align: usize, zero: bool) -> *mut u8 {
    // A program that only uses large blocks must see old cached mappings go back too (on
    // malloc's path: free never purges).
    purge::maybe_decay(None);
    let offset = user_offset(align);
    let Some(len) = size.checked_add(offset + TAIL).and_then(os::round_to_page) else {
        return null_mut();
    };
    let page = os::page_size();
    let (base, len) = match (offset == OFFSET).then(|| mapcache::take(len)).flatten() {
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
    write_header(p, size, len);
    LARGE_BLOCKS.fetch_add(1, Relaxed);
    mapping::large_grew(len);
    p
}

/// Whether `h`, a header in our memory tagged large, records a mapping that is ours: a whole
/// number of pages, all of them marked, that holds the size recorded in front of the header.
pub fn header_ok(h: *mut Header) -> bool {
    let page = os::page_size();
    // SAFETY: the header's page is ours and mapped (the caller checked).
    let len = unsafe { (*h).lead } as usize;
    let start = h as usize & !(page - 1);
    let mapped = len != 0 && len % page == 0 && crate::pagemap::owns(start + len - 1);
    if !mapped || h as usize - start < SIZE_AT - HEADER {
        return false;
    }
    // SAFETY: the record lies in the header's page, in front of it (just checked).
    let size = unsafe { *((h as usize + HEADER - SIZE_AT) as *const usize) };
    size.checked_add(HEADER + 8)
        .is_some_and(|end| end <= start + len - h as usize)
}

/// Whether the canary behind the large block at `h` (`header_ok`) is intact.
pub fn tail_ok(h: *mut Header) -> bool {
    let p = h as usize + HEADER;
    // SAFETY: `header_ok`: the record, the block and its canary lie in the mapping.
    unsafe {
        let size = *((p - SIZE_AT) as *const usize);
        ((p + size) as *const u64).read_unaligned() == canary(p, size)
    }
}

/// A live large block, checked, held by the caller: its header, in the first page of its
/// mapping, whose length the header records. Not `Copy`: freeing or resizing the block
/// consumes it, so no handle outlives the mapping.
pub struct LargeBlock(*mut Header);

impl LargeBlock {
    /// # Safety
    /// `h` is the header of a live large block (tagged large, `header_ok`), which the caller
    /// holds for as long as the handle lives.
    pub unsafe fn new(h: *mut Header) -> LargeBlock {
        LargeBlock(h)
    }

    /// The mapping that holds the block: (start, length).
    fn mapping(&self) -> (usize, usize) {
        let h = self.0;
        // SAFETY: the block is live, so its mapping (and the header in it) is mapped.
        (h as usize & !(os::page_size() - 1), unsafe { (*h).lead }
            as usize)
    }

    /// Bytes usable from `p`, the block's user pointer: the size asked for, rounded up to 16.
    pub fn usable(&self, p: *mut u8) -> usize {
        // SAFETY: the block is live: its record is mapped, in front of its header.
        unsafe { *((p as usize - SIZE_AT) as *const usize) }
    }

    /// Shrinks the block at `p` in place to `size` bytes (at most what it holds): its record
    /// and canary move; its bucket, as the report counted it, stays.
    pub fn shrink(&self, p: *mut u8, size: usize) {
        debug_assert!(size16(size) <= self.usable(p));
        write_tail(p, size16(size));
    }

    /// Gives the block's mapping back: to the cache of mappings for reuse, or to the OS.
    pub fn free(self) {
        let (start, len) = self.mapping();
        LARGE_BLOCKS.fetch_sub(1, Relaxed);
        LARGE_BYTES.fetch_sub(len, Relaxed);
        // SAFETY: the block was live and is given up: its mapping is ours, used by nobody.
        unsafe {
            if self.0 as usize == start + OFFSET - HEADER {
                // Freed: a second free of the pointer finds a free tag, while the mapping
                // waits in the cache.
                (*self.0).tag = tag(State::Free, 0);
                mapcache::keep(start, len, os::now_ms());
            } else {
                mapping::unmap_large(start, len); // over-aligned: its header is not at the start
            }
        }
    }

    /// Resizes the block at `p` to `size` bytes in place or by moving its mapping (mremap
    /// copies no bytes, it moves pages): the new user pointer, or the block as it was.
    pub fn resize(self, p: *mut u8, size: usize) -> Result<*mut u8, LargeBlock> {
        let (start, len) = self.mapping();
        let offset = p as usize - start;
        let Some(new_len) = size.checked_add(offset + TAIL).and_then(os::round_to_page) else {
            return Err(self);
        };
        if offset >= os::page_size() {
            return Err(self); // over-aligned: mremap would lose the alignment; caller copies
        }
        // SAFETY: the block is held by the caller: nobody else uses its mapping.
        let Some(new_start) = (unsafe { mapping::remap(start, len, new_len) }) else {
            return Err(self);
        };
        if new_len > len {
            mapping::large_grew(new_len - len);
        } else {
            LARGE_BYTES.fetch_sub(len - new_len, Relaxed);
        }
        let q = (new_start + offset) as *mut u8;
        write_header(q, size, new_len);
        Ok(q)
    }
}

/// Writes the header, size record and canary of the large block at `p` of `size` bytes, in a
/// mapping of `len` bytes.
fn write_header(p: *mut u8, size: usize, len: usize) {
    let h = header::of_user(p);
    let bucket = bucket_of(size);
    let size = size16(size);
    // SAFETY: `p` is a user pointer at least OFFSET bytes into the first page of a mapping of
    // ours, held by the caller: the header lies in front of it, in the same page.
    unsafe {
        h.write(Header {
            lead: len as u64,
            tag: tag(State::Large, bucket),
        });
    }
    write_tail(p, size);
}

/// Writes the size record and the canary of the large block at `p` of `size16` bytes.
fn write_tail(p: *mut u8, size16: usize) {
    // SAFETY: as in `write_header`: the record lies in front of the header, in its page, and
    // the mapping holds the block and its canary (`TAIL`).
    unsafe {
        *((p as usize - SIZE_AT) as *mut usize) = size16;
        (p.add(size16) as *mut u64).write_unaligned(canary(p as usize, size16));
    }
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
    hdr.set_lead((end - h) as u64);
    hdr.set_tag(tag(State::Spanned, bucket_of(size)));
    p as *mut u8
}

/// Bytes usable from `p` in the block cut from a span whose header is `h` (its lead is the
/// block's length, header included).
pub fn spanned_usable(p: *mut u8, h: Carved) -> usize {
    h.addr() + h.lead() as usize - p as usize
}

/// Gives a block cut from a span back as a span.
///
/// # Safety
/// `h` is the header of a live spanned block that the caller gives up.
pub unsafe fn free_spanned(h: Carved) {
    // SAFETY: the caller's promise; the block's memory becomes a span again.
    unsafe { spans::add(h.addr(), h.lead() as usize) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pagemap;

    const MIB: usize = 1 << 20;

    fn block(p: *mut u8) -> LargeBlock {
        assert!(!p.is_null());
        let h = header::of_user(p);
        assert_eq!(
            header::decode(unsafe { (*h).tag }).map(|t| t.0),
            Some(State::Large)
        );
        assert!(header_ok(h));
        unsafe { LargeBlock::new(h) }
    }

    #[test]
    fn a_large_block_has_its_own_mapping_and_its_size_rounded_to_pages() {
        let _alone = crate::tests_alone();
        let before = (LARGE_BLOCKS.load(Relaxed), LARGE_BYTES.load(Relaxed));
        let p = alloc(3 * MIB + 5, ALIGN, false);
        assert_eq!(p as usize % ALIGN, 0);
        let b = block(p);
        let usable = b.usable(p);
        assert!(usable >= 3 * MIB + 5 && usable < 3 * MIB + 5 + os::page_size());
        assert_eq!(LARGE_BLOCKS.load(Relaxed), before.0 + 1);
        assert!(LARGE_BYTES.load(Relaxed) > before.1 + 3 * MIB);
        unsafe { p.add(usable - 1).write(7) };
        b.free();
        assert_eq!(
            (LARGE_BLOCKS.load(Relaxed), LARGE_BYTES.load(Relaxed)),
            before
        );
        mapcache::decay(0, 0);
    }

    #[test]
    fn a_freed_mapping_is_reused_and_cleared_for_calloc() {
        let _alone = crate::tests_alone();
        mapcache::decay(0, 0);
        let p = alloc(2 * MIB, ALIGN, false);
        unsafe { p.write_bytes(0xaa, 2 * MIB) };
        block(p).free();
        let q = alloc(2 * MIB, ALIGN, true);
        assert_eq!(q, p, "the cached mapping came back");
        assert!(
            (0..2 * MIB)
                .step_by(4096)
                .all(|i| unsafe { *q.add(i) } == 0)
        );
        block(q).free();
        mapcache::decay(0, 0);
    }

    #[test]
    fn freed_mappings_stay_cached_up_to_the_recent_peak_of_live_bytes() {
        let _alone = crate::tests_alone();
        mapcache::decay(0, 0);
        let blocks: std::vec::Vec<*mut u8> =
            (0..4).map(|_| alloc(20 * MIB, ALIGN, false)).collect();
        let starts: std::vec::Vec<usize> = blocks
            .iter()
            .map(|&p| p as usize & !(os::page_size() - 1))
            .collect();
        for &p in &blocks {
            block(p).free();
        }
        // No block is live any more, but four were a moment ago: keeping their pages raises
        // no peak.
        assert!(
            starts.iter().all(|&s| pagemap::owns(s)),
            "every freed mapping is still cached"
        );
        mapcache::decay(0, 0);
        assert!(starts.iter().all(|&s| !pagemap::owns(s)), "decayed");
    }

    #[test]
    fn over_aligned_blocks_honour_the_alignment_and_are_unmapped_on_free() {
        let _alone = crate::tests_alone();
        let align = 256 << 10;
        let p = alloc(100, align, false);
        assert_eq!(p as usize % align, 0);
        let h = header::of_user(p) as usize;
        block(p).free();
        assert!(!pagemap::owns(h), "its mapping went back to the OS");
    }

    #[test]
    fn resizing_keeps_the_bytes_and_updates_the_header() {
        let _alone = crate::tests_alone();
        let p = alloc(2 * MIB, ALIGN, false);
        unsafe { p.write_bytes(0x5c, 2 * MIB) };
        let q = block(p).resize(p, 40 * MIB).ok().expect("mremap grows it");
        let b = block(q);
        assert!(b.usable(q) >= 40 * MIB);
        assert!(
            (0..2 * MIB)
                .step_by(4096)
                .all(|i| unsafe { *q.add(i) } == 0x5c)
        );
        let r = b.resize(q, 3 * MIB).ok().expect("and shrinks it");
        assert_eq!(r, q, "shrinking stays in place");
        assert!(block(r).usable(r) < 4 * MIB);
        block(r).free();
        mapcache::decay(0, 0);
    }

    #[test]
    fn blocks_cut_from_a_span_leave_its_tail_a_span() {
        let _alone = crate::tests_alone();
        while spans::take().is_some() {}
        let len = 4 * MIB;
        let mem = os::map(len) as usize;
        unsafe { spans::add(mem, len) };
        let p = alloc_in_span(MIB + 1, ALIGN);
        assert_eq!(p as usize, mem + HEADER, "cut from the span's start");
        let h = unsafe { Carved::new(header::of_user(p)) };
        assert_eq!(header::decode(h.tag()).map(|t| t.0), Some(State::Spanned));
        assert!(spanned_usable(p, h) > MIB);
        let (tail, tail_len) = spans::take().expect("the rest stays a span");
        assert_eq!(tail + tail_len, mem + len);
        unsafe { free_spanned(h) };
        assert_eq!(
            spans::take(),
            Some((mem, tail - mem)),
            "the block is a span again"
        );
        unsafe { os::unmap(mem as *mut u8, len) };
    }
}
