//! Where bmalloc's own messages go: fd 2, or, when the program has closed it, a copy of it
//! taken at start-up. The misuse messages and the exit report both need it.
//!
//! The copy is taken only when the report goes to stderr: a process whose report is off or
//! goes to a file keeps exactly the descriptors it would have without bmalloc.

use crate::os;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

/// The copy of stderr, or -1.
static SAVED: AtomicI32 = AtomicI32::new(-1);
/// Device and inode of the file the copy refers to, to recognise it at exit.
static SAVED_DEV: AtomicU64 = AtomicU64::new(0);
static SAVED_INO: AtomicU64 = AtomicU64::new(0);

/// Keeps a close-on-exec copy of fd 2, numbered 200 or above (out of the way of programs that
/// expect the lowest free descriptors) when it can be.
pub fn save_stderr() {
    let mut fd = os::dup_at_least(2, 200);
    if fd < 0 {
        fd = os::dup_at_least(2, 3);
    }
    if fd >= 0 {
        let (dev, ino) = os::identity(fd).unwrap_or((0, 0));
        SAVED_DEV.store(dev, Relaxed);
        SAVED_INO.store(ino, Relaxed);
        SAVED.store(fd, Relaxed);
    }
}

/// Where a misuse message goes: fd 2 while it is open, else the copy (or 2 if there is none).
pub fn message_fd() -> i32 {
    match SAVED.load(Relaxed) {
        fd if fd >= 0 && !os::is_open(2) => fd,
        _ => 2,
    }
}

/// Where a report for stderr goes: fd 2 while it is open, else the copy if it still is the
/// file it was (a program may have closed it and opened something else in its place).
pub fn report_fd() -> Option<i32> {
    if os::is_open(2) {
        return Some(2);
    }
    let fd = SAVED.load(Relaxed);
    let want = (SAVED_DEV.load(Relaxed), SAVED_INO.load(Relaxed));
    (fd >= 0 && os::identity(fd) == Some(want)).then_some(fd)
}
