//! bmalloc: a lock-free allocator with thread-local heaps and power-of-two buckets,
//! built as `libbmalloc.so` for `LD_PRELOAD` and as an rlib for Rust programs.
//! See README.md for what it does and ../shared/DESIGN.md for why.

// No std in the shipped library (the `guard` feature, on by default): it needs nothing of it,
// and without it the shared object is a fifth of the size and loads no unwinder (libgcc_s)
// into every process. Builds for Rust callers and tests (without `guard`) link std, whose panic
// handler they then use.
#![cfg_attr(all(feature = "guard", not(test)), no_std)]
// In unit tests the C symbols are not exported, so much of the crate is unused there.
#![cfg_attr(test, allow(dead_code))]

mod alloc;
mod c_abi;
mod exchange;
mod fmt;
mod header;
mod heap;
mod large;
mod mapcache;
mod misuse;
mod options;
mod os;
mod pagemap;
mod purge;
mod registry;
mod size_class;
mod stack;
mod startup;
mod stats;
mod tls;

/// The allocator for Rust callers, with the C calls' semantics.
pub mod api {
    pub use crate::alloc::{
        aligned, calloc, free, malloc, realloc, usable_size as malloc_usable_size,
    };
    pub use crate::c_abi::{aligned_alloc, memalign, posix_memalign};
}

/// Aborts loudly if the library itself ever allocates through Rust's allocator (it must
/// not: it is the allocator). Off for Rust programs that bring their own global allocator.
#[cfg(all(feature = "guard", not(test)))]
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
    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
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
