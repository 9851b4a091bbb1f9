//! bmalloc: a lock-free allocator with thread-local heaps and power-of-two buckets,
//! built as `libbmalloc.so` for `LD_PRELOAD` and as an rlib for Rust programs.
//! See README.md for what it does and docs/DESIGN.md for how and why.

// No std in the shared object (the `preload` feature): it needs nothing of it, and without it
// the shared object is a fifth of the size and loads no unwinder (libgcc_s) into every
// process. Builds for Rust programs (the default) and tests link std, whose panic handler
// they then use.
#![cfg_attr(all(feature = "preload", not(test)), no_std)]
// Without the C symbols (unit tests, and Rust programs without `override`) the introspection
// calls have no caller.
#![cfg_attr(any(test, not(feature = "override")), allow(dead_code))]
// Library code documents every unsafe block (the lint is on in Cargo.toml and checked on the
// library build); unit tests poke at raw memory on purpose and are exempt.
#![cfg_attr(test, allow(clippy::undocumented_unsafe_blocks))]

// The layers, bottom up. A module names only modules listed before it (tests/layers.rs reads
// this list and checks every `crate::` path outside unit tests against it), so the module
// graph has no circles. docs/DESIGN.md describes each layer.
//
// layers:
// 1. Encodings and sizes: the block layout, nothing else below.
mod size_class;
mod header;
mod list;
// 2. The operating system: every system call, and the thread-local slot.
mod os;
mod tls;
// 3. Text out, options, and the misuse reports.
mod fmt;
mod console;
mod options;
mod misuse;
// 4. Lock-free structures over OS memory, and the shared count of bytes in use.
mod pagemap;
mod stack;
mod usage;
// 5. Memory obtained from the OS, spans of purged memory, and giving pages back.
mod mapping;
mod spans;
mod release;
mod runs;
// 6. Thread heaps.
mod heap;
// 7. The exchange, purging, the cache of large mappings and large blocks; how blocks move
//    between heaps and these pools.
mod exchange;
mod mapcache;
mod purge;
mod large;
mod supply;
// 8. The registry of heaps, the report, start-up; the pieces of checking mode.
mod registry;
mod stats;
mod startup;
mod checking;
// 9. The operations with C semantics; the C ABI, C++'s operator new and delete, and Rust's
//    GlobalAlloc on top; the shared object run as a program.
mod pointer;
mod alloc;
mod c_abi;
#[cfg(all(
    feature = "preload",
    not(test),
    target_os = "linux",
    target_arch = "x86_64"
))]
mod cxx;
mod global;
mod selfrun;
// end of layers

pub use global::Bmalloc;

/// The allocator's calls for Rust callers, with the C calls' semantics (null and errno on
/// failure). Those that take a pointer are `unsafe fn`: see each one's `# Safety`.
pub mod api {
    pub use crate::alloc::{
        aligned, calloc, free, malloc, realloc, usable_size as malloc_usable_size,
    };
    pub use crate::c_abi::{aligned_alloc, memalign, posix_memalign};
    pub use crate::misuse::Call;
}

/// Unit tests that touch global state (the exchange, the spans, the registry, the cache of
/// large mappings) run one at a time.
#[cfg(test)]
fn tests_alone() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Aborts loudly if the library itself ever allocates through Rust's allocator (it must
/// not: it is the allocator). Off for Rust programs that bring their own global allocator.
#[cfg(all(feature = "preload", not(test)))]
mod guard {
    struct Guard;

    // SAFETY: never returns memory; every call aborts.
    unsafe impl core::alloc::GlobalAlloc for Guard {
        unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
            crate::misuse::fatal("bmalloc allocated through Rust's allocator")
        }
        unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {
            crate::misuse::fatal("bmalloc freed through Rust's allocator")
        }
    }

    #[global_allocator]
    static GUARD: Guard = Guard;

    /// Nothing in bmalloc panics on purpose (and panics abort); should one happen, say so.
    /// A build with debug assertions (`make checked`) says which invariant broke, and where.
    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        if cfg!(debug_assertions) {
            use core::fmt::Write;
            let mut w = crate::fmt::Writer::new(crate::fmt::Fd(crate::console::message_fd()));
            let _ = writeln!(w, "bmalloc: internal error: {info}");
            drop(w);
            crate::os::abort()
        }
        crate::misuse::fatal("panic")
    }

    // The precompiled core library's unwind tables name std's personality routine, which a
    // no_std library lacks. Panics abort, so nothing ever unwinds through it: a hidden stub
    // (not exported from the shared object) satisfies the linker, and traps if ever called.
    core::arch::global_asm!(
        ".globl rust_eh_personality",
        ".hidden rust_eh_personality",
        ".type rust_eh_personality, @function",
        "rust_eh_personality:",
        "ud2",
    );
}
