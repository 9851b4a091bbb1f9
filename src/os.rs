//! The operating system: every system call bmalloc makes, and nothing above it calls libc for
//! one. Memory (the break, mappings, mremap, madvise, mincore), the clock, descriptors, the
//! thread-exit key and abort. Everything here is a slow path; nothing here allocates.
//!
//! glibc's sbrk is not thread-safe, so only the holder of `GROWER` moves the break, always
//! upward, with the raw brk system call. A thread that finds the flag taken, or whose brk the
//! kernel refuses, maps its memory instead: nobody ever waits.

use crate::size_class::ALIGN;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering::*};

static PAGE: AtomicUsize = AtomicUsize::new(0);
/// 0, or the pid of the process whose thread is moving the break. A child of fork() that
/// inherits a parent's value may take the flag over: that thread does not exist in the child.
static GROWER: AtomicI32 = AtomicI32::new(0);
/// Set once the kernel refused to move the break: from then on, callers map.
static BRK_REFUSED: AtomicBool = AtomicBool::new(false);
/// Bytes of address space obtained with brk and mmap (and mremap growth), and given back with
/// munmap (and mremap shrinking or moving), since start-up: the report's `O` line.
pub static OBTAINED: AtomicUsize = AtomicUsize::new(0);
pub static UNMAPPED: AtomicUsize = AtomicUsize::new(0);

/// The stretch of the program break from the start of bmalloc's first chunk there to the end
/// of its last: `[lo, lo + span)`, kept as `lo` and `units`. All of it is mapped (the break only grows; a stretch
/// another caller of brk took in between is mapped too), so a header address in it can be
/// read without the page map: free()'s first test (`pagemap::readable`).
/// A cache line of its own: every free reads it, and only the growth of the break writes it.
#[repr(C, align(64))]
pub struct BreakRange {
    /// Set once, before `units` first grows; until then 1 << 63, so that an address minus
    /// it is never below any span, whatever order a reader sees the two stores in.
    pub lo: AtomicUsize,
    /// `span` in units of 16 bytes: a 16-aligned offset from `lo` lies inside when it is
    /// below `units << 4`, which one rotation tests together with its alignment
    /// (`pagemap::readable`). Only grows; 0 until the first stretch is set.
    pub units: AtomicUsize,
}

/// `#[used]` keeps the struct whole (see `header::SECRET`).
#[used]
pub static BREAK: BreakRange = BreakRange {
    lo: AtomicUsize::new(1 << 63),
    units: AtomicUsize::new(0),
};

/// The system page size, read once from sysconf.
#[inline]
pub fn page_size() -> usize {
    match PAGE.load(Relaxed) {
        0 => init_page_size(),
        p => p,
    }
}

#[cold]
fn init_page_size() -> usize {
    // SAFETY: sysconf has no preconditions and does not allocate.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p > 0 { p as usize } else { 4096 };
    PAGE.store(p, Relaxed);
    p
}

/// `n` rounded up to whole pages; None on overflow.
pub fn round_to_page(n: usize) -> Option<usize> {
    let page = page_size();
    n.checked_add(page - 1).map(|v| v & !(page - 1))
}

/// Moves the program break up by `len` bytes (a page multiple) from the first page boundary
/// at or above it: the start of the new range, or None when another thread of ours is moving
/// it right now or the kernel refused (then never again: callers map instead).
pub fn grow_break(len: usize) -> Option<*mut u8> {
    if BRK_REFUSED.load(Relaxed) {
        return None;
    }
    let me = getpid();
    if let Err(holder) = GROWER.compare_exchange(0, me, Acquire, Relaxed) {
        if holder == me
            || GROWER
                .compare_exchange(holder, me, Acquire, Relaxed)
                .is_err()
        {
            return None;
        }
    }
    let page = page_size();
    // SAFETY: brk(0) only reports the current break.
    let current = (unsafe { libc::syscall(libc::SYS_brk, 0usize) }) as usize;
    let start = (current + page - 1) & !(page - 1);
    let want = start.checked_add(len);
    let got = match want {
        // SAFETY: we hold GROWER, so no other thread of this process moves the break; brk
        // either moves it to `end` or leaves it where it was.
        Some(end) => (unsafe { libc::syscall(libc::SYS_brk, end) }) as usize,
        None => current,
    };
    if Some(got) == want {
        // Still under GROWER: one thread at a time widens the range.
        if BREAK.units.load(Relaxed) == 0 {
            BREAK.lo.store(start, Relaxed);
        }
        BREAK
            .units
            .store((got - BREAK.lo.load(Relaxed)) / ALIGN, Release);
    }
    GROWER.store(0, Release);
    if Some(got) == want {
        OBTAINED.fetch_add(got - current, Relaxed);
        Some(start as *mut u8)
    } else {
        BRK_REFUSED.store(true, Relaxed);
        None
    }
}

/// An anonymous read-write mapping of `len` bytes, zeroed, or null.
pub fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's choice touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        OBTAINED.fetch_add(len, Relaxed);
        p.cast()
    }
}

/// `len` bytes of address space that cannot be read or written (a fault if touched), or
/// null. Not counted as obtained: no page of it is ever resident.
pub fn reserve(len: usize) -> *mut u8 {
    // SAFETY: as in `map`; no access, no swap reserved.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range is memory the caller mapped and nobody uses any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller's promise.
    if unsafe { libc::munmap(p.cast(), len) } == 0 {
        UNMAPPED.fetch_add(len, Relaxed);
    }
}

/// A fresh anonymous mapping that nobody else has seen yet: dropped, it is unmapped again;
/// kept, it is the caller's for good. So a mapping that turns out not to be needed (another
/// thread installed its own first, the page map could not take it) goes back without an
/// unsafe call.
pub struct Fresh {
    p: *mut u8,
    len: usize,
}

impl Fresh {
    /// A zeroed read-write mapping of `len` bytes.
    pub fn map(len: usize) -> Option<Fresh> {
        Self::made(map(len), len)
    }

    /// As `map_aligned`.
    pub fn map_aligned(len: usize, align: usize, offset: usize) -> Option<Fresh> {
        Self::made(map_aligned(len, align, offset), len)
    }

    /// A `Fresh` only for a mapping that was made. Not `then_some`, which builds its value
    /// first: a refused mapping was then dropped as a `Fresh` of null, and its drop unmapped
    /// `[0, len)`, a non-PIE program's own code with it (t_failed_map.sh).
    fn made(p: *mut u8, len: usize) -> Option<Fresh> {
        if p.is_null() {
            None
        } else {
            Some(Fresh { p, len })
        }
    }

    pub fn ptr(&self) -> *mut u8 {
        self.p
    }

    /// The mapping, the caller's now.
    pub fn keep(self) -> *mut u8 {
        let p = self.p;
        core::mem::forget(self);
        p
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        // SAFETY: our own mapping, which nobody else ever saw.
        unsafe { unmap(self.p, self.len) };
    }
}

/// A mapping of `len` bytes whose address `offset` bytes in is aligned to `align` (a power
/// of two); `len` and `offset` are page multiples. The slack around it is unmapped.
pub fn map_aligned(len: usize, align: usize, offset: usize) -> *mut u8 {
    if align <= page_size() {
        return map(len);
    }
    let Some(total) = len.checked_add(align) else {
        return null_mut();
    };
    let raw = map(total);
    if raw.is_null() {
        return raw;
    }
    let raw_addr = raw as usize;
    let target = ((raw_addr + offset + align - 1) & !(align - 1)) - offset;
    let head = target - raw_addr;
    let tail = total - head - len;
    // SAFETY: head and tail are the slack of the mapping just made, outside the range kept.
    unsafe {
        if head > 0 {
            unmap(raw, head);
        }
        if tail > 0 {
            unmap((target + len) as *mut u8, tail);
        }
    }
    target as *mut u8
}

/// Resizes the mapping at `start` from `from` to `to` bytes where it is (mremap without
/// MAYMOVE, so growing fails rather than overlap anything). Whether it worked.
///
/// # Safety
/// `[start, start + from)` is a mapping of the caller's that nobody else uses.
pub unsafe fn resize_in_place(start: usize, from: usize, to: usize) -> bool {
    // SAFETY: the caller's promise; without MAYMOVE the kernel keeps the address.
    let done = unsafe { libc::mremap(start as *mut libc::c_void, from, to, 0) != libc::MAP_FAILED };
    if done && to > from {
        OBTAINED.fetch_add(to - from, Relaxed);
    } else if done {
        UNMAPPED.fetch_add(from - to, Relaxed);
    }
    done
}

/// Moves the pages of the mapping `[start, start + len)` over the start of `dest` (mremap
/// with MAYMOVE|FIXED: pages move, no byte is copied), unmapping the old range. Whether it
/// worked; on failure both ranges are as they were.
///
/// # Safety
/// Both ranges are mappings of the caller's that nobody else uses; `dest` holds `len` bytes.
pub unsafe fn move_pages(start: usize, len: usize, dest: *mut u8) -> bool {
    // SAFETY: the caller's promise.
    let moved = unsafe {
        libc::mremap(
            start as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            dest,
        )
    };
    // The old range's address space is gone; `dest` was counted when it was mapped.
    let done = moved != libc::MAP_FAILED;
    if done {
        UNMAPPED.fetch_add(len, Relaxed);
    }
    done
}

/// MADV_DONTNEED on `[from, to)`: the pages go back to the OS, stay mapped, and read as zeros.
///
/// # Safety
/// The range is page-aligned memory of ours whose content nobody needs.
pub unsafe fn discard(from: usize, to: usize) {
    #[cfg(not(miri))]
    // SAFETY: the caller's promise.
    unsafe {
        libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED)
    };
    // Miri has no madvise: zeroing is what the pages read as after it.
    #[cfg(miri)]
    // SAFETY: the caller's promise.
    unsafe {
        core::ptr::write_bytes(from as *mut u8, 0, to - from)
    };
}

/// How many of the `vec.len()` pages from `at` (mapped memory of ours, page-aligned) are
/// resident; None if the kernel cannot tell.
pub fn resident_pages(at: usize, vec: &mut [u8]) -> Option<usize> {
    if cfg!(miri) {
        return None; // Miri has no mincore
    }
    // SAFETY: mincore reads no memory of ours and writes one byte per page into `vec`, which
    // has a byte for every page asked about; an unmapped range only makes it fail.
    let ok = unsafe {
        libc::mincore(
            at as *mut libc::c_void,
            vec.len() * page_size(),
            vec.as_mut_ptr(),
        )
    };
    (ok == 0).then(|| vec.iter().filter(|&&v| v & 1 != 0).count())
}

/// A monotonic clock in microseconds, for what takes time (a vDSO read, no system call).
pub fn now_us() -> u64 {
    let (s, ns) = clock(libc::CLOCK_MONOTONIC);
    s * 1_000_000 + ns / 1000
}

/// A coarse monotonic clock in milliseconds (a vDSO read, no system call).
pub fn now_ms() -> u64 {
    let (s, ns) = clock(libc::CLOCK_MONOTONIC_COARSE);
    s * 1000 + ns / 1_000_000
}

/// Seconds and nanoseconds of clock `id`.
fn clock(id: libc::clockid_t) -> (u64, u64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into our timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64, ts.tv_nsec as u64)
}

pub fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR; gives up on any other
/// error (a report to a closed descriptor is simply lost).
pub fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice; a bad fd only makes write fail.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && errno::errno().0 == libc::EINTR {
            continue;
        } else {
            return;
        }
    }
}

/// A close-on-exec duplicate of `fd` numbered `min` or above, or a negative number.
pub fn dup_at_least(fd: i32, min: i32) -> i32 {
    // SAFETY: F_DUPFD_CLOEXEC only duplicates the descriptor (or fails).
    unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) }
}

/// Whether `fd` is open.
pub fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The device and inode of the file open at `fd`.
pub fn identity(fd: i32) -> Option<(u64, u64)> {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat fills our stat buffer when it succeeds, and only then is it read.
    unsafe {
        (libc::fstat(fd, st.as_mut_ptr()) == 0).then(|| {
            let st = st.assume_init_ref();
            (st.st_dev, st.st_ino)
        })
    }
}

/// Opens `path` for writing, created (mode 0644) or truncated, close-on-exec: a descriptor, or
/// the errno of the failure.
pub fn create_file(path: &core::ffi::CStr) -> Result<i32, i32> {
    // SAFETY: the path is NUL-terminated.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd >= 0 {
        Ok(fd)
    } else {
        Err(errno::errno().0)
    }
}

/// Closes a descriptor the caller opened.
pub fn close(fd: i32) {
    // SAFETY: closing a descriptor has no memory effects; a bad one only makes it fail.
    unsafe { libc::close(fd) };
}

/// The process's peak resident set so far, in bytes (getrusage's maxrss), or 0.
pub fn peak_rss_bytes() -> u64 {
    let mut ru = core::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills our rusage buffer; a zeroed rusage is valid if it fails.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    (ru.ru_maxrss.max(0) as u64) * 1024
}

/// Eight random bytes for the keys of the headers (`header::install_keys`): from getrandom,
/// without waiting for the entropy pool; else from the kernel's AT_RANDOM bytes, mixed with
/// the clock.
#[cold]
pub fn random_seed() -> u64 {
    let mut seed = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into `seed`; GRND_NONBLOCK never blocks.
    let got = unsafe {
        libc::syscall(
            libc::SYS_getrandom,
            (&raw mut seed).cast::<u8>(),
            8usize,
            libc::GRND_NONBLOCK,
        )
    };
    if got == 8 {
        return seed;
    }
    // SAFETY: getauxval reads the auxiliary vector; AT_RANDOM, when present, is the address
    // of 16 random bytes the kernel put on the initial stack.
    let at = unsafe { libc::getauxval(libc::AT_RANDOM) } as *const u64;
    // Both halves folded into one: neither of glibc's secrets drawn from them (the stack
    // canary, the pointer guard) can be read back from ours.
    let aux = if at.is_null() {
        0
    } else {
        // SAFETY: as just said; read unaligned, as the kernel does not promise alignment.
        unsafe { at.read_unaligned() ^ at.add(1).read_unaligned().rotate_left(29) }
    };
    aux ^ now_ms().rotate_left(32) ^ (&raw const seed as u64)
}

/// Whether the process runs with privileges its environment must not steer (setuid, setgid,
/// file capabilities: the kernel's AT_SECURE), as glibc's `secure_getenv` decides.
pub fn is_secure() -> bool {
    // SAFETY: getauxval reads the auxiliary vector; an absent entry gives 0.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The value of environment variable `name`, unless the process is secure (`is_secure`):
/// then None, as `secure_getenv` answers.
pub fn secure_env(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    unsafe extern "C" {
        fn secure_getenv(name: *const libc::c_char) -> *mut libc::c_char;
    }
    // SAFETY: secure_getenv returns null or a NUL-terminated string in the environment,
    // which nobody changes while the constructors run.
    let value = unsafe { secure_getenv(name.as_ptr()) };
    cstr_bytes(value)
}

/// The value of environment variable `name` whatever the process's privileges: only to say
/// that it was ignored.
pub fn raw_env(name: &core::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: as in `secure_env`.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    cstr_bytes(value)
}

fn cstr_bytes(p: *const libc::c_char) -> Option<&'static [u8]> {
    // SAFETY: callers pass null or a NUL-terminated string of the environment, which lives as
    // long as the process (nobody changes the environment while the constructors run).
    (!p.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// Reads the file at `path` into `buf`: the bytes read (at most `buf.len()`), and whether the
/// file held more; or the errno of the open or read that failed.
pub fn read_file(path: &core::ffi::CStr, buf: &mut [u8]) -> Result<(usize, bool), i32> {
    // SAFETY: the path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno::errno().0);
    }
    let mut len = 0;
    let mut more = [0u8; 1];
    let result = loop {
        let room = &mut buf[len..];
        let (ptr, cap) = if room.is_empty() {
            (more.as_mut_ptr(), 1) // full: one more byte says whether there is more
        } else {
            (room.as_mut_ptr(), room.len())
        };
        // SAFETY: reads into a live buffer of `cap` bytes.
        let n = unsafe { libc::read(fd, ptr.cast(), cap) };
        match n {
            0 => break Ok((len, false)),
            n if n > 0 && len == buf.len() => break Ok((len, true)),
            n if n > 0 => len += n as usize,
            _ if errno::errno().0 == libc::EINTR => {}
            _ => break Err(errno::errno().0),
        }
    };
    close(fd);
    result
}

/// The current directory into `buf`, without its NUL; None if it does not fit or is gone.
pub fn current_dir(buf: &mut [u8]) -> Option<&[u8]> {
    // SAFETY: getcwd writes at most `buf.len()` bytes into the buffer, NUL included.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return None;
    }
    let len = buf.iter().position(|&c| c == 0)?;
    Some(&buf[..len])
}

/// The text glibc has for errno `e`, from its static table (no allocation, unlike
/// `strerror` for an unknown number).
pub fn error_text(e: i32) -> &'static [u8] {
    unsafe extern "C" {
        fn strerrordesc_np(errnum: i32) -> *const libc::c_char;
    }
    // SAFETY: strerrordesc_np returns null or a static NUL-terminated string.
    let p = unsafe { strerrordesc_np(e) };
    if p.is_null() {
        return b"unknown error";
    }
    // SAFETY: non-null results are static NUL-terminated strings.
    unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes()
}

/// Ends the process at once with `status`, running no exit handler.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(status) }
}

/// Ends the process at once, as glibc does on heap corruption.
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// A thread-specific key whose destructor `on_exit` runs when a thread with a value set for it
/// exits (glibc makes one without allocating).
pub fn key_create(on_exit: unsafe extern "C" fn(*mut libc::c_void)) -> Option<u32> {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: pthread_key_create writes the new key to `key`.
    (unsafe { libc::pthread_key_create(&mut key, Some(on_exit)) } == 0).then_some(key)
}

/// Deletes a key nobody has set a value for.
pub fn key_delete(key: u32) {
    // SAFETY: deleting a key only frees its slot in glibc's table.
    unsafe { libc::pthread_key_delete(key) };
}

/// Sets the calling thread's value for `key` (a key below 32 needs no allocation to set).
pub fn key_set(key: u32, value: *mut libc::c_void) {
    // SAFETY: the value is stored, never dereferenced, by glibc.
    unsafe { libc::pthread_setspecific(key, value) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_mapping_unmaps_nothing() {
        let _alone = crate::tests_alone();
        let before = UNMAPPED.load(Relaxed);
        // 32 TiB: refused on any machine this runs on (more than its memory), yet short
        // enough that a munmap of [0, len) succeeds, as the old drop of a refused mapping did.
        let len = 1 << 45;
        if let Some(got) = Fresh::map(len) {
            drop(got); // a machine that had it: nothing to learn here
            return;
        }
        assert!(Fresh::map_aligned(len, 1 << 20, 0).is_none());
        assert_eq!(UNMAPPED.load(Relaxed), before, "nothing was unmapped");
    }
}
