//! Reports of bad input: one line on stderr naming bmalloc, the call, the pointer and the
//! fault, then abort(), as glibc does. Nothing here allocates.

use crate::fmt::{Fd, Writer};
use crate::header::{self, Header};

/// What was wrong with a pointer handed to `call`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    DoubleFree,
    AlreadyFreed,
    NotOurs,
    Misaligned,
    BadHeader,
    FreeBlockOverwritten,
}

impl Fault {
    pub fn text(self) -> &'static str {
        match self {
            Fault::DoubleFree => "double free",
            Fault::AlreadyFreed => "block already freed",
            Fault::NotOurs => "not allocated by bmalloc",
            Fault::Misaligned => "misaligned pointer",
            Fault::BadHeader => {
                "bad block header (a pointer inside a block, or the block's header was overwritten)"
            }
            Fault::FreeBlockOverwritten => {
                "free block header overwritten (a write past the end of the block before it?)"
            }
        }
    }
}

/// Writes `bmalloc: <call>(<pointer>): <fault>` and aborts.
#[cold]
#[inline(never)]
pub fn report(call: &str, p: *const u8, fault: Fault) -> ! {
    let fd = if crate::startup::stderr_is_open() {
        2
    } else {
        crate::startup::saved_stderr()
    };
    let mut w = Writer::new(Fd(fd));
    w.str("bmalloc: ")
        .str(call)
        .str("(")
        .hex(p as usize)
        .str("): ")
        .str(fault.text())
        .str("\n");
    drop(w);
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// A free block that `call` took from a list had its header clobbered.
#[cold]
pub fn free_block_overwritten(call: &str, blk: *mut Header) -> ! {
    report(call, header::user_of(blk), Fault::FreeBlockOverwritten)
}

/// For internal failures that must never happen (such as the library allocating through
/// Rust's allocator): a message and abort. Only the guard allocator needs it today.
#[cfg_attr(not(feature = "guard"), allow(dead_code))]
#[cold]
pub fn fatal(what: &str) -> ! {
    let mut w = Writer::new(Fd(2));
    w.str("bmalloc: internal error: ").str(what).str("\n");
    drop(w);
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}
