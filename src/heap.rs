//! A thread heap: one free list per small bucket, a range of fresh memory to carve blocks
//! from, and the counters of the exit report.
//!
//! A heap is used by one thread at a time (the registry hands it over), so its lists and
//! carving range are plain memory. The counters are atomics only so that the exit report
//! and mallinfo may read them from another thread; they are bumped with a relaxed load and
//! store, never a locked instruction.

use crate::header::{self, Header, State, tag};
use crate::os;
use crate::size_class::{ALL_BUCKETS, SMALL_BUCKETS, payload_of, stride_of};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Fresh memory a heap takes at a time (more when one block needs more).
const CHUNK: usize = 1 << 20;

#[repr(C, align(64))]
pub struct Heap {
    /// Free lists, by bucket: header addresses linked through `Header::link`.
    pub heads: [*mut Header; SMALL_BUCKETS],
    /// Fresh memory not yet carved into blocks: `[carve, carve_end)`.
    carve: usize,
    carve_end: usize,
    /// Blocks on each free list.
    pub free_blocks: [AtomicU64; SMALL_BUCKETS],
    /// Blocks handed out and taken back by this heap's threads, by bucket (large blocks too).
    pub mallocs: [AtomicU64; ALL_BUCKETS],
    pub frees: [AtomicU64; ALL_BUCKETS],
    /// Position in the registry, and in the exit report.
    pub id: usize,
    /// Whether a thread owns this heap.
    pub claimed: AtomicBool,
    /// How many times the owner's thread-exit hook has run (see registry::on_thread_exit).
    pub exit_rounds: u32,
}

/// Adds one to a counter that only the heap's owner writes.
#[inline(always)]
pub fn inc(c: &AtomicU64) {
    c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
}

#[inline(always)]
fn dec(c: &AtomicU64) {
    c.store(c.load(Relaxed).wrapping_sub(1), Relaxed);
}

impl Heap {
    /// A zeroed heap in fresh memory of its own, owned by the caller, or null.
    pub fn create(id: usize) -> *mut Heap {
        let len = os::round_to_page(core::mem::size_of::<Heap>()).unwrap_or(usize::MAX);
        let h = os::map(len).cast::<Heap>();
        if !h.is_null() {
            // SAFETY: a fresh zeroed mapping is a valid Heap (null lists, zero counters,
            // false flag) and nobody else knows it yet.
            unsafe {
                (*h).id = id;
                (*h).claimed = AtomicBool::new(true);
            }
        }
        h
    }
}

/// Takes a block from bucket `b`'s free list for `call`: the user pointer, or null if the list
/// is empty.
///
/// # Safety
/// `h` is the caller's own heap and `b < SMALL_BUCKETS`.
#[inline(always)]
pub unsafe fn take(h: *mut Heap, b: usize, call: crate::alloc::Call) -> *mut u8 {
    // SAFETY (whole body): the caller owns `h`, so nobody else touches its lists; every
    // header on a list lies in memory we carved and never unmap.
    unsafe {
        let blk = (*h).heads[b];
        if blk.is_null() {
            return null_mut();
        }
        if (*blk).tag != tag(State::Free, b) {
            crate::misuse::free_block_overwritten(call, blk);
        }
        (*h).heads[b] = (*blk).link as *mut Header;
        dec(&(*h).free_blocks[b]);
        (*blk).tag = tag(State::Used, b);
        inc(&(*h).mallocs[b]);
        header::user_of(blk)
    }
}

/// Puts a used block of bucket `b` on the heap's free list.
///
/// # Safety
/// `h` is the caller's own heap; `blk` is a used small block of bucket `b`, not on any list.
#[inline(always)]
pub unsafe fn put(h: *mut Heap, blk: *mut Header, b: usize) {
    // SAFETY: as for `take`; the caller gives up `blk`.
    unsafe {
        (*blk).tag = tag(State::Free, b);
        (*blk).link = (*h).heads[b] as usize;
        (*h).heads[b] = blk;
        inc(&(*h).free_blocks[b]);
        inc(&(*h).frees[b]);
    }
}

/// Carves a new block of bucket `b` from the heap's fresh memory, taking a new chunk from
/// the OS when the range is used up. The user pointer, or null when the OS has no memory.
///
/// # Safety
/// `h` is the caller's own heap and `b < SMALL_BUCKETS`.
#[inline(never)]
pub unsafe fn carve(h: *mut Heap, b: usize) -> *mut u8 {
    let stride = stride_of(b);
    // SAFETY: the caller owns `h`; the carving range is fresh memory of this heap.
    unsafe {
        if (*h).carve_end - (*h).carve < stride && !new_chunk(h, stride) {
            return null_mut();
        }
        let blk = (*h).carve as *mut Header;
        (*h).carve += stride;
        (*blk).tag = tag(State::Used, b);
        (*blk).link = 0;
        inc(&(*h).mallocs[b]);
        header::user_of(blk)
    }
}

/// Replaces the carving range with a new chunk of at least `need` bytes. What is left of the
/// old range becomes free blocks of the largest buckets that fit, so nothing is lost.
#[cold]
unsafe fn new_chunk(h: *mut Heap, need: usize) -> bool {
    let Some(len) = os::round_to_page(need.max(CHUNK)) else {
        return false;
    };
    let chunk = os::heap_chunk(len);
    if chunk.is_null() {
        return false;
    }
    // SAFETY: the caller owns `h`; the leftover range is carved memory of this heap.
    unsafe {
        let mut at = (*h).carve;
        let end = (*h).carve_end;
        for b in (0..SMALL_BUCKETS).rev() {
            while end - at >= stride_of(b) {
                let blk = at as *mut Header;
                (*blk).tag = tag(State::Free, b);
                (*blk).link = (*h).heads[b] as usize;
                (*h).heads[b] = blk;
                inc(&(*h).free_blocks[b]);
                at += stride_of(b);
            }
        }
        (*h).carve = chunk as usize;
        (*h).carve_end = chunk as usize + len;
    }
    true
}

/// Bytes of payload a small block of bucket `b` offers.
pub const fn capacity(b: usize) -> usize {
    payload_of(b)
}
