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

/// A span to carve, cut to at most `most` bytes (16-aligned) when it is longer: the rest
/// stays a span, for large blocks and other heaps. A heap that took a whole span as its
/// carving range would hold it out of every purge and every large block's reach.
pub fn take_piece(most: usize) -> Option<(usize, usize)> {
    debug_assert!(most % ALIGN == 0 && most >= 32);
    let (start, len) = take()?;
    if len < most + 32 {
        return Some((start, len));
    }
    // SAFETY: the rest of a span we took: carved memory of ours that nobody uses.
    unsafe { add(start + most, len - most) };
    Some((start, most))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::TestCell;

    #[test]
    fn a_piece_cut_from_a_long_span_leaves_the_rest_a_span() {
        let _alone = crate::tests_alone();
        let saved = take_all();
        let mut cells = [TestCell::default(); 128]; // 4 KiB
        let start = cells.as_mut_ptr() as usize;
        // SAFETY: the cells are ours and nobody else uses them.
        unsafe { add(start, 4096) };
        assert_eq!(take_piece(1024), Some((start, 1024)));
        assert_eq!(take(), Some((start + 1024, 3072)), "the rest is a span");
        unsafe { add(start, 1024 + 16) };
        assert_eq!(
            take_piece(1024),
            Some((start, 1040)),
            "too short to cut: whole"
        );
        assert_eq!(take(), None);
        let mut it = saved;
        while let Some(s) = it {
            it = Stack::next(s);
            restore(s);
        }
    }
}
