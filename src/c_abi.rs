//! The exported C symbols, with glibc's contracts on x86-64. Only argument checking and errno
//! live here; the work is in `alloc`.
//!
//! The symbols are exported only with the `override` feature (which `preload`, the shared
//! object's build, includes), and never in unit tests, whose harness keeps the system malloc.

use crate::misuse::Call;
use crate::{alloc, os, startup, stats};
use core::ffi::{c_int, c_void};
use core::ptr::null_mut;

fn set_errno(e: c_int) {
    errno::set_errno(errno::Errno(e));
}

/// # Safety
/// C malloc.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc::malloc(size).cast()
}

/// # Safety
/// C free: `p` is null or a live pointer from this allocator (anything else is reported).
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: C's contract for free is alloc::free's.
    unsafe { alloc::free(p.cast()) }
}

/// # Safety
/// Old name of free.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: as for free.
    unsafe { alloc::free(p.cast()) }
}

/// # Safety
/// C calloc.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    alloc::calloc(n, size).cast()
}

/// # Safety
/// C realloc: `p` is null or a live pointer from this allocator.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: C's contract for realloc is alloc::realloc's.
    unsafe { alloc::realloc(p.cast(), size) }.cast()
}

/// # Safety
/// realloc of `n * size` bytes, failing with ENOMEM (and `p` untouched) on overflow.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: as for realloc.
        Some(total) => unsafe { alloc::realloc(p.cast(), total) }.cast(),
        None => {
            set_errno(libc::ENOMEM);
            null_mut()
        }
    }
}

/// # Safety
/// memalign: a non-power-of-two alignment is rounded up; one above SIZE_MAX/2+1 is EINVAL.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    if align > usize::MAX / 2 + 1 {
        set_errno(libc::EINVAL);
        return null_mut();
    }
    alloc::aligned(align.next_power_of_two(), size, Call::Memalign).cast()
}

/// # Safety
/// posix_memalign: EINVAL for an alignment that is not a power-of-two multiple of
/// sizeof(void*), ENOMEM on exhaustion; errno is left as it was either way.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align % core::mem::size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    let saved = errno::errno();
    let p = alloc::aligned(align, size, Call::PosixMemalign);
    errno::set_errno(saved);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a valid place for the result.
    unsafe { *out = p.cast() };
    0
}

/// # Safety
/// aligned_alloc: EINVAL for an alignment that is not a power of two (glibc 2.38's rule).
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return null_mut();
    }
    alloc::aligned(align, size, Call::AlignedAlloc).cast()
}

/// # Safety
/// valloc: page-aligned.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc::aligned(os::page_size(), size, Call::Valloc).cast()
}

/// # Safety
/// pvalloc: page-aligned, the size rounded up to whole pages (one page for 0).
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let page = os::page_size();
    match os::round_to_page(size.max(1)) {
        Some(rounded) => alloc::aligned(page, rounded, Call::Pvalloc).cast(),
        None => {
            set_errno(libc::ENOMEM);
            null_mut()
        }
    }
}

/// # Safety
/// `p` is null or a live pointer from this allocator.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: C's contract is alloc::usable_size's.
    unsafe { alloc::usable_size(p.cast()) }
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Default)]
pub struct Mallinfo2 {
    pub arena: usize,
    pub ordblks: usize,
    pub smblks: usize,
    pub hblks: usize,
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    pub uordblks: usize,
    pub fordblks: usize,
    pub keepcost: usize,
}

/// glibc's `struct mallinfo` (int fields, which wrap on large heaps, as glibc's do).
#[repr(C)]
#[derive(Default)]
pub struct Mallinfo {
    pub arena: c_int,
    pub ordblks: c_int,
    pub smblks: c_int,
    pub hblks: c_int,
    pub hblkhd: c_int,
    pub usmblks: c_int,
    pub fsmblks: c_int,
    pub uordblks: c_int,
    pub fordblks: c_int,
    pub keepcost: c_int,
}

/// mallinfo2: bmalloc's own figures (see README).
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub extern "C" fn mallinfo2() -> Mallinfo2 {
    let t = stats::totals();
    Mallinfo2 {
        arena: t.heap_bytes as usize,
        hblks: t.large_blocks as usize,
        hblkhd: t.large_bytes as usize,
        uordblks: t.used as usize,
        fordblks: t.free as usize,
        ..Default::default()
    }
}

#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub extern "C" fn mallinfo() -> Mallinfo {
    let m = mallinfo2();
    Mallinfo {
        arena: m.arena as c_int,
        hblks: m.hblks as c_int,
        hblkhd: m.hblkhd as c_int,
        uordblks: m.uordblks as c_int,
        fordblks: m.fordblks as c_int,
        ..Default::default()
    }
}

/// mallopt: bmalloc has no tunables of glibc's; accepted and ignored, as success.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub extern "C" fn mallopt(_param: c_int, _value: c_int) -> c_int {
    1
}

/// malloc_trim: purges now what the exchange and the calling thread's heap hold free, as
/// the purge delay would later; 1 if that gave memory back to the OS, else 0.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub extern "C" fn malloc_trim(_pad: usize) -> c_int {
    c_int::from(alloc::trim())
}

/// malloc_stats: the exit report, now, on stderr.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub extern "C" fn malloc_stats() {
    startup::write_report_to(2);
}

/// # Safety
/// malloc_info: an XML summary written to `fp` (a valid FILE*); options must be 0.
#[cfg_attr(all(feature = "override", not(test)), unsafe(no_mangle))]
pub unsafe extern "C" fn malloc_info(options: c_int, fp: *mut libc::FILE) -> c_int {
    if options != 0 {
        set_errno(libc::EINVAL);
        return -1;
    }
    let mut w = crate::fmt::Writer::new(crate::fmt::Buf::<1024>::new());
    stats::write_xml(&mut w);
    let text = w.finish();
    // SAFETY: writes our own buffer to the caller's stream; stdio may call our malloc, which
    // holds no state across this call.
    let n = unsafe { libc::fwrite(text.data.as_ptr().cast(), 1, text.len, fp) };
    if n == text.len { 0 } else { -1 }
}
