//! A lock-free LIFO of memory items, linked through the first word of each item's payload.
//!
//! The top is a (pointer, version) pair changed only by a 16-byte compare-and-swap
//! (`lock cmpxchg16b`) that also bumps the version. That is what makes `pop` ABA-safe: if
//! another thread pops the top item and pushes it back between our read and our swap, the
//! version differs and the swap fails, though the pointer is the same. A pop reads the top
//! item's link before it owns the item; that read is safe because items live in heap memory
//! that bmalloc never unmaps (at worst it was purged with MADV_DONTNEED and reads as zero):
//! a stale value is simply discarded when the swap fails. Nobody waits: a failed swap means
//! another thread succeeded.

use crate::header::Carved;
use core::sync::atomic::{AtomicUsize, Ordering::*};

#[repr(C, align(16))]
pub struct Stack {
    top: AtomicUsize,
    version: AtomicUsize,
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

/// An item's address read back from the stack.
fn item(addr: usize) -> Option<Carved> {
    // SAFETY: only carved headers are ever pushed (`push` takes a `Carved`), so any non-zero
    // top or link is one.
    unsafe { Carved::from_link(addr) }
}

impl Stack {
    pub const fn new() -> Self {
        Stack {
            top: AtomicUsize::new(0),
            version: AtomicUsize::new(0),
        }
    }

    /// Pushes an item the caller owns.
    pub fn push(&self, item: Carved) {
        loop {
            let version = self.version.load(Acquire);
            let top = self.top.load(Acquire);
            item.payload().next.store(top, Relaxed);
            if self.swap(top, version, item.addr()) {
                return;
            }
        }
    }

    /// Pops the top item, which then belongs to the caller.
    pub fn pop(&self) -> Option<Carved> {
        loop {
            let version = self.version.load(Acquire);
            let top = item(self.top.load(Acquire))?;
            // A racing read when another thread popped `top` meanwhile: the swap then fails
            // and the value is discarded (see the module doc).
            let next = top.payload().next.load(Relaxed);
            if self.swap(top.addr(), version, next) {
                return Some(top);
            }
        }
    }

    /// Takes every item at once: the old top, whose links lead through all of them.
    pub fn take_all(&self) -> Option<Carved> {
        loop {
            let version = self.version.load(Acquire);
            let top = self.top.load(Acquire);
            if top == 0 || self.swap(top, version, 0) {
                return item(top);
            }
        }
    }

    /// The item below `it` in a list taken with `take_all` (the caller owns them all).
    pub fn next(it: Carved) -> Option<Carved> {
        item(it.payload().next.load(Relaxed))
    }

    /// Replaces (old_top, old_version) with (new_top, old_version + 1) if nobody changed them.
    /// Miri cannot run the instruction: there a spin flag makes the two words change as one,
    /// which is what the instruction guarantees (for Miri's checks of everything around it).
    #[cfg(miri)]
    fn swap(&self, old_top: usize, old_version: usize, new_top: usize) -> bool {
        use core::sync::atomic::AtomicBool;
        static SWAPPING: AtomicBool = AtomicBool::new(false);
        while SWAPPING.swap(true, Acquire) {
            core::hint::spin_loop();
        }
        let ok = self.top.load(Relaxed) == old_top && self.version.load(Relaxed) == old_version;
        if ok {
            // Release, as the locked instruction is a full barrier: a pop that reads the new
            // top (Acquire) sees the link written before it was pushed.
            self.top.store(new_top, Release);
            self.version.store(old_version.wrapping_add(1), Release);
        }
        SWAPPING.store(false, Release);
        ok
    }

    /// Replaces (old_top, old_version) with (new_top, old_version + 1) if nobody changed them.
    #[cfg(not(miri))]
    fn swap(&self, old_top: usize, old_version: usize, new_top: usize) -> bool {
        let ok: u8;
        // SAFETY: `self` is 16-byte aligned (repr align(16)), as cmpxchg16b requires. The
        // instruction wants the new top in rbx, which the compiler keeps for itself (and may
        // give to a `reg` operand), so every operand has a fixed register other than rbx, and
        // rbx is swapped with rsi around the instruction and restored. The locked instruction
        // is a full barrier.
        unsafe {
            core::arch::asm!(
                "xchg rsi, rbx",
                "lock cmpxchg16b xmmword ptr [rdi]",
                "mov rbx, rsi",
                "sete {ok}",
                ok = out(reg_byte) ok,
                in("rdi") self as *const Stack,
                inout("rsi") new_top => _,
                inout("rax") old_top => _,
                inout("rdx") old_version => _,
                in("rcx") old_version.wrapping_add(1),
                options(nostack),
            );
        }
        ok != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    use crate::header::TestCell;

    /// Items for tests: 32-byte cells (a header and 16 payload bytes).
    fn items(n: usize) -> Vec<TestCell> {
        std::vec![TestCell::default(); n]
    }

    fn carved(c: &mut TestCell) -> Carved {
        unsafe { Carved::new((c as *mut TestCell).cast()) }
    }

    #[test]
    fn last_in_first_out() {
        let mut cells = items(3);
        let s = Stack::new();
        let p: Vec<Carved> = cells.iter_mut().map(carved).collect();
        assert!(s.pop().is_none());
        for &i in &p {
            s.push(i);
        }
        assert_eq!(s.pop(), Some(p[2]));
        assert_eq!(s.pop(), Some(p[1]));
        s.push(p[2]);
        assert_eq!(s.pop(), Some(p[2]));
        assert_eq!(s.pop(), Some(p[0]));
        assert!(s.pop().is_none());
    }

    #[test]
    fn take_all_returns_the_whole_chain() {
        let mut cells = items(4);
        let s = Stack::new();
        for c in cells.iter_mut() {
            s.push(carved(c));
        }
        let mut n = 0;
        let mut it = s.take_all();
        while let Some(i) = it {
            n += 1;
            it = Stack::next(i);
        }
        assert_eq!(n, 4);
        assert!(s.pop().is_none());
    }

    #[test]
    fn the_version_changes_with_every_swap() {
        let mut cells = items(1);
        let s = Stack::new();
        let p = carved(&mut cells[0]);
        s.push(p);
        let v = s.version.load(Relaxed);
        assert_eq!(s.pop(), Some(p));
        s.push(p);
        // Same top as before, newer version: a pop that read the old pair must fail.
        assert_eq!(s.top.load(Relaxed), p.addr());
        assert_eq!(s.version.load(Relaxed), v + 2);
        assert!(
            !s.swap(p.addr(), v, 0),
            "a swap with a stale version must fail"
        );
    }

    #[test]
    fn threads_pushing_and_popping_lose_and_duplicate_nothing() {
        // Miri interprets every step and explores interleavings: fewer items and rounds there.
        const PER: usize = if cfg!(miri) { 50 } else { 2000 };
        const ROUNDS: usize = if cfg!(miri) { 5 } else { 50 };
        const THREADS: usize = 4;
        let mut cells = items(PER * THREADS);
        let base = cells.as_mut_ptr() as usize;
        let s = Stack::new();
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let s = &s;
                scope.spawn(move || {
                    // Each thread pushes only items it owns: its own at first, then whatever
                    // it popped in the previous round.
                    let mut owned: Vec<Carved> = (0..PER)
                        .map(|i| unsafe { Carved::new((base + (t * PER + i) * 32) as *mut _) })
                        .collect();
                    for round in 0..ROUNDS {
                        for &i in &owned {
                            s.push(i);
                        }
                        owned.clear();
                        for _ in 0..PER {
                            let p = s.pop();
                            owned.push(
                                p.unwrap_or_else(|| panic!("round {round}: stack ran dry early")),
                            );
                        }
                    }
                    for &i in &owned {
                        s.push(i);
                    }
                });
            }
        });
        let mut seen = std::collections::HashSet::new();
        while let Some(p) = s.pop() {
            assert!(seen.insert(p.addr()), "an item came out twice");
        }
        assert_eq!(seen.len(), PER * THREADS);
    }
}
