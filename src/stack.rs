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

use crate::header::{self, Header};
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

/// The word in an item that links it to the next item below it.
fn link(item: *mut Header) -> &'static AtomicUsize {
    debug_assert!(item as usize % 16 == 0, "stack items are block headers");
    // SAFETY: items are free blocks or span records, in memory that is never unmapped (see
    // `header::payload`). Reads of the link may race with a new owner's writes when the item
    // was popped meanwhile: the value is then discarded (see the module doc).
    unsafe { &header::payload(item).next }
}

impl Stack {
    pub const fn new() -> Self {
        Stack {
            top: AtomicUsize::new(0),
            version: AtomicUsize::new(0),
        }
    }

    /// Pushes an item the caller owns.
    pub fn push(&self, item: *mut Header) {
        debug_assert!(!item.is_null());
        loop {
            let version = self.version.load(Acquire);
            let top = self.top.load(Acquire);
            link(item).store(top, Relaxed);
            if self.swap(top, version, item as usize) {
                return;
            }
        }
    }

    /// Pops the top item, which then belongs to the caller; null if the stack is empty.
    pub fn pop(&self) -> *mut Header {
        loop {
            let version = self.version.load(Acquire);
            let top = self.top.load(Acquire);
            if top == 0 {
                return core::ptr::null_mut();
            }
            let next = link(top as *mut Header).load(Relaxed);
            if self.swap(top, version, next) {
                return top as *mut Header;
            }
        }
    }

    /// Takes every item at once: the old top, whose links lead through all of them.
    pub fn take_all(&self) -> *mut Header {
        loop {
            let version = self.version.load(Acquire);
            let top = self.top.load(Acquire);
            if top == 0 || self.swap(top, version, 0) {
                return top as *mut Header;
            }
        }
    }

    /// The item below `item` in a list taken with `take_all` (the caller owns them all).
    pub fn next(item: *mut Header) -> *mut Header {
        link(item).load(Relaxed) as *mut Header
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

    /// Items for tests: 32-byte cells (a header and 16 payload bytes).
    fn items(n: usize) -> Vec<crate::header::TestCell> {
        std::vec![crate::header::TestCell::default(); n]
    }

    #[test]
    fn last_in_first_out() {
        let mut cells = items(3);
        let s = Stack::new();
        let p: Vec<*mut Header> = cells
            .iter_mut()
            .map(|c| (c as *mut crate::header::TestCell).cast())
            .collect();
        assert!(s.pop().is_null());
        for &i in &p {
            s.push(i);
        }
        assert_eq!(s.pop(), p[2]);
        assert_eq!(s.pop(), p[1]);
        s.push(p[2]);
        assert_eq!(s.pop(), p[2]);
        assert_eq!(s.pop(), p[0]);
        assert!(s.pop().is_null());
    }

    #[test]
    fn take_all_returns_the_whole_chain() {
        let mut cells = items(4);
        let s = Stack::new();
        for c in cells.iter_mut() {
            s.push((c as *mut crate::header::TestCell).cast());
        }
        let mut n = 0;
        let mut it = s.take_all();
        while !it.is_null() {
            n += 1;
            it = Stack::next(it);
        }
        assert_eq!(n, 4);
        assert!(s.pop().is_null());
    }

    #[test]
    fn the_version_changes_with_every_swap() {
        let mut cells = items(1);
        let s = Stack::new();
        let p: *mut Header = (&mut cells[0] as *mut crate::header::TestCell).cast();
        s.push(p);
        let v = s.version.load(Relaxed);
        assert_eq!(s.pop(), p);
        s.push(p);
        // Same top as before, newer version: a pop that read the old pair must fail.
        assert_eq!(s.top.load(Relaxed), p as usize);
        assert_eq!(s.version.load(Relaxed), v + 2);
        assert!(
            !s.swap(p as usize, v, 0),
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
                    let mut owned: Vec<*mut Header> = (0..PER)
                        .map(|i| (base + (t * PER + i) * 32) as *mut Header)
                        .collect();
                    for round in 0..ROUNDS {
                        for &i in &owned {
                            s.push(i);
                        }
                        owned.clear();
                        for _ in 0..PER {
                            let p = s.pop();
                            assert!(!p.is_null(), "round {round}: stack ran dry early");
                            owned.push(p);
                        }
                    }
                    for &i in &owned {
                        s.push(i);
                    }
                });
            }
        });
        let mut seen = std::collections::HashSet::new();
        loop {
            let p = s.pop();
            if p.is_null() {
                break;
            }
            assert!(seen.insert(p as usize), "an item came out twice");
        }
        assert_eq!(seen.len(), PER * THREADS);
    }
}
