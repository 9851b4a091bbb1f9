//! Freed large mappings kept for reuse (see `large`): up to 16 pieces, each for at most the
//! purge delay. A request takes the smallest piece that holds it and leaves the rest of that
//! piece cached; pieces that touch merge again; if no piece is big enough, the pages of the
//! largest move into one new mapping (`gather`). So a program that frees and allocates big
//! buffers of varying sizes reuses the pages it touched instead of faulting in fresh ones, as
//! glibc does at the top of its heap.
//!
//! How many bytes the cache holds: up to what brings the footprint (live large bytes plus
//! cache) to the peak of the live large bytes since the last decay, or up to twice the live
//! large bytes, whichever is more, within 16 MiB to 1 GiB. Within the peak, keeping a freed
//! mapping raises no peak RSS: the program had that many pages live a moment ago. Twice the
//! live bytes, so that a program that keeps few big buffers does not keep many freed ones
//! either (python3's peak RSS in the benchmark went from 90 to 63 MiB when a fixed 96 MiB
//! became this rule).
//!
//! Every operation takes all pieces out of their slots, works on them in a local array and
//! puts back what it keeps. Nobody waits: a thread that finds the slots empty meanwhile maps
//! fresh memory.

use crate::header::{Header, State, tag};
use crate::{mapping, os};
use core::sync::atomic::{AtomicUsize, Ordering::*};

const SLOTS: usize = 16;
/// Mappings bigger than this go back to the OS at once when freed.
const MAX_KEPT: usize = 32 << 20;
/// Bounds of the byte limit (see the module's head). With the peak rule and `gather`, the
/// `large` benchmark went from 0.28 to 0.09 s, its page faults from about 250k to 60k, and its
/// peak RSS from 201 to 177 MiB: under a fixed 96 MiB, a dip in the live bytes unmapped pages
/// that the next rise faulted in again.
const MIN_BYTES: usize = 16 << 20;
const MAX_BYTES: usize = 1 << 30;
/// What a piece may hold beyond a request before the rest is split off: less than the smallest
/// large block is not worth a piece of its own.
const SPLIT_MIN: usize = 1 << 20;

/// Start addresses of cached pieces (0: empty slot). A piece starts with a `Record`.
static SLOT: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static BYTES: AtomicUsize = AtomicUsize::new(0);

/// What a cached piece's first bytes hold: a header marked free (so freeing the old pointer
/// again is a double free) whose link is the piece's length, then when it was cached.
#[repr(C)]
struct Record {
    header: Header,
    stamp: u64,
}

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
    fn new() -> Pieces {
        Pieces {
            at: [Piece::default(); SLOTS + 1],
            n: 0,
        }
    }

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
///
/// # Safety
/// The range is a mapping of ours (marked in the page map) that nobody uses any more.
pub unsafe fn keep(start: usize, len: usize, now: u64) {
    if len > MAX_KEPT {
        unmap(start, len);
        return;
    }
    give_back(Piece {
        start,
        len,
        stamp: now,
    });
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
    let Some(i) = fits else {
        return gather(pieces, len);
    };
    let p = pieces.remove(i);
    let found = if p.len - len >= SPLIT_MIN {
        pieces.push(Piece {
            start: p.start + len,
            len: p.len - len,
            stamp: p.stamp,
        });
        (p.start, len)
    } else {
        (p.start, p.len)
    };
    put_back(pieces);
    Some(found)
}

/// No piece holds `len` bytes: a fresh mapping of `len` bytes, into which the pages of the
/// largest pieces move, as many as it takes (mremap moves page tables: nothing is copied and
/// the pages stay touched). What they do not cover stays fresh; what the last piece has
/// beyond the request stays cached. The pieces it does not need go back before any system
/// call: another thread finds them meanwhile, instead of mapping fresh memory. None if there
/// are no pieces (another thread holds them right now) or the OS refuses the mapping.
#[cold]
fn gather(mut pieces: Pieces, len: usize) -> Option<(usize, usize)> {
    let mut chosen = Pieces::new();
    let mut sum = 0;
    while sum < len {
        let Some(i) = (0..pieces.n).max_by_key(|&i| pieces.at[i].len) else {
            break;
        };
        let p = pieces.remove(i);
        sum += p.len;
        chosen.push(p);
    }
    put_back(pieces);
    if chosen.n == 0 {
        return None;
    }
    let dest = mapping::map_large(len, os::page_size(), 0) as usize;
    let mut filled = 0;
    for &p in chosen.all() {
        let n = p.len.min(len - filled);
        // SAFETY: the piece is ours alone, taken out of its slot, and `dest` is ours, fresh,
        // with `n` bytes free from `filled`. A piece that spans two kernel mappings cannot
        // move at once: it stays whole.
        if dest == 0 || n == 0 || !unsafe { mapping::move_into(p.start, n, dest + filled) } {
            give_back(p);
            continue;
        }
        filled += n;
        if n < p.len {
            give_back(Piece {
                start: p.start + n,
                len: p.len - n,
                stamp: p.stamp,
            });
        }
    }
    (dest != 0).then_some((dest, len))
}

/// Returns one piece to the cache (or to the OS, past the limit).
fn give_back(p: Piece) {
    let mut pieces = take_all();
    pieces.push(p);
    put_back(pieces);
}

/// Unmaps the pieces cached at least `age` ms before `now`, and starts a new period for the
/// peak of the live large bytes.
pub fn decay(now: u64, age: u64) {
    if BYTES.load(Relaxed) != 0 {
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
    // The new period's peak starts from the footprint that is left.
    let left = mapping::LARGE_BYTES.load(Relaxed) + BYTES.load(Relaxed);
    mapping::LARGE_PEAK.store(left, Relaxed);
}

/// When the OS refuses memory: unmaps every cached piece, so that their address space can be
/// mapped again. Whether there was any.
#[cold]
pub fn release_all() -> bool {
    let had = BYTES.load(Relaxed) != 0;
    decay(0, 0);
    had
}

/// Gives a piece back to the OS.
fn unmap(start: usize, len: usize) {
    // SAFETY: pieces are mappings of ours that nobody uses: they were taken out of their
    // slots, or never put in one.
    unsafe { mapping::unmap_large(start, len) };
}

/// Empties every slot: the pieces are the caller's now. A piece is looked at only once it has
/// been swapped out, so never while another thread may unmap it.
fn take_all() -> Pieces {
    let mut pieces = Pieces::new();
    for slot in &SLOT {
        if slot.load(Relaxed) == 0 {
            continue;
        }
        let start = slot.swap(0, AcqRel);
        if start == 0 {
            continue;
        }
        // SAFETY: the piece is ours now; its first page holds its record.
        let (len, stamp) = unsafe {
            let r = &*(start as *const Record);
            (r.header.lead as usize, r.stamp)
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
/// The piece's bytes are counted before it is published, and taken off again if it finds no
/// slot: a thread that empties the slots meanwhile subtracts only what was counted, so `BYTES`
/// never drops below zero (it did, for a moment, when the count followed the publication:
/// the checked build's overflow check caught it in t_stress).
fn put(p: &Piece) -> bool {
    let live = mapping::LARGE_BYTES.load(Relaxed);
    let peak = mapping::LARGE_PEAK.load(Relaxed);
    let limit = (2 * live)
        .max(peak.saturating_sub(live))
        .clamp(MIN_BYTES, MAX_BYTES);
    if BYTES.fetch_add(p.len, Relaxed) + p.len > limit {
        BYTES.fetch_sub(p.len, Relaxed);
        return false;
    }
    // SAFETY: the piece is ours and unused; its first page holds the record.
    unsafe {
        (p.start as *mut Record).write(Record {
            header: Header {
                lead: p.len as u64,
                tag: tag(State::Free, 0),
            },
            stamp: p.stamp,
        });
    }
    if SLOT
        .iter()
        .any(|slot| slot.compare_exchange(0, p.start, AcqRel, Relaxed).is_ok())
    {
        return true;
    }
    BYTES.fetch_sub(p.len, Relaxed);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{os, pagemap};

    /// The cache is global: tests run one at a time, each starting with it empty.
    fn alone() -> std::sync::MutexGuard<'static, ()> {
        let guard = crate::tests_alone();
        decay(0, 0);
        guard
    }

    fn mapped(len: usize) -> usize {
        let p = mapping::map_large(len, os::page_size(), 0) as usize;
        assert_ne!(p, 0);
        p
    }

    const MIB: usize = 1 << 20;

    #[test]
    fn a_request_takes_the_smallest_piece_that_holds_it_and_splits_off_the_rest() {
        let _alone = alone();
        // Two pieces with a hole between them, so that they do not merge.
        let small = mapped(12 * MIB);
        let big = small + 4 * MIB;
        unsafe {
            mapping::unmap_large(small + 2 * MIB, 2 * MIB);
            keep(big, 8 * MIB, 1);
            keep(small, 2 * MIB, 1);
        }
        assert_eq!(
            take(MIB + 4096),
            Some((small, 2 * MIB)),
            "too little left to split"
        );
        assert_eq!(take(3 * MIB), Some((big, 3 * MIB)), "the rest stays cached");
        assert_eq!(take(5 * MIB), Some((big + 3 * MIB, 5 * MIB)));
        assert_eq!(BYTES.load(Relaxed), 0);
        unsafe {
            mapping::unmap_large(small, 2 * MIB);
            mapping::unmap_large(big, 8 * MIB);
        }
    }

    #[test]
    fn when_no_piece_holds_a_request_the_pages_of_the_largest_move_into_one_mapping() {
        let _alone = alone();
        let a = mapped(8 * MIB);
        let b = a + 5 * MIB;
        // The pieces' first bytes hold their records: the marks go in their second pages.
        let page = os::page_size();
        unsafe {
            mapping::unmap_large(a + 4 * MIB, MIB);
            *((a + page) as *mut u64) = 0xa;
            *((b + page) as *mut u64) = 0xb;
            keep(a, 4 * MIB, 1);
            keep(b, 3 * MIB, 1);
        }
        let (dest, len) = take(6 * MIB).expect("gathered");
        assert_eq!(len, 6 * MIB);
        assert!(pagemap::owns(dest) && pagemap::owns(dest + len - 1));
        let read = |at: usize| unsafe { *((dest + at) as *const u64) };
        assert_eq!(read(page), 0xa, "the largest piece's pages came first");
        assert_eq!(read(4 * MIB + page), 0xb, "then the next one's");
        assert!(!pagemap::owns(a) && !pagemap::owns(b), "they moved away");
        assert_eq!(BYTES.load(Relaxed), MIB, "the rest of the last piece stays");
        assert_eq!(take(MIB), Some((b + 2 * MIB, MIB)));
        unsafe {
            mapping::unmap_large(dest, len);
            mapping::unmap_large(b + 2 * MIB, MIB);
        }
    }

    #[test]
    fn touching_pieces_merge_and_old_ones_decay() {
        let _alone = alone();
        let p = mapped(4 * MIB);
        unsafe {
            keep(p, 2 * MIB, 10);
            keep(p + 2 * MIB, 2 * MIB, 20);
        }
        assert_eq!(take(4 * MIB), Some((p, 4 * MIB)), "one piece again");
        unsafe { keep(p, 4 * MIB, 20) };
        decay(25, 10);
        assert_eq!(BYTES.load(Relaxed), 4 * MIB, "younger than the age: kept");
        decay(30, 10);
        assert_eq!(BYTES.load(Relaxed), 0);
        assert!(
            !pagemap::owns(p) && pagemap::retired(p),
            "decayed pieces are unmapped"
        );
    }

    #[test]
    fn the_cache_holds_no_more_than_its_limit() {
        let _alone = alone();
        let pieces: std::vec::Vec<usize> = (0..3).map(|_| mapped(MAX_KEPT / 2)).collect();
        for &p in &pieces {
            unsafe { keep(p, MAX_KEPT / 2, 1) };
        }
        // No live large blocks: the limit is MIN_BYTES, one piece's worth.
        assert!(BYTES.load(Relaxed) <= MIN_BYTES);
        assert!(
            pieces.iter().any(|&p| !pagemap::owns(p)),
            "what did not fit was unmapped"
        );
        decay(0, 0);
    }

    #[test]
    fn the_byte_count_never_drops_below_zero_while_threads_keep_and_take() {
        let _alone = alone();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let worst = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut piece = Some(mapped(MIB));
                    let end = std::time::Instant::now() + std::time::Duration::from_millis(300);
                    while std::time::Instant::now() < end {
                        if let Some(p) = piece.take() {
                            unsafe { keep(p, MIB, 1) };
                        }
                        piece = take(MIB).map(|(p, _)| p);
                    }
                    if let Some(p) = piece {
                        unsafe { mapping::unmap_large(p, MIB) };
                    }
                });
            }
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    worst.fetch_max(BYTES.load(Relaxed), Relaxed);
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(400));
            stop.store(true, Relaxed);
        });
        let worst = worst.load(Relaxed);
        assert!(
            worst <= MAX_BYTES,
            "the count read {worst:#x}: below zero, wrapped"
        );
        decay(0, 0);
    }
}
