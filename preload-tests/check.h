/* check.h - shared helpers for the bmalloc preload tests.
 *
 * Every C test includes this file and calls require_bmalloc() first, so a
 * test that is run without LD_PRELOAD=libbmalloc.so fails loudly.
 *
 * CHECK(cond)            fail (print file:line and the condition) unless cond
 * CHECK_EQ(a, b)         integers, prints both values
 * CHECK_PTR_EQ(a, b)     pointers, prints both values
 * CHECK_ALIGNED(p, a)    (uintptr_t)p % a == 0
 * CHECK_ERRNO(e)         errno == e, prints both as numbers and names
 * OPQ(x)                 hide a value from the optimiser (so gcc cannot fold
 *                        malloc(SIZE_MAX), p == q of two malloc results, or
 *                        drop a malloc/free pair)
 * require_bmalloc()      malloc (and the other exported calls) resolve into libbmalloc
 * rss_kib(), hwm_kib()   VmRSS / VmHWM of this process in KiB
 * fill()/check_fill()    write/verify a position-dependent byte pattern
 * expect_abort(name, fn, arg, substr..., NULL)
 *                        fork; in the child redirect fd 2 into a pipe and run fn(arg);
 *                        the child must die of SIGABRT and its stderr must contain
 *                        every substring.
 * run_self(...)          re-exec this program (/proc/self/exe) with argv, extra
 *                        environment and stderr/stdout redirected to files; returns
 *                        the wait status.
 *
 * Failures are counted in check_failures; test_done() prints the summary line
 * and returns the exit code for main.
 */
#ifndef BMALLOC_CHECK_H
#define BMALLOC_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* not every test uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

static int check_failures;
static int check_count;

/* Failure messages are written with write(2) into a stack buffer: the helpers
 * must work inside threads and forked children and must not disturb the heap
 * more than necessary. */
static void check_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void check_msg(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 1)
        n = sizeof buf - 1;
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}

#define MAX_REPORTED_FAILURES 40
static void check_failed(void)
{
    /* many failures: keep counting, stop printing */
    __atomic_add_fetch(&check_failures, 1, __ATOMIC_RELAXED);
}
#define CHECK_REPORT(...)                                                         \
    do {                                                                          \
        if (__atomic_load_n(&check_failures, __ATOMIC_RELAXED) <                  \
            MAX_REPORTED_FAILURES)                                                \
            check_msg(__VA_ARGS__);                                               \
        check_failed();                                                           \
    } while (0)

#define CHECK(cond)                                                               \
    ({                                                                            \
        int _ok = !!(cond);                                                       \
        __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                    \
        if (!_ok)                                                                 \
            CHECK_REPORT("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        _ok;                                                                      \
    })

#define CHECK_MSG(cond, ...)                                                      \
    ({                                                                            \
        int _ok = !!(cond);                                                       \
        __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                    \
        if (!_ok) {                                                               \
            CHECK_REPORT("%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            if (__atomic_load_n(&check_failures, __ATOMIC_RELAXED) <=             \
                MAX_REPORTED_FAILURES) {                                          \
                check_msg(__VA_ARGS__);                                           \
                check_msg("\n");                                                  \
            }                                                                     \
        }                                                                         \
        _ok;                                                                      \
    })

#define CHECK_EQ(a, b)                                                            \
    ({                                                                            \
        long long _a = (long long)(a), _b = (long long)(b);                       \
        int _ok = _a == _b;                                                       \
        __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                    \
        if (!_ok)                                                                 \
            CHECK_REPORT("%s:%d: CHECK_EQ failed: %s == %s: %lld (0x%llx) != %lld " \
                         "(0x%llx)\n",                                            \
                         __FILE__, __LINE__, #a, #b, _a, (unsigned long long)_a,  \
                         _b, (unsigned long long)_b);                             \
        _ok;                                                                      \
    })

#define CHECK_PTR_EQ(a, b)                                                        \
    ({                                                                            \
        const void *_a = (const void *)(a), *_b = (const void *)(b);              \
        int _ok = _a == _b;                                                       \
        __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                    \
        if (!_ok)                                                                 \
            CHECK_REPORT("%s:%d: CHECK_PTR_EQ failed: %s == %s: %p != %p\n",       \
                         __FILE__, __LINE__, #a, #b, _a, _b);                     \
        _ok;                                                                      \
    })

#define CHECK_ALIGNED(p, al)                                                      \
    ({                                                                            \
        uintptr_t _p = (uintptr_t)(p);                                            \
        size_t _al = (size_t)(al);                                                \
        int _ok = _p % _al == 0;                                                  \
        __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                    \
        if (!_ok)                                                                 \
            CHECK_REPORT("%s:%d: CHECK_ALIGNED failed: %s = %p is not %zu-aligned\n", \
                         __FILE__, __LINE__, #p, (void *)_p, _al);                \
        _ok;                                                                      \
    })

#define CHECK_ERRNO(e)                                                            \
    ({                                                                            \
        int _got = errno, _want = (e);                                            \
        int _ok = _got == _want;                                                  \
        __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);                    \
        if (!_ok)                                                                 \
            CHECK_REPORT("%s:%d: CHECK_ERRNO failed: errno %d (%s), want %d (%s)\n", \
                         __FILE__, __LINE__, _got, strerrorname_np(_got) ?: "?",  \
                         _want, strerrorname_np(_want) ?: "?");                   \
        _ok;                                                                      \
    })

/* Abort the test right away (for a failure that makes going on pointless). */
#define FATAL(...)                                                                \
    do {                                                                          \
        check_msg("%s:%d: FATAL: ", __FILE__, __LINE__);                          \
        check_msg(__VA_ARGS__);                                                   \
        check_msg("\n");                                                          \
        _exit(1);                                                                 \
    } while (0)

/* Hide a value from the optimiser. */
#define OPQ(x)                                                                    \
    ({                                                                            \
        __auto_type _v = (x);                                                     \
        __asm__ volatile("" : "+r"(_v));                                          \
        _v;                                                                       \
    })

static inline int test_done(const char *name)
{
    if (check_failures) {
        check_msg("%s: %d of %d checks failed\n", name, check_failures, check_count);
        return 1;
    }
    check_msg("%s: all %d checks passed\n", name, check_count);
    return 0;
}

/* ---------------------------------------------------------------- preload check */

static const char *symbol_library(const char *sym)
{
    void *addr = dlsym(RTLD_DEFAULT, sym);
    Dl_info info;
    if (!addr || !dladdr(addr, &info) || !info.dli_fname)
        return NULL;
    return info.dli_fname;
}

static int is_bmalloc_path(const char *path)
{
    if (!path)
        return 0;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strstr(base, "libbmalloc") != NULL;
}

/* The exported calls of the contract. */
static const char *const bmalloc_exports[] = {
    "malloc",        "free",          "calloc",         "realloc",
    "reallocarray",  "memalign",      "posix_memalign", "aligned_alloc",
    "valloc",        "pvalloc",       "malloc_usable_size", "cfree",
    "mallinfo",      "mallinfo2",     "mallopt",        "malloc_trim",
    "malloc_stats",  "malloc_info",   NULL,
};

/* Fails (exits 1) unless malloc really is libbmalloc's: a test run without
 * the preload must not pass. */
static void require_bmalloc(void)
{
#ifdef BMALLOC_TEST_ON_GLIBC /* development only: gcc -DBMALLOC_TEST_ON_GLIBC, never the runner */
    return;
#endif
    Dl_info info;
    void *(*volatile m)(size_t) = malloc; /* the address this program calls */
    if (!dladdr((void *)m, &info) || !is_bmalloc_path(info.dli_fname))
        FATAL("malloc at %p resolves into %s, not libbmalloc: run under "
              "LD_PRELOAD=libbmalloc.so (preload-tests/run does)",
              (void *)m, info.dli_fname ? info.dli_fname : "(unknown)");
    const char *lib = symbol_library("malloc");
    if (!is_bmalloc_path(lib))
        FATAL("dlsym(RTLD_DEFAULT, \"malloc\") resolves into %s, not libbmalloc",
              lib ? lib : "(nothing)");
}

/* ---------------------------------------------------------------- memory */

static long proc_status_kib(const char *field)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    size_t fl = strlen(field);
    for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            return strtol(line + fl + 1, NULL, 10);
    }
    return -1;
}

static inline long rss_kib(void) { return proc_status_kib("VmRSS"); }
static inline long hwm_kib(void) { return proc_status_kib("VmHWM"); }

/* Position- and seed-dependent pattern. */
static inline unsigned char pattern_byte(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131u + seed * 7u + (i >> 8) * 17u) ^ (seed >> 3));
}

static inline void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        c[i] = pattern_byte(i, seed);
}

/* Returns the index of the first wrong byte, or (size_t)-1 if all are right. */
static inline size_t find_bad(const void *p, size_t n, unsigned seed)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != pattern_byte(i, seed))
            return i;
    return (size_t)-1;
}

#define CHECK_FILL(p, n, seed)                                                    \
    ({                                                                            \
        size_t _bad = find_bad((p), (n), (seed));                                 \
        CHECK_MSG(_bad == (size_t)-1, "%p: byte %zu of %zu differs from the pattern", \
                  (void *)(p), _bad, (size_t)(n));                                \
    })

/* ---------------------------------------------------------------- processes */

static void no_core_dumps(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

static void describe_status(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ?: "?");
    else
        snprintf(buf, n, "status 0x%x", status);
}

/* what the last expect_abort child wrote to fd 2 */
static char expect_abort_output[8192];

/* fork; the child gets fd 2 on a pipe and runs fn(arg); then it must die of
 * SIGABRT with every NULL-terminated substring in what it wrote to fd 2.
 * Returns 1 if all is as expected (and counts a failure otherwise). */
static int expect_abort_v(const char *file, int line, const char *name,
                          void (*fn)(void *), void *arg, va_list ap)
{
    char out[8192];
    size_t len = 0;
    int pfd[2];
    __atomic_add_fetch(&check_count, 1, __ATOMIC_RELAXED);
    if (pipe(pfd) != 0)
        FATAL("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        FATAL("fork: %s", strerror(errno));
    if (pid == 0) {
        no_core_dumps();
        close(pfd[0]);
        dup2(pfd[1], 2);
        close(pfd[1]);
        alarm(30);
        fn(arg);
        /* not reached if bmalloc aborted */
        check_msg("expect_abort: %s returned without aborting\n", name);
        _exit(97);
    }
    close(pfd[1]);
    for (;;) {
        ssize_t r = read(pfd[0], out + len, sizeof out - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof out - 1)
            break;
    }
    out[len] = 0;
    memcpy(expect_abort_output, out, len + 1);
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int ok = 1;
    char how[128];
    describe_status(status, how, sizeof how);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
        ok = 0;
        CHECK_REPORT("%s:%d: expect_abort(%s): child %s, want SIGABRT; its stderr: [%s]\n",
                     file, line, name, how, out);
    }
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (!strstr(out, s)) {
            if (ok)
                CHECK_REPORT("%s:%d: expect_abort(%s): stderr lacks \"%s\"; child %s; its "
                             "stderr: [%s]\n",
                             file, line, name, s, how, out);
            ok = 0;
        }
    }
    return ok;
}

static int expect_abort_at(const char *file, int line, const char *name,
                           void (*fn)(void *), void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int ok = expect_abort_v(file, line, name, fn, arg, ap);
    va_end(ap);
    return ok;
}
#define expect_abort(name, fn, arg, ...)                                          \
    expect_abort_at(__FILE__, __LINE__, name, fn, arg, __VA_ARGS__)

/* Re-execute this program with the given argv (argv[0] is supplied), extra
 * environment entries ("NAME=value", or "NAME" alone to unset it), stdout
 * and stderr redirected to files (NULL = inherit).  Returns the wait status. */
static int run_self(char *const args[], char *const env[], const char *out_path,
                    const char *err_path)
{
    pid_t pid = fork();
    if (pid < 0)
        FATAL("fork: %s", strerror(errno));
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++) {
            const char *eq = strchr(env[i], '=');
            if (eq) {
                char name[256];
                size_t n = (size_t)(eq - env[i]);
                if (n >= sizeof name)
                    _exit(96);
                memcpy(name, env[i], n);
                name[n] = 0;
                setenv(name, eq + 1, 1);
            } else {
                unsetenv(env[i]);
            }
        }
        if (out_path) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 1) < 0)
                _exit(95);
            close(fd);
        }
        if (err_path) {
            int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 2) < 0)
                _exit(95);
            close(fd);
        }
        char *argv[32];
        int n = 0;
        argv[n++] = "self";
        for (int i = 0; args && args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv("/proc/self/exe", argv);
        _exit(94);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Read a whole (small) file into buf; returns its length or -1. */
static long read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == cap - 1)
            break;
    }
    close(fd);
    buf[len] = 0;
    return (long)len;
}

/* Scratch directory given by the runner (falls back to /tmp). */
static const char *test_tmp(void)
{
    const char *t = getenv("BMALLOC_TEST_TMP");
    return t && *t ? t : "/tmp";
}

/* bucket of a small request per the contract: payload <= 16 << b */
static inline int bucket_of(size_t n)
{
    int b = 0;
    while (((size_t)16 << b) < n)
        b++;
    return b;
}

#endif
