//! The 16-byte header in front of every block: two words, the second (the tag) right in
//! front of the user pointer, so that the smallest underflow (one byte before the block)
//! changes a word that is checked.
//!
//! ```text
//!           lead (h+0)                       tag (h+8, in front of the user pointer)
//! USED:     seal of its bucket               keyed tag: state U and bucket
//! FREE:     next block on its chain,         the seal of its bucket (keyed tag: state F
//!           encoded (see `Key`)              and bucket)
//! ALIGNED:  distance back to the holding     keyed tag: state A
//!           block's user pointer
//! LARGE:    length of its mapping            keyed tag: state L and bucket
//! SPANNED:  length of the block, header in   keyed tag: state S and bucket
//! span:     length of the span               0 (see `spans`)
//! ```
//! A small block's seal is the keyed tag of a free block of its bucket. A used block keeps it
//! in its lead, so free() checks both words: a write past the end of the block before
//! reaches the seal first, and one before the start of this block reaches the tag. A free
//! block carries it as its tag, checked before its link (the lead) is followed, and the link
//! is encoded: one that does not decode to a 16-aligned user-space address is refused.
//!
//! malloc and free each write both words. Each word a fast path reads was then written by
//! the call just before on the same block, so the load is forwarded from the store: when a
//! pair read a word last written long before (the layout of 5868ecc), a 32 B pair took about
//! 1.6 times as long on an AMD EPYC (docs/DESIGN.md, "Blocks").
//!
//! Tags and links are keyed with a secret chosen once per process before the first block
//! exists (`install_keys`), as glibc's safe-linking and mimalloc's encoded lists do: a header
//! forged from the public magic number, or a link overwritten with an address, is seen. Tags
//! carry it added, links xored. It is one secret, not two, so that a fast path loads it once:
//! a second secret would not hold against a program that can read a header, since a free
//! block's link xored with its neighbour's address gives the link secret too.
//!
//! Invariant: every link bmalloc writes names a header in carved memory (see `Carved`), or is
//! 0.

use crate::size_class::{ALIGN, HEADER};
use core::cell::Cell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};

/// "bmal" in ASCII: what a tag's upper half holds before it is keyed.
pub const MAGIC: u32 = 0x626d_616c;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum State {
    /// On a free list; also a small block's seal, used or free.
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
    pub lead: u64,
    pub tag: u64,
}

/// The process's secret, on a cache line of its own that nothing writes after start-up.
#[repr(C, align(64))]
struct Secret {
    /// The seal of bucket 0, the keyed tag of a free block of bucket 0: `plain(Free, 0)` plus
    /// the secret. Bucket b's seal is this plus b, and every other tag this plus a small
    /// constant (`Key::tag`); links are xored with it.
    seal0: AtomicU64,
}

/// Before `install_keys`: plain tags, and links xored with the plain tag (unit tests, and
/// nothing else: no block exists before the first memory is obtained, which installs it).
/// `#[used]` keeps the line to itself: without it the link-time optimiser may merge it into
/// a neighbour and place it beside counters that other threads write.
#[used]
static SECRET: Secret = Secret {
    seal0: AtomicU64::new(plain(State::Free, 0)),
};
/// The seed the keys are drawn from (0: none yet), and whether they are stored.
static SEED: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Bits a decoded link must not have: above user space, or below 16-byte alignment.
pub const LINK_MASK: u64 = 0xffff_8000_0000_000f;

/// The tag of `state` and `bucket` before keying.
const fn plain(state: State, bucket: usize) -> u64 {
    ((MAGIC as u64) << 32) | ((state as u64) << 8) | bucket as u64
}

/// Mixes a seed into a well-spread word (splitmix64's finalizer).
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Keys tags and links with a secret drawn from `seed` (random bytes from the OS), once: the
/// first caller's seed wins, and later calls change nothing. Called before memory is first
/// obtained, so every tag and link is written with the same key. Threads that race here
/// need not wait for each other: each stores the key of the winning seed itself, so all
/// store the same value. (Not in the unit tests, whose threads write headers of their own
/// with the key as they found it.)
#[cold]
pub fn install_keys(seed: u64) {
    if keys_installed() {
        return;
    }
    let seed = match SEED.compare_exchange(0, seed.max(1), AcqRel, Acquire) {
        Ok(_) => seed.max(1),
        Err(winner) => winner,
    };
    SECRET.seal0.store(
        plain(State::Free, 0).wrapping_add(derive_key(seed)),
        Relaxed,
    );
    INSTALLED.store(true, Release);
}

/// The secret drawn from `seed`. No keyed tag is 0, which marks a span's record: a tag is a
/// plain word with the magic in its upper half (whatever its state, bucket and owner mark)
/// plus the secret, so it is 0 only when the secret's negation has the magic there.
fn derive_key(seed: u64) -> u64 {
    let mut s = seed;
    loop {
        s = mix(s.wrapping_add(0x9e37_79b9_7f4a_7c15));
        if (s.wrapping_neg() >> 32) as u32 != MAGIC {
            return s;
        }
    }
}

/// Whether `install_keys` ran (or, in the unit tests, whether it would have nothing to do).
#[inline]
pub fn keys_installed() -> bool {
    cfg!(test) || INSTALLED.load(Acquire)
}

/// The secret as a fast path holds it: loaded once, for every tag and link the call codes
/// (the optimiser does not merge two atomic loads of it, and each is one more memory access
/// in a malloc+free pair, whose time on a core that issues few per cycle is their count).
#[derive(Clone, Copy)]
pub struct Key(u64);

/// The process's key.
#[inline(always)]
pub fn key() -> Key {
    Key(SECRET.seal0.load(Relaxed))
}

impl Key {
    /// The keyed tag of a block in `state` and bucket `bucket`.
    #[inline(always)]
    pub fn tag(self, state: State, bucket: usize) -> u64 {
        let delta = plain(state, bucket).wrapping_sub(plain(State::Free, 0));
        self.0.wrapping_add(delta)
    }

    /// The seal of a small block of bucket `b`: the keyed tag of a free block of `b`.
    #[inline(always)]
    pub fn seal(self, b: usize) -> u64 {
        self.tag(State::Free, b)
    }

    /// The bucket whose seal `seal` is, if it is one: below `SMALL_BUCKETS`, else no seal.
    #[inline(always)]
    pub fn bucket_of_seal(self, seal: u64) -> usize {
        seal.wrapping_sub(self.0) as usize
    }

    /// A link as stored: the address (a header, or 0) xored with the key.
    #[inline(always)]
    pub fn encode_link(self, addr: usize) -> u64 {
        addr as u64 ^ self.0
    }

    /// A stored link decoded: the address it names (0: the end), or None when it cannot be
    /// one that bmalloc wrote (overwritten).
    #[inline(always)]
    pub fn decode_link(self, word: u64) -> Option<usize> {
        self.decode_link_masked(word, LINK_MASK)
    }

    /// `decode_link` with `LINK_MASK` as the caller holds it: malloc reads it from its heap,
    /// so that the test takes it from memory instead of a 10-byte move of the constant.
    #[inline(always)]
    pub fn decode_link_masked(self, word: u64, mask: u64) -> Option<usize> {
        debug_assert_eq!(mask, LINK_MASK);
        let addr = word ^ self.0;
        (addr & mask == 0).then_some(addr as usize)
    }
}

/// `Key::tag` with the key loaded here.
#[inline(always)]
pub fn tag(state: State, bucket: usize) -> u64 {
    key().tag(state, bucket)
}

/// `Key::seal` with the key loaded here.
#[inline(always)]
pub fn seal(b: usize) -> u64 {
    key().seal(b)
}

/// What a plain used tag exceeds the seal of its bucket by (the same for every bucket and
/// key); a used small block's tag adds its heap's owner mark (`owner_mark`).
pub const USED_OVER_SEAL: u64 = plain(State::Used, 0) - plain(State::Free, 0);

/// Where a used small block's tag carries the heap that handed it out (`owner_mark`): the 16
/// bits between its state byte and its magic, 0 in every other tag.
const OWNER_SHIFT: u32 = 16;

/// What the tag of a used small block of heap `id` adds to the plain used tag (`Key::tag`):
/// the heap's number modulo 256, and its complement in the byte above. An underflow that
/// changes one of the two bytes, or writes the same byte over both, leaves no valid mark, so
/// it is still seen (t_hardening). Heaps 256 apart share a mark: a block one of them mistakes
/// for its own is only reused at once, as every block was before marks existed.
pub const fn owner_mark(id: usize) -> u64 {
    let id = (id & 0xff) as u64;
    (id | ((id ^ 0xff) << 8)) << OWNER_SHIFT
}

/// Whether the 16 bits `m` are a heap's owner mark.
const fn mark_ok(m: u64) -> bool {
    m >> 16 == 0 && (m & 0xff) ^ (m >> 8) == 0xff
}

/// Whether a tag exceeds a seal by what a used tag of some heap does (`USED_OVER_SEAL` plus
/// an owner mark): the two words of a used small block.
#[inline(always)]
pub const fn used_over_seal(tag_less_seal: u64) -> bool {
    let mark = tag_less_seal.wrapping_sub(USED_OVER_SEAL);
    mark & ((1 << OWNER_SHIFT) - 1) == 0 && mark_ok(mark >> OWNER_SHIFT)
}

/// Reads a keyed tag back: `None` when the magic or the state is not one of ours. A used
/// tag's owner mark is left out.
pub fn decode(tag: u64) -> Option<(State, usize)> {
    let tag = tag.wrapping_sub(key().0.wrapping_sub(plain(State::Free, 0)));
    if (tag >> 32) as u32 != MAGIC {
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
    let mark = (tag >> OWNER_SHIFT) & 0xffff;
    let mark_right = if state == State::Used {
        mark_ok(mark)
    } else {
        mark == 0
    };
    if !mark_right {
        return None;
    }
    Some((state, (tag & 0xff) as usize))
}

/// `Key::encode_link` with the key loaded here.
#[inline(always)]
pub fn encode_link(addr: usize) -> u64 {
    key().encode_link(addr)
}

/// `Key::decode_link` with the key loaded here.
#[inline(always)]
pub fn decode_link(word: u64) -> Option<usize> {
    key().decode_link(word)
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

    /// The first word: a used small block's seal, a free one's encoded link, or a length (see
    /// the module doc).
    #[inline(always)]
    pub fn lead(self) -> u64 {
        self.words()[0].get()
    }

    /// The word in front of the user pointer: a tag (a free small block's is its seal), or 0
    /// for a span's record.
    #[inline(always)]
    pub fn tag(self) -> u64 {
        self.words()[1].get()
    }

    #[inline(always)]
    pub fn set_lead(self, lead: u64) {
        self.words()[0].set(lead);
    }

    #[inline(always)]
    pub fn set_tag(self, tag: u64) {
        self.words()[1].set(tag);
    }

    /// A free block's link, decoded: the next header's address (0: the end of the chain), or
    /// None when the word was overwritten.
    #[inline(always)]
    pub fn link(self) -> Option<usize> {
        decode_link(self.lead())
    }

    /// Makes the chain of this free block go on at `next` (a header address, or 0).
    #[inline(always)]
    pub fn set_link(self, next: usize) {
        self.set_lead(encode_link(next));
    }

    /// Writes the header of a free small block of bucket `b` whose chain goes on at `next`.
    #[inline(always)]
    pub fn make_free(self, b: usize, next: usize) {
        let key = key();
        self.make_sealed_free(key, key.seal(b), next);
    }

    /// `make_free` with the seal as the caller has it (free read it from the used block), and
    /// the link encoded with `key`.
    #[inline(always)]
    pub fn make_sealed_free(self, key: Key, seal: u64, next: usize) {
        self.set_lead(key.encode_link(next));
        self.set_tag(seal);
    }

    /// Whether this is a free small block of bucket `b`: its tag is the bucket's seal.
    #[inline(always)]
    pub fn sealed(self, b: usize) -> bool {
        self.tag() == seal(b)
    }

    /// The payload, as a stack item sees it (every payload has 16 bytes).
    #[inline(always)]
    pub fn payload(self) -> &'static Payload {
        // SAFETY: as for `tag`; atomics allow the racing reads that a lock-free pop makes of
        // an item popped meanwhile.
        unsafe { &*user_of(self.ptr()).cast::<Payload>() }
    }
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

    const STATES: [State; 5] = [
        State::Free,
        State::Used,
        State::Aligned,
        State::Large,
        State::Spanned,
    ];

    #[test]
    fn tags_round_trip_for_every_state_and_bucket() {
        for state in STATES {
            for b in 0..64 {
                let mark = if state == State::Used {
                    owner_mark(b)
                } else {
                    0
                };
                assert_eq!(decode(tag(state, b) + mark), Some((state, b)));
            }
        }
    }

    #[test]
    fn an_owner_mark_with_a_byte_changed_is_no_mark() {
        let used = tag(State::Used, 2) + owner_mark(0x35);
        assert_eq!(decode(used), Some((State::Used, 2)));
        assert_eq!(decode(tag(State::Used, 2)), None, "no mark at all");
        for byte in [2, 3] {
            for v in [0u64, 0x41, 0xff] {
                let changed = (used & !(0xff << (8 * byte))) | (v << (8 * byte));
                if changed != used {
                    assert_eq!(decode(changed), None, "byte {byte} set to {v:#x}");
                }
            }
        }
        let both = (used & !(0xffff << 16)) | (0x4141 << 16);
        assert_eq!(decode(both), None, "the same byte over both");
        let seal = seal(2);
        assert!(used_over_seal(used - seal));
        assert!(!used_over_seal(both - seal));
        assert!((0..256).all(|id| used_over_seal(owner_mark(id) + USED_OVER_SEAL)));
    }

    #[test]
    fn states_differ_so_a_free_block_never_reads_as_used() {
        assert_ne!(tag(State::Free, 3), tag(State::Used, 3));
        assert_ne!(tag(State::Used, 3), tag(State::Used, 4));
        assert_eq!(tag(State::Used, 5) - seal(5), USED_OVER_SEAL);
    }

    #[test]
    fn clobbered_tags_are_rejected() {
        let used = tag(State::Used, 2) + owner_mark(9);
        assert_eq!(decode(0), None);
        assert_eq!(decode(0x4141_4141_4141_4141), None);
        assert_eq!(decode(used ^ (1 << 40)), None, "magic bit flipped");
        assert_eq!(
            decode(seal(2) + (1 << 20)),
            None,
            "spare bits of a free tag set"
        );
        assert_eq!(
            decode(tag(State::Used, 2) + owner_mark(0x34)),
            Some((State::Used, 2)),
            "a used tag carries its heap's mark"
        );
        let unknown = used.wrapping_add((b'X' as u64 - b'U' as u64) << 8);
        assert_eq!(decode(unknown), None, "unknown state");
    }

    #[test]
    fn links_round_trip_and_overwritten_ones_are_refused() {
        for addr in [0usize, 0x10, 0x7fff_ffff_fff0, 0x5555_0000_1230] {
            assert_eq!(decode_link(encode_link(addr)), Some(addr));
        }
        let stored = encode_link(0x5555_0000_1230);
        // A byte written over the top or the bottom of the word breaks the link.
        assert_eq!(
            decode_link(stored ^ (0x41 << 56)),
            None,
            "top byte overwritten"
        );
        assert_eq!(decode_link(stored ^ 0x01), None, "bottom bits overwritten");
    }

    #[test]
    fn keys_differ_by_seed_and_never_make_a_tag_zero() {
        assert_ne!(derive_key(1), derive_key(2));
        for t in [derive_key(1), derive_key(u64::MAX)] {
            for state in STATES {
                assert!((0..64).all(|b| plain(state, b).wrapping_add(t) != 0));
            }
            assert!(
                (0..256)
                    .all(|id| { (plain(State::Used, 5) + owner_mark(id)).wrapping_add(t) != 0 })
            );
        }
    }

    #[test]
    fn the_tag_sits_right_in_front_of_the_user_pointer() {
        let mut words = [0u64; 4];
        let h = words.as_mut_ptr().cast::<Header>();
        assert_eq!(user_of(h) as usize - h as usize, 16);
        assert_eq!(of_user(user_of(h)), h);
        assert_eq!(core::mem::size_of::<Header>(), 16);
        assert_eq!(
            core::mem::offset_of!(Header, tag) + 8,
            HEADER,
            "the checked word ends where the user's bytes begin"
        );
        assert_eq!(
            core::mem::size_of::<Payload>(),
            16,
            "fits the smallest payload"
        );
    }
}
