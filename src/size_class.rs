//! Size classes: which power-of-two bucket serves a request, and how big its blocks are.
//!
//! Bucket `b` holds blocks whose payload is `16 << b` bytes; the 16-byte header sits in front,
//! so a block occupies `(16 << b) + 16` bytes (its stride). The power of two counts only the
//! payload: malloc(64) gets an 80-byte block, not a 128-byte one (see README, "Buckets").

/// Every block's payload, and the header in front of it, is a multiple of this.
pub const ALIGN: usize = 16;
/// Size of the header in front of every block.
pub const HEADER: usize = 16;
/// log2 of the smallest payload.
pub const MIN_SHIFT: u32 = 4;
/// Buckets served from thread heaps: 16 B .. 1 MiB payloads.
pub const SMALL_BUCKETS: usize = 17;
/// Largest payload served from a thread heap; larger requests are mapped on their own.
pub const SMALL_MAX: usize = 16 << (SMALL_BUCKETS - 1);
/// Buckets that statistics can name: every power of two up to 2^63 bytes.
pub const ALL_BUCKETS: usize = 64 - MIN_SHIFT as usize;

/// The bucket whose payload is the smallest power of two >= `size` (at least 16 bytes).
/// Valid for any `size` up to 2^63.
#[inline(always)]
pub const fn bucket_of(size: usize) -> usize {
    // ceil(log2(size)) is floor(log2(size - 1)) + 1; or-ing 15 in makes every size up to 16
    // bucket 0 and the argument non-zero, so ilog2 is a single bsr with no zero check.
    ((size.saturating_sub(1) | (ALIGN - 1)).ilog2() + 1 - MIN_SHIFT) as usize
}

/// The bucket of a request that a thread heap serves: `bucket_of(size)` for 1 <= `size` <=
/// `SMALL_MAX`, else None (malloc(0) takes the slow path, which gives it bucket 0). One
/// comparison tests both ends, and the bucket is one bsr with nothing to subtract: shifting
/// `size - 1` right by MIN_SHIFT - 1 and or-ing 1 in gives a word whose log2 is the bucket.
#[inline(always)]
pub fn small_bucket_of(size: usize) -> Option<usize> {
    let less = size.wrapping_sub(1);
    if less >= SMALL_MAX {
        return None;
    }
    let b = log2((less >> (MIN_SHIFT - 1)) | 1);
    // SAFETY: the argument of log2 is below SMALL_MAX >> (MIN_SHIFT - 1) = 1 << SMALL_BUCKETS.
    unsafe { core::hint::assert_unchecked(b < SMALL_BUCKETS) };
    Some(b)
}

/// floor(log2(x)) for x > 0, as one bsr whose result the optimiser sees as a plain number:
/// `ilog2` reaches it as 63 ^ ctlz, which it carries into every later use (three instructions
/// more where the bucket meets a seal, `heap::take`).
#[inline(always)]
fn log2(x: usize) -> usize {
    debug_assert!(x != 0);
    let r: usize;
    // SAFETY: bsr only reads a register and writes one (and the flags); x is not 0, for which
    // its result would be undefined.
    unsafe {
        core::arch::asm!("bsr {r}, {x}", r = lateout(reg) r, x = in(reg) x,
            options(pure, nomem, nostack));
    }
    r
}

/// Payload bytes of a block in bucket `b`.
#[inline(always)]
pub const fn payload_of(b: usize) -> usize {
    ALIGN << b
}

/// Bytes a block of bucket `b` occupies, header included.
#[inline(always)]
pub const fn stride_of(b: usize) -> usize {
    payload_of(b) + HEADER
}

/// Bytes of blocks a batch carries, roughly: large enough that transfers are rare, small
/// enough that a heap idles with little (see README, "Memory").
const BATCH_BYTES: usize = 64 << 10;
const MAX_BATCH: usize = 1024;

/// Blocks in a batch of bucket `b`: what a heap hands over at a time.
pub const fn batch_len(b: usize) -> usize {
    let n = BATCH_BYTES / stride_of(b);
    if n == 0 {
        1
    } else if n > MAX_BATCH {
        MAX_BATCH
    } else {
        n
    }
}

/// Bytes of fresh blocks a heap carves at a time for a bucket that has none free: a page's
/// worth, as Kingsley's `morecore` cut a page into a bucket's blocks, so that a program that
/// grows its heap takes malloc's slow path once per page instead of once per block.
const CARVE_BYTES: usize = 4096;

/// Blocks carved at a time in bucket `b` (see `CARVE_BYTES`): at least one, and never more
/// than a batch, so that a carved run fits in a free list.
pub const fn carve_len(b: usize) -> usize {
    let n = CARVE_BYTES / stride_of(b);
    if n == 0 {
        1
    } else if n > batch_len(b) {
        batch_len(b)
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_tiny_sizes_use_the_first_bucket() {
        for n in 0..=16 {
            assert_eq!(bucket_of(n), 0, "size {n}");
        }
    }

    #[test]
    fn each_bucket_is_the_smallest_power_of_two_that_fits() {
        for b in 0..ALL_BUCKETS - 1 {
            let p = payload_of(b);
            assert_eq!(bucket_of(p), b, "exact fit {p}");
            assert_eq!(bucket_of(p + 1), b + 1, "one past {p}");
            if b > 0 {
                assert_eq!(bucket_of(p - 1), b, "one short of {p}");
            }
        }
    }

    #[test]
    fn small_bucket_of_agrees_with_bucket_of_and_refuses_zero_and_large_sizes() {
        assert_eq!(small_bucket_of(0), None);
        assert_eq!(small_bucket_of(SMALL_MAX + 1), None);
        assert_eq!(small_bucket_of(usize::MAX), None);
        let edges = (0..SMALL_BUCKETS).flat_map(|b| {
            let p = payload_of(b);
            [p - 1, p, p + 1]
        });
        for n in (1..=4096).chain(edges).filter(|&n| n <= SMALL_MAX) {
            assert_eq!(small_bucket_of(n), Some(bucket_of(n)), "size {n}");
        }
    }

    #[test]
    fn every_size_up_to_64k_fits_its_bucket_with_no_more_than_double() {
        for n in 1..=65536usize {
            let p = payload_of(bucket_of(n));
            assert!(p >= n && p < 2 * n.max(16), "size {n} got payload {p}");
        }
    }

    #[test]
    fn small_limit_and_strides() {
        assert_eq!(SMALL_MAX, 1 << 20);
        assert_eq!(bucket_of(SMALL_MAX), SMALL_BUCKETS - 1);
        assert_eq!(bucket_of(SMALL_MAX + 1), SMALL_BUCKETS);
        assert_eq!(stride_of(0), 32);
        assert_eq!(stride_of(2), 80);
        for b in 0..SMALL_BUCKETS {
            assert_eq!(stride_of(b) % ALIGN, 0);
        }
    }

    #[test]
    fn largest_sizes_name_a_bucket_in_range() {
        assert_eq!(bucket_of(1 << 63), ALL_BUCKETS - 1);
        assert_eq!(bucket_of((1 << 62) + 1), ALL_BUCKETS - 1);
    }

    #[test]
    fn a_carved_run_is_a_page_of_blocks_at_least_one_and_at_most_a_batch() {
        for b in 0..SMALL_BUCKETS {
            let n = carve_len(b);
            assert!(n >= 1 && n <= batch_len(b), "bucket {b}: {n}");
            assert!(
                n * stride_of(b) <= CARVE_BYTES.max(stride_of(b)),
                "bucket {b}: {n}"
            );
            assert!(
                (n + 1) * stride_of(b) > CARVE_BYTES,
                "bucket {b}: {n} leaves room"
            );
        }
        assert_eq!(carve_len(2), 51, "80-byte strides");
    }
}
