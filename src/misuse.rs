//! Reports of bad input: one line on stderr naming bmalloc, the call, the pointer and the
//! fault, then abort(), as glibc does. Nothing here allocates.

use crate::console;
use crate::fmt::{Fd, Writer};
use crate::header::Carved;
use crate::os;

/// The C call on whose behalf bmalloc works, as misuse messages name it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Call {
    Malloc,
    Calloc,
    Realloc,
    Free,
    UsableSize,
    Memalign,
    PosixMemalign,
    AlignedAlloc,
    Valloc,
    Pvalloc,
    /// C++'s operator new and operator delete, scalar forms (plain, sized, aligned, nothrow).
    New,
    Delete,
    /// The array forms.
    NewArray,
    DeleteArray,
}

impl Call {
    pub const fn name(self) -> &'static str {
        match self {
            Call::Malloc => "malloc",
            Call::Calloc => "calloc",
            Call::Realloc => "realloc",
            Call::Free => "free",
            Call::UsableSize => "malloc_usable_size",
            Call::Memalign => "memalign",
            Call::PosixMemalign => "posix_memalign",
            Call::AlignedAlloc => "aligned_alloc",
            Call::Valloc => "valloc",
            Call::Pvalloc => "pvalloc",
            Call::New => "operator new",
            Call::Delete => "operator delete",
            Call::NewArray => "operator new[]",
            Call::DeleteArray => "operator delete[]",
        }
    }
}

/// What was wrong with a pointer handed to a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    DoubleFree,
    AlreadyFreed,
    NotOurs,
    Misaligned,
    BadHeader,
    FreeBlockOverwritten,
    Overrun,
    Underrun,
    /// Checking mode: the bytes after the block, or its record, were overwritten.
    CanaryOverwritten,
    /// Checking mode: a freed block changed while it waited in quarantine.
    WriteAfterFree,
    /// Checking mode: the block was made by this call's family (malloc, new or new[]), not
    /// the releasing call's.
    MadeBy(Call),
    /// Checking mode: a sized delete's size is not the one the block was asked for with.
    WrongSize,
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
            Fault::Overrun => {
                "block header overwritten (a write past the end of the block before it?)"
            }
            Fault::Underrun => {
                "the word in front of the block was overwritten (a write before its start?)"
            }
            Fault::CanaryOverwritten => {
                "write past the end of the block (the canary behind it was overwritten)"
            }
            Fault::WriteAfterFree => {
                "write after free (the freed block changed while it waited in quarantine)"
            }
            Fault::MadeBy(Call::New) => "mismatched release: the block came from operator new",
            Fault::MadeBy(Call::NewArray) => {
                "mismatched release: the block came from operator new[]"
            }
            Fault::MadeBy(_) => "mismatched release: the block came from malloc",
            Fault::WrongSize => "sized delete with a size other than the block's",
        }
    }

    /// A freed block handed to `call`: a double free for free, a use after free otherwise.
    pub fn freed(call: Call) -> Fault {
        if matches!(call, Call::Free | Call::Delete | Call::DeleteArray) {
            Fault::DoubleFree
        } else {
            Fault::AlreadyFreed
        }
    }
}

/// Writes `bmalloc: <call>(<pointer>): <fault>` and aborts.
#[cold]
#[inline(never)]
pub fn report(call: Call, p: *const u8, fault: Fault) -> ! {
    let mut w = Writer::new(Fd(console::message_fd()));
    w.str("bmalloc: ")
        .str(call.name())
        .str("(")
        .hex(p as usize)
        .str("): ")
        .str(fault.text())
        .str("\n");
    drop(w);
    os::abort()
}

/// A free block that `call` took from a list had its header clobbered.
#[cold]
pub fn free_block_overwritten(call: Call, blk: Carved) -> ! {
    report(call, blk.user(), Fault::FreeBlockOverwritten)
}

/// For internal failures that must never happen (such as the library allocating through
/// Rust's allocator, or a broken invariant in a checked build): a message and abort.
#[cfg_attr(not(feature = "preload"), allow(dead_code))]
#[cold]
pub fn fatal(what: &str) -> ! {
    let mut w = Writer::new(Fd(console::message_fd()));
    w.str("bmalloc: internal error: ").str(what).str("\n");
    drop(w);
    os::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_named_as_in_c() {
        assert_eq!(Call::Calloc.name(), "calloc");
        assert_eq!(Call::UsableSize.name(), "malloc_usable_size");
        assert_eq!(Fault::freed(Call::Free), Fault::DoubleFree);
        assert_eq!(Fault::freed(Call::Delete), Fault::DoubleFree);
        assert_eq!(Call::Delete.name(), "operator delete");
        assert_eq!(Fault::freed(Call::Realloc), Fault::AlreadyFreed);
    }
}
