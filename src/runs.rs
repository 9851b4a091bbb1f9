//! The heart of a purge: free blocks (of every bucket) and spans sorted by address, runs of
//! neighbours found, and every run that covers enough whole pages made into one span whose
//! pages go back to the OS. So spans grow as their neighbours are freed, and a program that
//! freed everything gets its memory back in large stretches.
//!
//! Invariants: a block is either kept (back on its bucket's pile, in batches in address order)
//! or inside exactly one span; no kept block lies in a span; a released page holds no kept
//! block's header and no span record.

use crate::header::Carved;
use crate::list::{self, NO_PILES, Piles};
use crate::size_class::{SMALL_BUCKETS, batch_len, stride_of};
use crate::stack::Stack;
use crate::{os, release, spans};
use core::cell::UnsafeCell;

/// The least a run must release to become a span: a span's first page is written again to
/// record it, so smaller runs would give back little.
const MIN_RELEASE: usize = 16 << 10;

/// Bytes too few for any block (the smallest stride): a carving range's tail this short is
/// left unused. So a gap this short between two free blocks or spans holds no block in use
/// (chunks and mappings are whole pages, so it is not foreign memory either), and a run of
/// neighbours reaches across it: without that, no span could grow past a chunk.
const WASTE: usize = stride_of(0);

/// Room to sort the addresses of up to a million free blocks and spans in. It is static, not
/// mapped when needed, because purging matters most when the OS has no memory left; its
/// pages are released after each purge.
struct Scratch(UnsafeCell<[usize; 1 << 20]>);
// SAFETY: used only inside `coalesce`, whose callers run one at a time.
unsafe impl Sync for Scratch {}
static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; 1 << 20]));

/// Coalesces `piles` (batches of free blocks the caller owns) with every span there is. The
/// piles are rebuilt with the blocks kept, in address order, cut into batches as they go.
///
/// Returns the batches there was no room to examine, whole, and how many blocks and spans
/// fewer there are now (merged into spans): while that is not zero, another purge may make a
/// larger span.
///
/// # Safety
/// One thread at a time (the purge flag's holder): the sort scratch is shared.
pub unsafe fn coalesce(piles: &mut Piles) -> (Piles, usize) {
    // SAFETY: the caller's promise: nobody else uses the scratch now.
    let scratch = unsafe { &mut *SCRATCH.0.get() };
    let (n, unexamined) = gather(piles, scratch);
    let addrs = &mut scratch[..n];
    addrs.sort_unstable();
    let mut kept = Kept {
        piles,
        open: [(None, 0); SMALL_BUCKETS],
    };
    let mut merged = 0;
    let mut start = 0;
    while start < n {
        let end = run_end(addrs, start);
        merged += make_span(&addrs[start..end], &mut kept);
        start = end;
    }
    kept.close();
    release_scratch(scratch, n);
    (unexamined, merged)
}

/// Moves the addresses of every block of `piles` and of every span into `scratch`, whole
/// batches as long as they fit: how many, and the batches left over, whole. The piles are
/// left empty; spans that find no room are recorded again.
fn gather(piles: &mut Piles, scratch: &mut [usize]) -> (usize, Piles) {
    let mut i = 0;
    let mut rest = NO_PILES;
    for (pile, rest) in piles.iter_mut().zip(rest.iter_mut()) {
        while let Some((first, n)) = pile.pop() {
            if i + n > scratch.len() {
                rest.push(first, n);
                continue;
            }
            let mut blk = Some(first);
            for _ in 0..n {
                let Some(b) = blk else { break };
                scratch[i] = b.addr();
                i += 1;
                blk = list::next(b);
            }
        }
    }
    let mut span = spans::take_all();
    while let Some(s) = span {
        span = Stack::next(s);
        if i < scratch.len() {
            scratch[i] = s.addr();
            i += 1;
        } else {
            spans::restore(s);
        }
    }
    (i, rest)
}

/// The header at an address in the scratch.
fn at(addr: usize) -> Carved {
    // SAFETY: the scratch holds only headers of free blocks and spans that the purge took
    // (`gather`), all in carved memory.
    unsafe { Carved::new(addr as *mut _) }
}

/// The bucket of a free block the purge took, from its seal (checked when it was freed).
fn bucket_of(h: Carved) -> usize {
    match crate::header::decode(h.tag()) {
        Some((_, b)) => b,
        None => 0,
    }
}

/// Bytes a free block or a span at `addr` covers.
fn extent(addr: usize) -> usize {
    let h = at(addr);
    if spans::is_span(h) {
        spans::len_of(h)
    } else {
        stride_of(bucket_of(h))
    }
}

/// The end (exclusive index) of the run of neighbours starting at `addrs[start]`: each one
/// ends where the next begins, or less than a block before (see `WASTE`).
fn run_end(addrs: &[usize], start: usize) -> usize {
    let mut end = start + 1;
    while end < addrs.len() && addrs[end] - (addrs[end - 1] + extent(addrs[end - 1])) < WASTE {
        end += 1;
    }
    end
}

/// The blocks and spans a purge keeps, rebuilt in address order and cut into batches as they
/// come: a batch is closed (put on its bucket's pile) when it reaches a batch's length.
struct Kept<'a> {
    piles: &'a mut Piles,
    /// The batch being filled, by bucket: its first and last block, and its length.
    open: [(Option<(Carved, Carved)>, usize); SMALL_BUCKETS],
}

impl Kept<'_> {
    fn keep(&mut self, addr: usize) {
        let blk = at(addr);
        if spans::is_span(blk) {
            spans::restore(blk);
            return;
        }
        // The block goes to the end of its bucket's open batch.
        let b = bucket_of(blk);
        blk.set_link(0);
        let (ends, n) = &mut self.open[b];
        *ends = match *ends {
            None => Some((blk, blk)),
            Some((first, tail)) => {
                tail.set_link(addr);
                Some((first, blk))
            }
        };
        *n += 1;
        if *n == batch_len(b) {
            self.close_one(b);
        }
    }

    fn close_one(&mut self, b: usize) {
        if let (Some((first, _)), n) = core::mem::take(&mut self.open[b]) {
            self.piles[b].push(first, n);
        }
    }

    /// Closes every open batch.
    fn close(&mut self) {
        (0..SMALL_BUCKETS).for_each(|b| self.close_one(b));
    }
}

/// Makes a span of the part of `run` (neighbours, sorted) that covers whole pages, if that
/// gives back enough, and releases its pages; keeps everything else. Returns how many blocks
/// and spans fewer there are.
fn make_span(run: &[usize], kept: &mut Kept) -> usize {
    let page = os::page_size();
    let last = run[run.len() - 1];
    let from = (run[0] + page - 1) & !(page - 1);
    let to = (last + extent(last)) & !(page - 1);
    if to <= from || to - from < MIN_RELEASE {
        run.iter().for_each(|&a| kept.keep(a));
        return 0;
    }
    // What overlaps the released pages forms the new span: blocks whose header lies on them,
    // and spans reaching into them. That is one contiguous stretch: before it only elements
    // ending by `from` (or a block straddling it), after it only blocks starting at `to` or
    // later. Everything else stays as it was.
    let mut span: Option<(usize, usize)> = None;
    // The stretch, as indices into `run`: first and last.
    let mut inside: Option<(usize, usize)> = None;
    for (i, &a) in run.iter().enumerate() {
        let spans_in = spans::is_span(at(a)) && a + extent(a) > from;
        if (spans_in || a >= from) && a < to {
            let stop = a + extent(a);
            span = Some(span.map_or((a, stop), |(s, _)| (s, stop)));
            debug_assert!(
                inside.is_none_or(|(_, l)| l + 1 == i),
                "one contiguous stretch"
            );
            inside = Some(inside.map_or((i, i), |(f, _)| (f, i)));
        }
    }
    let parts = inside.map_or(0, |(f, l)| l - f + 1);
    // A run of spans alone has nothing to give back: a span's pages went back when it was
    // made, and nobody touches them until it is carved. Without that test every purge would
    // call madvise again for every span there is.
    let only_spans = run.iter().all(|&a| spans::is_span(at(a)));
    if !only_spans {
        // With no span (one free block larger than the pages, kept), its inner pages still go.
        give_back(from, to, span.map_or(0, |(s, _)| s & !(page - 1)));
    }
    // Kept only now: a block straddling `from` keeps its header before the released pages,
    // but its payload, where a kept batch's first block records the batch (`list::Pile`), may
    // lie on them. Written after the release, the record stays (t_stress in the checked
    // build found records zeroed when the blocks were kept first). Told apart by index: a
    // header on the released pages is not read again (it would fault the page back in).
    for (i, &a) in run.iter().enumerate() {
        if inside.is_none_or(|(f, l)| i < f || i > l) {
            kept.keep(a);
        }
    }
    let Some((start, end)) = span else {
        return 0;
    };
    // SAFETY: the stretch is ours: blocks and spans the purge owns, and gaps too short for
    // any block.
    unsafe { spans::add(start, end - start) };
    parts - 1
}

/// Releases the pages `[from, to)` of a new span but the one that holds its record (it is
/// written again at once: releasing it would give nothing back).
fn give_back(from: usize, to: usize, record: usize) {
    let page = os::page_size();
    // SAFETY: [from, to) lies inside a run of free blocks and spans the purge owns, whole
    // pages that hold no kept block's header (those lie before `from`) and, the record's page
    // left out, no span record.
    unsafe {
        if record >= from && record < to {
            release::release(from, record);
            release::release(record + page, to);
        } else {
            release::release(from, to);
        }
    }
}

/// Releases the whole pages of the scratch that held `n` addresses (only whole ones: its
/// neighbours are other statics).
fn release_scratch(scratch: &mut [usize], n: usize) {
    let page = os::page_size();
    // A pointer that may write: the pages are discarded through it.
    let base = scratch.as_mut_ptr() as usize;
    let from = (base + page - 1) & !(page - 1);
    let to = (base + n * core::mem::size_of::<usize>()) & !(page - 1);
    if to > from {
        // SAFETY: whole pages inside our own scratch, which nobody reads until the next
        // purge writes it again.
        unsafe { os::discard(from, to) };
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The spans are global: tests that purge run one at a time, each starting with none.
    fn alone() -> std::sync::MutexGuard<'static, ()> {
        let guard = crate::tests_alone();
        while spans::take().is_some() {}
        guard
    }

    fn release(piles: &mut Piles) -> (Piles, usize) {
        // SAFETY: the tests that coalesce run one at a time (`alone`).
        unsafe { coalesce(piles) }
    }

    /// The blocks of a pile, batch by batch (top first), each checked to hold its length and
    /// to end with a zero link.
    fn batches(pile: &mut crate::list::Pile) -> Vec<Vec<usize>> {
        let mut all = Vec::new();
        while let Some((first, n)) = pile.pop() {
            let v = collect(Some(first));
            assert_eq!(v.len(), n, "a batch holds the length it records");
            all.push(v);
        }
        all
    }

    /// `pages` fresh pages: (start, length).
    fn mapped(pages: usize) -> (usize, usize) {
        let len = pages * os::page_size();
        let mem = os::map(len) as usize;
        assert_ne!(mem, 0);
        (mem, len)
    }

    /// A list through the given header addresses, in the given order.
    fn chain(addrs: &[usize]) -> Option<Carved> {
        for w in addrs.windows(2) {
            at(w[0]).set_link(w[1]);
        }
        if let Some(&l) = addrs.last() {
            at(l).set_link(0);
        }
        addrs.first().map(|&a| at(a))
    }

    fn collect(mut list: Option<Carved>) -> Vec<usize> {
        let mut v = Vec::new();
        while let Some(b) = list {
            v.push(b.addr());
            list = crate::list::next(b);
        }
        v
    }

    fn free_blocks(start: usize, b: usize, n: usize) -> std::vec::Vec<usize> {
        let stride = stride_of(b);
        (0..n)
            .map(|i| {
                let a = start + i * stride;
                at(a).make_free(b, 0);
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
        let mut piles = NO_PILES;
        let mut addrs_small: Vec<usize> =
            small.iter().copied().filter(|&a| a != small[10]).collect();
        addrs_small.reverse();
        piles[2].push(chain(&addrs_small).unwrap(), addrs_small.len());
        piles[5].push(chain(&big).unwrap(), big.len());
        let total = addrs_small.len() + big.len();
        release(&mut piles);
        let mut kept2_batches = batches(&mut piles[2]);
        kept2_batches.reverse();
        assert!(
            kept2_batches.iter().all(|v| v.len() <= batch_len(2)),
            "kept blocks come back in batches"
        );
        let kept2: Vec<usize> = kept2_batches.concat();
        let kept5: Vec<usize> = batches(&mut piles[5]).concat();
        assert!(
            kept2.windows(2).all(|w| w[0] < w[1]),
            "kept blocks come back in address order"
        );
        for (i, a) in small.iter().enumerate().take(10) {
            assert!(kept2.contains(a), "block {i}, in the short run, is kept");
        }
        let (span_at, span_len) = spans::take().expect("a span");
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
        unsafe { os::unmap(mem as *mut u8, len) };
    }

    #[test]
    fn a_kept_batch_keeps_its_record_when_its_block_straddles_released_pages() {
        let _alone = alone();
        // A free 64 KiB block (bucket 12, a batch of one) whose header ends right where a page
        // begins, then small free blocks to the end: the pages from the big block's payload on
        // go back, while the big block, whose header lies before them, is kept.
        let page = os::page_size();
        let (mem, len) = mapped(40);
        let big = mem + page - 16;
        at(big).make_free(12, 0);
        let small_at = big + stride_of(12);
        let small = free_blocks(small_at, 2, (mem + len - small_at) / stride_of(2));
        let mut piles = NO_PILES;
        piles[12].push(at(big), 1);
        piles[2].push(chain(&small).unwrap(), small.len());
        release(&mut piles);
        assert_eq!(
            piles[12].pop(),
            Some((at(big), 1)),
            "the kept batch of one reads back (its record is written after the release)"
        );
        let _ = batches(&mut piles[2]);
        while spans::take().is_some() {}
        unsafe { os::unmap(mem as *mut u8, len) };
    }

    #[test]
    fn spans_alone_are_not_released_again() {
        let _alone = alone();
        let (mem, len) = mapped(16);
        unsafe { spans::add(mem, len) };
        // A mark in the span's last page: a purge that released the span's pages again (an
        // madvise per span per purge) would zero it.
        let mark = (mem + len - 8) as *mut u64;
        unsafe { mark.write(0x5eed) };
        let mut piles = NO_PILES;
        release(&mut piles);
        assert_eq!(
            unsafe { mark.read() },
            0x5eed,
            "a lone span was released again"
        );
        assert_eq!(
            spans::take(),
            Some((mem, len)),
            "the span is still there, whole"
        );
        unsafe { os::unmap(mem as *mut u8, len) };
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
        let mut piles = NO_PILES;
        piles[2].push(chain(&all).unwrap(), all.len());
        release(&mut piles);
        let (span_at, span_len) = spans::take().expect("a span");
        assert!(
            span_at < second_at && span_at + span_len > second_at + page,
            "the span reaches across the gap: {span_at:#x}+{span_len:#x}, gap at {second_at:#x}"
        );
        assert!(spans::take().is_none(), "one span, not two");
        unsafe { os::unmap(mem as *mut u8, len) };
    }
}
