//! A thread heap: one free list per small bucket, a range of fresh memory to carve blocks
//! from, and the counters of the exit report.
//!
//! A heap is used by one thread at a time (the registry hands it over), so its lists and
//! carving range are plain memory. The counters are atomics only so that the exit report
//! and mallinfo may read them from another thread; they are bumped with a relaxed load and
//! store, never a locked instruction.

use crate::header::{self, Header, State, tag};
use crate::size_class::{ALL_BUCKETS, SMALL_BUCKETS, payload_of, stride_of};
use crate::{exchange, os, purge};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Fresh memory a heap takes at a time (more when one block needs more).
const CHUNK: usize = 1 << 20;

#[repr(C, align(64))]
pub struct Heap {
    /// Free lists, by bucket: header addresses linked through `Header::link`.
    pub heads: [*mut Header; SMALL_BUCKETS],
    /// Fresh memory not yet carved into blocks: `[carve, carve_end)`.
    carve: usize,
    carve_end: usize,
    /// How many more blocks each free list may take before a batch goes to the exchange
    /// (`exchange::LIMITS[b]` minus the blocks on it; below zero when over): counting down
    /// lets free test the limit with the decrement's own sign.
    room: [AtomicI64; SMALL_BUCKETS],
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

/// Changes a room counter (see `Heap::room`) by `n`; only the heap's owner writes it.
#[inline(always)]
fn add_room(c: &AtomicI64, n: i64) -> i64 {
    let r = c.load(Relaxed).wrapping_add(n);
    c.store(r, Relaxed);
    r
}

impl Heap {
    /// Blocks on bucket `b`'s free list (for reports: any thread may ask).
    pub fn free_count(&self, b: usize) -> u64 {
        (exchange::LIMITS[b] as i64).wrapping_sub(self.room[b].load(Relaxed)) as u64
    }

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
                for (room, &limit) in (*h).room.iter().zip(&exchange::LIMITS) {
                    room.store(limit as i64, Relaxed);
                }
            }
        }
        h
    }
}

/// Takes a block from bucket `b`'s free list for `call`: its header (the user pointer is
/// `header::user_of` it), or null if the list is empty.
///
/// # Safety
/// `h` is the caller's own heap and `b < SMALL_BUCKETS`.
#[inline(always)]
pub unsafe fn take(h: *mut Heap, b: usize, call: crate::alloc::Call) -> *mut Header {
    // SAFETY (whole body): the caller owns `h`, so nobody else touches its lists; every
    // header on a list lies in memory we carved and never unmap.
    unsafe {
        let blk = (*h).heads[b];
        if blk.is_null() {
            return null_mut();
        }
        let free = (*blk).tag;
        if free != tag(State::Free, b) {
            crate::misuse::free_block_overwritten(call, blk);
        }
        (*h).heads[b] = (*blk).link as *mut Header;
        add_room(&(*h).room[b], 1);
        // The same tag with the state changed: one addition.
        (*blk).tag = free + (tag(State::Used, 0) - tag(State::Free, 0));
        inc(&(*h).mallocs[b]);
        blk
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
        inc(&(*h).frees[b]);
        if add_room(&(*h).room[b], -1) < 0 {
            overflow(h, b);
        }
    }
}

/// The heap holds more free blocks of bucket `b` than it needs: hand a batch to the exchange.
#[cold]
#[inline(never)]
unsafe fn overflow(h: *mut Heap, b: usize) {
    let n = exchange::batch_len(b);
    // SAFETY: the caller owns `h`, whose list holds more than `n` blocks.
    unsafe {
        let first = (*h).heads[b];
        let last = purge::nth(first, n - 1);
        (*h).heads[b] = (*last).link as *mut Header;
        (*last).link = 0;
        add_room(&(*h).room[b], n as i64);
        exchange::give(h, b, first, n);
    }
}

/// Moves every free block of the heap onto `lists` (a list and its length per bucket), for
/// a purge.
///
/// # Safety
/// `h` is the caller's own heap.
pub unsafe fn drain(h: *mut Heap, lists: &mut [(*mut Header, usize); SMALL_BUCKETS]) {
    for (b, list) in lists.iter_mut().enumerate() {
        // SAFETY: the caller owns `h` and its lists.
        unsafe {
            let first = (*h).heads[b];
            if first.is_null() {
                continue;
            }
            let n = (*h).free_count(b) as usize;
            (*purge::last_of(first)).link = list.0 as usize;
            *list = (first, list.1 + n);
            (*h).heads[b] = null_mut();
            (*h).room[b].store(exchange::LIMITS[b] as i64, Relaxed);
        }
    }
}

/// Refills bucket `b`'s empty list with a batch from the exchange. False if it had none.
///
/// # Safety
/// `h` is the caller's own heap and its list for bucket `b` is empty.
#[cold]
pub unsafe fn refill(h: *mut Heap, b: usize) -> bool {
    let Some((first, n)) = exchange::take(b) else {
        return false;
    };
    // SAFETY: the caller owns `h`; the batch is ours now and ends with a zero link.
    unsafe {
        (*h).heads[b] = first;
        add_room(&(*h).room[b], -(n as i64));
    }
    true
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

/// Replaces the carving range with a span of purged memory or a new chunk from the OS, of at
/// least `need` bytes. What is left of the old range becomes free blocks of the largest
/// buckets that fit, so nothing is lost.
#[cold]
unsafe fn new_chunk(h: *mut Heap, need: usize) -> bool {
    exchange::maybe_decay();
    let (start, len) = match purge::take_span() {
        Some((start, len)) if len >= need => (start, len),
        small => {
            if let Some((start, len)) = small {
                // Too small for this block: its memory becomes free blocks of this heap.
                // SAFETY: the caller owns `h`; the span is ours now.
                unsafe { carve_rest(h, start, start + len) };
            }
            let Some(len) = os::round_to_page(need.max(CHUNK)) else {
                return false;
            };
            let chunk = os::heap_chunk(len);
            if !chunk.is_null() {
                (chunk as usize, len)
            } else {
                // The OS has no more: purge what is free anywhere we may touch, and carve
                // from the purged memory instead.
                match exchange::reclaim(h, || purge::take_span_fitting(need)) {
                    Some(span) => span,
                    None => return false,
                }
            }
        }
    };
    // SAFETY: the caller owns `h`.
    unsafe {
        carve_rest(h, (*h).carve, (*h).carve_end);
        (*h).carve = start;
        (*h).carve_end = start + len;
    }
    true
}

/// Cuts `[at, end)` into free blocks of the largest buckets that fit, onto the heap's lists.
unsafe fn carve_rest(h: *mut Heap, mut at: usize, end: usize) {
    // SAFETY: the caller owns `h` and the range.
    unsafe {
        for b in (0..SMALL_BUCKETS).rev() {
            while end - at >= stride_of(b) {
                let blk = at as *mut Header;
                (*blk).tag = tag(State::Free, b);
                (*blk).link = (*h).heads[b] as usize;
                (*h).heads[b] = blk;
                add_room(&(*h).room[b], -1);
                at += stride_of(b);
            }
        }
    }
}

/// Bytes of payload a small block of bucket `b` offers.
pub const fn capacity(b: usize) -> usize {
    payload_of(b)
}
