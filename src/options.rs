//! Environment variables, read once by the constructor without allocating.
//!
//! `BMALLOC_STATS`: `1` or `stderr`: exit report on stderr; `0`: no report; anything else: a
//! file to write it to, where `%p` stands for the process id and `%%` for `%`. Unset or empty:
//! stderr for the shared object (the `override` feature), no report for a Rust program.
//!
//! `BMALLOC_PURGE_DELAY_MS`: how long free blocks handed to the exchange may wait for a taker
//! before their pages go back to the OS (default 1000; 0 purges at the next chance).

use crate::fmt::{Buf, Sink};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub const DEFAULT_PURGE_DELAY_MS: u64 = 1000;
static PURGE_DELAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_PURGE_DELAY_MS);

pub fn purge_delay_ms() -> u64 {
    PURGE_DELAY_MS.load(Relaxed)
}

pub fn set_purge_delay_ms(ms: u64) {
    PURGE_DELAY_MS.store(ms, Relaxed);
}

/// A whole number of milliseconds; None for anything else (the default then applies).
pub fn parse_ms(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 12 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, d| n * 10 + (d - b'0') as u64))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StatsTarget {
    Off,
    Stderr,
    File,
}

/// Where BMALLOC_STATS sends the report; `unset` when it is unset or empty (stderr for the
/// shared object, off for a Rust program that only uses `Bmalloc`).
pub fn parse_stats(value: Option<&[u8]>, unset: StatsTarget) -> StatsTarget {
    match value {
        None | Some(b"") => unset,
        Some(b"1") | Some(b"stderr") => StatsTarget::Stderr,
        Some(b"0") => StatsTarget::Off,
        Some(_) => StatsTarget::File,
    }
}

/// Expands `%p` to `pid` and `%%` to `%` into `out`, NUL-terminated for open(2). False if the
/// result does not fit.
pub fn expand_path<const N: usize>(template: &[u8], pid: u32, out: &mut Buf<N>) -> bool {
    let mut i = 0;
    while i < template.len() {
        match (template[i], template.get(i + 1)) {
            (b'%', Some(b'p')) => {
                let mut w = crate::fmt::Writer::new(Buf::<12>::new());
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

    #[test]
    fn stats_values() {
        use StatsTarget::*;
        assert_eq!(parse_stats(None, Stderr), Stderr);
        assert_eq!(parse_stats(None, Off), Off);
        assert_eq!(parse_stats(Some(b""), Stderr), Stderr);
        assert_eq!(parse_stats(Some(b""), Off), Off);
        assert_eq!(parse_stats(Some(b"1"), Off), Stderr);
        assert_eq!(parse_stats(Some(b"stderr"), Off), Stderr);
        assert_eq!(parse_stats(Some(b"0"), Stderr), Off);
        assert_eq!(parse_stats(Some(b"/tmp/x.%p"), Off), File);
        assert_eq!(parse_stats(Some(b"00"), Off), File);
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
    fn purge_delays_are_whole_milliseconds() {
        assert_eq!(parse_ms(b"0"), Some(0));
        assert_eq!(parse_ms(b"250"), Some(250));
        assert_eq!(parse_ms(b"999999999999"), Some(999_999_999_999));
        assert_eq!(parse_ms(b""), None);
        assert_eq!(parse_ms(b"-5"), None);
        assert_eq!(parse_ms(b"1e3"), None);
        assert_eq!(parse_ms(b"1000000000000"), None, "too long");
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
