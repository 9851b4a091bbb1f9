//! When free blocks go back to the OS. free() never purges: a program that frees what it
//! allocated pays for no sorting on the way out. Purges run on malloc's slow paths. Before a
//! heap takes new memory, an exchange that holds more than `RETAIN_BYTES` is purged
//! (coalesced into spans whose pages are released, see `runs`), so memory freed in one bucket
//! is reused by another before the OS is asked for more. Batches that sat unused for longer
//! than the purge delay are purged the next time any heap takes a batch from the exchange or
//! new memory. A purge also decays the cache of large mappings. bmalloc starts no thread of
//! its own: purges run in the threads that allocate.
//!
//! One thread purges at a time (the `PURGING` flag); another that would purge meanwhile simply
//! goes on. Nobody waits.

use crate::exchange::{self, STAMP_MASK};
use crate::heap::OwnedHeap;
use crate::list::{NO_PILES, Pile};
use crate::size_class::stride_of;
use crate::{mapcache, options, os, runs};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// Most bytes the exchange keeps for reuse before it purges what it is given.
pub const RETAIN_BYTES: usize = 32 << 20;

/// Set while a thread purges.
static PURGING: AtomicBool = AtomicBool::new(false);
/// When (coarse milliseconds) the last purge of old batches started.
static LAST_DECAY: AtomicU64 = AtomicU64::new(0);
/// How long (ms) the next purge of old batches waits at least, whatever the delay: `PACE`
/// times what the last one took when it was barren and examined all there was, else 0.
static DECAY_PAUSE: AtomicU64 = AtomicU64::new(0);
/// A barren decay (it kept most of what it examined: free blocks among live ones) that left
/// less alone than it examined (batches not old yet) is followed by none for this many times
/// as long as it took, so that such decays take at most about a tenth of the time of the
/// threads that run them. Without the pause, a short delay (0: "at the next chance") had every
/// tick of the coarse clock sort the same kept blocks again: with 14-17 MB of them, the Rust
/// benchmark spent 112 of its 113 s purging (`t_purge_rate`'s "decay"). A decay that left more
/// alone is not followed by a pause: what it left is old at the next delay, and the next decay
/// examines that. (Paused too, a decay that found a GiB just freed and examined only the
/// caller's lists held back the purge of that GiB, `t_purge.sh`.)
const PACE: u64 = 10;
/// Bytes the exchange held after the last purge that the purge saw (what it could not release
/// and what it left to earlier purges' judgement), and the stamp clock when it ran. The next
/// purge waits until `RETAIN_BYTES / 2` more has arrived: a purge that keeps most of what it
/// examines (free blocks among live ones) is not followed by one per hand-over.
static KEPT_BY_PURGE: AtomicUsize = AtomicUsize::new(0);
static LAST_PURGE: AtomicU64 = AtomicU64::new(0);
/// Purges run so far, and the microseconds they took (the JSON report's `os.purges` and
/// `os.purge_us`).
static PURGES: AtomicU64 = AtomicU64::new(0);
static PURGE_US: AtomicU64 = AtomicU64::new(0);

/// How many purges have run.
pub fn count() -> u64 {
    PURGES.load(Relaxed)
}

/// Microseconds spent purging so far.
pub fn micros() -> u64 {
    PURGE_US.load(Relaxed)
}
/// Bytes the last purge of everything could not release.
static KEPT_BY_FULL_PURGE: AtomicUsize = AtomicUsize::new(0);

/// Before heap `h` takes new memory. When the exchange holds more than it should keep, it is
/// purged with `h`'s lists, so that the spans it makes are carved before the OS is asked.
/// Blocks a purge kept (they share pages with blocks in use) are sorted again only when the
/// exchange has doubled since the last full purge, so the work stays proportional to what is
/// freed; in between, a purge takes what arrived since the last one. A purge sorts at most
/// a million blocks (`runs`' scratch); what it had no room for is taken by the next one, a chunk later.
pub fn before_growth(h: &mut OwnedHeap) {
    let held = exchange::bytes();
    if held <= RETAIN_BYTES || held <= KEPT_BY_PURGE.load(Relaxed) + RETAIN_BYTES / 2 {
        maybe_decay(Some(h));
    } else if held > 2 * KEPT_BY_FULL_PURGE.load(Relaxed) {
        if purge(|_, _| true, Some(h), Rest::New).is_some() {
            KEPT_BY_FULL_PURGE.store(KEPT_BY_PURGE.load(Relaxed), Relaxed);
        }
    } else {
        let since = LAST_PURGE.load(Relaxed);
        let new_since = |now: u64, stamp: u64| {
            now.wrapping_sub(stamp) & STAMP_MASK <= now.wrapping_sub(since) & STAMP_MASK
        };
        purge(new_since, Some(h), Rest::New);
    }
}

/// Purges batches, and cached large mappings, older than the purge delay, with the free
/// blocks of the caller's heap `h` (their neighbours are among the old batches: a purge
/// without them would keep what touches them): at most once per delay across all threads.
/// Every malloc that takes a batch from the exchange or new memory comes here. When a purge that paid had no room for every old batch, the rest stays old and
/// the next call purges again: a program that freed a GiB gets it back one purge per batch it
/// allocates after the delay, not in one long call.
pub fn maybe_decay(h: Option<&mut OwnedHeap>) {
    let delay = options::purge_delay_ms();
    let now = os::now_ms();
    let last = LAST_DECAY.load(Relaxed);
    if now.wrapping_sub(last) < delay.max(1).max(DECAY_PAUSE.load(Relaxed)) {
        return;
    }
    if LAST_DECAY
        .compare_exchange(last, now, Relaxed, Relaxed)
        .is_err()
    {
        return; // another thread does it
    }
    if exchange::bytes() != 0 {
        let old = |now: u64, stamp: u64| now.wrapping_sub(stamp) & STAMP_MASK >= delay;
        if let Some(done) = purge(old, h, Rest::Old(delay)) {
            let pause = if done.barren && done.left <= done.examined {
                PACE * done.micros / 1000
            } else {
                0
            };
            DECAY_PAUSE.store(pause, Relaxed);
            if done.rest_bytes != 0 && !done.barren {
                LAST_DECAY.store(now.wrapping_sub(delay.max(1)), Relaxed);
            }
        }
    }
    mapcache::decay(now, delay);
}

/// Purges everything the exchange and the caller's heap `h` hold (malloc_trim).
pub fn purge_all(h: Option<&mut OwnedHeap>) {
    purge(|_, _| true, h, Rest::New);
}

/// When the OS has no more memory: purges everything the exchange and the caller's heap `h`
/// hold until `found` finds what it needs among the spans. A purge sorts at most a million
/// blocks, and spans grow as their neighbours are purged, so one round may not be enough:
/// rounds go on while they merge something, at most `ROUNDS`.
#[cold]
pub fn reclaim<T>(
    mut h: Option<&mut OwnedHeap>,
    mut found: impl FnMut() -> Option<T>,
) -> Option<T> {
    const ROUNDS: usize = 32;
    for _ in 0..ROUNDS {
        let done = purge(|_, _| true, h.as_deref_mut(), Rest::New);
        if let Some(x) = found() {
            return Some(x);
        }
        if done.is_none_or(|d| d.merged == 0) {
            break; // nothing merged (or another thread purges): no larger span to hope for
        }
    }
    None
}

/// How the blocks a purge had no room to examine go back to the exchange.
#[derive(Clone, Copy)]
enum Rest {
    /// Stamped now: new arrivals, for the next purge before growth.
    New,
    /// Stamped as old as the purge delay (the field, ms): still due for the next decay.
    Old(u64),
}

/// What a purge did.
struct Purged {
    /// Blocks and spans merged into spans.
    merged: usize,
    /// Bytes it had no room to examine.
    rest_bytes: usize,
    /// Bytes it examined, and bytes of batches it left alone (not picked).
    examined: usize,
    left: usize,
    /// It kept more than half of what it examined.
    barren: bool,
    /// Microseconds it took.
    micros: u64,
}

/// Takes the batches whose stamp `pick(now, stamp)` selects out of the exchange, and every
/// free block of the caller's heap `h`, coalesces them with the spans (`runs`), and hands the
/// blocks that remain to the exchange: those it kept stamped just before now, those it had no
/// room for as `rest` says. None when another thread is purging.
fn purge(pick: impl Fn(u64, u64) -> bool, h: Option<&mut OwnedHeap>, rest: Rest) -> Option<Purged> {
    if PURGING.swap(true, Acquire) {
        return None;
    }
    let started = os::now_us();
    let now = os::now_ms() & STAMP_MASK;
    let mut piles = NO_PILES;
    if let Some(h) = h {
        h.drain(&mut piles);
    }
    // Bytes of the batches this purge leaves alone (what earlier purges kept, when it takes
    // only new arrivals).
    let mut left = 0;
    for (b, pile) in piles.iter_mut().enumerate() {
        for (batch, n, stamp) in exchange::take_all(b) {
            if pick(now, stamp) {
                pile.push(batch, n);
            } else {
                left += n * stride_of(b);
                exchange::give(b, batch, n, stamp);
            }
        }
    }
    let bytes_of = |b: usize, p: &Pile| p.blocks() * stride_of(b);
    let taken: usize = piles.iter().enumerate().map(|(b, p)| bytes_of(b, p)).sum();
    // SAFETY: we hold the purge flag.
    let (mut unexamined, merged) = unsafe { runs::coalesce(&mut piles) };
    let (kept, rest_bytes) = piles
        .iter()
        .zip(unexamined.iter())
        .enumerate()
        .fold((0, 0), |(k, r), (b, (pile, rest))| {
            (k + bytes_of(b, pile), r + bytes_of(b, rest))
        });
    let examined = taken - rest_bytes;
    let barren = kept * 2 > examined;
    // Blocks the purge had no room to examine count as new arrivals, or stay old for the next
    // decay. Blocks kept are stamped just before now, so that the next purge of new arrivals
    // leaves them, except in a chain of decays (below). Both go back a batch at a time, as
    // they come: no chain is walked.
    let rest_stamp = match rest {
        Rest::New => now,
        Rest::Old(delay) => now.wrapping_sub(delay) & STAMP_MASK,
    };
    // A decay that paid but had no room for everything old is followed by another at once
    // (`maybe_decay`). What it kept goes with the rest to that one: blocks kept only because
    // their neighbours were in the rest it did not examine (the seams between what one purge
    // examined and the next) are released there with them. Stamped new instead, each seam
    // stayed until the next delay: 4 threads that freed 1 GiB of 64-byte blocks together kept
    // 2-11 MB of them past the delay, after 14 purges (t_purge.sh's "threads" failed at
    // random). The chain still ends: each purge in it released at least half of what it
    // examined, or it was barren.
    let kept_stamp = if matches!(rest, Rest::Old(_)) && rest_bytes != 0 && !barren {
        rest_stamp
    } else {
        now.wrapping_sub(1) & STAMP_MASK
    };
    for (b, (pile, rest)) in piles.iter_mut().zip(unexamined.iter_mut()).enumerate() {
        requeue(b, pile, kept_stamp);
        requeue(b, rest, rest_stamp);
    }
    // The next purge waits until RETAIN_BYTES / 2 more than this has arrived: what this purge
    // kept and what it left alone (a partial purge examines only what arrived since the last
    // one; the exchange still holds what earlier purges kept). Counting only what it kept made
    // the next chance purge again at once, and every one after it (jq's group_by ran 18x
    // slower than on glibc, when hand-overs purged; t_purge_rate). What it had no room to
    // examine waits too when the purge was barren (kept more than half of what it examined:
    // free blocks among live ones, where examining more would only cost), and is purged at the
    // next chance when it paid.
    // What other threads handed over meanwhile is new, for the next purge.
    KEPT_BY_PURGE.store(kept + left + if barren { rest_bytes } else { 0 }, Relaxed);
    LAST_PURGE.store(now, Relaxed);
    let micros = os::now_us().wrapping_sub(started);
    PURGES.fetch_add(1, Relaxed);
    PURGE_US.fetch_add(micros, Relaxed);
    PURGING.store(false, Release);
    Some(Purged {
        merged,
        rest_bytes,
        examined,
        left,
        barren,
        micros,
    })
}

/// Hands the batches of bucket `b` on `pile` back to the exchange, stamped `stamp`.
fn requeue(b: usize, pile: &mut Pile, stamp: u64) {
    while let Some((first, n)) = pile.pop() {
        exchange::give(b, first, n, stamp);
    }
}
