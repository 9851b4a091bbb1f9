//! Property test (issue 5): random sequences of malloc / calloc / realloc / free / memalign /
//! aligned_alloc / posix_memalign through the rlib API (`bmalloc::api`), checked against a
//! shadow map of the live blocks:
//!  - no two live blocks overlap (each block counted with the 16-byte header before it),
//!  - every pointer is 16-byte aligned, aligned calls honour their alignment,
//!  - `malloc_usable_size` is at least the size asked for, the slack is writable, and it does not
//!    change while the block lives,
//!  - calloc memory is zero, and content (a pattern over the usable bytes) survives until free,
//!    and across realloc up to the smaller of the two sizes.
//!
//! A second test runs the same operations from several threads against one shared shadow map,
//! with blocks handed between threads.
//!
//! `bmalloc::Bmalloc` is the test's global allocator, so the whole Rust side of the test
//! process (the harness, proptest, std's threads) runs on bmalloc too, through `GlobalAlloc`.
//! The `preload` build (the shared object's) is no_std with a guard allocator: there this file
//! compiles to nothing. Run it alone with `cargo test --test proptest_shadow`.
//! Knobs: PROPTEST_CASES (default 64 here), SHADOW_THREADS_SECS (default 2).
//! AddressSanitizer (`make asan`) runs it too: the default build exports no C symbol, so ASan's
//! own malloc stays the process's (with them exported, ASan's start-up would call bmalloc's
//! malloc before its shadow memory exists).
#![cfg(not(feature = "preload"))]
#![allow(unused_unsafe)]
// The test drives the C-style API with raw pointers on purpose.
#![allow(clippy::undocumented_unsafe_blocks)]

use proptest::prelude::*;

#[global_allocator]
static GLOBAL: bmalloc::Bmalloc = bmalloc::Bmalloc;
use proptest::strategy::ValueTree;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sequence numbers for the threads' local shadows (pattern seeds differ per block).
static SEQ: AtomicU64 = AtomicU64::new(1);

/// The rlib's calls, with pointer types normalised to `*mut u8` (the API mixes `*mut u8` and
/// `*mut c_void`, and some calls are `unsafe fn`).
mod a {
    use core::ffi::c_void;
    use core::ptr::null_mut;

    pub fn malloc(n: usize) -> *mut u8 {
        unsafe { bmalloc::api::malloc(n) }.cast()
    }
    pub fn calloc(n: usize, s: usize) -> *mut u8 {
        unsafe { bmalloc::api::calloc(n, s) }.cast()
    }
    pub fn realloc(p: *mut u8, n: usize) -> *mut u8 {
        unsafe { bmalloc::api::realloc(p.cast(), n) }.cast()
    }
    pub fn free(p: *mut u8) {
        unsafe { bmalloc::api::free(p.cast()) }
    }
    pub fn usable(p: *mut u8) -> usize {
        unsafe { bmalloc::api::malloc_usable_size(p.cast()) }
    }
    pub fn memalign(al: usize, n: usize) -> *mut u8 {
        unsafe { bmalloc::api::memalign(al, n) }.cast()
    }
    pub fn aligned_alloc(al: usize, n: usize) -> *mut u8 {
        unsafe { bmalloc::api::aligned_alloc(al, n) }.cast()
    }
    /// Ok(pointer) or Err(error code returned).
    pub fn posix_memalign(al: usize, n: usize) -> Result<*mut u8, i32> {
        let mut out: *mut c_void = null_mut();
        let r =
            unsafe { bmalloc::api::posix_memalign(&mut out as *mut *mut c_void as *mut _, al, n) };
        if r == 0 {
            Ok(out.cast())
        } else {
            Err(r as i32)
        }
    }
}

const HEADER: usize = 16;
/// Bytes of a block that hold the pattern: all of a small one, the head and tail of a big one.
const FULL_FILL_MAX: usize = 16 * 1024;
const TAIL: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Live {
    size: usize,
    usable: usize,
    seed: u64,
}

fn byte(seed: u64, i: usize) -> u8 {
    let x = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x ^ (x >> 29) ^ (x >> 47)) as u8
}

/// The regions of a block that hold its pattern: [0, head) and [tail_start, usable).
fn regions(usable: usize) -> (usize, usize) {
    if usable <= FULL_FILL_MAX {
        (usable, usable)
    } else {
        (FULL_FILL_MAX, usable - TAIL)
    }
}

fn fill(p: *mut u8, usable: usize, seed: u64) {
    let (head, tail) = regions(usable);
    // SAFETY: p is a live block with `usable` writable bytes (that is what is being tested).
    let s = unsafe { std::slice::from_raw_parts_mut(p, usable) };
    for i in (0..head).chain(tail..usable) {
        s[i] = byte(seed, i);
    }
}

/// First byte below `limit` that differs from the pattern written into a block of `usable`
/// bytes (within that block's pattern regions), if any. `p` may be another block (realloc's
/// result): only bytes below `limit` are read.
fn first_bad(p: *const u8, usable: usize, limit: usize, seed: u64) -> Option<usize> {
    let (head, tail) = regions(usable);
    // SAFETY: the caller guarantees `limit` readable bytes at `p`.
    (0..head.min(limit))
        .chain(tail.min(limit)..usable.min(limit))
        .find(|&i| unsafe { *p.add(i) } != byte(seed, i))
}

#[derive(Clone, Debug)]
enum Op {
    Malloc(usize),
    Calloc(usize, usize),
    Realloc(usize, usize),
    Free(usize),
    Memalign(u32, usize),
    AlignedAlloc(u32, usize),
    PosixMemalign(u32, usize),
    Check(usize),
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        40 => 0usize..=64,
        25 => 65usize..=4096,
        10 => (0u32..=20).prop_flat_map(|k| {
            let e = 16usize << k; // bucket edges: exactly a block size, one less, one more
            (e - 1)..=(e + 1)
        }),
        10 => 4097usize..=(256 << 10),
        3 => (256usize << 10)..=(4 << 20),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => size_strategy().prop_map(Op::Malloc),
        6 => (0usize..=300, prop_oneof![Just(1usize), Just(8), Just(24), Just(1000)])
            .prop_map(|(n, e)| Op::Calloc(n, e)),
        12 => (any::<usize>(), size_strategy()).prop_map(|(i, s)| Op::Realloc(i, s)),
        15 => any::<usize>().prop_map(Op::Free),
        4 => (0u32..=16, size_strategy()).prop_map(|(a, s)| Op::Memalign(a, s)),
        4 => (0u32..=16, size_strategy()).prop_map(|(a, s)| Op::AlignedAlloc(a, s)),
        4 => (3u32..=16, size_strategy()).prop_map(|(a, s)| Op::PosixMemalign(a, s)),
        5 => any::<usize>().prop_map(Op::Check),
    ]
}

/// The shadow map: user pointer -> block. Checks every invariant on insert and remove.
#[derive(Default)]
struct Shadow {
    live: BTreeMap<usize, Live>,
    seq: u64,
}

impl Shadow {
    /// Registers a block just returned for `size` bytes with alignment `align`.
    fn insert(&mut self, p: *mut u8, size: usize, align: usize, what: &str) -> Result<(), String> {
        if p.is_null() {
            return Err(format!("{what}: returned null for {size} bytes"));
        }
        let addr = p as usize;
        if addr % 16 != 0 || addr % align.max(1) != 0 {
            return Err(format!("{what}: {p:?} not aligned to {}", align.max(16)));
        }
        let usable = a::usable(p);
        if usable < size {
            return Err(format!("{what}: usable size {usable} < {size}"));
        }
        if let Some((q, l)) = self.conflict(addr, usable) {
            return Err(format!(
                "{what}: new block {p:?}+{usable} overlaps live block {q:#x}+{} (each with its \
                 16-byte header)",
                l.usable
            ));
        }
        self.seq += 1;
        let seed = (addr as u64) ^ self.seq.wrapping_mul(0x2545_f491_4f6c_dd1d);
        fill(p, usable, seed);
        self.live.insert(addr, Live { size, usable, seed });
        Ok(())
    }

    /// A live block whose [header, end of usable bytes) range meets that of a block at `addr`.
    fn conflict(&self, addr: usize, usable: usize) -> Option<(usize, Live)> {
        let (lo, hi) = (addr - HEADER, addr + usable);
        if let Some((&q, l)) = self.live.range(..addr).next_back() {
            if q + l.usable > lo {
                return Some((q, *l));
            }
        }
        if let Some((&q, l)) = self.live.range(addr..).next() {
            if q - HEADER < hi {
                return Some((q, *l));
            }
        }
        None
    }

    /// Moves every block of `local` into `self`, checking overlaps.
    fn absorb(&mut self, local: &Shadow, what: &str) -> Result<(), String> {
        for (&q, &ql) in local.live.iter() {
            if let Some((o, ol)) = self.conflict(q, ql.usable) {
                return Err(format!(
                    "{what}: block {q:#x}+{} overlaps live block {o:#x}+{} (each with its \
                     16-byte header)",
                    ql.usable, ol.usable
                ));
            }
            self.live.insert(q, ql);
        }
        Ok(())
    }

    fn pick(&self, i: usize) -> Option<(usize, Live)> {
        if self.live.is_empty() {
            return None;
        }
        self.live
            .iter()
            .nth(i % self.live.len())
            .map(|(&k, &v)| (k, v))
    }

    fn check(&self, addr: usize, l: &Live, what: &str) -> Result<(), String> {
        let p = addr as *mut u8;
        if let Some(i) = first_bad(p, l.usable, l.usable, l.seed) {
            return Err(format!(
                "{what}: block {p:?} ({} bytes, usable {}) changed at byte {i}",
                l.size, l.usable
            ));
        }
        let u = a::usable(p);
        if u != l.usable {
            return Err(format!(
                "{what}: usable size of {p:?} went from {} to {u}",
                l.usable
            ));
        }
        Ok(())
    }
}

fn run_op(sh: &mut Shadow, op: &Op) -> Result<(), String> {
    match *op {
        Op::Malloc(n) => {
            let p = a::malloc(n);
            sh.insert(p, n, 16, &format!("malloc({n})"))
        }
        Op::Calloc(n, e) => {
            let p = a::calloc(n, e);
            if !p.is_null() {
                // SAFETY: n * e bytes were asked for.
                let s = unsafe { std::slice::from_raw_parts(p, n * e) };
                if let Some(i) = s.iter().position(|&b| b != 0) {
                    return Err(format!("calloc({n}, {e}): byte {i} is not zero"));
                }
            }
            sh.insert(p, n * e, 16, &format!("calloc({n}, {e})"))
        }
        Op::Memalign(k, n) => {
            let al = 1usize << k;
            let p = a::memalign(al, n);
            sh.insert(p, n, al, &format!("memalign({al}, {n})"))
        }
        Op::AlignedAlloc(k, n) => {
            let al = 1usize << k;
            let p = a::aligned_alloc(al, n);
            sh.insert(p, n, al, &format!("aligned_alloc({al}, {n})"))
        }
        Op::PosixMemalign(k, n) => {
            let al = 1usize << k;
            match a::posix_memalign(al, n) {
                Ok(p) => sh.insert(p, n, al, &format!("posix_memalign({al}, {n})")),
                Err(e) => Err(format!("posix_memalign({al}, {n}) failed with {e}")),
            }
        }
        Op::Check(i) => match sh.pick(i) {
            Some((addr, l)) => sh.check(addr, &l, "check"),
            None => Ok(()),
        },
        Op::Free(i) => match sh.pick(i) {
            Some((addr, l)) => {
                sh.check(addr, &l, "before free")?;
                sh.live.remove(&addr);
                a::free(addr as *mut u8);
                Ok(())
            }
            None => {
                a::free(std::ptr::null_mut());
                Ok(())
            }
        },
        Op::Realloc(i, n) => {
            let Some((addr, l)) = sh.pick(i) else {
                let p = a::realloc(std::ptr::null_mut(), n);
                return sh.insert(p, n, 16, &format!("realloc(NULL, {n})"));
            };
            sh.check(addr, &l, "before realloc")?;
            sh.live.remove(&addr);
            let q = a::realloc(addr as *mut u8, n);
            if n == 0 {
                return if q.is_null() {
                    Ok(())
                } else {
                    Err(format!("realloc({addr:#x}, 0) returned {q:?}, not null"))
                };
            }
            if q.is_null() {
                return Err(format!("realloc({addr:#x}, {n}) returned null"));
            }
            // the old pattern (seeded by the old block) up to the smaller size
            let keep = l.size.min(n);
            if let Some(b) = first_bad(q, l.usable, keep, l.seed) {
                return Err(format!(
                    "realloc({addr:#x} of {} bytes, {n}) = {q:?} lost byte {b}",
                    l.size
                ));
            }
            sh.insert(q, n, 16, &format!("realloc({addr:#x}, {n})"))
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn shadow_map_holds(ops in proptest::collection::vec(op_strategy(), 1..300)) {
        let mut sh = Shadow::default();
        let mut result = Ok(());
        for (k, op) in ops.iter().enumerate() {
            if let Err(e) = run_op(&mut sh, op) {
                result = Err(format!("op {k} {op:?}: {e}"));
                break;
            }
        }
        // free whatever is left (checked), so one case does not leak into the next
        let left: Vec<(usize, Live)> = sh.live.iter().map(|(&k, &v)| (k, v)).collect();
        for (addr, l) in left {
            if result.is_ok() {
                result = sh.check(addr, &l, "at the end");
            }
            a::free(addr as *mut u8);
        }
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}

/// Several threads, one shadow map: blocks are inserted after they are returned and removed
/// before they are freed, so two live entries must never overlap, whichever thread made them.
/// Blocks are handed between threads through the shared map (any thread frees any block).
#[test]
fn shadow_map_holds_across_threads() {
    let secs: f64 = std::env::var("SHADOW_THREADS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let shared = Mutex::new(Shadow::default());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(op_strategy(), 4000);
    let plans: Vec<Vec<Op>> = (0..4)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    std::thread::scope(|s| {
        for (t, plan) in plans.iter().enumerate() {
            let shared = &shared;
            s.spawn(move || {
                let mut k = 0;
                while std::time::Instant::now() < deadline {
                    let op = &plan[k % plan.len()];
                    k += 1;
                    // allocations happen outside the lock; registration and removal inside it
                    let r = run_op_shared(shared, op);
                    if let Err(e) = r {
                        panic!("thread {t} op {k} {op:?}: {e}");
                    }
                    // keep the map small enough that overlap checks stay meaningful and quick
                    if shared.lock().unwrap().live.len() > 400 {
                        let mut g = shared.lock().unwrap();
                        if let Some((addr, l)) = g.pick(k) {
                            // (picked and removed under one lock: another thread may have freed
                            // the block and got the same address back since an earlier look)
                            g.live.remove(&addr);
                            if let Err(e) = g.check(addr, &l, "trim") {
                                panic!("{e}");
                            }
                            drop(g);
                            a::free(addr as *mut u8);
                        }
                    }
                }
            });
        }
    });
    let sh = shared.into_inner().unwrap();
    for (&addr, l) in sh.live.iter() {
        sh.check(addr, l, "at the end").unwrap();
        a::free(addr as *mut u8);
    }
}

/// One operation with the allocator calls outside the lock.
fn run_op_shared(shared: &Mutex<Shadow>, op: &Op) -> Result<(), String> {
    match *op {
        Op::Free(i) | Op::Realloc(i, _) | Op::Check(i) => {
            // take the block out of the map (so no other thread touches it), work, put back
            let taken = {
                let mut g = shared.lock().unwrap();
                let picked = g.pick(i);
                if let Some((addr, _)) = picked {
                    g.live.remove(&addr);
                }
                picked
            };
            let Some((addr, l)) = taken else {
                return Ok(());
            };
            let mut local = Shadow {
                live: BTreeMap::from([(addr, l)]),
                seq: SEQ.fetch_add(1 << 20, Relaxed),
            };
            let r = run_op(&mut local, op);
            // re-register what is left, with the overlap checks against everyone else
            shared.lock().unwrap().absorb(&local, &format!("{op:?}"))?;
            r
        }
        _ => {
            let mut local = Shadow {
                seq: SEQ.fetch_add(1 << 20, Relaxed),
                ..Shadow::default()
            };
            run_op(&mut local, op)?;
            shared
                .lock()
                .unwrap()
                .absorb(&local, &format!("{op:?} (in one of several threads)"))?;
            Ok(())
        }
    }
}
