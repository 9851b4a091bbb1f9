//! C++'s replaceable operator new and operator delete, every form: plain and array, nothrow,
//! sized, aligned (`std::align_val_t`) and their combinations. Only in the shared object (the
//! `preload` feature) on x86-64 Linux: the names are the Itanium C++ ABI's, with `m` for
//! `size_t`.
//!
//! The fast path of new is malloc's (`alloc::take_small`), and delete is free: a new+delete
//! pair costs what a malloc+free pair does, where libstdc++'s operators would add a call to
//! malloc and to free. When the fast path fails, new goes to `bmalloc_cxx_new_slow`
//! (src/cxx_new.c, compiled by build.rs), which has the C++ contract: retry, call the
//! new-handler between tries, and throw std::bad_alloc when there is none (the nothrow forms
//! return null instead).
//!
//! Why C: a C++ exception must not unwind through a Rust frame (the library is built with
//! panic=abort). The slow path has unwind tables, and new enters it by a tail call (a `jmp`:
//! t_cxx_new.sh checks the disassembly), so when it throws, its frame is the only one of ours
//! on the stack.
//!
//! The nothrow forms let an exception thrown by the new-handler itself pass, where libstdc++
//! catches it and returns null: catching needs the C++ runtime, which the library does not
//! link.

use crate::alloc;
use crate::misuse::{self, Call};
use crate::size_class::ALIGN;
use core::ffi::c_void;

type Attempt = extern "C" fn(usize, usize) -> *mut u8;

unsafe extern "C" {
    /// A block of `size` bytes aligned to `align`, with the C++ contract (see src/cxx_new.c).
    /// Cold, so that new's fast path falls through to its return without a jump.
    #[cold]
    fn bmalloc_cxx_new_slow(
        size: usize,
        align: usize,
        nothrow: bool,
        attempt: Attempt,
        fail: extern "C" fn(),
    ) -> *mut u8;
}

/// One try with the whole allocator, slow paths included: null on failure. One for each
/// family, which checking mode records (a delete must match its new).
extern "C" fn attempt(size: usize, align: usize) -> *mut u8 {
    alloc::aligned(align, size, Call::New)
}

extern "C" fn attempt_array(size: usize, align: usize) -> *mut u8 {
    alloc::aligned(align, size, Call::NewArray)
}

/// No C++ runtime to throw with: say so and abort.
extern "C" fn no_runtime() {
    misuse::fatal("operator new: out of memory, and no C++ runtime to throw std::bad_alloc")
}

/// The fast path of every new, then the slow path, entered in tail position.
#[inline(always)]
fn new(size: usize, align: usize, nothrow: bool, array: bool) -> *mut u8 {
    if align <= ALIGN {
        if let Some(p) = alloc::take_small(size) {
            return p;
        }
    }
    // SAFETY: the slow path takes any size and alignment; `attempt` and `no_runtime` are
    // valid for the whole life of the process. It may unwind (std::bad_alloc): this call is
    // the last thing new does, compiled as a jump, so no Rust frame is left to unwind through.
    unsafe {
        let attempt: Attempt = if array { attempt_array } else { attempt };
        bmalloc_cxx_new_slow(size, align, nothrow, attempt, no_runtime)
    }
}

/// Every delete: free, named as operator delete (or delete[]) in misuse messages. The size a
/// sized delete passes is checked in checking mode only, and the alignment is not needed: the
/// header has the bucket.
#[inline(always)]
fn delete(p: *mut c_void, array: bool, sized: Option<usize>) {
    let call = if array {
        Call::DeleteArray
    } else {
        Call::Delete
    };
    // SAFETY: C++'s contract for delete is free's: null, or a live pointer from new.
    unsafe { alloc::free_as(p.cast(), call, sized) }
}

// The exported names. Each safety contract is C++'s for that form of operator new or delete.

/// operator new(size_t)
#[unsafe(no_mangle)]
pub extern "C" fn _Znwm(size: usize) -> *mut u8 {
    new(size, ALIGN, false, false)
}

/// operator new[](size_t)
#[unsafe(no_mangle)]
pub extern "C" fn _Znam(size: usize) -> *mut u8 {
    new(size, ALIGN, false, true)
}

/// operator new(size_t, const std::nothrow_t&)
#[unsafe(no_mangle)]
pub extern "C" fn _ZnwmRKSt9nothrow_t(size: usize, _: *const c_void) -> *mut u8 {
    new(size, ALIGN, true, false)
}

/// operator new[](size_t, const std::nothrow_t&)
#[unsafe(no_mangle)]
pub extern "C" fn _ZnamRKSt9nothrow_t(size: usize, _: *const c_void) -> *mut u8 {
    new(size, ALIGN, true, true)
}

/// operator new(size_t, std::align_val_t)
#[unsafe(no_mangle)]
pub extern "C" fn _ZnwmSt11align_val_t(size: usize, align: usize) -> *mut u8 {
    new(size, align, false, false)
}

/// operator new[](size_t, std::align_val_t)
#[unsafe(no_mangle)]
pub extern "C" fn _ZnamSt11align_val_t(size: usize, align: usize) -> *mut u8 {
    new(size, align, false, true)
}

/// operator new(size_t, std::align_val_t, const std::nothrow_t&)
#[unsafe(no_mangle)]
pub extern "C" fn _ZnwmSt11align_val_tRKSt9nothrow_t(
    size: usize,
    align: usize,
    _: *const c_void,
) -> *mut u8 {
    new(size, align, true, false)
}

/// operator new[](size_t, std::align_val_t, const std::nothrow_t&)
#[unsafe(no_mangle)]
pub extern "C" fn _ZnamSt11align_val_tRKSt9nothrow_t(
    size: usize,
    align: usize,
    _: *const c_void,
) -> *mut u8 {
    new(size, align, true, true)
}

/// operator delete(void*)
///
/// # Safety
/// `p` is null or a live pointer from operator new.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPv(p: *mut c_void) {
    delete(p, false, None)
}

/// operator delete[](void*)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPv(p: *mut c_void) {
    delete(p, true, None)
}

/// operator delete(void*, size_t)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPvm(p: *mut c_void, size: usize) {
    delete(p, false, Some(size))
}

/// operator delete[](void*, size_t)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPvm(p: *mut c_void, size: usize) {
    delete(p, true, Some(size))
}

/// operator delete(void*, const std::nothrow_t&)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPvRKSt9nothrow_t(p: *mut c_void, _: *const c_void) {
    delete(p, false, None)
}

/// operator delete[](void*, const std::nothrow_t&)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPvRKSt9nothrow_t(p: *mut c_void, _: *const c_void) {
    delete(p, true, None)
}

/// operator delete(void*, std::align_val_t)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPvSt11align_val_t(p: *mut c_void, _: usize) {
    delete(p, false, None)
}

/// operator delete[](void*, std::align_val_t)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPvSt11align_val_t(p: *mut c_void, _: usize) {
    delete(p, true, None)
}

/// operator delete(void*, size_t, std::align_val_t)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPvmSt11align_val_t(p: *mut c_void, size: usize, _: usize) {
    delete(p, false, Some(size))
}

/// operator delete[](void*, size_t, std::align_val_t)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPvmSt11align_val_t(p: *mut c_void, size: usize, _: usize) {
    delete(p, true, Some(size))
}

/// operator delete(void*, std::align_val_t, const std::nothrow_t&)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdlPvSt11align_val_tRKSt9nothrow_t(
    p: *mut c_void,
    _: usize,
    _: *const c_void,
) {
    delete(p, false, None)
}

/// operator delete[](void*, std::align_val_t, const std::nothrow_t&)
///
/// # Safety
/// As for `_ZdlPv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _ZdaPvSt11align_val_tRKSt9nothrow_t(
    p: *mut c_void,
    _: usize,
    _: *const c_void,
) {
    delete(p, true, None)
}
