//! bmalloc: a lock-free allocator with thread-local heaps and power-of-two buckets,
//! built as `libbmalloc.so` for `LD_PRELOAD` and as an rlib for Rust programs.
//! See README.md for what it does and ../shared/DESIGN.md for why.

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
}
