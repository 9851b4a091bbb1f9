//! The exit report, in the original's format (see README, "The exit report"):
//!
//! ```text
//!
//! V Memory Statistics (bmalloc: <version>)
//! B <heap>/<bucket>(<block size>) <free blocks> <mallocs>/<frees>/<mallocs-frees> <used bytes>/<free bytes>
//! H <heap> <used bytes>/<free bytes>
//! X <bucket>(<block size>) <free blocks> <free bytes>
//! S <used bytes>/<free bytes>
//! P <peak bytes in use>
//! O <bytes obtained from the OS>/<bytes returned to it>
//! R <peak resident set in bytes>
//! ```
//! `X` lines (one per bucket with blocks in it) show the free blocks waiting in the exchange,
//! which belong to no heap; `S` counts them among the free bytes. V, B, H and S are the
//! original's; X, P, O and R are ours. `P` is sampled (see `usage`); `O` counts address space
//! got with brk and mmap, and given back with munmap and (resident pages only, each time they
//! go) madvise; `R` is getrusage's maxrss.
//! `BMALLOC_STATS_FORMAT=json` writes the same figures as one JSON document.
//! Written through a fixed buffer: printing allocates nothing.

use crate::fmt::{Sink, Writer};
use crate::heap::Heap;
use crate::size_class::{ALL_BUCKETS, SMALL_BUCKETS, payload_of};
use crate::{exchange, mapping, os, purge, registry, release, usage};
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

/// Figures from outside the heaps, written after the S line.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Figures {
    /// The peak of bytes in use (see `usage`).
    pub peak_used: i64,
    /// Bytes of address space obtained from the OS (brk, mmap).
    pub obtained: u64,
    /// Bytes given back: unmapped, and resident pages released with madvise.
    pub unmapped: u64,
    pub released: u64,
    /// The process's peak resident set.
    pub peak_rss: u64,
    /// Purges run, and the microseconds they took (JSON only).
    pub purges: u64,
    pub purge_us: u64,
}

/// What a report is made of, in the order it is written; a format writes each part.
trait Format {
    fn start(&mut self);
    fn bucket(&mut self, heap: usize, bucket: usize, c: Counts, b: Bytes, first: bool);
    fn heap_end(&mut self, heap: usize, sum: Bytes);
    fn exchanged(&mut self, bucket: usize, blocks: u64, b: Bytes, first: bool);
    fn end(&mut self, total: Bytes, f: Figures);
}

fn bucket_bytes(bucket: usize, c: Counts) -> Bytes {
    let size = payload_of(bucket) as i64;
    Bytes {
        used: c.live().wrapping_mul(size),
        free: (c.free_blocks as i64).wrapping_mul(size),
    }
}

/// The original's lines, and ours after them (see the module doc).
struct Text<'a, S: Sink>(&'a mut Writer<S>);

impl<S: Sink> Format for Text<'_, S> {
    fn start(&mut self) {
        self.0
            .str("\nV Memory Statistics (bmalloc: ")
            .str(VERSION)
            .str(")\n");
    }

    fn bucket(&mut self, heap: usize, bucket: usize, c: Counts, b: Bytes, _: bool) {
        let w = &mut *self.0;
        w.str("B ").u64(heap as u64).str("/").u64(bucket as u64);
        w.str("(").u64(payload_of(bucket) as u64).str(") ");
        w.u64(c.free_blocks)
            .str(" ")
            .u64(c.mallocs)
            .str("/")
            .u64(c.frees);
        w.str("/").i64(c.live()).str(" ");
        w.i64(b.used).str("/").i64(b.free).str("\n");
    }

    fn heap_end(&mut self, heap: usize, sum: Bytes) {
        let w = &mut *self.0;
        w.str("H ").u64(heap as u64).str(" ");
        w.i64(sum.used).str("/").i64(sum.free).str("\n");
    }

    fn exchanged(&mut self, bucket: usize, blocks: u64, b: Bytes, _: bool) {
        let w = &mut *self.0;
        w.str("X ")
            .u64(bucket as u64)
            .str("(")
            .u64(payload_of(bucket) as u64);
        w.str(") ").u64(blocks).str(" ").i64(b.free).str("\n");
    }

    fn end(&mut self, total: Bytes, f: Figures) {
        let w = &mut *self.0;
        w.str("S ")
            .i64(total.used)
            .str("/")
            .i64(total.free)
            .str("\n");
        w.str("P ").i64(f.peak_used).str("\n");
        w.str("O ").u64(f.obtained).str("/");
        w.u64(f.unmapped.wrapping_add(f.released)).str("\n");
        w.str("R ").u64(f.peak_rss).str("\n");
    }
}

/// The same figures as one JSON document.
struct Json<'a, S: Sink> {
    w: &'a mut Writer<S>,
    /// Whether the list of heaps has an element, and whether it is closed.
    any_heap: bool,
    heaps_closed: bool,
    /// Whether the exchange's list has an element.
    any_exchange: bool,
}

impl<S: Sink> Json<'_, S> {
    fn field(&mut self, name: &str, v: i64) -> &mut Self {
        self.w.str("\"").str(name).str("\": ").i64(v);
        self
    }

    /// Ends the list of heaps and opens the exchange's, once.
    fn close_heaps(&mut self) {
        if !self.heaps_closed {
            self.w.str(if self.any_heap { "\n  ],\n" } else { "],\n" });
            self.w.str("  \"exchange\": [");
            self.heaps_closed = true;
        }
    }
}

impl<S: Sink> Format for Json<'_, S> {
    fn start(&mut self) {
        self.w.str("{\n  \"version\": \"").str(VERSION);
        self.w.str("\",\n  \"heaps\": [");
    }

    fn bucket(&mut self, heap: usize, bucket: usize, c: Counts, b: Bytes, first: bool) {
        if first {
            self.w
                .str(if self.any_heap { ",\n    {" } else { "\n    {" });
            self.field("heap", heap as i64).w.str(", \"buckets\": [");
            self.any_heap = true;
        } else {
            self.w.str(",");
        }
        self.w.str("\n      {");
        self.field("bucket", bucket as i64).w.str(", ");
        self.field("block_size", payload_of(bucket) as i64)
            .w
            .str(", ");
        self.field("free_blocks", c.free_blocks as i64).w.str(", ");
        self.field("mallocs", c.mallocs as i64).w.str(", ");
        self.field("frees", c.frees as i64).w.str(", ");
        self.field("live", c.live()).w.str(", ");
        self.field("used_bytes", b.used).w.str(", ");
        self.field("free_bytes", b.free).w.str("}");
    }

    fn heap_end(&mut self, _: usize, sum: Bytes) {
        self.w.str("\n    ], ");
        self.field("used_bytes", sum.used).w.str(", ");
        self.field("free_bytes", sum.free).w.str("}");
    }

    fn exchanged(&mut self, bucket: usize, blocks: u64, b: Bytes, first: bool) {
        if first {
            self.close_heaps();
        } else {
            self.w.str(",");
        }
        self.w.str("\n    {");
        self.field("bucket", bucket as i64).w.str(", ");
        self.field("block_size", payload_of(bucket) as i64)
            .w
            .str(", ");
        self.field("free_blocks", blocks as i64).w.str(", ");
        self.field("free_bytes", b.free).w.str("}");
        self.any_exchange = true;
    }

    fn end(&mut self, total: Bytes, f: Figures) {
        self.close_heaps();
        self.w.str(if self.any_exchange {
            "\n  ],\n"
        } else {
            "],\n"
        });
        self.w.str("  \"total\": {");
        self.field("used_bytes", total.used).w.str(", ");
        self.field("free_bytes", total.free).w.str("},\n  ");
        self.field("peak_used_bytes", f.peak_used)
            .w
            .str(",\n  \"os\": {");
        self.field("obtained_bytes", f.obtained as i64).w.str(", ");
        let returned = f.unmapped.wrapping_add(f.released);
        self.field("returned_bytes", returned as i64).w.str(", ");
        self.field("unmapped_bytes", f.unmapped as i64).w.str(", ");
        self.field("released_bytes", f.released as i64).w.str(", ");
        self.field("purges", f.purges as i64).w.str(", ");
        self.field("purge_us", f.purge_us as i64).w.str("},\n  ");
        self.field("peak_rss_bytes", f.peak_rss as i64)
            .w
            .str("\n}\n");
    }
}

/// Walks the report's figures in order: every heap in number order, its active buckets, its
/// sum; the exchange; the total, then the figures `figures` gives for that total.
/// `counts(heap, bucket)` and `exchanged(bucket)` supply the numbers (the live ones, or a
/// test's).
fn walk(
    out: &mut impl Format,
    heaps: usize,
    counts: impl Fn(usize, usize) -> Option<Counts>,
    exchanged: impl Fn(usize) -> u64,
    figures: impl FnOnce(Bytes) -> Figures,
) {
    out.start();
    let mut total = Bytes::default();
    for heap in 0..heaps {
        let mut sum = Bytes::default();
        let mut any = false;
        for bucket in 0..ALL_BUCKETS {
            match counts(heap, bucket) {
                Some(c) if c.is_active() => {
                    let b = bucket_bytes(bucket, c);
                    out.bucket(heap, bucket, c, b, !any);
                    sum.add(b);
                    any = true;
                }
                _ => {}
            }
        }
        if any {
            out.heap_end(heap, sum);
            total.add(sum);
        }
    }
    let mut any = false;
    for bucket in 0..SMALL_BUCKETS {
        let blocks = exchanged(bucket);
        if blocks != 0 {
            let free = blocks.wrapping_mul(payload_of(bucket) as u64) as i64;
            let b = Bytes { used: 0, free };
            out.exchanged(bucket, blocks, b, !any);
            total.add(b);
            any = true;
        }
    }
    out.end(total, figures(total));
}

/// Writes the whole report, in the original's text or as JSON.
pub fn write_report<S: Sink>(
    w: &mut Writer<S>,
    json: bool,
    heaps: usize,
    counts: impl Fn(usize, usize) -> Option<Counts>,
    exchanged: impl Fn(usize) -> u64,
    figures: impl FnOnce(Bytes) -> Figures,
) {
    if json {
        let mut out = Json {
            w,
            any_heap: false,
            heaps_closed: false,
            any_exchange: false,
        };
        walk(&mut out, heaps, counts, exchanged, figures);
    } else {
        walk(&mut Text(w), heaps, counts, exchanged, figures);
    }
}

/// The report of this process's heaps.
pub fn write_live_report<S: Sink>(w: &mut Writer<S>, json: bool) {
    let figures = |total: Bytes| {
        usage::observe(total.used);
        Figures {
            peak_used: usage::peak(),
            obtained: os::OBTAINED.load(Relaxed) as u64,
            unmapped: os::UNMAPPED.load(Relaxed) as u64,
            released: release::RELEASED_BYTES.load(Relaxed) as u64,
            peak_rss: os::peak_rss_bytes(),
            purges: purge::count(),
            purge_us: purge::micros(),
        }
    };
    write_report(
        w,
        json,
        registry::count(),
        |id, b| registry::get(id).map(|h| bucket_counts(h, b)),
        exchange::blocks,
        figures,
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

    const FIGURES: Figures = Figures {
        peak_used: 4096,
        obtained: 1 << 20,
        unmapped: 8192,
        released: 4096,
        peak_rss: 3 << 20,
        purges: 2,
        purge_us: 350,
    };

    fn report_x(
        heaps: usize,
        counts: impl Fn(usize, usize) -> Option<Counts>,
        exchanged: impl Fn(usize) -> u64,
    ) -> std::string::String {
        written(false, heaps, counts, exchanged)
    }

    fn written(
        json: bool,
        heaps: usize,
        counts: impl Fn(usize, usize) -> Option<Counts>,
        exchanged: impl Fn(usize) -> u64,
    ) -> std::string::String {
        let mut w = Writer::new(Buf::<8192>::new());
        write_report(&mut w, json, heaps, counts, exchanged, |_| FIGURES);
        std::string::String::from_utf8(w.finish().as_bytes().to_vec()).unwrap()
    }

    /// The lines the original has (all but our last three).
    fn seed_lines(text: &str) -> std::vec::Vec<&str> {
        let lines: std::vec::Vec<&str> = text.lines().collect();
        lines[..lines.len() - 3].to_vec()
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
        assert_eq!(
            &text[..expected.len()],
            expected,
            "the seed's lines, exactly"
        );
        assert_eq!(
            &text[expected.len()..],
            "P 4096\nO 1048576/12288\nR 3145728\n",
            "then ours, with new letters"
        );
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
        let lines = seed_lines(&text);
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
        let lines = seed_lines(&text);
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
        assert!(text.contains(")\nS 0/0\nP "), "{text}");
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

    fn json(
        heaps: usize,
        counts: impl Fn(usize, usize) -> Option<Counts>,
        exchanged: impl Fn(usize) -> u64,
    ) -> serde_json::Value {
        let text = written(true, heaps, counts, exchanged);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn json_reports_parse_with_any_mix_of_heaps_and_exchange() {
        let active = |h: usize, b: usize| {
            (b == 2 || (h == 1 && b == 20)).then_some(Counts {
                free_blocks: if b == 2 { 5 } else { 0 },
                mallocs: 10,
                frees: 5,
            })
        };
        let none = |_: usize, _: usize| None;
        let some = |b: usize| if b == 2 || b == 3 { 7 } else { 0 };
        let empty = |_: usize| 0;
        let v = json(2, active, some);
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["heaps"].as_array().unwrap().len(), 2);
        let b = &v["heaps"][1]["buckets"][1];
        assert_eq!(
            (b["bucket"].as_i64(), b["block_size"].as_i64()),
            (Some(20), Some(16 << 20))
        );
        assert_eq!(b["live"], 5);
        assert_eq!(v["heaps"][0]["used_bytes"], 320);
        assert_eq!(v["exchange"][1]["free_bytes"], 7 * 128);
        assert_eq!(v["total"]["free_bytes"], 2 * 320 + 7 * 64 + 7 * 128);
        assert_eq!(v["peak_used_bytes"], 4096);
        assert_eq!(v["os"]["obtained_bytes"], 1 << 20);
        assert_eq!(v["os"]["returned_bytes"], 12288);
        assert_eq!(v["os"]["purges"], 2);
        assert_eq!(v["os"]["purge_us"], 350);
        assert_eq!(v["peak_rss_bytes"], 3 << 20);
        for (v, heaps, exchange) in [
            (json(2, active, empty), 2, 0),
            (json(2, none, some), 0, 2),
            (json(0, none, empty), 0, 0),
        ] {
            assert_eq!(v["heaps"].as_array().unwrap().len(), heaps);
            assert_eq!(v["exchange"].as_array().unwrap().len(), exchange);
        }
    }

    #[test]
    fn json_and_text_give_the_same_figures() {
        let counts = |h: usize, b: usize| {
            (b == h + 1).then_some(Counts {
                free_blocks: 3,
                mallocs: 9,
                frees: 4 + h as u64,
            })
        };
        let text = written(false, 3, counts, |b| b as u64);
        let v = json(3, counts, |b| b as u64);
        for (i, line) in text.lines().filter(|l| l.starts_with("H ")).enumerate() {
            let h = &v["heaps"][i];
            let want = std::format!("H {} {}/{}", h["heap"], h["used_bytes"], h["free_bytes"]);
            assert_eq!(line, want);
        }
        let s = text.lines().find(|l| l.starts_with("S ")).unwrap();
        let t = &v["total"];
        assert_eq!(s, std::format!("S {}/{}", t["used_bytes"], t["free_bytes"]));
    }
}
