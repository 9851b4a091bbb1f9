//! Text output without allocation: a fixed buffer that is written to a file descriptor when it
//! fills and when it is dropped. Used by the exit report and the misuse messages.

/// Where formatted bytes go.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

/// A file descriptor, written with write(2) (see `os::write_all`).
pub struct Fd(pub i32);

impl Sink for Fd {
    fn put(&mut self, bytes: &[u8]) {
        crate::os::write_all(self.0, bytes);
    }
}

/// Buffers text for a sink.
pub struct Writer<S: Sink> {
    sink: S,
    buf: [u8; 1024],
    len: usize,
}

impl<S: Sink> Writer<S> {
    pub fn new(sink: S) -> Self {
        Writer {
            sink,
            buf: [0; 1024],
            len: 0,
        }
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        for &c in b {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = c;
            self.len += 1;
        }
        self
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.digits(v, 10)
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.bytes(b"-");
        }
        self.u64(v.unsigned_abs())
    }

    /// `0x` and lowercase hex digits, as glibc's `%p` prints a pointer.
    pub fn hex(&mut self, v: usize) -> &mut Self {
        self.bytes(b"0x").digits(v as u64, 16)
    }

    /// `v` in base `base` (2 to 16), most significant digit first.
    fn digits(&mut self, mut v: u64, base: u64) -> &mut Self {
        let mut digits = [0u8; 64];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(v % base) as usize];
            v /= base;
            if v == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    pub fn flush(&mut self) {
        let len = self.len;
        self.len = 0;
        self.sink.put(&self.buf[..len]);
    }

    /// Flushes and gives the sink back.
    pub fn finish(mut self) -> S {
        self.flush();
        // Move the sink out without running Drop's flush a second time.
        let me = core::mem::ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so the sink is moved out exactly once.
        unsafe { core::ptr::read(&me.sink) }
    }
}

impl<S: Sink> Drop for Writer<S> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// For `core::fmt` formatting (the checked build's assertion messages): no allocation either.
impl<S: Sink> core::fmt::Write for Writer<S> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.str(s);
        Ok(())
    }
}

/// A sink into a fixed array, for tests and for building file names.
pub struct Buf<const N: usize> {
    pub data: [u8; N],
    pub len: usize,
    /// Set when something did not fit.
    pub cut: bool,
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf {
            data: [0; N],
            len: 0,
            cut: false,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl<const N: usize> Default for Buf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Sink for Buf<N> {
    /// Keeps what fits; the rest is cut off.
    fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(N - self.len);
        self.cut |= n < bytes.len();
        self.data[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Writer<Buf<256>>)) -> std::string::String {
        let mut w = Writer::new(Buf::<256>::new());
        f(&mut w);
        let b = w.finish();
        std::string::String::from_utf8(b.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn numbers_print_in_decimal_and_hex() {
        assert_eq!(
            text(|w| {
                w.u64(0);
            }),
            "0"
        );
        assert_eq!(
            text(|w| {
                w.u64(u64::MAX);
            }),
            "18446744073709551615"
        );
        assert_eq!(
            text(|w| {
                w.i64(-320).str(" ").i64(7);
            }),
            "-320 7"
        );
        assert_eq!(
            text(|w| {
                w.i64(i64::MIN);
            }),
            "-9223372036854775808"
        );
        assert_eq!(
            text(|w| {
                w.hex(0x7ffd_1234_abc0);
            }),
            "0x7ffd1234abc0"
        );
        assert_eq!(
            text(|w| {
                w.hex(0);
            }),
            "0x0"
        );
    }

    #[test]
    fn long_output_passes_through_the_buffer_intact() {
        let mut w = Writer::new(Buf::<4096>::new());
        for i in 0..500u64 {
            w.u64(i).str(",");
        }
        let b = w.finish();
        let expected: std::string::String = (0..500).map(|i| std::format!("{i},")).collect();
        assert_eq!(b.as_bytes(), expected.as_bytes());
    }

    #[test]
    fn a_full_fixed_buffer_cuts_instead_of_overflowing() {
        let mut w = Writer::new(Buf::<4>::new());
        w.str("abcdef");
        assert_eq!(w.finish().as_bytes(), b"abcd");
    }
}
