//! What a pointer handed to free, realloc or malloc_usable_size refers to, checked before
//! anything is written: misuse is reported (and the process aborts) here.
//!
//! A pointer is ours only if it is 16-aligned and the page of the header in front of it is
//! marked in the page map; only then is the header read. Its tag (the word right in front of
//! the pointer) must then be one of ours, and a small block's seal (the word before it) its
//! bucket's.

use crate::header::{self, Carved, Header, State};
use crate::large::{self, LargeBlock};
use crate::misuse::{self, Call, Fault};
use crate::pagemap;
use crate::size_class::{ALIGN, HEADER, SMALL_BUCKETS, SMALL_MAX, payload_of};

/// A valid user pointer's block. Every header here was checked: it lies in our memory and
/// carries a tag of ours.
pub enum Block {
    /// A used block of a small bucket.
    Small { h: Carved, bucket: usize },
    /// A large block with a mapping of its own.
    Large { h: LargeBlock, bucket: usize },
    /// A large block cut from a span.
    Spanned { h: Carved, bucket: usize },
    /// An over-aligned pointer inside the small block whose user pointer is `outer`.
    Aligned { inner: Carved, outer: *mut u8 },
}

/// Checks a pointer handed to `call` and says what it is; reports misuse and aborts.
pub fn inspect(call: Call, p: *mut u8) -> Block {
    let h = header::of_user(p);
    if p as usize % ALIGN != 0 {
        misuse::report(call, p, Fault::Misaligned);
    }
    if !pagemap::owns(h as usize) {
        misuse::report(call, p, not_ours(call, h));
    }
    // SAFETY: the header's page is ours and mapped.
    let (lead, tag) = unsafe { ((*h).lead, (*h).tag) };
    // A small, spanned or aligned tag on a page of ours is the header of a block in carved
    // memory (a tag forged inside a large block would be the program's own undefined
    // behaviour, as in any allocator).
    // SAFETY: for the arms that use it, as just said; the address is 16-aligned.
    let carved = || unsafe { Carved::new(h) };
    match header::decode(tag) {
        Some((State::Used, bucket)) if bucket < SMALL_BUCKETS => {
            if lead != header::seal(bucket) {
                misuse::report(call, p, Fault::Overrun);
            }
            Block::Small {
                h: carved(),
                bucket,
            }
        }
        Some((State::Large, bucket)) if large::header_ok(h) => {
            if !large::tail_ok(h) {
                misuse::report(call, p, Fault::CanaryOverwritten);
            }
            Block::Large {
                // SAFETY: a large tag whose mapping checks out: a live large block (a forged
                // one is the program's undefined behaviour, as above); the caller holds it.
                h: unsafe { LargeBlock::new(h) },
                bucket,
            }
        }
        Some((State::Spanned, bucket)) => Block::Spanned {
            h: carved(),
            bucket,
        },
        Some((State::Aligned, _)) => {
            // The lead is the distance back to the holding block's pointer.
            let back = lead as usize;
            let outer = (p as usize).wrapping_sub(back) as *mut u8;
            if back % ALIGN == 0 && (HEADER..=SMALL_MAX).contains(&back) && is_small(outer) {
                Block::Aligned {
                    inner: carved(),
                    outer,
                }
            } else {
                misuse::report(call, p, Fault::BadHeader)
            }
        }
        // A free small block (its tag is its seal), or a cached large mapping's record.
        Some((State::Free, _)) => misuse::report(call, p, Fault::freed(call)),
        _ => misuse::report(call, p, not_a_tag(lead)),
    }
}

/// Why a header whose tag is none of ours is wrong. With a small block's seal in front, it is
/// a used block whose tag the program overwrote from in front (an underrun); else no block
/// starts here (or a free block's tag was overwritten: its lead is a link, not a seal).
fn not_a_tag(lead: u64) -> Fault {
    match header::decode(lead) {
        Some((State::Free, b)) if b < SMALL_BUCKETS && lead == header::seal(b) => Fault::Underrun,
        _ => Fault::BadHeader,
    }
}

/// Why a header address outside our memory is wrong: a large block we already gave back, or
/// memory we never had.
fn not_ours(call: Call, h: *mut Header) -> Fault {
    if pagemap::retired(h as usize) {
        Fault::freed(call)
    } else {
        Fault::NotOurs
    }
}

/// The bucket of the used small block at `p`, if it is one of ours.
fn small_bucket(p: *mut u8) -> Option<usize> {
    let h = header::of_user(p);
    if !pagemap::owns(h as usize) {
        return None;
    }
    // SAFETY: the header's page is ours and mapped.
    match header::decode(unsafe { (*h).tag }) {
        Some((State::Used, b)) if b < SMALL_BUCKETS => Some(b),
        _ => None,
    }
}

fn is_small(p: *mut u8) -> bool {
    small_bucket(p).is_some()
}

impl Block {
    /// Bytes usable from `p`, the pointer this block was inspected for.
    #[inline]
    pub fn usable(&self, p: *mut u8) -> usize {
        match *self {
            Block::Small { bucket, .. } => payload_of(bucket),
            Block::Large { ref h, .. } => h.usable(p),
            Block::Spanned { h, .. } => large::spanned_usable(p, h),
            Block::Aligned { outer, .. } => {
                let outer_bucket = small_bucket(outer).unwrap_or(0);
                payload_of(outer_bucket) - (p as usize - outer as usize)
            }
        }
    }
}
