//! Run as a program (`./libbmalloc.so`), the shared object prints its version and how to use
//! it, and exits 0, as libc.so.6 does. build.rs makes `bmalloc_run_as_program` the entry point
//! and gives the shared object a program interpreter; loaded the usual way (LD_PRELOAD,
//! linked, dlopen), neither is ever used.
//!
//! The loader jumps to the entry point with the stack as the kernel set it up, not as a call
//! would leave it: the stub aligns it before calling into Rust. By then the loader has
//! relocated the shared object and libc, so calling libc is fine.

use crate::{os, stats};

#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
core::arch::global_asm!(
    ".pushsection .text.bmalloc_run_as_program,\"ax\",@progbits",
    ".globl bmalloc_run_as_program",
    ".hidden bmalloc_run_as_program",
    ".type bmalloc_run_as_program, @function",
    "bmalloc_run_as_program:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    ".popsection",
    main = sym run_as_program,
);

const USAGE: &str = "\
, a fast lock-free memory allocator (ABI version ";

const HOWTO: &str = ")

Run a program on it, unchanged:
    LD_PRELOAD=/path/to/libbmalloc.so.1 program [args...]
    bmalloc [options] program [args...]       (the wrapper command; bmalloc --help)

Options are environment variables (or lines of /etc/bmalloc.conf):
    BMALLOC_STATS=0|1|stderr|FILE     exit report: none, on stderr, or into FILE (%p: pid)
    BMALLOC_STATS_FORMAT=text|json    the report's format
    BMALLOC_PURGE_DELAY_MS=N          how long free memory waits before it goes back to the OS
    BMALLOC_VERBOSE=1                 print the settings in effect at start-up
    BMALLOC_CONF=FILE                 read options from FILE instead of /etc/bmalloc.conf
See bmalloc(1) and bmalloc(7).
";

extern "C" fn run_as_program() -> ! {
    os::write_all(1, b"bmalloc ");
    os::write_all(1, stats::VERSION.as_bytes());
    os::write_all(1, USAGE.as_bytes());
    os::write_all(1, env!("BMALLOC_ABI_MAJOR").as_bytes());
    os::write_all(1, HOWTO.as_bytes());
    os::exit_now(0)
}
