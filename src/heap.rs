//! A thread heap: one free list per small bucket, a range of fresh memory to carve blocks
//! from, and the counters of the exit report.
//!
//! A heap is used by one thread at a time. That thread holds it through an `OwnedHeap`, which
//! only the registry makes, and only for a heap whose `claimed` flag the thread set: so the
//! lists and the carving range are plain memory, and the owner's operations are safe methods
//! of the handle. Other threads (the exit report, mallinfo) see a heap only as `&Heap`, and
//! read only its atomics: the counters and the room left on each list. Those are bumped by
//! the owner with a relaxed load and store, never a locked instruction.
//!
//! Batches are cut without walking. A list holds at most `LIMITS[b]` = one batch; the free
//! that makes it one more hands the blocks under the new head (a batch, ending with the list's
//! zero link) to the bucket's *reserve*, and the reserve that was there, if any, to the
//! exchange. A list that runs dry takes its reserve back before it asks the exchange. So a heap
//! keeps at most two batches of a bucket, a batch leaves only after a batch's worth of frees
//! beyond what the heap allocated (a heap alternating around the limit swaps with its own
//! reserve, with no atomic), and neither direction follows a single link.
//!
//! A used small block's tag carries the heap that handed it out (`header::owner_mark`). free
//! puts a block of its own heap on the list; a block another heap handed out goes on the
//! bucket's *foreign* list instead, which malloc never takes from. A full one (a batch) becomes
//! the bucket's reserve, as a full list does, and the reserve before it goes to the exchange:
//! so a batch leaves a batch's worth of frees after it filled, once its lines have left the
//! freeing core's nearest caches (prodcons took 1.3 s instead of 0.9 when each foreign batch
//! left as soon as it was full: the allocating thread then missed on every header), and a
//! heap that runs dry may take it back as its reserve, a batch of frees later. So a thread does not at once hand out again a block that another
//! thread allocated, and which may share a cache line with blocks that thread still writes
//! (passive false sharing: Hoard's cache-scratch). The block is still the freeing thread's
//! (the seed's rule): its heap counts the free and holds it.
//!
//! Invariants, for every small bucket `b`:
//! - the list of `b` holds `LIMITS[b] - room[b]` blocks, each sealed for bucket `b`;
//! - `room[b] <= LIMITS[b]`; it is below zero only between a `put` that answered false and
//!   the `cut_batch` that follows it (or after `carve_rest`, until the next `put`);
//! - the reserve of `b` is empty or a chain of exactly `LIMITS[b]` free blocks of `b`;
//! - the foreign list of `b` holds `foreign[b] < LIMITS[b]` free blocks of `b`;
//! - every used block this heap handed out has the tag of its bucket plus `over` over its seal;
//! - the carving range is 16-aligned, `carve <= carve_end`, and no block lies in it.

use crate::header::{self, Carved, Key, USED_OVER_SEAL, seal};
use crate::list::{self, Piles};
use crate::size_class::{ALL_BUCKETS, SMALL_BUCKETS, batch_len, payload_of, stride_of};
use crate::{os, usage};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::*};

/// Fresh memory a heap takes at a time (more when one block needs more).
pub const CHUNK: usize = 1 << 20;

/// Free blocks a bucket's list holds: a batch (the reserve holds another). A constant table,
/// so free reads it without a GOT load.
pub const LIMITS: [u64; SMALL_BUCKETS] = {
    let mut l = [0; SMALL_BUCKETS];
    let mut b = 0;
    while b < SMALL_BUCKETS {
        l[b] = batch_len(b) as u64;
        b += 1;
    }
    l
};

/// What only the owner touches.
#[repr(C)]
struct Own {
    /// What the tag of a used block of this heap exceeds its seal by: `USED_OVER_SEAL` plus
    /// the heap's owner mark. First, beside the lists: both fast paths read it.
    over: u64,
    /// `header::LINK_MASK`, for malloc's link test to take from memory, beside `over` on the
    /// heap's first line (`Key::decode_link_masked`): one instruction fewer than a 10-byte
    /// move of the constant.
    link_mask: u64,
    /// Free lists, by bucket: chains through the blocks' links (see `list`).
    heads: [Option<Carved>; SMALL_BUCKETS],
    /// Fresh memory not yet carved into blocks: `[carve, carve_end)`.
    carve: usize,
    carve_end: usize,
    /// How many times the owner's thread-exit hook has run (see registry).
    exit_rounds: u32,
    /// The reserves, by bucket: a batch each, or none (see the module doc).
    reserve: [Option<Carved>; SMALL_BUCKETS],
    /// The foreign lists, by bucket: blocks other heaps handed out, freed here.
    foreign: [Option<Carved>; SMALL_BUCKETS],
    /// Bytes in use by bucket as last published to `usage` (see `note_usage`).
    published: [i64; ALL_BUCKETS],
    /// Checking mode's freed blocks held back (user pointers, 0: empty), and the state of the
    /// generator that picks which one leaves (see `quarantine`).
    quarantine: [usize; QUARANTINE],
    quarantine_state: u64,
}

/// A vacant heap's `over`: `USED_OVER_SEAL` with no owner mark, which no heap has (an owner
/// mark is never 0), so no used tag exceeds its seal by it.
const VACANT_OVER: u64 = USED_OVER_SEAL;

/// Freed blocks a heap holds back in checking mode.
pub const QUARANTINE: usize = 64;

#[repr(C, align(64))]
pub struct Heap {
    /// First, so that the fast paths find the lists at offset 0.
    own: UnsafeCell<Own>,
    /// How many more blocks each free list may take before a batch goes to the exchange
    /// (`LIMITS[b]` minus the blocks on it; below zero when over): counting down lets free
    /// test the limit with the decrement's own sign.
    room: [AtomicI64; SMALL_BUCKETS],
    /// Whether each bucket has a reserve (for reports: any thread may ask).
    reserved: [AtomicBool; SMALL_BUCKETS],
    /// Blocks on each foreign list (only the owner writes them; reports read them).
    foreign: [AtomicU64; SMALL_BUCKETS],
    /// Blocks handed out and taken back by this heap's threads, by bucket (large blocks too).
    mallocs: [AtomicU64; ALL_BUCKETS],
    frees: [AtomicU64; ALL_BUCKETS],
    /// Position in the registry, and in the exit report.
    id: usize,
    /// Whether a thread owns this heap.
    claimed: AtomicBool,
}

// SAFETY: `own` is reached only through the one `OwnedHeap` of the thread that claimed the
// heap (see the module doc); everything else is atomic.
unsafe impl Sync for Heap {}

/// Adds `n` to a counter that only the heap's owner writes: a load and a store, no lock.
#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Takes one from bucket `b`'s room counter of `heap` (only the owner writes it): whether it
/// is still at least 0. One `dec` on the counter in memory and a branch on its sign: written
/// as a relaxed load and store, it takes a load, a decrement, a store and an address
/// computation, as the optimiser does not merge atomic accesses into one instruction whose
/// flags are then used.
#[inline(always)]
fn room_down(heap: &Heap, b: usize) -> bool {
    debug_assert!(b < SMALL_BUCKETS);
    // SAFETY: the asm decrements the aligned 8-byte counter `heap.room[b]` in place (b is in
    // range) and jumps on the sign of the result. Only the owner's thread writes the counter,
    // so no write is lost; readers on other threads load it whole, as an aligned 8-byte
    // access is on x86-64 (as an atomic store would give them).
    unsafe {
        core::arch::asm!(
            "dec qword ptr [{h} + {b} * 8 + {room}]",
            "js {over}",
            h = in(reg) heap,
            b = in(reg) b,
            room = const core::mem::offset_of!(Heap, room),
            over = label { return false; },
            options(nostack),
        );
    }
    true
}

/// Asks the core to fetch the line at `addr` for writing (`prefetchw`, a no-op on cores
/// without it); any address will do.
#[inline(always)]
fn prefetch_for_write(addr: usize) {
    // SAFETY: a prefetch reads nothing the program sees, writes nothing and never faults.
    unsafe {
        core::arch::asm!("prefetchw byte ptr [{a}]", a = in(reg) addr,
            options(nostack, readonly, preserves_flags));
    }
}

/// Changes a room counter by `n` (only the owner writes it) and returns the new value.
#[inline(always)]
fn add_room(c: &AtomicI64, n: i64) -> i64 {
    let r = c.load(Relaxed).wrapping_add(n);
    c.store(r, Relaxed);
    r
}

impl Heap {
    /// A new heap numbered `id` in fresh memory of its own, claimed for the caller; None when
    /// the OS has no memory.
    pub fn create(id: usize) -> Option<NonNull<Heap>> {
        let len = os::round_to_page(core::mem::size_of::<Heap>())?;
        let h = NonNull::new(os::map(len).cast::<Heap>())?;
        // SAFETY: a fresh zeroed mapping is a valid Heap (null lists, empty range, zero
        // counters, false flag), and nobody else knows it yet.
        let heap = unsafe { &mut *h.as_ptr() };
        heap.id = id;
        heap.own.get_mut().over = USED_OVER_SEAL.wrapping_add(header::owner_mark(id));
        heap.own.get_mut().link_mask = header::LINK_MASK;
        heap.claimed = AtomicBool::new(true);
        for (room, &limit) in heap.room.iter().zip(&LIMITS) {
            room.store(limit as i64, Relaxed);
        }
        Some(h)
    }

    /// A heap that no thread owns, for a thread's slot while it has no heap of its own (see
    /// `registry`): its lists are empty and its `over` is no used tag's, so the fast paths
    /// find no block to take and no block of its own to free, and go to their slow paths.
    /// They read it (`OwnedHeap::in_slot`); nothing writes it.
    pub const fn vacant() -> Heap {
        // SAFETY: zeroed memory is a valid Heap (as in `create`).
        let mut h: Heap = unsafe { core::mem::zeroed() };
        h.own.get_mut().over = VACANT_OVER;
        h.id = usize::MAX;
        h
    }

    pub fn id(&self) -> usize {
        self.id
    }

    /// Free blocks the heap holds in bucket `b`: on its list, in its reserve and on its
    /// foreign list.
    pub fn free_count(&self, b: usize) -> u64 {
        let reserved = if self.reserved[b].load(Relaxed) {
            LIMITS[b]
        } else {
            0
        };
        self.listed(b) + reserved + self.foreign[b].load(Relaxed)
    }

    /// Blocks on bucket `b`'s list.
    fn listed(&self, b: usize) -> u64 {
        (LIMITS[b] as i64).wrapping_sub(self.room[b].load(Relaxed)) as u64
    }

    /// Blocks of bucket `b` handed out to this heap's threads.
    pub fn mallocs(&self, b: usize) -> u64 {
        self.mallocs[b].load(Relaxed)
    }

    /// Blocks of bucket `b` this heap's threads gave back.
    pub fn frees(&self, b: usize) -> u64 {
        self.frees[b].load(Relaxed)
    }

    /// Claims the heap if nobody owns it. Acquire: the new owner sees everything the last one
    /// left.
    pub fn try_claim(&self) -> bool {
        self.claimed
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_ok()
    }

    /// Gives up ownership. Release: the next owner sees everything this one left.
    fn unclaim(&self) {
        self.claimed.store(false, Release);
    }
}

/// What `take` found on a free list.
pub enum Taken {
    /// A block, now used: its header.
    Block(Carved),
    Empty,
    /// The first block's header is not a free header of the bucket: a write past the end of
    /// the block before it, most likely. Nothing was taken.
    Overwritten(Carved),
}

/// The calling thread's hold on a heap it claimed. Not `Send`: it belongs to that thread.
///
/// A thread may hold more than one handle of its heap (the registry hands one out per call),
/// which is sound because every method borrows the owner's part only for its own length and
/// calls nothing that could reach the heap again: the borrows never overlap.
pub struct OwnedHeap(NonNull<Heap>);

impl OwnedHeap {
    /// # Safety
    /// The calling thread claimed `heap` (its flag was set by or for this thread).
    #[inline(always)]
    pub unsafe fn new(heap: NonNull<Heap>) -> OwnedHeap {
        OwnedHeap(heap)
    }

    /// The handle the fast paths make from the calling thread's slot, which holds its own
    /// heap or a vacant one (`Heap::vacant`), so that they test for a heap with no
    /// instruction of their own. On a vacant heap only `take` (of its empty lists), `over`
    /// and `is_vacant` may be called: these read through raw pointers and write nothing, so
    /// the threads that hold one at once share it soundly.
    ///
    /// # Safety
    /// `heap` is the calling thread's claimed heap, or a vacant heap.
    #[inline(always)]
    pub unsafe fn in_slot(heap: NonNull<Heap>) -> OwnedHeap {
        OwnedHeap(heap)
    }

    /// Whether this handle is on a vacant heap (see `in_slot`).
    #[inline]
    pub fn is_vacant(&self) -> bool {
        self.over() == VACANT_OVER
    }

    /// The heap, for what any thread may read of it.
    pub fn heap(&self) -> &Heap {
        // SAFETY: heaps are never freed.
        unsafe { self.0.as_ref() }
    }

    pub fn as_ptr(&self) -> *mut Heap {
        self.0.as_ptr()
    }

    #[inline(always)]
    fn own(&mut self) -> &mut Own {
        debug_assert!(!self.is_vacant(), "a vacant heap is only read");
        // SAFETY: only the claiming thread has handles on a heap that is not vacant (see
        // `new`), and no two of its borrows overlap (see the type's doc).
        unsafe { &mut *self.heap().own.get() }
    }

    /// Takes a block from bucket `b`'s free list: checks its seal and its link before it
    /// follows the link.
    #[inline(always)]
    pub fn take(&mut self, b: usize) -> Taken {
        // SAFETY: a read of the owner's part through a raw pointer, which a vacant heap's
        // many holders may share (see `in_slot`); any other heap is the caller's alone.
        let Some(blk) = (unsafe { (*self.heap().own.get()).heads[b] }) else {
            return Taken::Empty;
        };
        let key = header::key();
        let sealed = blk.tag();
        if sealed != key.seal(b) {
            return Taken::Overwritten(blk);
        }
        // SAFETY: as above.
        let mask = unsafe { (*self.heap().own.get()).link_mask };
        let Some(next) = key.decode_link_masked(blk.lead(), mask) else {
            return Taken::Overwritten(blk);
        };
        // The next malloc of this bucket reads the next block's header: fetch its line now
        // (for writing, as malloc writes it), so that a line another core wrote last (a
        // batch from the exchange) arrives while the program works. Never faults.
        prefetch_for_write(next);
        // SAFETY: a link that decodes names a carved header, or is 0 (see `list::next`).
        self.own().heads[b] = unsafe { Carved::from_link(next) };
        // The seal moves to the lead; the word in front of the user pointer becomes the used
        // tag.
        blk.set_lead(sealed);
        blk.set_tag(sealed.wrapping_add(self.own().over));
        let room = add_room(&self.heap().room[b], 1);
        debug_assert!(room <= LIMITS[b] as i64);
        bump(&self.heap().mallocs[b], 1);
        Taken::Block(blk)
    }

    /// What the tag of a used block this heap handed out exceeds its seal by.
    #[inline(always)]
    pub fn over(&self) -> u64 {
        // SAFETY: as in `take`: a read through a raw pointer.
        unsafe { (*self.heap().own.get()).over }
    }

    /// Whether the used small block `blk` (its tag and seal checked) was handed out by this
    /// heap.
    pub fn handed_out(&mut self, blk: Carved) -> bool {
        blk.tag().wrapping_sub(blk.lead()) == self.over()
    }

    /// Puts `blk`, a used small block of bucket `b` that this heap handed out and the caller
    /// gives up (its seal checked), on the bucket's free list, its link encoded with `key`
    /// (the caller's). False when the list is then over its limit: the caller hands a batch
    /// over (`cut_batch`).
    #[inline(always)]
    pub fn put(&mut self, blk: Carved, b: usize, key: Key) -> bool {
        let sealed = blk.lead();
        debug_assert!(sealed == seal(b) && self.handed_out(blk));
        let head = self.own().heads[b];
        blk.make_sealed_free(key, sealed, head.map_or(0, Carved::addr));
        self.own().heads[b] = Some(blk);
        bump(&self.heap().frees[b], 1);
        room_down(self.heap(), b)
    }

    /// Puts `blk`, a used small block of bucket `b` that another heap handed out and the
    /// caller gives up (its seal checked), on the bucket's foreign list. When that makes a
    /// batch, the list becomes the bucket's reserve, and the reserve that was there, if any, is
    /// the caller's to hand to the exchange: its first block and length.
    #[inline]
    pub fn put_foreign(&mut self, blk: Carved, b: usize, key: Key) -> Option<(Carved, usize)> {
        let sealed = blk.lead();
        debug_assert!(sealed == seal(b) && !self.handed_out(blk));
        let head = self.own().foreign[b].take();
        blk.make_sealed_free(key, sealed, head.map_or(0, Carved::addr));
        bump(&self.heap().frees[b], 1);
        let n = self.heap().foreign[b].load(Relaxed) + 1;
        if n == LIMITS[b] {
            debug_assert!(list::holds(Some(blk), n as usize, b));
            self.heap().foreign[b].store(0, Relaxed);
            self.heap().reserved[b].store(true, Relaxed);
            let old = self.own().reserve[b].replace(blk);
            return old.map(|first| (first, n as usize));
        }
        self.own().foreign[b] = Some(blk);
        self.heap().foreign[b].store(n, Relaxed);
        None
    }

    /// Takes bucket `b`'s foreign list out of the heap, for a thread that exits or a purge:
    /// `give` gets the chain (its first block and length).
    pub fn take_foreign(&mut self, b: usize, give: impl FnOnce(Carved, usize)) {
        if let Some(first) = self.own().foreign[b].take() {
            let n = self.heap().foreign[b].load(Relaxed) as usize;
            self.heap().foreign[b].store(0, Relaxed);
            debug_assert!(list::holds(Some(first), n, b));
            give(first, n);
        }
    }

    /// After a `put` that answered false: the blocks under the new head of bucket `b`'s list
    /// (a batch) become its reserve, and the reserve that was there, if any, is the caller's to
    /// hand over: its first block and length. Constant time: no link is followed.
    pub fn cut_batch(&mut self, b: usize) -> Option<(Carved, usize)> {
        let n = LIMITS[b] as usize;
        let listed = self.heap().listed(b) as usize;
        let head = self.own().heads[b]?;
        debug_assert!(listed > n && list::holds(Some(head), listed, b));
        let rest = list::next(head)?;
        head.set_link(0);
        self.heap().room[b].store(LIMITS[b] as i64 - 1, Relaxed);
        if listed != n + 1 {
            // More than a batch piled up under the head (`carve_rest` puts a range's rest on
            // the lists without a limit): all of it goes at once.
            return Some((rest, listed - 1));
        }
        let old = self.own().reserve[b].replace(rest);
        self.heap().reserved[b].store(true, Relaxed);
        old.map(|first| (first, n))
    }

    /// Refills bucket `b`'s empty list from its reserve. False if it has none.
    pub fn unreserve(&mut self, b: usize) -> bool {
        let Some(first) = self.own().reserve[b].take() else {
            return false;
        };
        self.heap().reserved[b].store(false, Relaxed);
        self.adopt(b, first, LIMITS[b] as usize);
        true
    }

    /// Makes the chain of `n` free blocks from `first`, which the caller owns, bucket `b`'s
    /// list, which is empty.
    pub fn adopt(&mut self, b: usize, first: Carved, n: usize) {
        debug_assert!(self.own().heads[b].is_none());
        debug_assert!(list::holds(Some(first), n, b));
        self.own().heads[b] = Some(first);
        add_room(&self.heap().room[b], -(n as i64));
    }

    /// Moves every free block of the heap onto `piles`, for a purge: each list, reserve and
    /// foreign list as a batch (no chain is walked).
    pub fn drain(&mut self, piles: &mut Piles) {
        for (b, pile) in piles.iter_mut().enumerate() {
            self.take_foreign(b, |first, n| pile.push(first, n));
            if let Some(first) = self.own().reserve[b].take() {
                self.heap().reserved[b].store(false, Relaxed);
                let n = LIMITS[b] as usize;
                debug_assert!(list::holds(Some(first), n, b));
                pile.push(first, n);
            }
            let Some(first) = self.own().heads[b].take() else {
                continue;
            };
            let n = self.heap().listed(b) as usize;
            debug_assert!(list::holds(Some(first), n, b));
            pile.push(first, n);
            self.heap().room[b].store(LIMITS[b] as i64, Relaxed);
        }
    }

    /// Carves up to `most` new blocks of bucket `b` from the carving range, in address order:
    /// the first is handed out (its header, used); the others become the bucket's free list,
    /// the next one at its head, so that malloc hands them out in address order. None when the
    /// range holds no block of `b` (the caller then gives the heap a new one). A list that is
    /// not empty (a range's rest just landed on it) gets nothing: one block is carved.
    pub fn carve(&mut self, b: usize, most: usize) -> Option<Carved> {
        debug_assert!(most >= 1 && most as u64 <= LIMITS[b]);
        let stride = stride_of(b);
        let own = self.own();
        debug_assert!(own.carve <= own.carve_end && own.carve % 16 == 0);
        let most = if own.heads[b].is_some() { 1 } else { most };
        let n = ((own.carve_end - own.carve) / stride).min(most);
        if n == 0 {
            return None;
        }
        let start = own.carve;
        own.carve += n * stride;
        // The run's blocks after the first, each linked to the one after it; the last ends
        // the chain.
        for i in 1..n {
            let at = start + i * stride;
            let next = if i + 1 < n { at + stride } else { 0 };
            // SAFETY: the carving range is carved memory of this heap, and holds the block.
            unsafe { Carved::new(at as *mut _) }.make_free(b, next);
        }
        if n > 1 {
            // SAFETY: as above: the run's second block.
            own.heads[b] = Some(unsafe { Carved::new((start + stride) as *mut _) });
            add_room(&self.heap().room[b], 1 - n as i64);
            debug_assert!(list::holds(self.own().heads[b], n - 1, b));
        }
        // SAFETY: as above: the run's first block.
        let blk = unsafe { Carved::new(start as *mut _) };
        blk.set_lead(seal(b));
        blk.set_tag(seal(b).wrapping_add(self.own().over));
        bump(&self.heap().mallocs[b], 1);
        Some(blk)
    }

    /// Replaces the carving range with `[start, start + len)`. What is left of the old range
    /// becomes free blocks of the largest buckets that fit, so nothing is lost.
    ///
    /// # Safety
    /// The range is fresh carved memory of ours (16-aligned, in the page map) that nobody
    /// else uses.
    pub unsafe fn replace_range(&mut self, start: usize, len: usize) {
        debug_assert!(start % 16 == 0);
        let (old, old_end) = (self.own().carve, self.own().carve_end);
        // SAFETY: the old range is this heap's own fresh memory.
        unsafe { self.carve_rest(old, old_end) };
        let own = self.own();
        own.carve = start;
        own.carve_end = start + len;
    }

    /// Cuts `[at, end)` into free blocks of the largest buckets that fit, onto the lists
    /// (blocks beyond a list's limit wait there until the next `put` hands a batch over).
    ///
    /// # Safety
    /// The range is fresh carved memory of ours (16-aligned, in the page map) that nobody
    /// else uses.
    pub unsafe fn carve_rest(&mut self, mut at: usize, end: usize) {
        for b in (0..SMALL_BUCKETS).rev() {
            while end - at >= stride_of(b) {
                // SAFETY: the caller's promise; the block lies in the range.
                let blk = unsafe { Carved::new(at as *mut _) };
                blk.make_free(b, self.own().heads[b].map_or(0, Carved::addr));
                self.own().heads[b] = Some(blk);
                add_room(&self.heap().room[b], -1);
                at += stride_of(b);
            }
        }
    }

    /// Counts a block of bucket `b` handed out, or taken back, outside the lists (large
    /// blocks, and small ones a realloc counted anew): slow paths, which publish the change
    /// of bytes in use.
    pub fn count_malloc(&mut self, b: usize) {
        bump(&self.heap().mallocs[b], 1);
        self.note_usage(b);
    }

    pub fn count_free(&mut self, b: usize) {
        bump(&self.heap().frees[b], 1);
        self.note_usage(b);
    }

    /// From a slow path of bucket `b`: publishes the heap's change of bytes in use in it once
    /// the change reaches `usage::STEP` (see `usage`).
    pub fn note_usage(&mut self, b: usize) {
        let h = self.heap();
        let live = h.mallocs(b).wrapping_sub(h.frees(b)) as i64;
        let now = live.wrapping_mul(payload_of(b) as i64);
        let published = &mut self.own().published[b];
        let delta = now.wrapping_sub(*published);
        if delta.unsigned_abs() >= usage::STEP as u64 {
            *published = now;
            usage::publish(delta);
        }
    }

    /// Checking mode: puts the freed block at `p` in the quarantine, in a slot picked at
    /// random, and returns the block that slot held (0: none). So freed blocks come back late
    /// (at least one more free later, on average QUARANTINE), and in no set order.
    pub fn quarantine(&mut self, p: usize) -> usize {
        let own = self.own();
        // A 64-bit linear congruential step (Knuth's MMIX constants); its top bits pick.
        own.quarantine_state = own
            .quarantine_state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let slot = (own.quarantine_state >> (64 - QUARANTINE.trailing_zeros())) as usize;
        core::mem::replace(&mut own.quarantine[slot], p)
    }

    /// Counts one more run of the owner's thread-exit hook and returns how many there were.
    pub fn exit_round(&mut self) -> u32 {
        self.own().exit_rounds += 1;
        self.own().exit_rounds
    }

    /// Gives the heap up, ready for the next thread that claims it.
    pub fn park(mut self) {
        self.own().exit_rounds = 0;
        self.heap().unclaim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{State, tag};
    use crate::size_class::carve_len;

    /// A fresh heap with `pages` pages of mapped memory to carve (never the program break:
    /// the unit tests run on glibc's malloc).
    fn heap(pages: usize) -> OwnedHeap {
        let h = Heap::create(0).expect("a heap");
        // SAFETY: the heap is new and claimed for us.
        let mut owned = unsafe { OwnedHeap::new(h) };
        let len = pages * os::page_size();
        let mem = os::map(len) as usize;
        assert_ne!(mem, 0);
        // SAFETY: fresh memory of ours.
        unsafe { owned.replace_range(mem, len) };
        owned
    }

    fn took(t: Taken) -> Carved {
        match t {
            Taken::Block(b) => b,
            Taken::Empty => panic!("empty"),
            Taken::Overwritten(_) => panic!("overwritten"),
        }
    }

    #[test]
    fn blocks_carved_freed_and_taken_again_come_back_last_in_first_out() {
        let mut h = heap(4);
        let a = h.carve(2, 1).unwrap();
        let b = h.carve(2, 1).unwrap();
        assert_eq!(
            b.addr() - a.addr(),
            stride_of(2),
            "carved one after another"
        );
        assert!(h.put(a, 2, header::key()));
        assert!(h.put(b, 2, header::key()));
        assert_eq!(h.heap().free_count(2), 2);
        assert_eq!(took(h.take(2)), b);
        assert_eq!(took(h.take(2)), a);
        assert!(matches!(h.take(2), Taken::Empty));
        assert_eq!((h.heap().mallocs(2), h.heap().frees(2)), (4, 2));
        assert_eq!(a.tag(), tag(State::Used, 2) + header::owner_mark(0));
    }

    #[test]
    fn a_vacant_heap_has_nothing_to_take_and_no_used_tag_is_its_own() {
        static VACANT: Heap = Heap::vacant();
        // SAFETY: a vacant heap, on which only take, over and is_vacant are called.
        let mut v = unsafe { OwnedHeap::in_slot(NonNull::from(&VACANT)) };
        assert!(v.is_vacant());
        for b in 0..SMALL_BUCKETS {
            assert!(matches!(v.take(b), Taken::Empty), "bucket {b}");
        }
        // The tag of a used block of any heap exceeds its seal by what no vacant heap has.
        assert!((0..256).all(|id| USED_OVER_SEAL + header::owner_mark(id) != v.over()));
        assert!(!header::used_over_seal(v.over()));
        assert!(!heap(1).is_vacant());
    }

    #[test]
    fn a_carve_hands_out_its_first_block_and_lists_the_rest_of_the_run_in_address_order() {
        let b = 2;
        let n = carve_len(b);
        assert!(n > 1, "a page holds more than one block of bucket {b}");
        let mut h = heap(2);
        let first = h.carve(b, n).unwrap();
        assert_eq!(h.heap().mallocs(b), 1, "only the first is handed out");
        assert_eq!(
            h.heap().free_count(b) as usize,
            n - 1,
            "the rest wait on the list"
        );
        for i in 1..n {
            let blk = took(h.take(b));
            assert_eq!(blk.addr(), first.addr() + i * stride_of(b), "block {i}");
        }
        assert!(matches!(h.take(b), Taken::Empty));
        assert_eq!(h.heap().mallocs(b) as usize, n);
        // A list that holds a block gets no run.
        assert!(h.put(first, b, header::key()));
        h.carve(b, n).unwrap();
        assert_eq!(h.heap().free_count(b), 1);
    }

    #[test]
    fn a_carve_takes_what_the_range_holds_when_it_holds_less_than_a_run() {
        let b = 2;
        let n = carve_len(b);
        let mut h = heap(1);
        // A page less one 32-byte block holds one block of bucket 2 fewer than a run.
        h.carve(0, 1).unwrap();
        assert_eq!((os::page_size() - stride_of(0)) / stride_of(b), n - 1);
        h.carve(b, n).unwrap();
        assert_eq!(h.heap().free_count(b) as usize, n - 2);
        assert!(h.carve(b, 1).is_none(), "the range is used up");
    }

    #[test]
    fn take_and_put_each_write_both_header_words() {
        // The layout of `header`: a used block has its seal first and its used tag in front of
        // the pointer; a free one has its link first and its seal in front of the pointer.
        let mut h = heap(1);
        let a = h.carve(1, 1).unwrap();
        let b = h.carve(1, 1).unwrap();
        assert!(h.put(a, 1, header::key()) && h.put(b, 1, header::key()));
        assert_eq!(
            b.tag(),
            seal(1),
            "a free block's seal sits in front of its pointer"
        );
        assert_eq!(
            b.lead(),
            header::encode_link(a.addr()),
            "its link comes first"
        );
        assert_eq!(a.lead(), header::encode_link(0), "the end of the chain");
        assert_eq!(took(h.take(1)), b);
        assert_eq!(
            (b.lead(), b.tag()),
            (seal(1), tag(State::Used, 1) + header::owner_mark(0))
        );
    }

    #[test]
    fn a_clobbered_free_header_is_reported_not_followed() {
        let mut h = heap(1);
        let a = h.carve(0, 1).unwrap();
        h.put(a, 0, header::key());
        let seal = a.tag();
        a.set_tag(0x4141_4141_4141_4141);
        assert!(
            matches!(h.take(0), Taken::Overwritten(p) if p == a),
            "seal overwritten"
        );
        assert_eq!(h.heap().free_count(0), 1, "nothing was taken");
        a.set_tag(seal);
        a.set_lead(0x4141_4141_4141_4141);
        assert!(
            matches!(h.take(0), Taken::Overwritten(p) if p == a),
            "link overwritten"
        );
        assert_eq!(h.heap().free_count(0), 1, "nothing was taken");
    }

    #[test]
    fn a_full_list_moves_to_the_reserve_and_the_old_reserve_is_handed_over() {
        let b = 6; // 1 KiB blocks: 63 a batch
        let n = LIMITS[b] as usize;
        let mut h = heap(3 * (n + 1) * stride_of(b) / os::page_size() + 2);
        let blocks: std::vec::Vec<_> = (0..2 * n + 2).map(|_| h.carve(b, 1).unwrap()).collect();
        let mut handed = std::vec::Vec::new();
        for (i, &blk) in blocks.iter().enumerate() {
            if !h.put(blk, b, header::key()) {
                handed.push((i, h.cut_batch(b)));
            }
        }
        // The list overflowed at block n (blocks 0..n-1 became the reserve) and again at
        // block 2n (blocks n..2n-1 did, and blocks 0..n-1 went).
        assert_eq!(handed.len(), 2);
        assert_eq!(handed[0].0, n);
        assert!(
            handed[0].1.is_none(),
            "the first full list only fills the reserve"
        );
        assert_eq!(handed[1].0, 2 * n);
        let (first, len) = handed[1].1.expect("the second hands the reserve over");
        assert_eq!(len, n);
        assert!(list::holds(Some(first), n, b));
        assert_eq!(
            first,
            blocks[n - 1],
            "the old reserve: blocks 0..n-1, newest first"
        );
        // Left: blocks 2n+1 and 2n on the list, blocks n..2n-1 in the reserve.
        assert_eq!(h.heap().free_count(b) as usize, 2 + n);
        assert_eq!(took(h.take(b)), blocks[2 * n + 1]);
        assert_eq!(took(h.take(b)), blocks[2 * n]);
        assert!(matches!(h.take(b), Taken::Empty));
        assert!(h.unreserve(b), "the reserve refills the list");
        assert_eq!(took(h.take(b)), blocks[2 * n - 1]);
        assert_eq!(h.heap().free_count(b) as usize, n - 1);
    }

    #[test]
    fn a_block_another_heap_handed_out_waits_on_the_foreign_list_until_a_batch_leaves() {
        let b = 6; // 1 KiB blocks: 63 a batch
        let n = LIMITS[b] as usize;
        let mut mine = heap(1);
        let mut other = {
            let h = Heap::create(7).expect("a heap");
            let mut owned = unsafe { OwnedHeap::new(h) };
            let len = (2 * n + 2) * stride_of(b);
            let mem = os::map(len) as usize;
            unsafe { owned.replace_range(mem, len) };
            owned
        };
        let blocks: std::vec::Vec<_> = (0..2 * n).map(|_| other.carve(b, 1).unwrap()).collect();
        assert!(other.handed_out(blocks[0]) && !mine.handed_out(blocks[0]));
        assert_eq!(
            header::decode(blocks[0].tag()),
            Some((State::Used, b)),
            "a used tag with its heap's mark"
        );
        for &blk in &blocks[..n - 1] {
            assert!(mine.put_foreign(blk, b, header::key()).is_none());
        }
        assert_eq!(mine.heap().free_count(b) as usize, n - 1, "held here");
        assert_eq!(mine.heap().frees(b) as usize, n - 1, "and counted here");
        assert!(
            matches!(mine.take(b), Taken::Empty),
            "malloc does not hand them out"
        );
        assert!(!mine.unreserve(b), "nor are they a reserve yet");
        // The batch's worth becomes the reserve; the next one pushes it to the exchange.
        assert!(mine.put_foreign(blocks[n - 1], b, header::key()).is_none());
        for &blk in &blocks[n..2 * n - 1] {
            assert!(mine.put_foreign(blk, b, header::key()).is_none());
        }
        assert_eq!(mine.heap().free_count(b) as usize, 2 * n - 1);
        let (first, len) = mine
            .put_foreign(blocks[2 * n - 1], b, header::key())
            .expect("the first batch, for the exchange");
        assert_eq!(
            (first, len),
            (blocks[n - 1], n),
            "newest first, all of them"
        );
        assert!(list::holds(Some(first), n, b));
        assert_eq!(
            mine.heap().free_count(b) as usize,
            n,
            "the second is the reserve"
        );
        // Adopted (from the exchange, say), they are handed out as this heap's.
        mine.adopt(b, first, n);
        let again = took(mine.take(b));
        assert!(mine.handed_out(again));
        assert!(mine.put(again, b, header::key()));
        let mut piles = list::NO_PILES;
        mine.drain(&mut piles);
        assert_eq!(
            piles[b].blocks(),
            2 * n,
            "a purge takes the list and the reserve"
        );
    }

    #[test]
    fn the_quarantine_gives_blocks_back_late_once_each_and_not_last_in_first_out() {
        let mut h = heap(1);
        let mut back = std::vec::Vec::new();
        for p in 1..=1000usize {
            let q = h.quarantine(p * 16);
            if q != 0 {
                back.push((p * 16, q));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for &(put, q) in &back {
            assert!(q < put, "a block comes back only after it went in");
            assert!(seen.insert(q), "{q:#x} came back twice");
        }
        assert!(
            back.len() > 1000 - QUARANTINE - 1,
            "at most QUARANTINE blocks are held"
        );
        let lifo = back.windows(2).filter(|w| w[1].1 == w[0].0).count();
        assert!(
            lifo < back.len() / 10,
            "{lifo} of {} in LIFO order",
            back.len()
        );
    }

    #[test]
    fn drained_blocks_leave_the_heap_and_adopted_ones_join_it() {
        let mut h = heap(2);
        let blocks: std::vec::Vec<_> = (0..5).map(|_| h.carve(1, 1).unwrap()).collect();
        for &blk in &blocks {
            h.put(blk, 1, header::key());
        }
        let mut piles = list::NO_PILES;
        h.drain(&mut piles);
        assert_eq!(piles[1].blocks(), 5);
        assert_eq!(h.heap().free_count(1), 0);
        assert!(matches!(h.take(1), Taken::Empty));
        let (first, n) = piles[1].pop().expect("the list, as one batch");
        assert_eq!(n, 5);
        h.adopt(1, first, 5);
        assert_eq!(h.heap().free_count(1), 5);
        took(h.take(1));
    }

    #[test]
    fn a_replaced_range_leaves_its_rest_as_free_blocks() {
        let page = os::page_size();
        let mut h = heap(1);
        assert!(h.carve(0, 1).is_some());
        let mem = os::map(page) as usize;
        unsafe { h.replace_range(mem, page) };
        // Everything after the first 32-byte block of the old page became free blocks.
        let rest = page - stride_of(0);
        let bytes: usize = (0..SMALL_BUCKETS)
            .map(|b| h.heap().free_count(b) as usize * stride_of(b))
            .sum();
        assert!(
            rest - bytes < stride_of(0),
            "{bytes} of {rest} bytes became blocks"
        );
        assert_eq!(
            h.carve(0, 1).unwrap().addr(),
            mem,
            "the new range is carved next"
        );
    }
}
