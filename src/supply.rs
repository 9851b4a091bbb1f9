//! How blocks move between a heap and the shared pools: a heap whose list overflows keeps a
//! batch in reserve and hands the one it kept before to the exchange; a heap whose list is
//! empty takes its reserve back, else a batch from the exchange, and failing both carves new
//! blocks from its range, which it renews from a span of purged memory or a new chunk from the
//! OS, and as a last resort from what a purge of everything frees. Purges start only on the
//! way to the exchange or to new memory, from malloc: never from free.

use crate::header::{self, Carved};
use crate::heap::{CHUNK, OwnedHeap};
use crate::size_class::{SMALL_BUCKETS, carve_len, stride_of};
use crate::{exchange, mapcache, mapping, os, purge, spans};

/// `h`'s list of bucket `b` is over its limit: its blocks become the reserve, and the old
/// reserve goes to the exchange. No purge starts here: free never purges (`purge`).
#[cold]
pub fn hand_over(h: &mut OwnedHeap, b: usize) {
    h.note_usage(b);
    if let Some((first, n)) = h.cut_batch(b) {
        exchange::give(b, first, n, os::now_ms());
    }
}

/// `hand_over` for a handle passed on by value: the free fast path then keeps it in a
/// register, with no stack slot for a reference to point at.
#[cold]
#[inline(never)]
pub fn hand_over_owned(mut h: OwnedHeap, b: usize) {
    hand_over(&mut h, b);
}

/// Puts `blk`, a used small block of bucket `b` that another heap handed out, on `h`'s
/// foreign list; a full one becomes the reserve, and the reserve before it goes to the
/// exchange (see `heap`).
#[inline(always)]
pub fn give_foreign(h: &mut OwnedHeap, blk: Carved, b: usize) {
    if let Some((first, n)) = h.put_foreign(blk, b, header::key()) {
        hand_over_batch(h, b, first, n);
    }
}

/// Hands the batch of `n` blocks of bucket `b` from `first`, which `h` gave up, to the
/// exchange.
#[cold]
#[inline(never)]
fn hand_over_batch(h: &mut OwnedHeap, b: usize, first: Carved, n: usize) {
    h.note_usage(b);
    exchange::give(b, first, n, os::now_ms());
}

/// For a thread that exits: the blocks on `h`'s foreign lists go to the exchange, where
/// other threads find them, instead of waiting in a parked heap (a list may hold up to a
/// batch less one).
#[cold]
pub fn hand_over_foreign(h: &mut OwnedHeap) {
    let now = os::now_ms();
    for b in 0..SMALL_BUCKETS {
        h.take_foreign(b, |first, n| exchange::give(b, first, n, now));
    }
}

/// Refills bucket `b`'s empty list: from its own reserve, else with a batch from the
/// exchange. False if neither had one. Every malloc that finds a list empty comes here first
/// (before `carve`), so this is where the heap publishes its usage on the way up.
#[cold]
pub fn refill(h: &mut OwnedHeap, b: usize) -> bool {
    h.note_usage(b);
    if h.unreserve(b) {
        return true;
    }
    purge::maybe_decay(Some(h));
    let Some((first, n)) = exchange::take(b) else {
        return false;
    };
    h.adopt(b, first, n);
    true
}

/// Carves a new used block of bucket `b`, and up to a page's worth more onto its empty list
/// (`carve_len`), renewing the heap's range when it is used up: the block's header, or None
/// when the OS has no memory.
#[inline(never)]
pub fn carve(h: &mut OwnedHeap, b: usize) -> Option<Carved> {
    let most = carve_len(b);
    h.carve(b, most).or_else(|| {
        renew_range(h, stride_of(b))
            .then(|| h.carve(b, most))
            .flatten()
    })
}

/// Replaces the heap's carving range with a span of purged memory or a new chunk from the OS,
/// of at least `need` bytes.
#[cold]
fn renew_range(h: &mut OwnedHeap, need: usize) -> bool {
    purge::before_growth(h);
    let (start, len) = match spans::take_piece(need.max(CHUNK).next_multiple_of(16)) {
        Some((start, len)) if len >= need => (start, len),
        small => {
            if let Some((start, len)) = small {
                // Too small for this block: its memory becomes free blocks of this heap.
                // SAFETY: the span is ours now.
                unsafe { h.carve_rest(start, start + len) };
            }
            let Some(len) = os::round_to_page(need.max(CHUNK)) else {
                return false;
            };
            let mut chunk = mapping::heap_chunk(len);
            if chunk.is_null() && mapcache::release_all() {
                chunk = mapping::heap_chunk(len); // cached mappings held the address space
            }
            if !chunk.is_null() {
                (chunk as usize, len)
            } else {
                // The OS has no more: purge what is free anywhere we may touch, and carve
                // from the purged memory instead.
                match purge::reclaim(Some(h), || spans::take_fitting(need)) {
                    Some(span) => span,
                    None => return false,
                }
            }
        }
    };
    // SAFETY: a span or chunk that is ours alone now.
    unsafe { h.replace_range(start, len) };
    true
}
