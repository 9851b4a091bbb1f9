//! The options: their names, how a value is read, and the settings in effect. Nothing here
//! reads the environment or a file (start-up does, see `startup`): this is parsing only, and
//! allocates nothing.
//!
//! - `BMALLOC_STATS`: `1`, `on`, `yes`, `true` or `stderr`: exit report on stderr; `0`, `off`,
//!   `no` or `false`: no report; anything else: a file to write it to, where `%p` stands for
//!   the process id and `%%` for `%` (a relative path is taken from the directory the program
//!   started in). Unset or empty: stderr for the shared object (the `override` feature), no
//!   report for a Rust program.
//! - `BMALLOC_STATS_FORMAT`: `text` (the original's lines, the default) or `json`.
//! - `BMALLOC_PURGE_DELAY_MS`: how long free blocks handed to the exchange may wait for a
//!   taker before their pages go back to the OS (default 1000; 0 purges at the next chance).
//! - `BMALLOC_VERBOSE`: a switch as above; on, the settings in effect are printed at start-up.
//! - `BMALLOC_CHECK`: a switch; on, checking mode (canaries, poisoned freed blocks, a
//!   quarantine, junk-filled new blocks, zero-size blocks that fault, C++ mismatches; see
//!   `checking`). Read from the environment at the first allocation, before any block exists.
//!
//! Switch values are read without regard to case. A value that cannot be used leaves the
//! setting as it was, and the caller warns.

use crate::fmt::{Sink, Writer};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub const DEFAULT_PURGE_DELAY_MS: u64 = 1000;
static PURGE_DELAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_PURGE_DELAY_MS);

pub fn purge_delay_ms() -> u64 {
    PURGE_DELAY_MS.load(Relaxed)
}

pub fn set_purge_delay_ms(ms: u64) {
    PURGE_DELAY_MS.store(ms, Relaxed);
}

/// The options file read at start-up when BMALLOC_CONF does not name another.
pub const CONF_PATH: &core::ffi::CStr = c"/etc/bmalloc.conf";

/// The options, in the order they are listed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Opt {
    Stats,
    StatsFormat,
    PurgeDelayMs,
    Verbose,
    Check,
}

impl Opt {
    pub const ALL: [Opt; 5] = [
        Opt::Stats,
        Opt::StatsFormat,
        Opt::PurgeDelayMs,
        Opt::Verbose,
        Opt::Check,
    ];

    pub const fn name(self) -> &'static core::ffi::CStr {
        match self {
            Opt::Stats => c"BMALLOC_STATS",
            Opt::StatsFormat => c"BMALLOC_STATS_FORMAT",
            Opt::PurgeDelayMs => c"BMALLOC_PURGE_DELAY_MS",
            Opt::Verbose => c"BMALLOC_VERBOSE",
            Opt::Check => c"BMALLOC_CHECK",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Opt> {
        Opt::ALL.into_iter().find(|o| o.name().to_bytes() == name)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StatsTarget {
    Off,
    Stderr,
    File,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

/// Where a setting came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Source {
    Default,
    File,
    Environment,
}

/// The settings in effect.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub stats: StatsTarget,
    /// The report file's path template, when `stats` is `File`.
    pub stats_path: &'static [u8],
    pub format: Format,
    pub purge_delay_ms: u64,
    pub verbose: bool,
    /// Where each of `Opt::ALL` came from.
    pub sources: [Source; 5],
    /// Checking mode, as the settings ask for it (the registry decides it from the
    /// environment at the first allocation; start-up warns when the two differ).
    pub check: bool,
}

/// What was wrong with a value; the caller adds what is used instead.
pub type Refusal = &'static str;

const NOT_A_SWITCH: Refusal = "not one of 0, off, no, false, 1, on, yes, true";

/// Longest report path template taken (the file name is built in a buffer this size).
pub const MAX_PATH: usize = 4096;

impl Settings {
    /// The defaults: a report on stderr if `report_by_default`, else none.
    pub const fn defaults(report_by_default: bool) -> Settings {
        Settings {
            stats: if report_by_default {
                StatsTarget::Stderr
            } else {
                StatsTarget::Off
            },
            stats_path: b"",
            format: Format::Text,
            purge_delay_ms: DEFAULT_PURGE_DELAY_MS,
            verbose: false,
            sources: [Source::Default; 5],
            check: false,
        }
    }

    /// Sets `opt` from `value`, which came from `source`. An empty value leaves the setting
    /// as it is, as if unset. A value that cannot be used leaves it too, and says why.
    pub fn set(&mut self, opt: Opt, value: &'static [u8], source: Source) -> Result<(), Refusal> {
        if value.is_empty() {
            return Ok(());
        }
        match opt {
            Opt::Stats => match switch(value) {
                Some(on) => {
                    self.stats = if on {
                        StatsTarget::Stderr
                    } else {
                        StatsTarget::Off
                    }
                }
                None if value.eq_ignore_ascii_case(b"stderr") => self.stats = StatsTarget::Stderr,
                None if value.len() >= MAX_PATH => return Err("the path is too long"),
                None if value.contains(&0) => return Err("the path holds a NUL byte"),
                None => {
                    self.stats = StatsTarget::File;
                    self.stats_path = value;
                }
            },
            Opt::StatsFormat => {
                self.format = if value.eq_ignore_ascii_case(b"text") {
                    Format::Text
                } else if value.eq_ignore_ascii_case(b"json") {
                    Format::Json
                } else {
                    return Err("not text or json");
                }
            }
            Opt::PurgeDelayMs => {
                self.purge_delay_ms =
                    parse_ms(value).ok_or("not a whole number of milliseconds below 2^64")?;
            }
            Opt::Verbose => {
                self.verbose = switch(value).ok_or(NOT_A_SWITCH)?;
            }
            Opt::Check => {
                self.check = switch(value).ok_or(NOT_A_SWITCH)?;
            }
        }
        self.sources[opt as usize] = source;
        Ok(())
    }

    /// The setting of `opt`, as it would be written to get it.
    pub fn write_value<S: Sink>(&self, opt: Opt, w: &mut Writer<S>) {
        match opt {
            Opt::Stats => match self.stats {
                StatsTarget::Off => w.str("0"),
                StatsTarget::Stderr => w.str("stderr"),
                StatsTarget::File => w.bytes(self.stats_path),
            },
            Opt::StatsFormat => w.str(match self.format {
                Format::Text => "text",
                Format::Json => "json",
            }),
            Opt::PurgeDelayMs => w.u64(self.purge_delay_ms),
            Opt::Verbose => w.str(if self.verbose { "1" } else { "0" }),
            Opt::Check => w.str(if self.check { "1" } else { "0" }),
        };
    }
}

/// A switch: `0/off/no/false` or `1/on/yes/true`, in any case; None for anything else.
pub fn switch(value: &[u8]) -> Option<bool> {
    let is = |words: &[&[u8]]| words.iter().any(|w| value.eq_ignore_ascii_case(w));
    if is(&[b"0", b"off", b"no", b"false"]) {
        Some(false)
    } else if is(&[b"1", b"on", b"yes", b"true"]) {
        Some(true)
    } else {
        None
    }
}

/// A whole number of milliseconds that fits in 64 bits; None for anything else.
pub fn parse_ms(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then_some(())
            .and_then(|()| n.checked_mul(10)?.checked_add((d - b'0') as u64))
    })
}

/// One line of an options file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Line<'a> {
    /// Empty, or a comment (`#` first).
    Blank,
    /// `NAME=value`, spaces around either trimmed.
    Setting(Opt, &'a [u8]),
    /// A name that is no option.
    Unknown(&'a [u8]),
    /// No `=`.
    Malformed,
}

/// Reads one line of an options file (without its newline).
pub fn conf_line(line: &[u8]) -> Line<'_> {
    let line = line.trim_ascii();
    if line.is_empty() || line[0] == b'#' {
        return Line::Blank;
    }
    let Some(eq) = line.iter().position(|&c| c == b'=') else {
        return Line::Malformed;
    };
    let (name, value) = (line[..eq].trim_ascii(), line[eq + 1..].trim_ascii());
    match Opt::from_name(name) {
        Some(opt) => Line::Setting(opt, value),
        None => Line::Unknown(name),
    }
}

/// Expands `%p` to `pid` and `%%` to `%` into `out`, NUL-terminated for open(2). False if the
/// result does not fit.
pub fn expand_path<const N: usize>(
    template: &[u8],
    pid: u32,
    out: &mut crate::fmt::Buf<N>,
) -> bool {
    let mut i = 0;
    while i < template.len() {
        match (template[i], template.get(i + 1)) {
            (b'%', Some(b'p')) => {
                let mut w = Writer::new(crate::fmt::Buf::<12>::new());
                w.u64(pid as u64);
                out.put(w.finish().as_bytes());
                i += 2;
            }
            (b'%', Some(b'%')) => {
                out.put(b"%");
                i += 2;
            }
            (c, _) => {
                out.put(&[c]);
                i += 1;
            }
        }
    }
    out.put(b"\0");
    !out.cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::Buf;

    fn set(s: &mut Settings, opt: Opt, v: &'static str) -> Result<(), Refusal> {
        s.set(opt, v.as_bytes(), Source::Environment)
    }

    fn shown(s: &Settings, opt: Opt) -> std::string::String {
        let mut w = Writer::new(Buf::<256>::new());
        s.write_value(opt, &mut w);
        std::string::String::from_utf8(w.finish().as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn switch_words_in_any_case() {
        for v in ["0", "off", "no", "false", "OFF", "No", "False"] {
            assert_eq!(switch(v.as_bytes()), Some(false), "{v}");
        }
        for v in ["1", "on", "yes", "true", "ON", "Yes", "TRUE"] {
            assert_eq!(switch(v.as_bytes()), Some(true), "{v}");
        }
        for v in ["", "2", "00", "y", "enable", "stderr"] {
            assert_eq!(switch(v.as_bytes()), None, "{v}");
        }
    }

    #[test]
    fn stats_values() {
        use StatsTarget::*;
        let cases = [
            ("1", Stderr),
            ("on", Stderr),
            ("yes", Stderr),
            ("true", Stderr),
            ("stderr", Stderr),
            ("0", Off),
            ("off", Off),
            ("no", Off),
            ("false", Off),
            ("/tmp/x.%p", File),
            ("00", File),
            ("report.txt", File),
        ];
        for (v, want) in cases {
            for default in [true, false] {
                let mut s = Settings::defaults(default);
                assert_eq!(set(&mut s, Opt::Stats, v), Ok(()));
                assert_eq!(s.stats, want, "{v}");
                assert_eq!(s.sources[Opt::Stats as usize], Source::Environment);
            }
        }
        let mut s = Settings::defaults(true);
        set(&mut s, Opt::Stats, "/tmp/r.%p").unwrap();
        assert_eq!(shown(&s, Opt::Stats), "/tmp/r.%p");
    }

    #[test]
    fn an_empty_value_is_as_if_unset() {
        for default in [true, false] {
            let mut s = Settings::defaults(default);
            for opt in Opt::ALL {
                assert_eq!(set(&mut s, opt, ""), Ok(()));
            }
            let d = Settings::defaults(default);
            assert_eq!(s.stats, d.stats);
            assert_eq!(s.sources, [Source::Default; 5]);
        }
    }

    #[test]
    fn refused_values_leave_the_setting_and_say_why() {
        let mut s = Settings::defaults(true);
        for v in ["abc", "-5", "1.5", "1s", "18446744073709551616", " 5"] {
            let e = set(&mut s, Opt::PurgeDelayMs, v).unwrap_err();
            assert!(e.contains("milliseconds"), "{v}: {e}");
            assert_eq!(s.purge_delay_ms, DEFAULT_PURGE_DELAY_MS);
        }
        assert!(set(&mut s, Opt::StatsFormat, "xml").is_err());
        assert_eq!(s.format, Format::Text);
        assert!(set(&mut s, Opt::Verbose, "loud").is_err());
        assert!(!s.verbose);
        static LONG: [u8; MAX_PATH] = [b'x'; MAX_PATH];
        assert!(s.set(Opt::Stats, &LONG, Source::Environment).is_err());
        assert_eq!(s.stats, StatsTarget::Stderr);
        assert_eq!(s.sources, [Source::Default; 5], "no refused value counts");
    }

    #[test]
    fn accepted_values_show_as_written() {
        let mut s = Settings::defaults(false);
        assert_eq!(shown(&s, Opt::Stats), "0");
        set(&mut s, Opt::StatsFormat, "JSON").unwrap();
        set(&mut s, Opt::PurgeDelayMs, "18446744073709551615").unwrap();
        set(&mut s, Opt::Verbose, "yes").unwrap();
        assert_eq!(shown(&s, Opt::StatsFormat), "json");
        assert_eq!(shown(&s, Opt::PurgeDelayMs), "18446744073709551615");
        assert_eq!(shown(&s, Opt::Verbose), "1");
    }

    #[test]
    fn purge_delays_are_whole_milliseconds_in_64_bits() {
        assert_eq!(parse_ms(b"0"), Some(0));
        assert_eq!(parse_ms(b"250"), Some(250));
        assert_eq!(parse_ms(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_ms(b"18446744073709551616"), None);
        assert_eq!(parse_ms(b""), None);
        assert_eq!(parse_ms(b"-5"), None);
        assert_eq!(parse_ms(b"1e3"), None);
    }

    #[test]
    fn options_file_lines() {
        assert_eq!(conf_line(b""), Line::Blank);
        assert_eq!(conf_line(b"   # a comment"), Line::Blank);
        assert_eq!(
            conf_line(b"BMALLOC_STATS=/var/log/bm.%p"),
            Line::Setting(Opt::Stats, b"/var/log/bm.%p")
        );
        assert_eq!(
            conf_line(b"  BMALLOC_PURGE_DELAY_MS = 250 \r"),
            Line::Setting(Opt::PurgeDelayMs, b"250")
        );
        assert_eq!(conf_line(b"BMALLOC_STAT=1"), Line::Unknown(b"BMALLOC_STAT"));
        assert_eq!(conf_line(b"BMALLOC_STATS"), Line::Malformed);
    }

    fn expand(t: &str, pid: u32) -> Option<std::string::String> {
        let mut b = Buf::<64>::new();
        expand_path(t.as_bytes(), pid, &mut b)
            .then(|| std::string::String::from_utf8(b.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn pid_and_percent_expand() {
        assert_eq!(
            expand("/tmp/s.%p.txt", 4242).as_deref(),
            Some("/tmp/s.4242.txt\0")
        );
        assert_eq!(expand("%p-%p", 7).as_deref(), Some("7-7\0"));
        assert_eq!(expand("a%%p", 7).as_deref(), Some("a%p\0"));
        assert_eq!(expand("trailing%", 7).as_deref(), Some("trailing%\0"));
        assert_eq!(expand("%x", 7).as_deref(), Some("%x\0"));
    }

    #[test]
    fn too_long_paths_are_refused() {
        let long = "x".repeat(100);
        assert_eq!(expand(&long, 1), None);
        assert!(
            expand(&"y".repeat(63), 1).is_some(),
            "63 bytes + NUL fit in 64"
        );
    }
}
