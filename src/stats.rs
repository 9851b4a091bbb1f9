//! The exit report, in the original's format (see README, "The exit report"):
//!
//! ```text
//!
//! V Memory Statistics (bmalloc: <version>)
//! B <heap>/<bucket>(<block size>) <free blocks> <mallocs>/<frees>/<mallocs-frees> <used bytes>/<free bytes>
//! H <heap> <used bytes>/<free bytes>
//! X <bucket>(<block size>) <free blocks> <free bytes>
//! S <used bytes>/<free bytes>
//! ```
//! `X` lines (one per bucket with blocks in it) show the free blocks waiting in the exchange,
//! which belong to no heap; `S` counts them among the free bytes.
//! Written through a fixed buffer: printing allocates nothing.

use crate::fmt::{Sink, Writer};
use crate::heap::Heap;
use crate::size_class::{ALL_BUCKETS, SMALL_BUCKETS, payload_of};
use crate::{exchange, mapping, registry};
use core::sync::atomic::Ordering::Relaxed;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One heap's counters for one bucket.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Counts {
    pub free_blocks: u64,
    pub mallocs: u64,
    pub frees: u64,
}

impl Counts {
    pub fn is_active(&self) -> bool {
        self.free_blocks != 0 || self.mallocs != 0 || self.frees != 0
    }
    /// (mallocs - frees): negative where this heap's threads freed blocks others allocated.
    pub fn live(&self) -> i64 {
        self.mallocs.wrapping_sub(self.frees) as i64
    }
}

pub fn bucket_counts(h: &Heap, b: usize) -> Counts {
    Counts {
        free_blocks: if b < SMALL_BUCKETS {
            h.free_count(b)
        } else {
            0
        },
        mallocs: h.mallocs(b),
        frees: h.frees(b),
    }
}

/// Running sums of used and free bytes.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Bytes {
    pub used: i64,
    pub free: i64,
}

impl Bytes {
    fn add(&mut self, other: Bytes) {
        self.used = self.used.wrapping_add(other.used);
        self.free = self.free.wrapping_add(other.free);
    }
}

pub fn header_lines<S: Sink>(w: &mut Writer<S>) {
    w.str("\nV Memory Statistics (bmalloc: ")
        .str(VERSION)
        .str(")\n");
}

/// Writes one B line and returns its bytes.
pub fn b_line<S: Sink>(w: &mut Writer<S>, heap: usize, bucket: usize, c: Counts) -> Bytes {
    let size = payload_of(bucket) as i64;
    let bytes = Bytes {
        used: c.live().wrapping_mul(size),
        free: (c.free_blocks as i64).wrapping_mul(size),
    };
    w.str("B ")
        .u64(heap as u64)
        .str("/")
        .u64(bucket as u64)
        .str("(")
        .u64(size as u64)
        .str(") ");
    w.u64(c.free_blocks)
        .str(" ")
        .u64(c.mallocs)
        .str("/")
        .u64(c.frees)
        .str("/")
        .i64(c.live())
        .str(" ");
    w.i64(bytes.used).str("/").i64(bytes.free).str("\n");
    bytes
}

pub fn h_line<S: Sink>(w: &mut Writer<S>, heap: usize, b: Bytes) {
    w.str("H ")
        .u64(heap as u64)
        .str(" ")
        .i64(b.used)
        .str("/")
        .i64(b.free)
        .str("\n");
}

pub fn s_line<S: Sink>(w: &mut Writer<S>, b: Bytes) {
    w.str("S ").i64(b.used).str("/").i64(b.free).str("\n");
}

pub fn x_line<S: Sink>(w: &mut Writer<S>, bucket: usize, blocks: u64) -> Bytes {
    let size = payload_of(bucket) as u64;
    let free = blocks.wrapping_mul(size);
    w.str("X ")
        .u64(bucket as u64)
        .str("(")
        .u64(size)
        .str(") ")
        .u64(blocks)
        .str(" ")
        .u64(free)
        .str("\n");
    Bytes {
        used: 0,
        free: free as i64,
    }
}

/// Writes the whole report: every heap in number order, its active buckets, its sum, the
/// exchange, and the total. `counts(heap, bucket)` and `exchanged(bucket)` supply the numbers
/// (the live ones, or a test's).
pub fn write_report<S: Sink>(
    w: &mut Writer<S>,
    heaps: usize,
    counts: impl Fn(usize, usize) -> Option<Counts>,
    exchanged: impl Fn(usize) -> u64,
) {
    header_lines(w);
    let mut total = Bytes::default();
    for heap in 0..heaps {
        let mut sum = Bytes::default();
        let mut any = false;
        for bucket in 0..ALL_BUCKETS {
            match counts(heap, bucket) {
                Some(c) if c.is_active() => {
                    sum.add(b_line(w, heap, bucket, c));
                    any = true;
                }
                _ => {}
            }
        }
        if any {
            h_line(w, heap, sum);
            total.add(sum);
        }
    }
    for bucket in 0..SMALL_BUCKETS {
        let blocks = exchanged(bucket);
        if blocks != 0 {
            total.add(x_line(w, bucket, blocks));
        }
    }
    s_line(w, total);
}

/// The report of this process's heaps.
pub fn write_live_report<S: Sink>(w: &mut Writer<S>) {
    write_report(
        w,
        registry::count(),
        |id, b| registry::get(id).map(|h| bucket_counts(h, b)),
        exchange::blocks,
    );
}

/// Bytes in use and free in all heaps, and large blocks, for mallinfo and malloc_info.
pub struct Totals {
    pub used: u64,
    pub free: u64,
    pub large_blocks: u64,
    pub large_bytes: u64,
    pub heap_bytes: u64,
}

pub fn totals() -> Totals {
    let mut t = Totals {
        used: 0,
        free: 0,
        large_blocks: mapping::LARGE_BLOCKS.load(Relaxed) as u64,
        large_bytes: mapping::LARGE_BYTES.load(Relaxed) as u64,
        heap_bytes: mapping::HEAP_BYTES.load(Relaxed) as u64,
    };
    for h in (0..registry::count()).filter_map(registry::get) {
        for b in 0..ALL_BUCKETS {
            let c = bucket_counts(h, b);
            let size = payload_of(b) as u64;
            t.used = t.used.wrapping_add((c.live() as u64).wrapping_mul(size));
            t.free += c.free_blocks * size;
        }
    }
    t
}

/// malloc_info's XML summary.
pub fn write_xml<S: Sink>(w: &mut Writer<S>) {
    let t = totals();
    w.str("<malloc version=\"bmalloc-")
        .str(VERSION)
        .str("\">\n");
    w.str("<heaps count=\"")
        .u64(registry::count() as u64)
        .str("\"/>\n");
    w.str("<total type=\"used\" size=\"")
        .u64(t.used)
        .str("\"/>\n");
    w.str("<total type=\"free\" size=\"")
        .u64(t.free)
        .str("\"/>\n");
    w.str("<total type=\"mmap\" count=\"")
        .u64(t.large_blocks)
        .str("\" size=\"")
        .u64(t.large_bytes)
        .str("\"/>\n");
    w.str("<system type=\"current\" size=\"")
        .u64(t.heap_bytes)
        .str("\"/>\n");
    w.str("</malloc>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::Buf;

    fn report(
        heaps: usize,
        counts: impl Fn(usize, usize) -> Option<Counts>,
    ) -> std::string::String {
        report_x(heaps, counts, |_| 0)
    }

    fn report_x(
        heaps: usize,
        counts: impl Fn(usize, usize) -> Option<Counts>,
        exchanged: impl Fn(usize) -> u64,
    ) -> std::string::String {
        let mut w = Writer::new(Buf::<8192>::new());
        write_report(&mut w, heaps, counts, exchanged);
        std::string::String::from_utf8(w.finish().as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn the_seed_example_prints_exactly() {
        // The original's example: 10 mallocs and 5 frees of 64-byte blocks in heap 0.
        let text = report(1, |_, b| {
            (b == 2).then_some(Counts {
                free_blocks: 5,
                mallocs: 10,
                frees: 5,
            })
        });
        let expected = std::format!(
            "\nV Memory Statistics (bmalloc: {VERSION})\nB 0/2(64) 5 10/5/5 320/320\nH 0 320/320\nS 320/320\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn cross_thread_frees_print_negative_live_counts_and_sums_balance() {
        // Heap 0 allocated 4 blocks of 32 bytes; heap 1 freed 3 of them.
        let text = report(2, |h, b| match (h, b) {
            (0, 1) => Some(Counts {
                free_blocks: 0,
                mallocs: 4,
                frees: 0,
            }),
            (1, 1) => Some(Counts {
                free_blocks: 3,
                mallocs: 0,
                frees: 3,
            }),
            _ => None,
        });
        let lines: std::vec::Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[2..],
            &[
                "B 0/1(32) 0 4/0/4 128/0",
                "H 0 128/0",
                "B 1/1(32) 3 0/3/-3 -96/96",
                "H 1 -96/96",
                "S 32/96"
            ]
        );
    }

    #[test]
    fn blocks_in_the_exchange_print_x_lines_and_count_as_free_in_the_total() {
        // Heap 0 allocated 2000 64-byte blocks; heap 1 freed them all, kept 1000 and handed
        // 1000 to the exchange.
        let text = report_x(
            2,
            |h, b| match (h, b) {
                (0, 2) => Some(Counts {
                    free_blocks: 0,
                    mallocs: 2000,
                    frees: 0,
                }),
                (1, 2) => Some(Counts {
                    free_blocks: 1000,
                    mallocs: 0,
                    frees: 2000,
                }),
                _ => None,
            },
            |b| if b == 2 { 1000 } else { 0 },
        );
        let lines: std::vec::Vec<&str> = text.lines().collect();
        assert_eq!(
            &lines[2..],
            &[
                "B 0/2(64) 0 2000/0/2000 128000/0",
                "H 0 128000/0",
                "B 1/2(64) 1000 0/2000/-2000 -128000/64000",
                "H 1 -128000/64000",
                "X 2(64) 1000 64000",
                "S 0/128000",
            ]
        );
    }

    #[test]
    fn idle_buckets_and_heaps_print_nothing_but_the_total() {
        let text = report(3, |_, _| Some(Counts::default()));
        assert!(text.ends_with(")\nS 0/0\n"), "{text}");
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with('B') || l.starts_with('H'))
                .count(),
            0
        );
    }

    #[test]
    fn large_buckets_print_their_power_of_two() {
        let text = report(1, |_, b| {
            (b == 20).then_some(Counts {
                free_blocks: 0,
                mallocs: 2,
                frees: 1,
            })
        });
        assert!(
            text.contains("B 0/20(16777216) 0 2/1/1 16777216/0\n"),
            "{text}"
        );
    }
}
