//! Memory from the operating system: the page size, break growth under a try-flag, and
//! anonymous mappings. Everything here is a slow path.
//!
//! glibc's sbrk is not thread-safe, so only the holder of `GROWER` moves the break, always
//! upward, with the raw brk system call. A thread that finds the flag taken, or whose brk
//! the kernel refuses, maps its chunk instead: nobody ever waits.

use crate::pagemap;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::*};

static PAGE: AtomicUsize = AtomicUsize::new(0);
/// 0, or the pid of the process whose thread is moving the break. A child of fork() that
/// inherits a parent's value may take the flag over: that thread does not exist in the child.
static GROWER: AtomicI32 = AtomicI32::new(0);
/// Set once the kernel refused to move the break: from then on chunks are mapped.
static BRK_REFUSED: AtomicBool = AtomicBool::new(false);
/// Bytes obtained for heaps (break and chunk mappings), for mallinfo's `arena`.
pub static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The system page size, read once from sysconf.
#[inline]
pub fn page_size() -> usize {
    match PAGE.load(Relaxed) {
        0 => init_page_size(),
        p => p,
    }
}

#[cold]
fn init_page_size() -> usize {
    // SAFETY: sysconf has no preconditions and does not allocate.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p > 0 { p as usize } else { 4096 };
    PAGE.store(p, Relaxed);
    p
}

pub fn round_to_page(n: usize) -> Option<usize> {
    let page = page_size();
    n.checked_add(page - 1).map(|v| v & !(page - 1))
}

/// A fresh, zeroed, page-aligned range of `len` bytes (a multiple of the page size) for a
/// heap to carve, marked as ours; null when the OS has no memory.
#[cold]
pub fn heap_chunk(len: usize) -> *mut u8 {
    let p = match grow_break(len) {
        Some(p) => p,
        None => map(len),
    };
    if p.is_null() {
        return p;
    }
    if !pagemap::mark(p as usize, len) {
        return null_mut();
    }
    HEAP_BYTES.fetch_add(len, Relaxed);
    p
}

fn grow_break(len: usize) -> Option<*mut u8> {
    if BRK_REFUSED.load(Relaxed) {
        return None;
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    if let Err(holder) = GROWER.compare_exchange(0, me, Acquire, Relaxed) {
        if holder == me
            || GROWER
                .compare_exchange(holder, me, Acquire, Relaxed)
                .is_err()
        {
            return None; // a thread of ours is growing the break right now: map instead
        }
    }
    let page = page_size();
    // SAFETY: brk(0) only reports the current break.
    let current = (unsafe { libc::syscall(libc::SYS_brk, 0usize) }) as usize;
    let start = (current + page - 1) & !(page - 1);
    let want = start.checked_add(len);
    let got = match want {
        // SAFETY: we hold GROWER, so no other thread of this process moves the break; brk
        // either moves it to `end` or leaves it where it was.
        Some(end) => (unsafe { libc::syscall(libc::SYS_brk, end) }) as usize,
        None => current,
    };
    GROWER.store(0, Release);
    if Some(got) == want {
        Some(start as *mut u8)
    } else {
        BRK_REFUSED.store(true, Relaxed);
        None
    }
}

/// An anonymous read-write mapping of `len` bytes, or null.
pub fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's choice touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps `[p, p + len)`, which we mapped.
pub fn unmap(p: *mut u8, len: usize) {
    // SAFETY: callers pass only ranges they mapped and no longer use.
    unsafe { libc::munmap(p.cast(), len) };
}

/// A mapping of `len` bytes whose address `offset` bytes in is aligned to `align` (a power
/// of two); `len` and `offset` are page multiples. The slack around it is unmapped.
pub fn map_aligned(len: usize, align: usize, offset: usize) -> *mut u8 {
    let page = page_size();
    if align <= page {
        return map(len);
    }
    let Some(total) = len.checked_add(align) else {
        return null_mut();
    };
    let raw = map(total);
    if raw.is_null() {
        return raw;
    }
    let raw_addr = raw as usize;
    let target = ((raw_addr + offset + align - 1) & !(align - 1)) - offset;
    let head = target - raw_addr;
    let tail = total - head - len;
    if head > 0 {
        unmap(raw, head);
    }
    if tail > 0 {
        unmap((target + len) as *mut u8, tail);
    }
    target as *mut u8
}
