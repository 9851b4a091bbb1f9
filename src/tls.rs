//! The current thread's heap, in one initial-exec thread-local slot.
//!
//! A cdylib's Rust `thread_local!` goes through `__tls_get_addr` on every access (a call on
//! the fast path, and on some glibc versions a malloc after dlopen). Instead we define the
//! slot in `.tbss` ourselves and read it with one `%fs`-relative load through `@GOTTPOFF`,
//! the initial-exec model, which works on the stable compiler. The slot holds a plain word:
//! no destructor, so glibc never registers anything (and never allocates) for it.

use crate::heap::Heap;

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("bmalloc reads its thread-local slot with x86-64 Linux assembly");

core::arch::global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl bmalloc_tls_heap",
    ".hidden bmalloc_tls_heap",
    ".type bmalloc_tls_heap, @object",
    ".size bmalloc_tls_heap, 8",
    "bmalloc_tls_heap:",
    ".zero 8",
    ".popsection",
);

/// The slot's value for a thread whose heap went back to the registry at thread exit.
pub const RELEASED: usize = 1;

/// The current thread's heap: null before its first allocation, `RELEASED` after its exit
/// hook ran, otherwise the heap it owns.
#[inline(always)]
pub fn heap() -> *mut Heap {
    let v: *mut Heap;
    // SAFETY: reads this thread's own 8-byte .tbss slot defined above; initial-exec TLS is
    // resolved by the loader when the library is loaded, so the GOT entry holds its offset.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + bmalloc_tls_heap@GOTTPOFF]",
            "mov {v}, qword ptr fs:[{v}]",
            v = out(reg) v,
            options(nostack, readonly, preserves_flags),
        );
    }
    v
}

/// Whether `h`, read from the slot, is a heap the thread owns.
#[inline(always)]
pub fn is_live(h: *mut Heap) -> bool {
    h as usize > RELEASED
}

pub fn set_heap(h: *mut Heap) {
    // SAFETY: writes this thread's own slot, as in `heap`.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + bmalloc_tls_heap@GOTTPOFF]",
            "mov qword ptr fs:[{t}], {v}",
            t = out(reg) _,
            v = in(reg) h,
            options(nostack, preserves_flags),
        );
    }
}
