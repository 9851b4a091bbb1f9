//! Spans: stretches of purged memory (their pages went back to the OS) that heaps carve new
//! blocks of any bucket from, and large blocks are cut from, before bmalloc asks the OS for
//! more. They wait on one lock-free stack.
//!
//! A span's record is its first 32 bytes: a header whose tag is 0 (no keyed tag is, so
//! freeing a pointer into it is reported as misuse) and whose lead is the span's length,
//! then the stack link. Invariant: a span is at least 32 bytes long, 16-aligned, and lies in memory of ours
//! that stays mapped.

use crate::header::Carved;
use crate::size_class::ALIGN;
use crate::stack::Stack;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Spans ready to be carved.
static SPANS: Stack = Stack::new();
/// Bytes in spans now.
pub static BYTES: AtomicUsize = AtomicUsize::new(0);

/// Whether a header is a span's record (tag 0) rather than a free block's (a seal: no keyed
/// tag is 0).
pub fn is_span(h: Carved) -> bool {
    h.tag() == 0
}

/// The length of the span recorded at `h` (its lead word).
pub fn len_of(h: Carved) -> usize {
    h.lead() as usize
}

/// Records `[start, start + len)` as a span.
///
/// # Safety
/// The range is carved memory of ours, in no block or span, that nobody uses.
pub unsafe fn add(start: usize, len: usize) {
    debug_assert!(start % ALIGN == 0 && len >= 32, "span {start:#x}+{len:#x}");
    // SAFETY: the caller's promise.
    let span = unsafe { Carved::new(start as *mut _) };
    span.set_lead(len as u64);
    span.set_tag(0);
    BYTES.fetch_add(len, Relaxed);
    SPANS.push(span);
}

/// Records again a span taken with `take_all`, its record as it was.
pub fn restore(span: Carved) {
    BYTES.fetch_add(len_of(span), Relaxed);
    SPANS.push(span);
}

/// A span to carve: (start, length), or None.
pub fn take() -> Option<(usize, usize)> {
    let span = SPANS.pop()?;
    let len = len_of(span);
    BYTES.fetch_sub(len, Relaxed);
    Some((span.addr(), len))
}

/// A span of at least `need` bytes: (start, length), or None. Spans too small are put back.
pub fn take_fitting(need: usize) -> Option<(usize, usize)> {
    let mut all = SPANS.take_all();
    let mut found = None;
    while let Some(span) = all {
        all = Stack::next(span);
        let len = len_of(span);
        if found.is_none() && len >= need {
            BYTES.fetch_sub(len, Relaxed);
            found = Some((span.addr(), len));
        } else {
            SPANS.push(span);
        }
    }
    found
}

/// Every span at once, chained through their stack links (`Stack::next`): a purge merges them
/// with its free blocks and records the result again with `add`.
pub fn take_all() -> Option<Carved> {
    let all = SPANS.take_all();
    let mut it = all;
    while let Some(span) = it {
        BYTES.fetch_sub(len_of(span), Relaxed);
        it = Stack::next(span);
    }
    all
}
