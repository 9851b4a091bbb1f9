//! The allocator's operations, with C semantics (errno, NULL), used by the exported symbols
//! and by Rust callers of the rlib. The fast paths (`malloc`, `free` of a small block) are
//! straight-line code; everything else is in `#[cold]` functions below them.
//!
//! In checking mode no thread has a heap in its fast-path slot (see `registry`), so every
//! call arrives at a slow path, and the slow paths hand it to the `checked_*` functions at
//! the end of this file, which dress and check blocks with `checking`'s pieces.

use crate::checking::{self, Kind};
use crate::header::{self, Carved, Key, State};
use crate::heap::{OwnedHeap, Taken};
use crate::large::LargeBlock;
use crate::misuse::{self, Call};
use crate::pointer::{self, Block};
use crate::size_class::{
    ALIGN, HEADER, SMALL_BUCKETS, SMALL_MAX, bucket_of, payload_of, small_bucket_of,
};
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
    let mut h = registry::in_slot();
    match h.take(small_bucket_of(size)?) {
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
    unsafe { free_as(p, Call::Free, None) }
}

/// free, on behalf of `call` (misuse messages name it: `free` or `operator delete`), with
/// the size a sized delete passes (checked in checking mode only: the header has the bucket).
///
/// # Safety
/// As for `free`.
#[inline(always)]
pub unsafe fn free_as(p: *mut u8, call: Call, sized: Option<usize>) {
    let foreign = |h, b| {
        free_foreign(h, b, p, call, sized);
        Some(())
    };
    if with_small(p, give_back, foreign).is_none() {
        free_slow(p, call, sized);
    }
}

/// free of a used small block of bucket `b` that, by its tag, another heap handed out: onto
/// the calling thread's foreign list (see `heap`), once its owner mark checks out; else to
/// `free_slow`, which reports the clobbered tag, or finds the thread a heap. Its own call from the fast path, which
/// keeps no register across two.
#[cold]
#[inline(never)]
fn free_foreign(mut h: OwnedHeap, b: usize, p: *mut u8, call: Call, sized: Option<usize>) {
    // A thread with no heap of its own yet (or any more) arrives here with a vacant one.
    if h.is_vacant() {
        return free_slow(p, call, sized);
    }
    let hdr = header::of_user(p);
    // SAFETY: `with_small` read these words: mapped memory, 16-aligned.
    let (seal, tag) = unsafe { ((*hdr).lead, (*hdr).tag) };
    if !header::used_over_seal(tag.wrapping_sub(seal)) {
        return free_slow(p, call, sized);
    }
    // SAFETY: a used small block's seal and tag in readable memory: a header in carved
    // memory (as in `with_small`).
    supply::give_foreign(&mut h, unsafe { Carved::new(hdr) }, b);
}

/// The fast paths' test of a pointer: when the calling thread has a heap and `p` is a used
/// small block of this heap in memory that can be read, `f` of the heap, the block, its
/// bucket and the key (loaded once for the whole call). None sends the call to a slow path
/// (which checks again, and reports misuse). (`f` runs inside the test's branch: returned as
/// a value, the block makes the compiler merge the two comparisons into flag arithmetic,
/// three instructions more.)
#[inline(always)]
fn with_mine_small<R>(p: *mut u8, f: impl FnOnce(OwnedHeap, Carved, usize, Key) -> R) -> Option<R> {
    with_small(p, f, |_, _| None)
}

/// `with_mine_small`, and for a block whose seal is a bucket's but whose tag is not this
/// heap's (another heap handed it out, or the tag was clobbered), `foreign` of the heap and
/// the bucket.
#[inline(always)]
fn with_small<R>(
    p: *mut u8,
    f: impl FnOnce(OwnedHeap, Carved, usize, Key) -> R,
    foreign: impl FnOnce(OwnedHeap, usize) -> Option<R>,
) -> Option<R> {
    let h = registry::in_slot();
    let hdr = header::of_user(p);
    if !pagemap::readable(hdr as usize) {
        return None;
    }
    // SAFETY: the header can be read (`readable`): mapped memory, 16-aligned (the user
    // pointer too, as the header is 16 bytes).
    let (seal, tag) = unsafe { ((*hdr).lead, (*hdr).tag) };
    // Two comparisons check magic, state, bucket and owner: the seal, the word the block
    // before would overrun first, is the seal of a bucket, and the tag exceeds it by what
    // this heap's used tags do.
    let key = header::key();
    let b = key.bucket_of_seal(seal);
    if b < SMALL_BUCKETS {
        if tag.wrapping_sub(seal) == h.over() {
            // SAFETY: a used small block's keyed tag and seal in readable memory: a header
            // in carved memory (as in `pointer::inspect`).
            return Some(f(h, unsafe { Carved::new(hdr) }, b, key));
        }
        return foreign(h, b);
    }
    None
}

/// Puts a used small block of bucket `b`, which the caller gives up, on `h`'s list.
#[inline(always)]
fn give_back(mut h: OwnedHeap, blk: Carved, b: usize, key: Key) {
    if !h.put(blk, b, key) {
        // By value: the fast path keeps the handle in a register.
        supply::hand_over_owned(h, b);
    }
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
    if registry::checking() {
        return checked_alloc(size, ALIGN, call, zero);
    }
    unchecked_slow(size, call, zero)
}

/// malloc's slow path without checking mode's dress.
fn unchecked_slow(size: usize, call: Call, zero: bool) -> *mut u8 {
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
    if p.is_null() && mapcache::release_all() {
        p = large::alloc(size, align, zero); // cached mappings held the address space
    }
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
fn free_slow(p: *mut u8, call: Call, sized: Option<usize>) {
    if p.is_null() {
        return;
    }
    let saved = errno::errno();
    if registry::checking() {
        checked_free(p, call, sized);
    } else {
        free_block(pointer::inspect(call, p));
    }
    errno::set_errno(saved);
}

fn free_block(block: Block) {
    match block {
        Block::Small { h: hdr, bucket } => registry::with_heap(|heap| {
            let Some(heap) = heap else { return };
            if !heap.handed_out(hdr) {
                supply::give_foreign(heap, hdr, bucket);
            } else if !heap.put(hdr, bucket, header::key()) {
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
            // The holding block as such (not through free: checking mode checked the aligned
            // block already, whose record is the holding block's last word).
            free_block(pointer::inspect(Call::Free, outer));
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
    if registry::checking() {
        // SAFETY: the caller's promise.
        return unsafe { checked_size(Call::UsableSize, p) }.0;
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
    // The fast path: a small block that stays, or moves to another small block.
    let fast = with_mine_small(p, |h, blk, b, key| {
        if size != 0 && size <= payload_of(b) && stays_small(b, size) {
            return p;
        }
        if size == 0 || size > SMALL_MAX {
            return null_mut();
        }
        let Some(q) = take_small(size) else {
            return null_mut();
        };
        // SAFETY: both blocks are live and distinct; we copy what both hold.
        unsafe { core::ptr::copy_nonoverlapping(p, q, payload_of(b).min(size)) };
        give_back(h, blk, b, key);
        q
    });
    match fast {
        Some(q) if !q.is_null() => q,
        // SAFETY: the caller's promise.
        _ => unsafe { realloc_slow(p, size) },
    }
}

/// Whether a small block of bucket `b` keeps a request of `size` bytes it holds: unless the
/// block would be more than four times too big.
#[inline(always)]
fn stays_small(b: usize, size: usize) -> bool {
    b < 2 || bucket_of(size) + 2 > b
}

/// realloc's slow path.
///
/// # Safety
/// As for `realloc`.
#[cold]
unsafe fn realloc_slow(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        return allocate(size, Call::Realloc);
    }
    if registry::checking() {
        // SAFETY: the caller's promise.
        return unsafe { checked_realloc(p, size) };
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
        Block::Small { bucket, .. } => size <= usable && stays_small(bucket, size),
        Block::Large { .. } | Block::Spanned { .. } => size <= usable && size > usable / 2,
        Block::Aligned { .. } => false,
    };
    if stays {
        if let Block::Large { ref h, .. } = block {
            h.shrink(p, size);
        }
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
    if registry::checking() {
        return checked_alloc(size, align, call, false);
    }
    unchecked_aligned(align, size, call)
}

/// `aligned_slow` without checking mode's dress, for a power-of-two `align`.
fn unchecked_aligned(align: usize, size: usize, call: Call) -> *mut u8 {
    if align <= ALIGN {
        return unchecked_slow(size, call, false);
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
    let outer = match take_small(total) {
        Some(p) => p,
        None => unchecked_slow(total, call, false),
    };
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

// Checking mode (see `checking`): every call of a thread in checking mode arrives here.

/// A block of `size` bytes aligned to `align` (a power of two), made by `call`, dressed:
/// junk or zero, a canary, the record; a zero-size block faults when touched.
#[cold]
fn checked_alloc(size: usize, align: usize, call: Call, zero: bool) -> *mut u8 {
    if size == 0 && align <= ALIGN {
        let p = checking::zero_block();
        if !p.is_null() {
            return p;
        }
    }
    let Some(inner) = size.checked_add(checking::EXTRA) else {
        set_enomem();
        return null_mut();
    };
    let p = unchecked_aligned(align, inner, call);
    if p.is_null() {
        set_enomem();
        return p;
    }
    let usable = pointer::inspect(call, p).usable(p);
    // SAFETY: the new block holds `usable >= inner` bytes, ours alone.
    unsafe { checking::dress(p, usable, size, Kind::of(call), zero) };
    p
}

/// The size asked for at `p`, a live block (or a zero-size one) handed to `call`, and what
/// made it; misuse (freed, canary overwritten) is reported.
///
/// # Safety
/// `p` is a pointer from this allocator (what bmalloc cannot see is the caller's promise).
unsafe fn checked_size(call: Call, p: *mut u8) -> (usize, Kind) {
    if checking::is_zero_block(p) {
        return (0, Kind::of(call));
    }
    let usable = pointer::inspect(call, p).usable(p);
    // SAFETY: an inspected block of `usable` bytes.
    unsafe { checking::live(call, p, usable) }
}

/// free and delete in checking mode: the block is checked (canary, who made it, a sized
/// delete's size), poisoned and held in the heap's quarantine; the block that leaves the
/// quarantine for it is checked for writes after free, then freed.
#[cold]
fn checked_free(p: *mut u8, call: Call, sized: Option<usize>) {
    // SAFETY: the caller's promise (free's).
    let (size, made) = unsafe { checked_size(call, p) };
    checking::check_release(call, p, made, size, sized);
    if checking::is_zero_block(p) {
        return;
    }
    let block = pointer::inspect(call, p);
    // SAFETY: a live block of ours, which the caller gives up.
    unsafe { checking::poison(p, block.usable(p)) };
    let leaving = registry::with_heap(|h| h.map_or(p as usize, |h| h.quarantine(p as usize)));
    if leaving != 0 {
        let q = leaving as *mut u8;
        let block = pointer::inspect(call, q);
        // SAFETY: a poisoned block that waited in quarantine, ours alone.
        unsafe { checking::check_poison(call, q, block.usable(q)) };
        free_block(block);
    }
}

/// realloc in checking mode: always a new block (so a stale pointer to the old one is a write
/// after free that the quarantine sees), the old one freed as by free.
///
/// # Safety
/// As for `realloc`.
unsafe fn checked_realloc(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: the caller's promise.
    let (old, made) = unsafe { checked_size(Call::Realloc, p) };
    checking::check_release(Call::Realloc, p, made, old, None);
    if size == 0 {
        checked_free(p, Call::Realloc, None);
        return null_mut();
    }
    if size > MAX_REQUEST {
        set_enomem();
        return null_mut();
    }
    let q = checked_alloc(size, ALIGN, Call::Realloc, false);
    if !q.is_null() {
        // SAFETY: both blocks are live and distinct; we copy what both hold.
        unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(size)) };
        checked_free(p, Call::Realloc, None);
    }
    q
}
