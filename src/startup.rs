//! Start-up and exit: the constructor reads the options (the options file, then the
//! environment, which takes precedence), warns about values it cannot use, keeps a copy of
//! stderr and registers the exit report. Allocation never depends on it: calls that arrive
//! before it runs (other libraries' constructors, the loader) find their heap lazily.
//!
//! In a process the environment must not steer (setuid, setgid, capabilities: AT_SECURE),
//! every `BMALLOC_*` variable is ignored, as `secure_getenv` would have it: no file is opened
//! on the environment's word. The options file, root's to write, still applies.

use crate::fmt::{Buf, Fd, Sink, Writer};
use crate::options::{self, CONF_PATH, Format, Line, Opt, Settings, Source, StatsTarget};
use crate::{console, os, registry, stats};
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, Ordering::*};

/// What the constructor writes once, before any reader can look: the settings, the report
/// path made absolute, and the options file's text (which settings may point into).
struct Once<T>(UnsafeCell<T>);

// SAFETY: each cell is written only by the constructor, before the exit handler (the only
// reader besides the constructor itself) is registered, and never again.
unsafe impl<T> Sync for Once<T> {}

/// Unset or empty BMALLOC_STATS: a report on stderr from the shared object, none from a Rust
/// program that only uses `Bmalloc`.
const DEFAULTS: Settings = Settings::defaults(cfg!(feature = "override"));

static SETTINGS: Once<Settings> = Once(UnsafeCell::new(DEFAULTS));
static STATS_PATH: Once<Buf<{ options::MAX_PATH }>> = Once(UnsafeCell::new(Buf::new()));
static CONF_TEXT: Once<[u8; 4096]> = Once(UnsafeCell::new([0; 4096]));
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
    // SAFETY: only the constructor writes the settings, and nobody reads them yet.
    let settings = unsafe { &mut *SETTINGS.0.get() };
    read_options(settings);
    options::set_purge_delay_ms(settings.purge_delay_ms);
    if settings.stats == StatsTarget::Stderr {
        console::save_stderr();
    }
    registry::exit_key();
    // Registered from our constructor, which runs before the program's start-up registers
    // the loader's fini handler: so ours runs after every library's destructors, and sees
    // their last frees.
    // SAFETY: `exit_report` is a valid handler for the whole life of the process.
    unsafe { __cxa_atexit(exit_report, core::ptr::null_mut(), core::ptr::null_mut()) };
}

/// A warning on stderr, one line: "bmalloc: <where>: NAME=value: <why>; using <setting>".
fn warn_value(at: &[u8], line: usize, opt: Opt, value: &[u8], why: &str, now: &Settings) {
    let mut w = Writer::new(Fd(console::message_fd()));
    w.str("bmalloc: ");
    if !at.is_empty() {
        w.bytes(at).str(":").u64(line as u64).str(": ");
    }
    w.bytes(opt.name().to_bytes())
        .str("=")
        .bytes(value)
        .str(": ")
        .str(why);
    w.str("; using ");
    now.write_value(opt, &mut w);
    w.str("\n");
}

fn warn(parts: &[&[u8]]) {
    let mut w = Writer::new(Fd(console::message_fd()));
    w.str("bmalloc: ");
    for p in parts {
        w.bytes(p);
    }
    w.str("\n");
}

fn read_options(s: &mut Settings) {
    let secure = os::is_secure();
    let env = |name: &CStr| {
        let value = os::secure_env(name);
        if secure && os::raw_env(name).is_some() {
            warn(&[
                name.to_bytes(),
                b" ignored: the process is privileged (setuid, setgid or capabilities); only ",
                CONF_PATH.to_bytes(),
                b" applies",
            ]);
        }
        value
    };
    let conf = env(c"BMALLOC_CONF");
    let conf_status = read_conf_file(s, conf);
    for opt in Opt::ALL {
        if let Some(value) = env(opt.name()) {
            if let Err(why) = s.set(opt, value, Source::Environment) {
                warn_value(b"", 0, opt, value, why, s);
            }
        }
    }
    if s.stats == StatsTarget::File {
        absolute_stats_path(s);
    }
    if s.check != registry::checking() {
        // Only the options file can ask for what the environment did not: too late, as
        // blocks made before start-up carry no checks.
        s.check = registry::checking();
        let why = "checking mode is chosen from the environment at the first allocation";
        warn_value(b"", 0, Opt::Check, b"1", why, s);
    }
    if s.verbose {
        print_settings(s, conf.unwrap_or(CONF_PATH.to_bytes()), conf_status, secure);
    }
}

/// What became of the options file.
#[derive(Clone, Copy)]
enum Conf {
    Read,
    Missing,
    Unreadable(i32),
    Off,
}

/// Reads the options file: `BMALLOC_CONF` if set (empty: none), else /etc/bmalloc.conf.
fn read_conf_file(s: &mut Settings, name: Option<&'static [u8]>) -> Conf {
    let mut path = Buf::<{ options::MAX_PATH }>::new();
    path.put(name.unwrap_or(CONF_PATH.to_bytes()));
    path.put(b"\0");
    let Ok(cpath) = CStr::from_bytes_until_nul(path.as_bytes()) else {
        return Conf::Off;
    };
    if path.cut || cpath.is_empty() {
        return Conf::Off;
    }
    // SAFETY: only the constructor writes the file's text, before anyone reads it.
    let buf = unsafe { &mut *CONF_TEXT.0.get() };
    let (len, more) = match os::read_file(cpath, buf) {
        Ok(read) => read,
        Err(libc::ENOENT) => return Conf::Missing,
        Err(e) => {
            warn(&[
                cpath.to_bytes(),
                b": cannot read: ",
                os::error_text(e),
                b"; ignored",
            ]);
            return Conf::Unreadable(e);
        }
    };
    if more {
        warn(&[
            cpath.to_bytes(),
            b": longer than 4096 bytes; the rest is ignored",
        ]);
    }
    // SAFETY: written above and never again: the settings may keep slices of it.
    let text: &'static [u8; 4096] = unsafe { &*CONF_TEXT.0.get() };
    let text = &text[..len];
    for (n, line) in text.split(|&c| c == b'\n').enumerate() {
        let at = cpath.to_bytes();
        match options::conf_line(line) {
            Line::Blank => {}
            Line::Setting(opt, value) => {
                if let Err(why) = s.set(opt, value, Source::File) {
                    warn_value(at, n + 1, opt, value, why, s);
                }
            }
            Line::Unknown(name) => {
                let mut w = Writer::new(Fd(console::message_fd()));
                w.str("bmalloc: ")
                    .bytes(at)
                    .str(":")
                    .u64(n as u64 + 1)
                    .str(": unknown option ");
                w.bytes(name).str("; ignored\n");
            }
            Line::Malformed => {
                let mut w = Writer::new(Fd(console::message_fd()));
                w.str("bmalloc: ").bytes(at).str(":").u64(n as u64 + 1);
                w.str(": not NAME=value; ignored\n");
            }
        }
    }
    Conf::Read
}

/// Makes a relative report path absolute against the directory the program starts in (a
/// program may change directory before it exits).
fn absolute_stats_path(s: &mut Settings) {
    // SAFETY: only the constructor writes the path, and nobody reads it yet.
    let path = unsafe { &mut *STATS_PATH.0.get() };
    if s.stats_path.first() != Some(&b'/') {
        let mut cwd = [0u8; options::MAX_PATH];
        let Some(dir) = os::current_dir(&mut cwd) else {
            s.stats = StatsTarget::Stderr;
            warn_value(
                b"",
                0,
                Opt::Stats,
                s.stats_path,
                "the current directory is unknown",
                s,
            );
            return;
        };
        path.put(dir);
        path.put(b"/");
    }
    path.put(s.stats_path);
    if path.cut {
        s.stats = StatsTarget::Stderr;
        warn_value(b"", 0, Opt::Stats, s.stats_path, "the path is too long", s);
        return;
    }
    // SAFETY: written above and never again.
    s.stats_path = unsafe { (*STATS_PATH.0.get()).as_bytes() };
}

/// BMALLOC_VERBOSE: the settings in effect and where each came from.
fn print_settings(s: &Settings, conf: &[u8], status: Conf, secure: bool) {
    let mut w = Writer::new(Fd(console::message_fd()));
    w.str("bmalloc ")
        .str(stats::VERSION)
        .str(": settings in effect\n");
    for opt in Opt::ALL {
        w.str("bmalloc:   ").bytes(opt.name().to_bytes()).str("=");
        s.write_value(opt, &mut w);
        w.str(match s.sources[opt as usize] {
            Source::Default => " (default)\n",
            Source::File => " (options file)\n",
            Source::Environment => " (environment)\n",
        });
    }
    w.str("bmalloc:   options file ").bytes(conf);
    match status {
        Conf::Read => w.str(": read\n"),
        Conf::Missing => w.str(": not present\n"),
        Conf::Unreadable(e) => w.str(": unreadable (").bytes(os::error_text(e)).str(")\n"),
        Conf::Off => w.str(": none (BMALLOC_CONF is empty)\n"),
    };
    if secure {
        w.str("bmalloc:   environment ignored: the process is privileged\n");
    }
}

fn settings() -> &'static Settings {
    // SAFETY: written by the constructor only, before the exit handler was registered.
    unsafe { &*SETTINGS.0.get() }
}

extern "C" fn exit_report(_: *mut libc::c_void) {
    if REPORTED.swap(true, AcqRel) {
        return;
    }
    let s = settings();
    let json = s.format == Format::Json;
    match s.stats {
        StatsTarget::Stderr => {
            if let Some(fd) = console::report_fd() {
                write_report_as(fd, json);
            }
        }
        StatsTarget::File => write_report_file(s.stats_path, json),
        StatsTarget::Off => {}
    }
}

/// Writes the report into the file `template` names (`%p` expanded now: a forked child
/// writes its own); when it cannot be opened, says so and writes it to stderr instead.
fn write_report_file(template: &[u8], json: bool) {
    let mut path = Buf::<{ options::MAX_PATH + 64 }>::new();
    let expanded = options::expand_path(template, os::getpid() as u32, &mut path);
    let cpath = CStr::from_bytes_until_nul(path.as_bytes())
        .ok()
        .filter(|_| expanded);
    let error = match cpath {
        Some(cpath) => match os::create_file(cpath) {
            Ok(fd) => {
                write_report_as(fd, json);
                os::close(fd);
                return;
            }
            Err(e) => os::error_text(e),
        },
        None => b"the expanded path is too long".as_slice(),
    };
    let shown = cpath.map_or(template, CStr::to_bytes);
    warn(&[
        b"BMALLOC_STATS: cannot open ",
        shown,
        b": ",
        error,
        b"; the report goes to stderr",
    ]);
    if os::is_open(2) {
        write_report_as(2, json);
    }
}

fn write_report_as(fd: i32, json: bool) {
    stats::write_live_report(&mut Writer::new(Fd(fd)), json);
}

/// Writes the report of every heap to `fd`, in the original's text (malloc_stats).
pub fn write_report_to(fd: i32) {
    write_report_as(fd, false);
}
