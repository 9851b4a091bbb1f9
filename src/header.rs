//! The 16-byte header in front of every block: a magic number, the block's state and bucket,
//! and one word whose meaning depends on the state.
//!
//! ```text
//! tag  (u64) = MAGIC << 32 | state << 8 | bucket
//! link (u64) = FREE:    next block on the free list (header address, 0 ends the list)
//!              USED:    unused
//!              ALIGNED: distance back from this header to the header of the block holding it
//!              LARGE:   length of the mapping that holds the block
//!              SPANNED: length of the block, header included
//! ```
//! Keeping the free-list link in the header (not in the payload) means a free block's payload
//! is written by us only while the block heads a batch in the exchange (see `Payload`), and a
//! clobbered header is seen before its link is followed.
//!
//! Invariant: every link bmalloc writes names a header in carved memory (see `Carved`), or is
//! 0.

use crate::size_class::{ALIGN, HEADER};
use core::cell::Cell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize};

/// "bmal" in ASCII: what a header's upper half must hold.
pub const MAGIC: u32 = 0x626d_616c;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum State {
    /// On a heap's free list.
    Free = b'F',
    /// Handed out by malloc and friends.
    Used = b'U',
    /// A second header inside a used block, in front of an over-aligned pointer.
    Aligned = b'A',
    /// A block with a mapping of its own.
    Large = b'L',
    /// A large block cut from a span of purged memory, when the OS had no more to map.
    Spanned = b'S',
}

#[repr(C)]
pub struct Header {
    pub tag: u64,
    pub link: usize,
}

/// The first 16 bytes of the payload of an item on a lock-free stack (`stack`): a free block
/// that heads a batch in the exchange, or the record of a span. Every payload has 16 bytes.
#[repr(C)]
pub struct Payload {
    /// The item below this one on its stack (a header address, 0 at the bottom).
    pub next: AtomicUsize,
    /// For a batch: its length (low 32 bits) and when it was handed over (high 32 bits).
    pub batch: AtomicU64,
}

/// A header in carved memory: the heap chunks blocks are cut from, and the spans purged from
/// them, which bmalloc never unmaps. Its words can therefore always be read and written; what
/// they hold is for the caller to check (the program may have overwritten them). Small blocks,
/// free lists, batches, spans and blocks cut from spans all live there; large blocks with a
/// mapping of their own do not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct Carved(NonNull<Header>);

impl Carved {
    /// # Safety
    /// `h` is a 16-aligned header address in carved memory.
    #[inline(always)]
    pub unsafe fn new(h: *mut Header) -> Carved {
        debug_assert!(!h.is_null() && h as usize % ALIGN == 0, "header {h:p}");
        // SAFETY: the caller's promise: not null.
        Carved(unsafe { NonNull::new_unchecked(h) })
    }

    /// The header a link word names (0: none).
    ///
    /// # Safety
    /// A non-zero `link` is a header address in carved memory (links bmalloc wrote are).
    #[inline(always)]
    pub unsafe fn from_link(link: usize) -> Option<Carved> {
        // SAFETY: the caller's promise.
        (link != 0).then(|| unsafe { Carved::new(link as *mut Header) })
    }

    #[inline(always)]
    pub fn ptr(self) -> *mut Header {
        self.0.as_ptr()
    }

    /// The user pointer behind the header.
    #[inline(always)]
    pub fn user(self) -> *mut u8 {
        user_of(self.ptr())
    }

    #[inline(always)]
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The header's two words, as cells: they may be read and written through shared
    /// references, which is what a header other code may also hold is.
    #[inline(always)]
    fn words(self) -> &'static [Cell<u64>; 2] {
        // SAFETY: carved memory stays mapped, the header is 16-aligned (see `new`), and
        // `Cell<u64>` has the layout of `u64`.
        unsafe { &*self.ptr().cast::<[Cell<u64>; 2]>() }
    }

    #[inline(always)]
    pub fn tag(self) -> u64 {
        self.words()[0].get()
    }

    #[inline(always)]
    pub fn link(self) -> usize {
        self.words()[1].get() as usize
    }

    #[inline(always)]
    pub fn set_tag(self, tag: u64) {
        self.words()[0].set(tag);
    }

    #[inline(always)]
    pub fn set_link(self, link: usize) {
        self.words()[1].set(link as u64);
    }

    /// The payload, as a stack item sees it (every payload has 16 bytes).
    #[inline(always)]
    pub fn payload(self) -> &'static Payload {
        // SAFETY: as for `tag`; atomics allow the racing reads that a lock-free pop makes of
        // an item popped meanwhile.
        unsafe { &*user_of(self.ptr()).cast::<Payload>() }
    }
}

/// The tag of a block in `state` and bucket `bucket`.
#[inline(always)]
pub const fn tag(state: State, bucket: usize) -> u64 {
    ((MAGIC as u64) << 32) | ((state as u64) << 8) | bucket as u64
}

/// Reads a tag back: `None` when the magic or the state is not one of ours.
pub fn decode(tag: u64) -> Option<(State, usize)> {
    if (tag >> 32) as u32 != MAGIC || (tag >> 16) as u16 != 0 {
        return None;
    }
    let state = match (tag >> 8) as u8 {
        b'F' => State::Free,
        b'U' => State::Used,
        b'A' => State::Aligned,
        b'L' => State::Large,
        b'S' => State::Spanned,
        _ => return None,
    };
    Some((state, (tag & 0xff) as usize))
}

/// The header in front of a user pointer.
#[inline(always)]
pub fn of_user(p: *mut u8) -> *mut Header {
    p.wrapping_sub(HEADER).cast()
}

/// The user pointer behind a header.
#[inline(always)]
pub fn user_of(h: *mut Header) -> *mut u8 {
    h.cast::<u8>().wrapping_add(HEADER)
}

/// For unit tests: a 32-byte, 16-aligned cell that holds a header and the smallest payload.
#[cfg(test)]
#[repr(C, align(16))]
#[derive(Clone, Copy, Default)]
pub struct TestCell(pub [u64; 4]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_for_every_state_and_bucket() {
        for state in [
            State::Free,
            State::Used,
            State::Aligned,
            State::Large,
            State::Spanned,
        ] {
            for b in 0..64 {
                assert_eq!(decode(tag(state, b)), Some((state, b)));
            }
        }
    }

    #[test]
    fn states_differ_so_a_free_block_never_reads_as_used() {
        assert_ne!(tag(State::Free, 3), tag(State::Used, 3));
        assert_ne!(tag(State::Used, 3), tag(State::Used, 4));
    }

    #[test]
    fn clobbered_tags_are_rejected() {
        assert_eq!(decode(0), None);
        assert_eq!(decode(0x4141_4141_4141_4141), None);
        assert_eq!(
            decode(tag(State::Used, 2) ^ (1 << 40)),
            None,
            "magic bit flipped"
        );
        assert_eq!(
            decode(tag(State::Used, 2) | (1 << 20)),
            None,
            "spare bits set"
        );
        assert_eq!(
            decode(((MAGIC as u64) << 32) | (b'X' as u64) << 8),
            None,
            "unknown state"
        );
    }

    #[test]
    fn header_is_sixteen_bytes_in_front_of_the_user_pointer() {
        assert_eq!(core::mem::size_of::<Header>(), 16);
        assert_eq!(
            core::mem::size_of::<Payload>(),
            16,
            "fits the smallest payload"
        );
        let mut words = [0u64; 4];
        let h = words.as_mut_ptr().cast::<Header>();
        assert_eq!(user_of(h) as usize - h as usize, 16);
        assert_eq!(of_user(user_of(h)), h);
    }
}
