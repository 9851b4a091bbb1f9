//! The allocator's operations, with C semantics (errno, NULL), used by the exported symbols
//! and by Rust callers of the rlib. The fast paths (`malloc`, `free` of a small block) are
//! straight-line code; everything else is in `#[cold]` functions below them.

use crate::header::{self, Header, State};
use crate::heap::{self, Heap, capacity, inc};
use crate::misuse::{self, Fault};
use crate::registry::{self, with_heap};
use crate::size_class::{ALIGN, HEADER, SMALL_BUCKETS, SMALL_MAX, bucket_of};
use crate::{large, os, pagemap, tls};
use core::ptr::null_mut;

/// Largest size any call accepts, as in glibc.
const MAX_REQUEST: usize = isize::MAX as usize;

/// The C call on whose behalf we allocate, for misuse messages.
pub type Call = &'static str;

/// malloc: a block of at least `size` bytes, 16-byte aligned, or null with ENOMEM.
#[inline(always)]
pub fn malloc(size: usize) -> *mut u8 {
    allocate(size, "malloc")
}

#[inline(always)]
fn allocate(size: usize, call: Call) -> *mut u8 {
    let h = tls::heap();
    if tls::is_live(h) && size <= SMALL_MAX {
        // SAFETY: `h` is this thread's live heap and the bucket is small.
        let blk = unsafe { heap::take(h, bucket_of(size), call) };
        if !blk.is_null() {
            return header::user_of(blk);
        }
    }
    malloc_slow(size, call)
}

/// free: gives a block back to the calling thread's heap.
#[inline(always)]
pub fn free(p: *mut u8) {
    let h = tls::heap();
    let hdr = header::of_user(p);
    if tls::is_live(h) && p as usize % ALIGN == 0 && pagemap::owns(hdr as usize) {
        // SAFETY: the header's page is ours and mapped, so it can be read.
        let tag = unsafe { (*hdr).tag };
        // One comparison checks magic, state and bucket: a used small block's tag is the
        // tag of a used bucket-0 block plus its bucket.
        let b = tag.wrapping_sub(header::tag(State::Used, 0)) as usize;
        if b < SMALL_BUCKETS {
            // SAFETY: a used small block, given up by the caller, onto our own heap.
            unsafe { heap::put(h, hdr, b) };
            return;
        }
    }
    free_slow(p);
}

#[cold]
fn malloc_slow(size: usize, call: Call) -> *mut u8 {
    let p = with_heap(|h| alloc_in(h, size, call));
    if p.is_null() {
        errno::set_errno(errno::Errno(libc::ENOMEM));
    }
    p
}

/// A block of `size` bytes from heap `h` (null: no heap could be had).
fn alloc_in(h: *mut Heap, size: usize, call: Call) -> *mut u8 {
    if h.is_null() || size > MAX_REQUEST {
        return null_mut();
    }
    if size <= SMALL_MAX {
        let b = bucket_of(size);
        // SAFETY: `h` is a heap the caller may use; b is a small bucket.
        unsafe {
            let blk = heap::take(h, b, call);
            if !blk.is_null() {
                return header::user_of(blk);
            }
            if heap::refill(h, b) {
                return header::user_of(heap::take(h, b, call));
            }
            heap::carve(h, b)
        }
    } else {
        let p = alloc_large(h, size, ALIGN, call == "calloc");
        count_malloc(h, p, size);
        p
    }
}

/// A large block: its own mapping, or when the OS refuses one, a piece of purged memory.
fn alloc_large(h: *mut Heap, size: usize, align: usize, zero: bool) -> *mut u8 {
    let p = large::alloc(size, align, zero);
    if !p.is_null() {
        return p;
    }
    crate::exchange::reclaim(h, || {
        let p = large::alloc_in_span(size, align);
        (!p.is_null()).then_some(p)
    })
    .unwrap_or(null_mut())
}

fn count_malloc(h: *mut Heap, p: *mut u8, size: usize) {
    if !p.is_null() && !h.is_null() {
        // SAFETY: `h` is a heap the caller may use.
        inc(unsafe { &(*h).mallocs[bucket_of(size)] });
    }
}

fn count_free(h: *mut Heap, bucket: usize) {
    if !h.is_null() {
        // SAFETY: `h` is a heap the caller may use.
        inc(unsafe { &(*h).frees[bucket] });
    }
}

/// What a valid user pointer refers to.
#[derive(Clone, Copy)]
enum Block {
    Small {
        h: *mut Header,
        bucket: usize,
    },
    Large {
        h: *mut Header,
        bucket: usize,
    },
    Spanned {
        h: *mut Header,
        bucket: usize,
    },
    /// An over-aligned pointer inside the small block whose user pointer is `outer`.
    Aligned {
        inner: *mut Header,
        outer: *mut u8,
    },
}

/// Checks a pointer handed to `call` and says what it is; reports misuse and aborts.
fn inspect(call: Call, p: *mut u8) -> Block {
    let h = header::of_user(p);
    if p as usize % ALIGN != 0 {
        misuse::report(call, p, Fault::Misaligned);
    }
    if !pagemap::owns(h as usize) {
        misuse::report(call, p, not_ours(call, h));
    }
    // SAFETY: the header's page is ours and mapped.
    let tag = unsafe { (*h).tag };
    match header::decode(tag) {
        Some((State::Used, bucket)) if bucket < SMALL_BUCKETS => Block::Small { h, bucket },
        Some((State::Large, bucket)) if large_header_ok(h) => Block::Large { h, bucket },
        Some((State::Spanned, bucket)) => Block::Spanned { h, bucket },
        Some((State::Aligned, _)) => {
            // SAFETY: as above; link is the distance back to the holding block's pointer.
            let back = unsafe { (*h).link };
            let outer = (p as usize).wrapping_sub(back) as *mut u8;
            match (back % ALIGN == 0 && (HEADER..=SMALL_MAX).contains(&back))
                .then(|| inspect_outer(outer))
            {
                Some(true) => Block::Aligned { inner: h, outer },
                _ => misuse::report(call, p, Fault::BadHeader),
            }
        }
        Some((State::Free, _)) => misuse::report(call, p, freed(call)),
        _ => misuse::report(call, p, Fault::BadHeader),
    }
}

fn freed(call: Call) -> Fault {
    if call == "free" {
        Fault::DoubleFree
    } else {
        Fault::AlreadyFreed
    }
}

/// Why a header address outside our memory is wrong: a large block we already gave back, or
/// memory we never had.
fn not_ours(call: Call, h: *mut Header) -> Fault {
    if pagemap::retired(h as usize) {
        freed(call)
    } else {
        Fault::NotOurs
    }
}

/// Whether an aligned pointer's holding block is a used small block of ours.
fn inspect_outer(outer: *mut u8) -> bool {
    let h = header::of_user(outer);
    pagemap::owns(h as usize)
        // SAFETY: the header's page is ours and mapped.
        && matches!(header::decode(unsafe { (*h).tag }), Some((State::Used, b)) if b < SMALL_BUCKETS)
}

fn large_header_ok(h: *mut Header) -> bool {
    let page = os::page_size();
    // SAFETY: the header's page is ours and mapped.
    let len = unsafe { (*h).link };
    len != 0 && len % page == 0 && pagemap::owns((h as usize & !(page - 1)) + len - 1)
}

#[cold]
fn free_slow(p: *mut u8) {
    if p.is_null() {
        return;
    }
    let saved = errno::errno();
    free_block(inspect("free", p));
    errno::set_errno(saved);
}

fn free_block(block: Block) {
    match block {
        Block::Small { h, bucket } => with_heap(|heap| {
            if !heap.is_null() {
                // SAFETY: a used small block the caller gives up, onto a heap we may use.
                unsafe { heap::put(heap, h, bucket) };
            }
        }),
        Block::Large { h, bucket } => {
            with_heap(|heap| count_free(heap, bucket));
            large::free(h);
        }
        Block::Spanned { h, bucket } => {
            with_heap(|heap| count_free(heap, bucket));
            large::free_spanned(h);
        }
        Block::Aligned { inner, outer } => {
            // Mark the inner header free too, so a second free of the aligned pointer is
            // reported as a double free.
            // SAFETY: the inner header lies in the payload of the block we are freeing.
            unsafe { (*inner).tag = header::tag(State::Free, 0) };
            free(outer);
        }
    }
}

/// Bytes usable at `p` (0 for null).
pub fn usable_size(p: *mut u8) -> usize {
    if p.is_null() {
        return 0;
    }
    match inspect("malloc_usable_size", p) {
        Block::Small { bucket, .. } => capacity(bucket),
        Block::Large { h, .. } => large::usable(p, h),
        Block::Spanned { h, .. } => large::spanned_usable(p, h),
        Block::Aligned { outer, .. } => usable_outer(outer) - (p as usize - outer as usize),
    }
}

fn usable_outer(outer: *mut u8) -> usize {
    // SAFETY: inspect checked that `outer` is a used small block.
    capacity((unsafe { (*header::of_user(outer)).tag } & 0xff) as usize)
}

/// calloc: `n * size` zeroed bytes, or null with ENOMEM on overflow or exhaustion.
pub fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        errno::set_errno(errno::Errno(libc::ENOMEM));
        return null_mut();
    };
    if total > SMALL_MAX {
        let p = malloc_slow(total, "calloc");
        // A fresh mapping is already zero; a block cut from purged memory is not.
        // SAFETY: a large block's header lies in front of it.
        if !p.is_null()
            && header::decode(unsafe { (*header::of_user(p)).tag })
                .is_some_and(|(s, _)| s == State::Spanned)
        {
            // SAFETY: `p` holds at least `total` bytes.
            unsafe { core::ptr::write_bytes(p, 0, total) };
        }
        return p;
    }
    let p = allocate(total, "calloc");
    if !p.is_null() {
        // SAFETY: `p` holds at least `total` bytes.
        unsafe { core::ptr::write_bytes(p, 0, total) };
    }
    p
}

/// realloc, with glibc's rules: null `p` is malloc, size 0 frees and returns null, a failure
/// leaves `p` untouched.
pub fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        return allocate(size, "realloc");
    }
    let block = inspect("realloc", p);
    if size == 0 {
        let saved = errno::errno();
        free_block(block);
        errno::set_errno(saved);
        return null_mut();
    }
    if size > MAX_REQUEST {
        errno::set_errno(errno::Errno(libc::ENOMEM));
        return null_mut();
    }
    let old = match block {
        Block::Small { bucket, .. } => {
            // Stay in place unless the block would be more than four times too big.
            if size <= capacity(bucket) && (bucket < 2 || bucket_of(size) + 2 > bucket) {
                return p;
            }
            capacity(bucket)
        }
        Block::Large { h, bucket } => {
            let usable = large::usable(p, h);
            if size <= usable && size > usable / 2 {
                return p;
            }
            if size > SMALL_MAX {
                return resize_large(p, h, bucket, size);
            }
            usable
        }
        Block::Spanned { h, .. } => {
            let usable = large::spanned_usable(p, h);
            if size <= usable && size > usable / 2 {
                return p;
            }
            usable
        }
        Block::Aligned { outer, .. } => usable_outer(outer) - (p as usize - outer as usize),
    };
    move_block(p, block, old, size)
}

#[cold]
fn resize_large(p: *mut u8, h: *mut Header, bucket: usize, size: usize) -> *mut u8 {
    let q = large::resize(p, h, size);
    if q.is_null() {
        // mremap refused (or the block is over-aligned): copy instead.
        return move_block(p, Block::Large { h, bucket }, large::usable(p, h), size);
    }
    let new_bucket = bucket_of(size);
    if new_bucket != bucket {
        with_heap(|heap| {
            count_free(heap, bucket);
            count_malloc(heap, q, size);
        });
    }
    q
}

fn move_block(p: *mut u8, block: Block, old: usize, size: usize) -> *mut u8 {
    let q = allocate(size, "realloc");
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are live and distinct; we copy what both hold.
    unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(size)) };
    free_block(block);
    q
}

/// A block of `size` bytes aligned to `align`, a power of two; null with ENOMEM on failure.
pub fn aligned(align: usize, size: usize, call: Call) -> *mut u8 {
    if align <= ALIGN {
        return allocate(size, call);
    }
    aligned_slow(align, size, call)
}

#[cold]
fn aligned_slow(align: usize, size: usize, call: Call) -> *mut u8 {
    let p = match size.checked_add(align) {
        Some(total) if total <= SMALL_MAX => aligned_small(align, total, call),
        Some(_) if size <= MAX_REQUEST => with_heap(|h| {
            let p = alloc_large(h, size, align, false);
            count_malloc(h, p, size);
            p
        }),
        _ => null_mut(),
    };
    if p.is_null() {
        errno::set_errno(errno::Errno(libc::ENOMEM));
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
    let inner = header::of_user(p);
    // SAFETY: p - 16 >= outer and p + size <= outer + total, so the second header and the
    // caller's bytes both lie inside the holding block.
    unsafe {
        (*inner).tag = header::tag(State::Aligned, bucket_of(total));
        (*inner).link = p as usize - outer as usize;
    }
    p
}

/// Bytes in use and free in all heaps, and large blocks, for mallinfo.
pub struct Totals {
    pub used: u64,
    pub free: u64,
    pub large_blocks: u64,
    pub large_bytes: u64,
    pub heap_bytes: u64,
}

pub fn totals() -> Totals {
    use core::sync::atomic::Ordering::Relaxed;
    let mut t = Totals {
        used: 0,
        free: 0,
        large_blocks: large::LIVE_BLOCKS.load(Relaxed) as u64,
        large_bytes: large::LIVE_BYTES.load(Relaxed) as u64,
        heap_bytes: os::HEAP_BYTES.load(Relaxed) as u64,
    };
    for id in 0..registry::count() {
        let h = registry::get(id);
        if h.is_null() {
            continue;
        }
        for b in 0..crate::size_class::ALL_BUCKETS {
            let c = crate::stats::bucket_counts(h, b);
            let live = c.mallocs.wrapping_sub(c.frees);
            t.used = t
                .used
                .wrapping_add(live.wrapping_mul(crate::size_class::payload_of(b) as u64));
            t.free += c.free_blocks * crate::size_class::payload_of(b) as u64;
        }
    }
    t
}
