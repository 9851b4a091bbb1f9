/* stress_util.h: helpers for the reliability tests (issue 5), on top of check.h.
 *
 * check.h belongs to the runner's author; what it lacks lives here, prefixed su_ / SU_.
 *
 *  - su_rng: splitmix64 PRNG, reproducible from a seed.
 *  - su_key / su_fill_key / su_check_key: a content pattern derived from (address, size,
 *    sequence number), checked word by word.
 *  - su_fail(): one line to fd 2 (no stdio, no allocation), the test's context line
 *    (seed, repro command), then abort().
 *  - su_env_ll(), su_now().
 */
#ifndef STRESS_UTIL_H
#define STRESS_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <malloc.h>

/* check.h has static helpers a given test may not use */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "check.h"
#pragma GCC diagnostic pop

/* ---------- messages without allocation ---------- */

static void su_vmsg(const char *fmt, va_list ap)
{
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    if (n == 0 || buf[n - 1] != '\n')
        buf[n++] = '\n';
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(2, buf + off, n - off);
        if (w <= 0)
            break;
        off += w;
    }
}

__attribute__((format(printf, 1, 2), unused)) static void su_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    su_vmsg(fmt, ap);
    va_end(ap);
}

/* Context printed with every failure (the seed and how to reproduce); set by the test. */
static char su_context[512];

__attribute__((format(printf, 1, 2), noreturn, unused)) static void su_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    su_vmsg(fmt, ap);
    va_end(ap);
    if (su_context[0])
        su_msg("%s", su_context);
    abort();
}

#define SU_CHECK(cond, ...)                                                                 \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            su_msg("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);                  \
            su_fail(__VA_ARGS__);                                                           \
        }                                                                                   \
    } while (0)

/* ---------- environment / arguments ---------- */

__attribute__((unused)) static long long su_env_ll(const char *name, long long dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    return strtoll(s, NULL, 0);
}

__attribute__((unused)) static double su_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---------- PRNG ---------- */

typedef struct {
    uint64_t s;
} su_rng;

static inline uint64_t su_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t su_next(su_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return su_mix64(r->s);
}

/* uniform in [0, n) (n > 0) */
static inline uint64_t su_below(su_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)su_next(r) * n) >> 64);
}

/* ---------- content pattern ---------- */

static inline uint64_t su_key(const void *addr, size_t size, uint64_t seq)
{
    return su_mix64((uint64_t)(uintptr_t)addr ^ su_mix64(size * 0x2545f4914f6cdd1dULL + seq));
}

static inline uint64_t su_word(uint64_t key, size_t i)
{
    /* cheap but position-dependent: a shifted or swapped word does not match */
    return key ^ (i * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)i << 56);
}

/* Fill p[0..n) with the pattern of key. p need not be aligned. */
__attribute__((unused)) static void su_fill_key(void *p, size_t n, uint64_t key)
{
    unsigned char *b = p;
    size_t i = 0, words = n / 8;
    for (; i < words; i++) {
        uint64_t w = su_word(key, i);
        memcpy(b + i * 8, &w, 8);
    }
    if (n % 8) {
        uint64_t w = su_word(key, words);
        memcpy(b + words * 8, &w, n % 8);
    }
}

/* Returns the offset of the first differing byte, or (size_t)-1 if p[0..n) holds key's pattern. */
__attribute__((unused)) static size_t su_check_key(const void *p, size_t n, uint64_t key)
{
    const unsigned char *b = p;
    size_t i = 0, words = n / 8;
    for (; i < words; i++) {
        uint64_t w = su_word(key, i), g;
        memcpy(&g, b + i * 8, 8);
        if (g != w) {
            for (size_t k = 0; k < 8; k++)
                if (((w >> (8 * k)) & 0xff) != b[i * 8 + k])
                    return i * 8 + k;
        }
    }
    if (n % 8) {
        uint64_t w = su_word(key, words);
        for (size_t k = 0; k < n % 8; k++)
            if (((w >> (8 * k)) & 0xff) != b[words * 8 + k])
                return words * 8 + k;
    }
    return (size_t)-1;
}

static inline unsigned su_expected_byte(uint64_t key, size_t off)
{
    return (su_word(key, off / 8) >> (8 * (off % 8))) & 0xff;
}

#endif
