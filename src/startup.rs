//! Start-up and exit: the constructor reads the options, keeps a copy of stderr and registers
//! the exit report. Allocation never depends on it: calls that arrive before it runs (other
//! libraries' constructors, the loader) find their heap lazily.

use crate::fmt::{Buf, Fd, Writer};
use crate::options::{self, StatsTarget};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering::*};

/// What the constructor learnt, written once before any reader can look.
struct Settings {
    /// BMALLOC_STATS when it names a file: the path template.
    stats_path: UnsafeCell<Buf<4096>>,
    /// Device and inode of the saved stderr, to recognise it at exit.
    saved_identity: UnsafeCell<(u64, u64)>,
}

// SAFETY: the cells are written only by the constructor, before the exit handler (their only
// reader) is registered, and never again.
unsafe impl Sync for Settings {}

static SETTINGS: Settings = Settings {
    stats_path: UnsafeCell::new(Buf::new()),
    saved_identity: UnsafeCell::new((0, 0)),
};
static STATS: AtomicU8 = AtomicU8::new(StatsTarget::Stderr as u8);
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);
static REPORTED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    fn __cxa_atexit(
        f: extern "C" fn(*mut libc::c_void),
        arg: *mut libc::c_void,
        dso: *mut libc::c_void,
    ) -> i32;
}

#[ctor::ctor(unsafe)]
fn bmalloc_start() {
    if cfg!(test) {
        return; // unit tests run on the system allocator and want no report
    }
    crate::os::page_size();
    read_options();
    // The copy of stderr is for the report only: a process whose report is off or goes to a
    // file keeps exactly the descriptors it would have without bmalloc.
    if STATS.load(Relaxed) == StatsTarget::Stderr as u8 {
        save_stderr();
    }
    crate::registry::exit_key();
    // Registered from our constructor, which runs before the program's start-up registers
    // the loader's fini handler: so ours runs after every library's destructors, and sees
    // their last frees.
    // SAFETY: `exit_report` is a valid handler for the whole life of the process.
    unsafe { __cxa_atexit(exit_report, core::ptr::null_mut(), core::ptr::null_mut()) };
}

fn env(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv returns null or a NUL-terminated string in the environment, which
    // nobody changes while the constructors run.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    (!value.is_null()).then(|| {
        // SAFETY: non-null getenv results are NUL-terminated strings.
        unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes()
    })
}

fn read_options() {
    if let Some(ms) = env(c"BMALLOC_PURGE_DELAY_MS").and_then(options::parse_ms) {
        options::set_purge_delay_ms(ms);
    }
    let bytes = env(c"BMALLOC_STATS");
    let target = options::parse_stats(bytes);
    if target == StatsTarget::File {
        // SAFETY: only the constructor writes the settings, before anyone reads them.
        let path = unsafe { &mut *SETTINGS.stats_path.get() };
        crate::fmt::Sink::put(path, bytes.unwrap_or_default());
        if path.cut {
            return; // an unusable path: keep the report on stderr
        }
    }
    STATS.store(target as u8, Relaxed);
}

fn save_stderr() {
    // A high descriptor, out of the way of programs that expect the lowest free ones.
    // SAFETY: fcntl on fd 2 only duplicates it (or fails).
    let mut fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 200) };
    if fd < 0 {
        // SAFETY: as above.
        fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    }
    if fd >= 0 {
        // SAFETY: only the constructor writes the settings, before anyone reads them.
        unsafe { *SETTINGS.saved_identity.get() = identity(fd).unwrap_or((0, 0)) };
        SAVED_STDERR.store(fd, Relaxed);
    }
}

fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat writes into a local stat buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// Whether fd 2 is open.
pub fn stderr_is_open() -> bool {
    // SAFETY: F_GETFD only queries the descriptor.
    unsafe { libc::fcntl(2, libc::F_GETFD) != -1 }
}

/// The copy of stderr taken at start-up, or 2.
pub fn saved_stderr() -> i32 {
    match SAVED_STDERR.load(Relaxed) {
        -1 => 2,
        fd => fd,
    }
}

/// Where a report for stderr goes: fd 2 while it is open, else the copy taken at start-up if
/// it still is the file it was (a program may have closed it and opened something else).
fn report_fd() -> Option<i32> {
    if stderr_is_open() {
        return Some(2);
    }
    let fd = SAVED_STDERR.load(Relaxed);
    // SAFETY: written by the constructor only, before this handler was registered.
    let want = unsafe { *SETTINGS.saved_identity.get() };
    (fd >= 0 && identity(fd) == Some(want)).then_some(fd)
}

extern "C" fn exit_report(_: *mut libc::c_void) {
    if REPORTED.swap(true, AcqRel) {
        return;
    }
    match STATS.load(Relaxed) {
        t if t == StatsTarget::Stderr as u8 => {
            if let Some(fd) = report_fd() {
                write_report_to(fd);
            }
        }
        t if t == StatsTarget::File as u8 => write_report_file(),
        _ => {}
    }
}

fn write_report_file() {
    // SAFETY: written by the constructor only, before this handler was registered.
    let template = unsafe { &*SETTINGS.stats_path.get() };
    let mut path = Buf::<4200>::new();
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    if !options::expand_path(template.as_bytes(), pid, &mut path) {
        return;
    }
    // SAFETY: the path is NUL-terminated.
    let fd = unsafe {
        libc::open(
            path.data.as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd >= 0 {
        write_report_to(fd);
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
    }
}

/// Writes the report of every heap to `fd`.
pub fn write_report_to(fd: i32) {
    let mut w = Writer::new(Fd(fd));
    crate::stats::write_live_report(&mut w);
}
