//! Giving memory back to the OS: runs of neighbouring free blocks become spans of fresh
//! memory whose whole pages are released with MADV_DONTNEED, and heaps carve new blocks from
//! spans (of any bucket) before they ask the OS for more.
//!
//! Pages are released, never unmapped: the exchange's lock-free stacks may read a stale link
//! from memory that was once a block (see `stack`), so every page bmalloc carved stays mapped.

use crate::header::Header;
use crate::os;
use crate::size_class::{SMALL_BUCKETS, stride_of};
use crate::stack::Stack;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The least a run must release to become a span: a span's first page is written again to
/// record it, so smaller runs would give back little.
const MIN_RELEASE: usize = 16 << 10;

/// Bytes too few for any block (the smallest stride): a carving range's tail this short is
/// left unused. So a gap this short between two free blocks or spans holds no block in use
/// (chunks and mappings are whole pages, so it is not foreign memory either), and a run of
/// neighbours reaches across it: without that, no span could grow past a chunk.
const WASTE: usize = stride_of(0);

/// Spans ready to be carved; a span's header link holds its length.
static SPANS: Stack = Stack::new();
/// Bytes released to the OS so far, and bytes in spans now (for mallinfo and the README).
pub static RELEASED_BYTES: AtomicUsize = AtomicUsize::new(0);
pub static SPAN_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The block `n` links after `first`.
pub fn nth(mut first: *mut Header, n: usize) -> *mut Header {
    for _ in 0..n {
        // SAFETY: callers own a list of more than n blocks.
        first = unsafe { (*first).link } as *mut Header;
    }
    first
}

/// The last block of a list.
pub fn last_of(mut first: *mut Header) -> *mut Header {
    // SAFETY: callers own the list, which ends with a zero link.
    unsafe {
        while (*first).link != 0 {
            first = (*first).link as *mut Header;
        }
    }
    first
}

/// Purges free blocks of every bucket together, with the spans made before: `lists[b]` is a
/// list of free blocks of bucket `b` and its length. Sorted by address, neighbouring blocks
/// (of any buckets) and spans form runs; every run that covers enough whole pages becomes one
/// span (so spans grow as their neighbours are freed) and its pages go back to the OS. The
/// lists are rebuilt with the blocks kept, in address order.
///
/// Returns the blocks there was no room to examine, as lists like the input, and how many
/// blocks and spans fewer there are now (merged into spans): while that is not zero, another
/// purge may make a larger span.
pub fn release(lists: &mut [(*mut Header, usize); SMALL_BUCKETS]) -> (Unexamined, usize) {
    let mut spans = SPANS.take_all();
    let mut n: usize = lists.iter().map(|l| l.1).sum();
    let mut it = spans;
    while !it.is_null() {
        n += 1;
        it = Stack::next(it);
    }
    let none = [(null_mut::<Header>(), 0usize); SMALL_BUCKETS];
    if n == 0 {
        return (none, 0);
    }
    // SAFETY: only the thread holding the exchange's purge flag runs this, so the scratch
    // array is ours alone.
    let scratch = unsafe { &mut *SCRATCH.0.get() };
    let n = n.min(scratch.len());
    let addrs = &mut scratch[..n];
    let mut i = 0;
    // Blocks beyond what the scratch array holds are not sorted this time: they go back to
    // their lists after the others (see the end).
    let mut overflow = [(null_mut::<Header>(), 0usize); SMALL_BUCKETS];
    for (list, rest) in lists.iter_mut().zip(overflow.iter_mut()) {
        let mut blk = list.0;
        let mut taken = 0;
        while !blk.is_null() && i < n {
            addrs[i] = blk as usize;
            i += 1;
            taken += 1;
            // SAFETY: we own every block of the lists.
            blk = unsafe { (*blk).link } as *mut Header;
        }
        *rest = (blk, if blk.is_null() { 0 } else { list.1 - taken });
        *list = (null_mut(), 0);
    }
    while !spans.is_null() {
        let next = Stack::next(spans);
        if i < n {
            addrs[i] = spans as usize;
            i += 1;
            // SAFETY: we took every span; each is ours until pushed again.
            SPAN_BYTES.fetch_sub(unsafe { (*spans).link }, Relaxed);
        } else {
            SPANS.push(spans);
        }
        spans = next;
    }
    let addrs = &mut addrs[..i];
    let n = i;
    addrs.sort_unstable();
    let mut tails = [null_mut::<Header>(); SMALL_BUCKETS];
    let mut keep = |addr: usize| {
        let blk = addr as *mut Header;
        if is_span(blk) {
            // SAFETY: a span we took; its header still records its length.
            add_span(addr, unsafe { (*blk).link });
            return;
        }
        let b = bucket(blk);
        // SAFETY: we own the block; it goes to the end of its bucket's list.
        unsafe {
            (*blk).link = 0;
            if tails[b].is_null() {
                lists[b].0 = blk;
            } else {
                (*tails[b]).link = addr;
            }
        }
        tails[b] = blk;
        lists[b].1 += 1;
    };
    let page = os::page_size();
    let mut run = 0;
    let mut merged = 0;
    while run < n {
        // The run of neighbours addrs[run..end]: each one ends where the next begins, or less
        // than a block before (see WASTE).
        let mut end = run + 1;
        while end < n && addrs[end] - (addrs[end - 1] + extent(addrs[end - 1])) < WASTE {
            end += 1;
        }
        let run_end = addrs[end - 1] + extent(addrs[end - 1]);
        let from = (addrs[run] + page - 1) & !(page - 1);
        let to = run_end & !(page - 1);
        if to > from && to - from >= MIN_RELEASE {
            // What overlaps the released pages forms the new span: blocks whose header lies
            // on them, and spans reaching into them. That is one contiguous stretch: before
            // it only elements ending by `from` (or a block straddling it), after it only
            // blocks starting at `to` or later. Everything else stays as it was.
            let mut span: Option<(usize, usize)> = None;
            let mut parts = 0;
            for &a in &addrs[run..end] {
                let spans_in = is_span(a as *mut Header) && a + extent(a) > from;
                if (spans_in || a >= from) && a < to {
                    let stop = a + extent(a);
                    span = Some(span.map_or((a, stop), |(s, _)| (s, stop)));
                    parts += 1;
                } else {
                    keep(a);
                }
            }
            // The page that will hold the new span's record is written again right away:
            // releasing it would give nothing back. A run of spans alone has nothing to give
            // back either (a span's pages went back when it was made, and nobody touches them
            // until it is carved): without this, every purge would call madvise again for
            // every span there is.
            let record = span.map_or(0, |(s, _)| s & !(page - 1));
            let only_spans = addrs[run..end].iter().all(|&a| is_span(a as *mut Header));
            if only_spans {
                // nothing to release
            } else if record >= from && record < to {
                release_pages(from, record);
                release_pages(record + page, to);
            } else {
                release_pages(from, to);
            }
            if let Some((s, e)) = span {
                add_span(s, e - s);
                merged += parts - 1;
            }
        } else {
            addrs[run..end].iter().for_each(|&a| keep(a));
        }
        run = end;
    }
    // The scratch array's whole pages go back too (only whole ones: its neighbours are other
    // statics); unsorted blocks rejoin their lists.
    // (A pointer that may write: the pages are discarded through it.)
    let base = scratch.as_mut_ptr() as usize;
    let used_from = (base + page - 1) & !(page - 1);
    let used_to = (base + n * core::mem::size_of::<usize>()) & !(page - 1);
    if used_to > used_from {
        // SAFETY: whole pages inside our own scratch array, which nobody reads until the next
        // purge writes it again.
        unsafe { discard(used_from, used_to) };
    }
    (overflow, merged)
}

/// Free blocks a purge had no room to examine: a list and its length per bucket.
pub type Unexamined = [(*mut Header, usize); SMALL_BUCKETS];

/// Room to sort the addresses of up to a million free blocks and spans in. It is static, not
/// mapped when needed, because purging matters most when the OS has no memory left; its
/// pages are released after each purge. One thread purges at a time.
struct Scratch(core::cell::UnsafeCell<[usize; 1 << 20]>);
// SAFETY: used only by the holder of the exchange's purge flag (see `release`).
unsafe impl Sync for Scratch {}
static SCRATCH: Scratch = Scratch(core::cell::UnsafeCell::new([0; 1 << 20]));

/// Whether a header in a purge's list is a span's (tag 0) rather than a free block's.
fn is_span(h: *mut Header) -> bool {
    // SAFETY: callers pass headers of blocks or spans they own.
    unsafe { (*h).tag == 0 }
}

/// Bytes a free block or a span covers.
fn extent(addr: usize) -> usize {
    let h = addr as *mut Header;
    // SAFETY: as for is_span; a span's link is its length.
    if is_span(h) {
        unsafe { (*h).link }
    } else {
        stride_of(bucket(h))
    }
}

/// The bucket of a free block, from its header.
fn bucket(blk: *mut Header) -> usize {
    // SAFETY: callers pass free blocks they own.
    (unsafe { (*blk).tag } & 0xff) as usize
}

/// Gives `[from, to)` back to the OS, counting the bytes that were resident (pages of older
/// spans went back before, and only those touched since count again).
fn release_pages(from: usize, to: usize) {
    if to <= from {
        return;
    }
    let resident = resident_bytes(from, to);
    // SAFETY: [from, to) is page-aligned memory of ours that no block or span in use covers.
    unsafe { discard(from, to) };
    RELEASED_BYTES.fetch_add(resident, Relaxed);
}

/// MADV_DONTNEED on `[from, to)`: the pages go back to the OS, stay mapped, and read as zeros.
///
/// # Safety
/// The range is page-aligned memory of ours whose content nobody needs.
unsafe fn discard(from: usize, to: usize) {
    // SAFETY: the caller's promise.
    #[cfg(not(miri))]
    unsafe {
        libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED)
    };
    // Miri has no madvise: zeroing is what the pages read as after it.
    // SAFETY: the caller's promise.
    #[cfg(miri)]
    unsafe {
        core::ptr::write_bytes(from as *mut u8, 0, to - from)
    };
}

/// One byte per page for mincore, a slice of a range at a time; like the sort scratch, used
/// only by the thread holding the exchange's purge flag.
struct Residency(core::cell::UnsafeCell<[u8; 4096]>);
// SAFETY: as for `Scratch`.
unsafe impl Sync for Residency {}
static RESIDENCY: Residency = Residency(core::cell::UnsafeCell::new([0; 4096]));

/// Bytes of the page-aligned range `[from, to)` that are resident now.
#[cfg(miri)]
fn resident_bytes(from: usize, to: usize) -> usize {
    to - from // Miri has no mincore: every page counts
}

/// Bytes of the page-aligned range `[from, to)` that are resident now.
#[cfg(not(miri))]
fn resident_bytes(from: usize, to: usize) -> usize {
    let page = os::page_size();
    // SAFETY: only the holder of the purge flag gets here (see `Residency`).
    let vec = unsafe { &mut *RESIDENCY.0.get() };
    let mut resident = 0;
    let mut at = from;
    while at < to {
        let pages = ((to - at) / page).min(vec.len());
        // SAFETY: [at, at + pages * page) is mapped memory of ours; mincore writes one byte
        // per page into `vec`, which holds `pages` bytes.
        let ok = unsafe { libc::mincore(at as *mut libc::c_void, pages * page, vec.as_mut_ptr()) };
        resident += if ok == 0 {
            vec[..pages].iter().filter(|&&v| v & 1 != 0).count() * page
        } else {
            pages * page // cannot tell: count it all
        };
        at += pages * page;
    }
    resident
}

/// Records `[start, start + len)` (16-aligned, at least 32 bytes) as a span.
pub fn add_span(start: usize, len: usize) {
    let span = start as *mut Header;
    // SAFETY: the span's first 32 bytes are ours: a header-sized record and the stack link.
    unsafe {
        (*span).tag = 0; // not a block: freeing a pointer into it is reported as misuse
        (*span).link = len;
    }
    SPAN_BYTES.fetch_add(len, Relaxed);
    SPANS.push(span);
}

/// A span of at least `need` bytes: (start, length), or None. Spans too small are put back.
pub fn take_span_fitting(need: usize) -> Option<(usize, usize)> {
    let mut all = SPANS.take_all();
    let mut found = None;
    while !all.is_null() {
        let next = Stack::next(all);
        // SAFETY: we took every span; each is ours until pushed again.
        let len = unsafe { (*all).link };
        if found.is_none() && len >= need {
            SPAN_BYTES.fetch_sub(len, Relaxed);
            found = Some((all as usize, len));
        } else {
            SPANS.push(all);
        }
        all = next;
    }
    found
}

/// A span to carve: (start, length), or None.
pub fn take_span() -> Option<(usize, usize)> {
    let span = SPANS.pop();
    if span.is_null() {
        return None;
    }
    // SAFETY: the span is ours now; its header records its length.
    let len = unsafe { (*span).link };
    SPAN_BYTES.fetch_sub(len, Relaxed);
    Some((span as usize, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The spans are global: tests that purge run one at a time, each starting with none.
    fn alone() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        while take_span().is_some() {}
        guard
    }

    /// `pages` fresh pages: (start, length).
    fn mapped(pages: usize) -> (usize, usize) {
        let len = pages * os::page_size();
        let mem = os::map(len) as usize;
        assert_ne!(mem, 0);
        (mem, len)
    }

    /// A list through the given header addresses, in the given order.
    fn chain(addrs: &[usize]) -> *mut Header {
        for w in addrs.windows(2) {
            unsafe { (*(w[0] as *mut Header)).link = w[1] };
        }
        if let Some(&l) = addrs.last() {
            unsafe { (*(l as *mut Header)).link = 0 };
        }
        addrs.first().map_or(null_mut(), |&a| a as *mut Header)
    }

    fn collect(mut list: *mut Header) -> Vec<usize> {
        let mut v = Vec::new();
        while !list.is_null() {
            v.push(list as usize);
            list = unsafe { (*list).link } as *mut Header;
        }
        v
    }

    fn free_blocks(start: usize, b: usize, n: usize) -> std::vec::Vec<usize> {
        let stride = stride_of(b);
        (0..n)
            .map(|i| {
                let a = start + i * stride;
                unsafe {
                    (*(a as *mut Header)).tag = crate::header::tag(crate::header::State::Free, b)
                };
                a
            })
            .collect()
    }

    #[test]
    fn runs_covering_whole_pages_become_spans_and_the_rest_stays() {
        let _alone = alone();
        // 64 pages of real memory: 80-byte blocks (bucket 2), then 528-byte ones (bucket 5)
        // right after them, so the run crosses buckets.
        let page = os::page_size();
        let (mem, len) = mapped(64);
        let start = mem + 16;
        let small = free_blocks(start, 2, 1000);
        let big_start = start + 1000 * stride_of(2);
        let big = free_blocks(big_start, 5, (mem + len - big_start) / stride_of(5));
        // Leave out small block 10: the run breaks there (blocks 0..10 cover no whole page).
        let mut lists = [(null_mut::<Header>(), 0usize); SMALL_BUCKETS];
        let mut addrs_small: Vec<usize> =
            small.iter().copied().filter(|&a| a != small[10]).collect();
        addrs_small.reverse();
        lists[2] = (chain(&addrs_small), addrs_small.len());
        lists[5] = (chain(&big), big.len());
        let total = addrs_small.len() + big.len();
        release(&mut lists);
        let kept2 = collect(lists[2].0);
        let kept5 = collect(lists[5].0);
        assert_eq!((kept2.len(), kept5.len()), (lists[2].1, lists[5].1));
        assert!(
            kept2.windows(2).all(|w| w[0] < w[1]),
            "kept blocks come back in address order"
        );
        for (i, a) in small.iter().enumerate().take(10) {
            assert!(kept2.contains(a), "block {i}, in the short run, is kept");
        }
        let (span_at, span_len) = take_span().expect("a span");
        assert!(span_at >= small[11] && span_at + span_len <= mem + len);
        assert!(
            span_at < big_start && span_at + span_len > big_start,
            "the span crosses buckets"
        );
        let in_span = |a: usize| a >= span_at && a < span_at + span_len;
        assert!(
            kept2.iter().chain(&kept5).all(|&a| !in_span(a)),
            "no kept block lies in the span"
        );
        let spanned = addrs_small
            .iter()
            .chain(&big)
            .filter(|&&a| in_span(a))
            .count();
        assert_eq!(
            kept2.len() + kept5.len() + spanned,
            total,
            "every block is kept or spanned"
        );
        assert!(
            span_len >= 60 * page - 2 * stride_of(5),
            "nearly all 64 pages released: {span_len}"
        );
        os::unmap(mem as *mut u8, len);
    }

    #[test]
    fn spans_alone_are_not_released_again() {
        let _alone = alone();
        let (mem, len) = mapped(16);
        add_span(mem, len);
        // A mark in the span's last page: a purge that released the span's pages again (an
        // madvise per span per purge) would zero it.
        let mark = (mem + len - 8) as *mut u64;
        unsafe { mark.write(0x5eed) };
        let mut lists = [(null_mut::<Header>(), 0usize); SMALL_BUCKETS];
        release(&mut lists);
        assert_eq!(
            unsafe { mark.read() },
            0x5eed,
            "a lone span was released again"
        );
        assert_eq!(
            take_span(),
            Some((mem, len)),
            "the span is still there, whole"
        );
        os::unmap(mem as *mut u8, len);
    }

    #[test]
    fn a_gap_smaller_than_any_block_does_not_break_a_run() {
        let _alone = alone();
        // Two 8-page chunks' worth of 80-byte blocks, the second starting 16 bytes after the
        // first ends (a chunk's tail too short for a block): one span covers both.
        let page = os::page_size();
        let (mem, len) = mapped(16);
        let per = 8 * page / stride_of(2);
        let first = free_blocks(mem, 2, per);
        let second_at = mem + per * stride_of(2) + 16;
        let second = free_blocks(second_at, 2, (mem + len - second_at) / stride_of(2));
        let all: Vec<usize> = first.iter().chain(&second).copied().collect();
        let mut lists = [(null_mut::<Header>(), 0usize); SMALL_BUCKETS];
        lists[2] = (chain(&all), all.len());
        release(&mut lists);
        let (span_at, span_len) = take_span().expect("a span");
        assert!(
            span_at < second_at && span_at + span_len > second_at + page,
            "the span reaches across the gap: {span_at:#x}+{span_len:#x}, gap at {second_at:#x}"
        );
        assert!(take_span().is_none(), "one span, not two");
        os::unmap(mem as *mut u8, len);
    }
}
