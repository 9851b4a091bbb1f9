//! Spans: stretches of purged memory (their pages went back to the OS) that heaps carve new
//! blocks of any bucket from, and large blocks are cut from, before bmalloc asks the OS for
//! more. They wait on one lock-free stack.
//!
//! A span's record is its first 32 bytes: a header whose tag is 0 (no block: freeing a
//! pointer into it is reported as misuse) and whose link is the span's length, then the stack
//! link. Invariant: a span is at least 32 bytes long, 16-aligned, and lies in memory of ours
//! that stays mapped.

use crate::header::Header;
use crate::size_class::ALIGN;
use crate::stack::Stack;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Spans ready to be carved.
static SPANS: Stack = Stack::new();
/// Bytes in spans now.
pub static BYTES: AtomicUsize = AtomicUsize::new(0);

/// Whether a header is a span's record (tag 0) rather than a free block's.
///
/// # Safety
/// `h` is the header of a free block or a span that the caller owns.
pub unsafe fn is_span(h: *mut Header) -> bool {
    // SAFETY: the caller's promise.
    unsafe { (*h).tag == 0 }
}

/// The length of the span recorded at `h`.
///
/// # Safety
/// `h` is a span record that the caller owns.
pub unsafe fn len_of(h: *mut Header) -> usize {
    // SAFETY: the caller's promise: a span record's link is its length.
    unsafe { (*h).link }
}

/// Records `[start, start + len)`, memory of ours that nobody uses, as a span.
///
/// # Safety
/// The range is memory of ours, in no block or span, that stays mapped.
pub unsafe fn add(start: usize, len: usize) {
    debug_assert!(start % ALIGN == 0 && len >= 32, "span {start:#x}+{len:#x}");
    let span = start as *mut Header;
    // SAFETY: the caller's promise: the span's first 32 bytes are ours to write.
    unsafe {
        (*span).tag = 0;
        (*span).link = len;
    }
    BYTES.fetch_add(len, Relaxed);
    SPANS.push(span);
}

/// A span to carve: (start, length), or None.
pub fn take() -> Option<(usize, usize)> {
    let span = SPANS.pop();
    if span.is_null() {
        return None;
    }
    // SAFETY: the span is ours now.
    let len = unsafe { len_of(span) };
    BYTES.fetch_sub(len, Relaxed);
    Some((span as usize, len))
}

/// A span of at least `need` bytes: (start, length), or None. Spans too small are put back.
pub fn take_fitting(need: usize) -> Option<(usize, usize)> {
    let mut all = SPANS.take_all();
    let mut found = None;
    while !all.is_null() {
        let next = Stack::next(all);
        // SAFETY: we took every span; each is ours until pushed again.
        let len = unsafe { len_of(all) };
        if found.is_none() && len >= need {
            BYTES.fetch_sub(len, Relaxed);
            found = Some((all as usize, len));
        } else {
            SPANS.push(all);
        }
        all = next;
    }
    found
}

/// Every span at once, chained through their stack links (`Stack::next`): a purge merges them
/// with its free blocks and records the result again with `add`.
pub fn take_all() -> *mut Header {
    let all = SPANS.take_all();
    let mut it = all;
    while !it.is_null() {
        // SAFETY: we took every span.
        BYTES.fetch_sub(unsafe { len_of(it) }, Relaxed);
        it = Stack::next(it);
    }
    all
}
