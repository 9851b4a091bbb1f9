/* Shared helpers for the bmalloc benchmark workloads (the .c files beside this one).
 *
 * Every workload is run as `prog THREADS N` by scripts/bench, under each
 * allocator via LD_PRELOAD.  It prints exactly one line starting with
 * "RESULT " (key=value pairs; the script reads ops_per_s for fixed-time
 * workloads, everything else is informational) and exits 0, or prints
 * "FAIL ..." on stderr and exits 1 when a check fails, so a broken allocator
 * cannot win a benchmark by returning garbage.
 *
 * Block contents: fill_block() writes a tag in the first word, the complement
 * of the tag in the last word and tag+offset in one word per cache line (per
 * page for blocks above 64 KiB).  The second word (offset 8) is left alone so
 * that workloads can use it as a link field.  check_block() verifies the same
 * words; a block that overlaps another live block, or was handed out twice,
 * fails the check.
 */
#ifndef BMALLOC_BENCH_H
#define BMALLOC_BENCH_H

#ifndef _GNU_SOURCE /* g++ defines it */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keeps the compiler from deleting a malloc/free pair or a store whose result
 * it can prove unused (gcc removes `free(malloc(n))` at -O2). */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: small, fast, deterministic per seed. */
typedef struct { uint64_t s; } rng_t;
static inline void rng_seed(rng_t *r, uint64_t seed) {
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (r->s == 0) r->s = 1;
}
static inline uint64_t rng_next(rng_t *r) {
    uint64_t x = r->s;
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    r->s = x;
    return x * 0x2545F4914F6CDD1Dull;
}
/* uniform in [0, n) */
static inline uint64_t rng_below(rng_t *r, uint64_t n) { return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64); }

/* A mixing function: workloads derive a block's size from its tag, so the
 * thread that frees a block can recompute the size and check all of it. */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

#define FAIL(...) do { fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); exit(1); } while (0)

static inline void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) FAIL("malloc(%zu) returned NULL", n);
    /* malloc must align for any object that fits: 16 bytes on x86-64, 8 for sizes below 16 */
    if (((uintptr_t)p & (n >= 16 ? 15 : 7)) != 0) FAIL("malloc(%zu) returned misaligned %p", n, p);
    return p;
}

static inline size_t fill_stride(size_t n) { return n > 65536 ? 4096 : 64; }

/* n >= 8 */
static inline void fill_block(void *p, size_t n, uint64_t tag) {
    unsigned char *b = (unsigned char *)p;
    memcpy(b, &tag, 8);
    size_t st = fill_stride(n);
    for (size_t off = st; off + 16 <= n; off += st) {
        uint64_t v = tag + off;
        memcpy(b + off, &v, 8);
    }
    if (n >= 16) {
        uint64_t v = ~tag;
        memcpy(b + n - 8, &v, 8);
    }
}

/* Returns 1 when the block holds what fill_block(p, n, tag) wrote. */
static inline int check_block(const void *p, size_t n, uint64_t tag) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v;
    memcpy(&v, b, 8);
    if (v != tag) return 0;
    size_t st = fill_stride(n);
    for (size_t off = st; off + 16 <= n; off += st) {
        memcpy(&v, b + off, 8);
        if (v != tag + off) return 0;
    }
    if (n >= 16) {
        memcpy(&v, b + n - 8, 8);
        if (v != ~tag) return 0;
    }
    return 1;
}

static inline uint64_t block_tag(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static inline void parse_args(int argc, char **argv, int *threads, long *n, long def_n) {
    *threads = argc > 1 ? atoi(argv[1]) : 1;
    *n = argc > 2 ? atol(argv[2]) : def_n;
    if (*threads < 1) *threads = 1;
    if (*n < 1) *n = 1;
}

static inline void start_threads(pthread_t *t, int n, void *(*fn)(void *), void *args, size_t argsz) {
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * argsz) != 0) FAIL("pthread_create");
}
static inline void join_threads(pthread_t *t, int n) {
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
}

#endif
