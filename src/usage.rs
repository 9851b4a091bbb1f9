//! Bytes in use in all heaps together, and their peak since start-up: the report's `P` line.
//!
//! The fast paths pay nothing for it: a heap publishes its change of bytes in use in a bucket
//! from its slow paths only (refill, carve, hand-over, large blocks), and only once the change
//! reaches `STEP` (see `heap::OwnedHeap::note_usage`). Between two of its slow paths a heap's
//! list of a bucket can lend or take about a batch (more only just after the rest of a chunk
//! was cut into free blocks), so the sum here trails the truth by about `STEP` plus a batch per
//! heap and bucket. The report adds the exact figure at exit.

use core::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// The change a heap keeps to itself before publishing it.
pub const STEP: i64 = 64 << 10;

static USED: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

/// Adds a heap's change of bytes in use (negative when it freed more than it allocated).
pub fn publish(delta: i64) {
    let now = USED.fetch_add(delta, Relaxed).wrapping_add(delta);
    PEAK.fetch_max(now, Relaxed);
}

/// Counts an exact figure of bytes in use (the report's own sum) towards the peak.
pub fn observe(used: i64) {
    PEAK.fetch_max(used, Relaxed);
}

/// The highest figure of bytes in use seen so far.
pub fn peak() -> i64 {
    PEAK.load(Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_keeps_the_highest_sum() {
        let _alone = crate::tests_alone();
        let base = USED.load(Relaxed);
        publish(3 * STEP);
        let high = peak();
        assert!(high >= base + 3 * STEP);
        publish(-2 * STEP);
        assert_eq!(peak(), high, "a drop leaves the peak");
        publish(-STEP);
        observe(high + 1);
        assert_eq!(peak(), high + 1);
        assert_eq!(USED.load(Relaxed), base);
    }
}
