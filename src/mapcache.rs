//! Freed large mappings kept for reuse (see `large`): up to 16 pieces, at most twice the bytes
//! of the live large blocks (16 to 96 MiB), each for at most the purge delay. A request takes the smallest piece that holds it and leaves
//! the rest of that piece cached; pieces that touch merge again; if no piece is big enough, the
//! largest grows with mremap. So a program that frees and allocates big buffers of varying
//! sizes reuses the pages it touched instead of faulting in fresh ones, as glibc does at the
//! top of its heap.
//!
//! Every operation takes all pieces out of their slots, works on them in a local array and
//! puts back what it keeps. Nobody waits: a thread that finds the slots empty meanwhile maps
//! fresh memory.

use crate::header::{Header, State, tag};
use crate::{os, pagemap};
use core::sync::atomic::{AtomicUsize, Ordering::*};

const SLOTS: usize = 16;
/// Mappings bigger than this go back to the OS at once when freed.
const MAX_KEPT: usize = 32 << 20;
/// The cache holds at most twice the bytes of the live large blocks (a program that keeps few
/// big buffers does not keep many freed ones either: python3's peak RSS in the benchmark went
/// from 90 to 63 MiB), within these bounds. Twice, not once: the `large` benchmark needs the
/// room (0.6 s with once, 0.25 s with twice, 0.15 s with 96 MiB always; glibc 0.16 s).
const MIN_BYTES: usize = 16 << 20;
const MAX_BYTES: usize = 96 << 20;
/// What a piece may hold beyond a request before the rest is split off: less than the smallest
/// large block is not worth a piece of its own.
const SPLIT_MIN: usize = 1 << 20;

/// Start addresses of cached pieces (0: empty slot). A piece starts with a header marked free
/// (so freeing the old pointer again is a double free) whose link is its length; the next
/// word holds when it was cached.
static SLOT: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static BYTES: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Copy, Default)]
struct Piece {
    start: usize,
    len: usize,
    stamp: u64,
}

/// Pieces taken out of the slots, plus room for one more.
struct Pieces {
    at: [Piece; SLOTS + 1],
    n: usize,
}

impl Pieces {
    fn push(&mut self, p: Piece) {
        self.at[self.n] = p;
        self.n += 1;
    }

    fn remove(&mut self, i: usize) -> Piece {
        let p = self.at[i];
        self.n -= 1;
        self.at[i] = self.at[self.n];
        p
    }

    fn all(&self) -> &[Piece] {
        &self.at[..self.n]
    }
}

/// Keeps the freed mapping `[start, start + len)`, or unmaps it when it is too big.
pub fn keep(start: usize, len: usize, now: u64) {
    if len > MAX_KEPT {
        unmap(start, len);
        return;
    }
    let mut pieces = take_all();
    pieces.push(Piece {
        start,
        len,
        stamp: now,
    });
    put_back(pieces);
}

/// A cached mapping for a block that needs `len` bytes (a page multiple): (start, length).
pub fn take(len: usize) -> Option<(usize, usize)> {
    if BYTES.load(Relaxed) == 0 {
        return None;
    }
    let mut pieces = take_all();
    let all = pieces.all();
    let fits = (0..all.len())
        .filter(|&i| all[i].len >= len)
        .min_by_key(|&i| all[i].len);
    let found = match fits {
        Some(i) => {
            let p = pieces.remove(i);
            if p.len - len >= SPLIT_MIN {
                pieces.push(Piece {
                    start: p.start + len,
                    len: p.len - len,
                    stamp: p.stamp,
                });
                Some((p.start, len))
            } else {
                Some((p.start, p.len))
            }
        }
        None => match (0..all.len()).max_by_key(|&i| all[i].len) {
            // None holds `len`: grow the largest, whose touched pages stay.
            Some(i) => {
                let p = pieces.remove(i);
                match crate::large::remap(p.start, p.len, len) {
                    Some(moved) => Some((moved, len)),
                    None => {
                        pieces.push(p);
                        None
                    }
                }
            }
            None => None, // another thread holds them all right now
        },
    };
    put_back(pieces);
    found
}

/// Unmaps the pieces cached at least `age` ms before `now`.
pub fn decay(now: u64, age: u64) {
    if BYTES.load(Relaxed) == 0 {
        return;
    }
    let mut pieces = take_all();
    let mut i = 0;
    while i < pieces.n {
        if now.wrapping_sub(pieces.at[i].stamp) >= age {
            let p = pieces.remove(i);
            unmap(p.start, p.len);
        } else {
            i += 1;
        }
    }
    put_back(pieces);
}

/// Gives a large block's mapping back to the OS.
pub fn unmap(start: usize, len: usize) {
    pagemap::unmark(start, len);
    pagemap::retire(start);
    os::unmap(start as *mut u8, len);
}

/// Empties every slot: the pieces are the caller's now. A piece is looked at only once it has
/// been swapped out, so never while another thread may unmap it.
fn take_all() -> Pieces {
    let mut pieces = Pieces {
        at: [Piece::default(); SLOTS + 1],
        n: 0,
    };
    for slot in &SLOT {
        if slot.load(Relaxed) == 0 {
            continue;
        }
        let start = slot.swap(0, AcqRel);
        if start == 0 {
            continue;
        }
        // SAFETY: the piece is ours now; its first page records its length and stamp.
        let (len, stamp) = unsafe {
            (
                (*(start as *mut Header)).link,
                *(start as *const u64).add(2),
            )
        };
        BYTES.fetch_sub(len, Relaxed);
        pieces.push(Piece { start, len, stamp });
    }
    pieces
}

/// Merges the pieces that touch and puts them back in the slots; what finds no slot or
/// would pass the byte limit is unmapped.
fn put_back(mut pieces: Pieces) {
    let all = &mut pieces.at[..pieces.n];
    all.sort_unstable_by_key(|p| p.start);
    let mut merged = 0;
    for i in 0..all.len() {
        if merged > 0 && all[merged - 1].start + all[merged - 1].len == all[i].start {
            let next = all[i];
            let last = &mut all[merged - 1];
            last.len += next.len;
            last.stamp = last.stamp.max(next.stamp);
        } else {
            all[merged] = all[i];
            merged += 1;
        }
    }
    for p in &all[..merged] {
        if !put(p) {
            unmap(p.start, p.len);
        }
    }
}

/// Records a piece in a free slot; false if the slots are full or it would pass the limit.
fn put(p: &Piece) -> bool {
    let limit = (2 * crate::large::LIVE_BYTES.load(Relaxed)).clamp(MIN_BYTES, MAX_BYTES);
    if BYTES.load(Relaxed) + p.len > limit {
        return false;
    }
    let h = p.start as *mut Header;
    // SAFETY: the piece is ours and unused; its first page holds the header and the stamp.
    unsafe {
        (*h).tag = tag(State::Free, 0);
        (*h).link = p.len;
        *(p.start as *mut u64).add(2) = p.stamp;
    }
    for slot in &SLOT {
        if slot.compare_exchange(0, p.start, AcqRel, Relaxed).is_ok() {
            BYTES.fetch_add(p.len, Relaxed);
            return true;
        }
    }
    false
}
