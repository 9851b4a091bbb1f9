//! Every heap ever made, numbered in the order threads first allocated; the current thread's
//! heap; and the heaps of exited threads, parked until a thread started later claims one.
//!
//! The registry is the only maker of `OwnedHeap` handles. A thread's slot (`slot`) holds the
//! heap it claimed, or one of two vacant heaps (`Heap::vacant`): `FRESH` before its first
//! allocation (the slot's initial value), `GONE` once its exit hook parked its heap. So the
//! fast paths read a heap from the slot and need no test of their own that there is one: a
//! vacant heap sends them to their slow paths, which tell the two apart. Heaps are never freed, so a pointer read from the directory stays valid
//! forever. A heap changes hands only through its claimed flag: the exiting owner clears it
//! with Release, the next owner sets it with an Acquire compare-and-swap and so sees every
//! list and counter the last owner left. No thread waits for another: a thread that finds no
//! parked heap makes a new one.
//!
//! Checking mode (`BMALLOC_CHECK`) is decided at the first heap attach, before any block
//! exists: in it, a thread's heap is kept in the second slot (`tls::get_checked`), so the
//! first slot stays `FRESH`, every fast path misses, and every call takes a slow path, which checks.

use crate::heap::{Heap, OwnedHeap};
use crate::{options, os, supply, tls};
use core::ptr::{NonNull, null_mut};
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering::*};

const PAGE_SLOTS: usize = 1024;
const DIR_PAGES: usize = 1024;
/// Most heaps that can exist at once (one per concurrently live thread).
pub const MAX_HEAPS: usize = PAGE_SLOTS * DIR_PAGES;

type Page = [AtomicPtr<Heap>; PAGE_SLOTS];

static DIR: [AtomicPtr<Page>; DIR_PAGES] = [const { AtomicPtr::new(null_mut()) }; DIR_PAGES];
/// Heap numbers handed out so far.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Heaps parked (their thread exited) that nobody has claimed again.
static PARKED: AtomicUsize = AtomicUsize::new(0);
/// The pthread key whose destructor tells us a thread exits; NO_KEY until made.
static EXIT_KEY: AtomicU32 = AtomicU32::new(NO_KEY);
const NO_KEY: u32 = u32::MAX;
/// glibc runs key destructors in up to this many rounds (PTHREAD_DESTRUCTOR_ITERATIONS).
const DESTRUCTOR_ROUNDS: u32 = 4;

/// The slot's heap in a thread that has not allocated yet, and in a thread whose exit hook
/// parked its heap (or in checking mode, in every thread).
static FRESH: Heap = Heap::vacant();
static GONE: Heap = Heap::vacant();

/// The calling thread's heap slot: a word in `.tdata` whose initial value is `FRESH`'s
/// address (the loader relocates the TLS image before it copies it into a thread).
mod slot {
    core::arch::global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        ".globl bmalloc_tls_heap",
        ".hidden bmalloc_tls_heap",
        ".type bmalloc_tls_heap, @object",
        ".size bmalloc_tls_heap, 8",
        "bmalloc_tls_heap:",
        ".quad {fresh}",
        ".popsection",
        fresh = sym super::FRESH,
    );
    crate::tls::slot!(get, set, "bmalloc_tls_heap");
}

fn fresh() -> usize {
    &FRESH as *const Heap as usize
}

fn gone() -> usize {
    &GONE as *const Heap as usize
}

/// Checking mode: 0 until decided, then 1 (off) or 2 (on).
static CHECKING: AtomicU8 = AtomicU8::new(0);

/// Whether checking mode is on: `BMALLOC_CHECK` in the environment as the first heap was
/// attached (a value that is no switch is off; start-up warns about it).
pub fn checking() -> bool {
    match CHECKING.load(Relaxed) {
        0 => decide_checking(),
        v => v == 2,
    }
}

#[cold]
fn decide_checking() -> bool {
    let on = os::secure_env(options::Opt::Check.name())
        .and_then(options::switch)
        .unwrap_or(false);
    // Every thread that decides reads the same environment, so all store the same value.
    CHECKING.store(if on { 2 } else { 1 }, Relaxed);
    on
}

/// How many heap numbers have been handed out.
pub fn count() -> usize {
    COUNT.load(Acquire)
}

/// The heap numbered `id`, if it is in the directory.
pub fn get(id: usize) -> Option<&'static Heap> {
    if id >= MAX_HEAPS {
        return None;
    }
    let page = dir_page(id / PAGE_SLOTS, false)?;
    // SAFETY: heaps are never freed.
    let h = unsafe { page[id % PAGE_SLOTS].load(Acquire).as_ref() };
    debug_assert!(
        h.is_none_or(|h| h.id() == id),
        "a heap sits at its own number"
    );
    h
}

/// The heap in the calling thread's slot, its own or a vacant one (see `OwnedHeap::in_slot`):
/// the fast paths' way in, one TLS load.
#[inline(always)]
pub fn in_slot() -> OwnedHeap {
    // SAFETY: the slot holds the heap this thread claimed in `attach`, or FRESH or GONE,
    // which are vacant; none is null.
    unsafe { OwnedHeap::in_slot(NonNull::new_unchecked(slot::get() as *mut Heap)) }
}

/// The calling thread's own heap, if it has one.
fn mine() -> Option<OwnedHeap> {
    let v = slot::get();
    if v == fresh() || v == gone() {
        return None;
    }
    // SAFETY: a slot value that is neither vacant heap is the heap this thread claimed.
    Some(unsafe { OwnedHeap::new(NonNull::new_unchecked(v as *mut Heap)) })
}

/// Runs `f` with a heap the calling thread may use: its own (attached on its first
/// allocation), or for a thread whose exit hook already parked its heap (glibc frees thread
/// resources late), a parked heap borrowed for the call. `f` gets None only when no heap can
/// be had at all (the OS is out of memory).
#[cold]
pub fn with_heap<R>(f: impl FnOnce(Option<&mut OwnedHeap>) -> R) -> R {
    let v = slot::get();
    if v == fresh() {
        match tls::get_checked() {
            0 => match attach() {
                Some(mut h) => f(Some(&mut h)),
                None => f(None),
            },
            // SAFETY: a checked slot's value is the heap this thread claimed in `attach`.
            v => f(Some(&mut unsafe {
                OwnedHeap::new(NonNull::new_unchecked(v as *mut Heap))
            })),
        }
    } else if v == gone() {
        match claim() {
            Some(mut h) => {
                let r = f(Some(&mut h));
                park(h);
                r
            }
            None => f(None),
        }
    } else {
        f(mine().as_mut())
    }
}

#[cold]
fn attach() -> Option<OwnedHeap> {
    let h = claim()?;
    if checking() {
        tls::set_checked(h.as_ptr() as usize);
    } else {
        slot::set(h.as_ptr() as usize);
    }
    arm_exit_hook(h.as_ptr());
    Some(h)
}

/// A heap for the caller's exclusive use: a parked one if any, else a new one.
fn claim() -> Option<OwnedHeap> {
    if PARKED.load(Relaxed) > 0 {
        for id in 0..count() {
            if let Some(h) = get(id).filter(|h| h.try_claim()) {
                PARKED.fetch_sub(1, Relaxed);
                // SAFETY: we just claimed it; nobody else holds a handle.
                return Some(unsafe { OwnedHeap::new(NonNull::from(h)) });
            }
        }
    }
    // SAFETY: a new heap is claimed for us and known to nobody else.
    create().map(|h| unsafe { OwnedHeap::new(h) })
}

fn park(h: OwnedHeap) {
    PARKED.fetch_add(1, Relaxed);
    h.park();
}

fn create() -> Option<NonNull<Heap>> {
    if COUNT.load(Relaxed) >= MAX_HEAPS {
        return None;
    }
    let id = COUNT.fetch_add(1, AcqRel);
    let page = dir_page(id / PAGE_SLOTS, true)?;
    let h = Heap::create(id)?;
    page[id % PAGE_SLOTS].store(h.as_ptr(), Release);
    Some(h)
}

/// The directory page `index`, mapped and installed on first use when `create` is set.
fn dir_page(index: usize, create: bool) -> Option<&'static Page> {
    let mut page = DIR.get(index)?.load(Acquire);
    if page.is_null() && create {
        let fresh = os::Fresh::map(core::mem::size_of::<Page>())?;
        let ptr = fresh.ptr().cast::<Page>();
        page = match DIR[index].compare_exchange(null_mut(), ptr, AcqRel, Acquire) {
            Ok(_) => fresh.keep().cast(),
            Err(winner) => winner, // ours is dropped: unmapped
        };
    }
    // SAFETY: a non-null slot points to a directory page (zeroed memory is a page of null
    // slots), and pages are never unmapped.
    unsafe { page.as_ref() }
}

/// Makes sure the exit-hook key exists. Two threads may race to make it: the loser deletes
/// its own key and uses the winner's, so nobody waits.
pub fn exit_key() -> Option<u32> {
    let k = EXIT_KEY.load(Acquire);
    if k != NO_KEY {
        return Some(k);
    }
    let mine = os::key_create(on_thread_exit)?;
    match EXIT_KEY.compare_exchange(NO_KEY, mine, AcqRel, Acquire) {
        Ok(_) => Some(mine),
        Err(theirs) => {
            os::key_delete(mine);
            Some(theirs)
        }
    }
}

fn arm_exit_hook(h: *mut Heap) {
    if let Some(key) = exit_key() {
        os::key_set(key, h.cast());
    }
}

/// The exit-hook key's destructor. Other libraries' key destructors may still allocate after
/// ours runs, so for the first rounds we set the value again (asking glibc for another round)
/// and park the heap only in the last round. After that the thread's slot holds GONE and
/// whatever it still allocates or frees goes through `with_heap`.
unsafe extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let Some(h) = NonNull::new(value.cast::<Heap>()) else {
        return;
    };
    // SAFETY: the value is the heap this exiting thread claimed (set by arm_exit_hook), and
    // the thread is in no allocator call while destructors run.
    let mut h = unsafe { OwnedHeap::new(h) };
    if h.exit_round() < DESTRUCTOR_ROUNDS {
        arm_exit_hook(h.as_ptr());
        return;
    }
    slot::set(gone());
    tls::set_checked(0);
    supply::hand_over_foreign(&mut h);
    park(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_heap_is_claimed_again_before_a_new_one_is_made() {
        let _alone = crate::tests_alone();
        let a = claim().expect("a heap");
        let id = a.heap().id();
        assert!(
            core::ptr::eq(get(id).unwrap(), a.heap()),
            "the directory knows it"
        );
        park(a);
        let b = claim().expect("a heap");
        assert_eq!(b.heap().id(), id, "the parked heap came back");
        let c = claim().expect("a heap");
        assert_ne!(
            c.heap().id(),
            id,
            "a claimed heap is never handed out twice"
        );
        assert!(count() > c.heap().id());
        park(b);
        park(c);
    }

    #[test]
    fn unknown_numbers_have_no_heap() {
        assert!(get(MAX_HEAPS).is_none());
        assert!(get(MAX_HEAPS - 1).is_none());
    }

    #[test]
    fn threads_attach_their_own_heap_and_park_it_when_they_exit() {
        let _alone = crate::tests_alone();
        let id = std::thread::spawn(|| {
            let id = with_heap(|h| h.expect("a heap").heap().id());
            let again = mine().expect("attached").heap().id();
            assert_eq!(id, again, "the thread keeps its heap");
            id
        })
        .join()
        .unwrap();
        // The thread's exit hook parked its heap: it can be claimed again.
        let heap = get(id).unwrap();
        assert!(heap.try_claim(), "the heap of an exited thread is parked");
        // SAFETY: we just claimed it.
        park(unsafe { OwnedHeap::new(NonNull::from(heap)) });
        PARKED.fetch_sub(1, Relaxed); // it was counted when the thread parked it
    }
}
