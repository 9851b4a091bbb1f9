//! Words per thread, in initial-exec thread-local slots, and the macro that reads and writes
//! one: the registry keeps the current thread's heap in its slot (`registry::slot`, defined
//! there with the initial value it needs), or in checking mode in the second one here.
//!
//! A cdylib's Rust `thread_local!` goes through `__tls_get_addr` on every access (a call on
//! the fast path, and on some glibc versions a malloc after dlopen). Instead we define the
//! slot in `.tbss` ourselves and read it with one `%fs`-relative load through `@GOTTPOFF`,
//! the initial-exec model, which works on the stable compiler. The slot holds a plain word:
//! no destructor, so glibc never registers anything (and never allocates) for it. It reads 0
//! in a thread that never wrote it (a slot in `.tdata` reads its initial value).

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
compile_error!("bmalloc reads its thread-local slot with x86-64 Linux assembly");

core::arch::global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl bmalloc_tls_checked",
    ".hidden bmalloc_tls_checked",
    ".type bmalloc_tls_checked, @object",
    ".size bmalloc_tls_checked, 8",
    "bmalloc_tls_checked:",
    ".zero 8",
    ".popsection",
);

/// A getter and a setter of a thread-local slot: an 8-byte object in `.tbss` or `.tdata`
/// defined with assembly as the one below is.
macro_rules! slot {
    ($get:ident, $set:ident, $sym:literal) => {
        #[inline(always)]
        pub fn $get() -> usize {
            let v: usize;
            // SAFETY: reads this thread's own 8-byte slot (see the macro's doc); initial-exec
            // TLS is resolved by the loader when the library is loaded, so the GOT entry
            // holds its offset.
            unsafe {
                // In rcx, not a register the optimiser picks: it picked rdi, the first
                // argument's, and free then spent a move keeping the pointer elsewhere.
                core::arch::asm!(
                    concat!("mov rcx, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                    "mov rcx, qword ptr fs:[rcx]",
                    out("rcx") v,
                    options(nostack, readonly, preserves_flags),
                );
            }
            v
        }

        pub fn $set(v: usize) {
            // SAFETY: writes this thread's own slot, as in the getter.
            unsafe {
                core::arch::asm!(
                    concat!("mov {t}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                    "mov qword ptr fs:[{t}], {v}",
                    t = out(reg) _,
                    v = in(reg) v,
                    options(nostack, preserves_flags),
                );
            }
        }
    };
}

pub(crate) use slot;

// In checking mode, the thread's heap is kept here instead, where no fast path looks.
slot!(get_checked, set_checked, "bmalloc_tls_checked");
