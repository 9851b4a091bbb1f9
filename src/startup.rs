//! Start-up and exit: the constructor reads the options, keeps a copy of stderr and registers
//! the exit report. Allocation never depends on it: calls that arrive before it runs (other
//! libraries' constructors, the loader) find their heap lazily.

use crate::fmt::{Buf, Fd, Sink, Writer};
use crate::options::{self, StatsTarget};
use crate::{console, os, registry, stats};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::*};

/// BMALLOC_STATS when it names a file: the path template, written once by the constructor
/// before any reader can look.
struct StatsPath(UnsafeCell<Buf<4096>>);

// SAFETY: the cell is written only by the constructor, before the exit handler (its only
// reader) is registered, and never again.
unsafe impl Sync for StatsPath {}

static STATS_PATH: StatsPath = StatsPath(UnsafeCell::new(Buf::new()));
static STATS: AtomicU8 = AtomicU8::new(StatsTarget::Off as u8);
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
    os::page_size();
    read_options();
    if STATS.load(Relaxed) == StatsTarget::Stderr as u8 {
        console::save_stderr();
    }
    registry::exit_key();
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
    // SAFETY: non-null getenv results are NUL-terminated strings.
    (!value.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(value) }.to_bytes())
}

fn read_options() {
    if let Some(ms) = env(c"BMALLOC_PURGE_DELAY_MS").and_then(options::parse_ms) {
        options::set_purge_delay_ms(ms);
    }
    let bytes = env(c"BMALLOC_STATS");
    // A Rust program that only uses `Bmalloc` prints no report unless asked to.
    let unset = if cfg!(feature = "override") {
        StatsTarget::Stderr
    } else {
        StatsTarget::Off
    };
    let target = options::parse_stats(bytes, unset);
    if target == StatsTarget::File {
        // SAFETY: only the constructor writes the path, before anyone reads it.
        let path = unsafe { &mut *STATS_PATH.0.get() };
        path.put(bytes.unwrap_or_default());
        if path.cut {
            STATS.store(StatsTarget::Stderr as u8, Relaxed);
            return; // an unusable path: the report goes to stderr
        }
    }
    STATS.store(target as u8, Relaxed);
}

extern "C" fn exit_report(_: *mut libc::c_void) {
    if REPORTED.swap(true, AcqRel) {
        return;
    }
    match STATS.load(Relaxed) {
        t if t == StatsTarget::Stderr as u8 => {
            if let Some(fd) = console::report_fd() {
                write_report_to(fd);
            }
        }
        t if t == StatsTarget::File as u8 => write_report_file(),
        _ => {}
    }
}

fn write_report_file() {
    // SAFETY: written by the constructor only, before this handler was registered.
    let template = unsafe { &*STATS_PATH.0.get() };
    let mut path = Buf::<4200>::new();
    if !options::expand_path(template.as_bytes(), os::getpid() as u32, &mut path) {
        return;
    }
    let Ok(path) = core::ffi::CStr::from_bytes_until_nul(path.as_bytes()) else {
        return;
    };
    let fd = os::create_file(path);
    if fd >= 0 {
        write_report_to(fd);
        os::close(fd);
    }
}

/// Writes the report of every heap to `fd`.
pub fn write_report_to(fd: i32) {
    stats::write_live_report(&mut Writer::new(Fd(fd)));
}
