//! `Bmalloc`, the global allocator for Rust programs: `GlobalAlloc` over the same operations
//! the C calls use. Small layouts (alignment 16 or less) take malloc's fast path.

use crate::alloc;
use crate::misuse::Call;
use crate::size_class::ALIGN;
use core::alloc::{GlobalAlloc, Layout};

/// bmalloc as Rust's global allocator.
///
/// ```
/// #[global_allocator]
/// static GLOBAL: bmalloc::Bmalloc = bmalloc::Bmalloc;
///
/// let v: Vec<u64> = (0..1000).collect();
/// assert_eq!(v.iter().sum::<u64>(), 499_500);
/// ```
///
/// With the default features this replaces only Rust's allocator: the process's C `malloc`
/// stays glibc's, and no exit report is printed unless `BMALLOC_STATS` asks for one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bmalloc;

// SAFETY: every method returns null or a block of at least `layout.size()` bytes aligned to
// `layout.align()`, valid until it is given back (bmalloc's C semantics); dealloc and realloc
// take only blocks these methods returned, as the trait requires of callers.
unsafe impl GlobalAlloc for Bmalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= ALIGN {
            alloc::malloc(layout.size())
        } else {
            alloc::aligned(layout.align(), layout.size(), Call::Malloc)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= ALIGN {
            return alloc::calloc(1, layout.size());
        }
        let p = alloc::aligned(layout.align(), layout.size(), Call::Calloc);
        if !p.is_null() {
            // SAFETY: `p` holds at least `layout.size()` bytes.
            unsafe { p.write_bytes(0, layout.size()) };
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        // SAFETY: the trait's contract: `p` came from this allocator and is given back.
        unsafe { alloc::free(p) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= ALIGN {
            // SAFETY: the trait's contract: `p` is a live block of this allocator.
            return unsafe { alloc::realloc(p, new_size) };
        }
        // C's realloc keeps only 16-byte alignment: move over-aligned blocks by hand.
        let q = alloc::aligned(layout.align(), new_size, Call::Realloc);
        if !q.is_null() {
            // SAFETY: both blocks are live and distinct; `p` holds `layout.size()` bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                alloc::free(p);
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alignment_up_to_a_mebibyte_is_honoured() {
        // Large blocks go through the global cache of mappings, which other tests inspect.
        let _alone = crate::tests_alone();
        for shift in 0..=20 {
            let align = 1usize << shift;
            for size in [1, 24, 4096, 3 << 20] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let p = unsafe { Bmalloc.alloc(layout) };
                assert!(!p.is_null() && p as usize % align == 0, "{size} at {align}");
                unsafe {
                    p.write_bytes(0x5a, size);
                    let q = Bmalloc.realloc(p, layout, size * 2);
                    assert!(
                        !q.is_null() && q as usize % align == 0,
                        "realloc {size}/{align}"
                    );
                    assert_eq!(*q.add(size - 1), 0x5a, "contents move");
                    Bmalloc.dealloc(q, Layout::from_size_align(size * 2, align).unwrap());
                }
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_even_when_reused() {
        let _alone = crate::tests_alone();
        for align in [8, 64, 4096] {
            let layout = Layout::from_size_align(1000, align).unwrap();
            unsafe {
                let p = Bmalloc.alloc(layout);
                p.write_bytes(0xff, 1000);
                Bmalloc.dealloc(p, layout);
                let q = Bmalloc.alloc_zeroed(layout);
                assert!((0..1000).all(|i| *q.add(i) == 0), "align {align}");
                Bmalloc.dealloc(q, layout);
            }
        }
    }

    #[test]
    fn zero_sized_layouts_get_distinct_pointers() {
        let layout = Layout::from_size_align(0, 1).unwrap();
        unsafe {
            let (a, b) = (Bmalloc.alloc(layout), Bmalloc.alloc(layout));
            assert!(!a.is_null() && !b.is_null() && a != b);
            Bmalloc.dealloc(a, layout);
            Bmalloc.dealloc(b, layout);
        }
    }
}
