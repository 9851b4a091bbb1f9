//! The allocator's operations, with C semantics (errno, NULL), used by the exported symbols
//! and by Rust callers of the rlib. The fast paths (`malloc`, `free` of a small block) are
//! straight-line code; everything else is in `#[cold]` functions below them.

use crate::header::{self, Carved, State};
use crate::heap::{OwnedHeap, Taken};
use crate::large::LargeBlock;
use crate::misuse::{self, Call};
use crate::pointer::{self, Block};
use crate::size_class::{ALIGN, HEADER, SMALL_BUCKETS, SMALL_MAX, bucket_of, payload_of};
use crate::{large, mapcache, os, pagemap, purge, registry, release, supply};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::Relaxed;

/// Largest size any call accepts, as in glibc.
const MAX_REQUEST: usize = isize::MAX as usize;

fn set_enomem() {
    errno::set_errno(errno::Errno(libc::ENOMEM));
}

/// malloc: a block of at least `size` bytes, 16-byte aligned, or null with ENOMEM.
#[inline(always)]
pub fn malloc(size: usize) -> *mut u8 {
    allocate(size, Call::Malloc)
}

#[inline(always)]
fn allocate(size: usize, call: Call) -> *mut u8 {
    match take_small(size) {
        Some(p) => p,
        None => malloc_slow(size, call, false),
    }
}

/// The malloc fast path alone: a small block from the calling thread's list, or None when
/// the call needs a slow path (no heap yet, a large size, an empty list, a clobbered header).
/// C++'s operator new (`cxx`) has a slow path of its own.
#[inline(always)]
pub fn take_small(size: usize) -> Option<*mut u8> {
    let mut h = registry::mine()?;
    if size > SMALL_MAX {
        return None;
    }
    match h.take(bucket_of(size)) {
        Taken::Block(blk) => Some(blk.user()),
        _ => None,
    }
}

/// free: gives a block back to the calling thread's heap.
///
/// # Safety
/// `p` is null or a pointer from this allocator that is not used after this call. Misuse
/// that bmalloc can see (a pointer it never handed out, a double free) is reported and aborts.
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    // SAFETY: the caller's promise.
    unsafe { free_as(p, Call::Free) }
}

/// free, on behalf of `call` (misuse messages name it: `free` or `operator delete`).
///
/// # Safety
/// As for `free`.
#[inline(always)]
pub unsafe fn free_as(p: *mut u8, call: Call) {
    let hdr = header::of_user(p);
    if let Some(mut h) = registry::mine() {
        if p as usize % ALIGN == 0 && pagemap::readable(hdr as usize) {
            // SAFETY: the header can be read (`readable`): mapped memory, 16-aligned.
            let (seal, tag) = unsafe { ((*hdr).lead, (*hdr).tag) };
            // One comparison checks magic, state and bucket: a used small block's tag is the
            // tag of a used bucket-0 block plus its bucket. Its seal, the word the block
            // before would overrun first, must be its bucket's.
            let b = tag.wrapping_sub(header::tag(State::Used, 0)) as usize;
            if b < SMALL_BUCKETS && seal.wrapping_add(header::USED_OVER_SEAL) == tag {
                // SAFETY: a used small block's keyed tag and seal in readable memory: a header
                // in carved memory (as in `pointer::inspect`), a block the caller gives up.
                if !h.put(unsafe { Carved::new(hdr) }, b) {
                    // By value: the fast path keeps the handle in a register.
                    supply::hand_over_owned(h, b);
                }
                return;
            }
        }
    }
    free_slow(p, call);
}

/// A block taken from a list, or a report of its clobbered header on behalf of `call`.
fn took(t: Taken, call: Call) -> Option<*mut u8> {
    match t {
        Taken::Block(blk) => Some(blk.user()),
        Taken::Empty => None,
        Taken::Overwritten(blk) => misuse::free_block_overwritten(call, blk),
    }
}

#[cold]
fn malloc_slow(size: usize, call: Call, zero: bool) -> *mut u8 {
    let p = registry::with_heap(|h| alloc_in(h, size, call, zero));
    if p.is_null() {
        set_enomem();
    }
    p
}

/// A block of `size` bytes from heap `h`, zeroed if `zero` and large (small blocks are
/// zeroed by calloc itself); null when no memory can be had.
fn alloc_in(h: Option<&mut OwnedHeap>, size: usize, call: Call, zero: bool) -> *mut u8 {
    if size > MAX_REQUEST {
        return null_mut();
    }
    if size > SMALL_MAX {
        return alloc_large(h, size, ALIGN, zero);
    }
    let Some(h) = h else {
        return null_mut();
    };
    let b = bucket_of(size);
    if let Some(p) = took(h.take(b), call) {
        return p;
    }
    if supply::refill(h, b) {
        if let Some(p) = took(h.take(b), call) {
            return p;
        }
    }
    supply::carve(h, b).map_or(null_mut(), Carved::user)
}

/// A large block, counted in `h`: its own mapping, or when the OS refuses one, a piece of
/// purged memory (zeroed here if `zero`: a fresh mapping already is).
fn alloc_large(mut h: Option<&mut OwnedHeap>, size: usize, align: usize, zero: bool) -> *mut u8 {
    let mut p = large::alloc(size, align, zero);
    if p.is_null() {
        let in_span = || Some(large::alloc_in_span(size, align)).filter(|p| !p.is_null());
        p = purge::reclaim(h.as_deref_mut(), in_span).unwrap_or(null_mut());
        if !p.is_null() && zero {
            // SAFETY: the block holds at least `size` bytes.
            unsafe { core::ptr::write_bytes(p, 0, size) };
        }
    }
    if let (false, Some(h)) = (p.is_null(), h) {
        h.count_malloc(bucket_of(size));
    }
    p
}

#[cold]
fn free_slow(p: *mut u8, call: Call) {
    if p.is_null() {
        return;
    }
    let saved = errno::errno();
    free_block(pointer::inspect(call, p));
    errno::set_errno(saved);
}

fn free_block(block: Block) {
    match block {
        Block::Small { h: hdr, bucket } => registry::with_heap(|heap| {
            let Some(heap) = heap else { return };
            if !heap.put(hdr, bucket) {
                supply::hand_over(heap, bucket);
            }
        }),
        Block::Large { h, bucket } => {
            registry::with_heap(|heap| heap.map(|heap| heap.count_free(bucket)));
            h.free();
        }
        Block::Spanned { h, bucket } => {
            registry::with_heap(|heap| heap.map(|heap| heap.count_free(bucket)));
            // SAFETY: `inspect` checked the block, which the caller gives up.
            unsafe { large::free_spanned(h) };
        }
        Block::Aligned { inner, outer } => {
            // Make the inner header a free block's, so a second free of the aligned pointer
            // is reported as a double free.
            inner.make_free(0, 0);
            // SAFETY: `inspect` checked the holding block, which the caller gives up.
            unsafe { free(outer) };
        }
    }
}

/// Bytes usable at `p` (0 for null).
///
/// # Safety
/// `p` is null or a live pointer from this allocator.
pub unsafe fn usable_size(p: *mut u8) -> usize {
    if p.is_null() {
        return 0;
    }
    pointer::inspect(Call::UsableSize, p).usable(p)
}

/// calloc: `n * size` zeroed bytes, or null with ENOMEM on overflow or exhaustion.
pub fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        set_enomem();
        return null_mut();
    };
    if total > SMALL_MAX {
        return malloc_slow(total, Call::Calloc, true);
    }
    let p = allocate(total, Call::Calloc);
    if !p.is_null() {
        // SAFETY: `p` holds at least `total` bytes.
        unsafe { core::ptr::write_bytes(p, 0, total) };
    }
    p
}

/// realloc, with glibc's rules: null `p` is malloc, size 0 frees and returns null, a failure
/// leaves `p` untouched.
///
/// # Safety
/// `p` is null or a live pointer from this allocator; on success it is not used again.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        return allocate(size, Call::Realloc);
    }
    let block = pointer::inspect(Call::Realloc, p);
    if size == 0 {
        let saved = errno::errno();
        free_block(block);
        errno::set_errno(saved);
        return null_mut();
    }
    if size > MAX_REQUEST {
        set_enomem();
        return null_mut();
    }
    let usable = block.usable(p);
    let stays = match block {
        // Stay in place unless the block would be more than four times too big.
        Block::Small { bucket, .. } => {
            size <= usable && (bucket < 2 || bucket_of(size) + 2 > bucket)
        }
        Block::Large { .. } | Block::Spanned { .. } => size <= usable && size > usable / 2,
        Block::Aligned { .. } => false,
    };
    if stays {
        return p;
    }
    match block {
        Block::Large { h, bucket } if size > SMALL_MAX => resize_large(p, h, bucket, size),
        _ => move_block(p, block, usable, size),
    }
}

#[cold]
fn resize_large(p: *mut u8, h: LargeBlock, bucket: usize, size: usize) -> *mut u8 {
    let q = match h.resize(p, size) {
        Ok(q) => q,
        Err(h) => {
            // mremap refused (or the block is over-aligned): copy instead.
            let block = Block::Large { h, bucket };
            let usable = block.usable(p);
            return move_block(p, block, usable, size);
        }
    };
    let new_bucket = bucket_of(size);
    if new_bucket != bucket {
        registry::with_heap(|heap| {
            if let Some(heap) = heap {
                heap.count_free(bucket);
                heap.count_malloc(new_bucket);
            }
        });
    }
    q
}

fn move_block(p: *mut u8, block: Block, old: usize, size: usize) -> *mut u8 {
    let q = allocate(size, Call::Realloc);
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and distinct; we copy what both hold.
    unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(size)) };
    free_block(block);
    q
}

/// A block of `size` bytes aligned to `align`; null with ENOMEM on failure, or with EINVAL
/// when `align` is not a power of two. `call` names the C call in misuse messages.
#[inline]
pub fn aligned(align: usize, size: usize, call: Call) -> *mut u8 {
    if align <= ALIGN && align.is_power_of_two() {
        return allocate(size, call);
    }
    aligned_slow(align, size, call)
}

#[cold]
fn aligned_slow(align: usize, size: usize, call: Call) -> *mut u8 {
    if !align.is_power_of_two() {
        errno::set_errno(errno::Errno(libc::EINVAL));
        return null_mut();
    }
    let p = match size.checked_add(align) {
        Some(total) if total <= SMALL_MAX => aligned_small(align, total, call),
        Some(_) if size <= MAX_REQUEST => {
            registry::with_heap(|h| alloc_large(h, size, align, false))
        }
        _ => null_mut(),
    };
    if p.is_null() {
        set_enomem();
    }
    p
}

/// An over-aligned pointer inside a small block of `total` = size + align bytes: the first
/// aligned address with room for a second header in front of it.
fn aligned_small(align: usize, total: usize, call: Call) -> *mut u8 {
    let outer = allocate(total, call);
    if outer.is_null() || outer as usize % align == 0 {
        return outer;
    }
    let p = ((outer as usize + HEADER + align - 1) & !(align - 1)) as *mut u8;
    debug_assert!(p as usize + total - align <= outer as usize + payload_of(bucket_of(total)));
    let inner = header::of_user(p);
    // SAFETY: p - 16 >= outer and p + size <= outer + total, so the second header and the
    // caller's bytes both lie inside the holding block.
    unsafe {
        (*inner).lead = (p as usize - outer as usize) as u64;
        (*inner).tag = header::tag(State::Aligned, bucket_of(total));
    }
    p
}

/// malloc_trim: purges now what the exchange and the calling thread's heap hold free, and
/// the cache of large mappings; whether that gave pages back to the OS (released or unmapped).
pub fn trim() -> bool {
    let returned = || release::RELEASED_BYTES.load(Relaxed) + os::UNMAPPED.load(Relaxed);
    let before = returned();
    registry::with_heap(purge::purge_all);
    mapcache::decay(0, 0);
    returned() != before
}
