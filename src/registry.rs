//! Every heap ever made, numbered in the order threads first allocated; finding the current
//! thread's heap; handing the heap of an exited thread to a thread started later.
//!
//! Heaps are never freed, so a pointer read from the directory stays valid forever. A heap
//! changes hands only through its `claimed` flag: the exiting owner clears it with Release,
//! the next owner sets it with an Acquire compare-and-swap and so sees every list and counter
//! the last owner left. No thread waits for another: a thread that finds no released heap
//! makes a new one.

use crate::heap::Heap;
use crate::tls;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering::*};

const PAGE_SLOTS: usize = 1024;
const DIR_PAGES: usize = 1024;
/// Most heaps that can exist at once (one per concurrently live thread).
pub const MAX_HEAPS: usize = PAGE_SLOTS * DIR_PAGES;

type Page = [AtomicPtr<Heap>; PAGE_SLOTS];

static DIR: [AtomicPtr<Page>; DIR_PAGES] = [const { AtomicPtr::new(null_mut()) }; DIR_PAGES];
/// Heap numbers handed out so far.
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Heaps whose thread has exited and that nobody has claimed again.
static RELEASED: AtomicUsize = AtomicUsize::new(0);
/// The pthread key whose destructor tells us a thread exits; NO_KEY until made.
static EXIT_KEY: AtomicU32 = AtomicU32::new(NO_KEY);
const NO_KEY: u32 = u32::MAX;
/// glibc runs key destructors in up to this many rounds (PTHREAD_DESTRUCTOR_ITERATIONS).
const DESTRUCTOR_ROUNDS: u32 = 4;

/// How many heap numbers have been handed out.
pub fn count() -> usize {
    COUNT.load(Acquire)
}

/// The heap numbered `id`, or null if it is not (yet) in the directory.
pub fn get(id: usize) -> *mut Heap {
    if id >= MAX_HEAPS {
        return null_mut();
    }
    let page = DIR[id / PAGE_SLOTS].load(Acquire);
    if page.is_null() {
        return null_mut();
    }
    // SAFETY: directory pages are never freed; the index is below PAGE_SLOTS.
    unsafe { (*page)[id % PAGE_SLOTS].load(Acquire) }
}

/// The current thread's heap, attaching one on its first allocation. After the thread's exit
/// hook has released its heap this returns null: use `with_heap`.
#[inline]
pub fn current() -> *mut Heap {
    let h = tls::heap();
    if tls::is_live(h) {
        return h;
    }
    if h.is_null() { attach() } else { null_mut() }
}

/// Runs `f` with a heap the caller may use: its own, or (for a thread whose exit hook already
/// ran) a released heap claimed for the duration of the call. `f` gets null only when no heap
/// could be made at all (the OS is out of memory).
#[cold]
pub fn with_heap<R>(f: impl FnOnce(*mut Heap) -> R) -> R {
    let h = current();
    if !h.is_null() {
        return f(h);
    }
    if tls::heap().is_null() {
        return f(null_mut()); // attach failed: out of memory
    }
    let h = claim();
    let r = f(h);
    if !h.is_null() {
        release(h);
    }
    r
}

#[cold]
fn attach() -> *mut Heap {
    let h = claim();
    if h.is_null() {
        return h;
    }
    tls::set_heap(h);
    arm_exit_hook(h);
    h
}

/// A heap for the caller's exclusive use: a released one if any, else a new one.
fn claim() -> *mut Heap {
    if RELEASED.load(Relaxed) > 0 {
        for id in 0..count() {
            let h = get(id);
            // SAFETY: heaps in the directory are never freed.
            if !h.is_null()
                && unsafe { (*h).claimed.compare_exchange(false, true, Acquire, Relaxed) }.is_ok()
            {
                RELEASED.fetch_sub(1, Relaxed);
                return h;
            }
        }
    }
    create()
}

fn release(h: *mut Heap) {
    RELEASED.fetch_add(1, Relaxed);
    // SAFETY: `h` is a live heap the caller owns and gives up here.
    unsafe { (*h).claimed.store(false, Release) };
}

fn create() -> *mut Heap {
    let id = COUNT.load(Relaxed);
    if id >= MAX_HEAPS {
        return null_mut();
    }
    let id = COUNT.fetch_add(1, AcqRel);
    let Some(page) = dir_page(id / PAGE_SLOTS) else {
        return null_mut();
    };
    let h = Heap::create(id);
    if !h.is_null() {
        // SAFETY: the page is live and the index below PAGE_SLOTS.
        unsafe { (*page)[id % PAGE_SLOTS].store(h, Release) };
    }
    h
}

fn dir_page(index: usize) -> Option<*mut Page> {
    let page = DIR.get(index)?.load(Acquire);
    if !page.is_null() {
        return Some(page);
    }
    let fresh = crate::os::map(core::mem::size_of::<Page>()).cast::<Page>();
    if fresh.is_null() {
        return None;
    }
    match DIR[index].compare_exchange(null_mut(), fresh, AcqRel, Acquire) {
        Ok(_) => Some(fresh),
        Err(winner) => {
            crate::os::unmap(fresh.cast(), core::mem::size_of::<Page>());
            Some(winner)
        }
    }
}

/// Makes sure the exit-hook key exists. Two threads may race to make it: the loser deletes
/// its own key and uses the winner's, so nobody waits.
pub fn exit_key() -> Option<libc::pthread_key_t> {
    let k = EXIT_KEY.load(Acquire);
    if k != NO_KEY {
        return Some(k);
    }
    let mut mine: libc::pthread_key_t = 0;
    // SAFETY: pthread_key_create writes the new key to `mine`; it does not allocate.
    if unsafe { libc::pthread_key_create(&mut mine, Some(on_thread_exit)) } != 0 {
        return None;
    }
    match EXIT_KEY.compare_exchange(NO_KEY, mine, AcqRel, Acquire) {
        Ok(_) => Some(mine),
        Err(theirs) => {
            // SAFETY: `mine` is our own key and has no values set yet.
            unsafe { libc::pthread_key_delete(mine) };
            Some(theirs)
        }
    }
}

fn arm_exit_hook(h: *mut Heap) {
    if let Some(key) = exit_key() {
        // SAFETY: `key` is a valid key; a key below 32 needs no allocation to set.
        unsafe { libc::pthread_setspecific(key, h.cast()) };
    }
}

/// The exit-hook key's destructor. Other libraries' key destructors may still allocate after
/// ours runs, so for the first rounds we set the value again (asking glibc for another round)
/// and release the heap only in the last round. After that the thread's slot reads RELEASED
/// and whatever it still allocates or frees goes through `with_heap`.
extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let h = value.cast::<Heap>();
    if h.is_null() {
        return;
    }
    // SAFETY: the value is the heap this thread owns (set by arm_exit_hook).
    unsafe {
        (*h).exit_rounds += 1;
        if (*h).exit_rounds < DESTRUCTOR_ROUNDS {
            arm_exit_hook(h);
            return;
        }
        (*h).exit_rounds = 0;
    }
    tls::set_heap(tls::RELEASED as *mut Heap);
    release(h);
}
