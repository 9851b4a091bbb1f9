/* churn: single-thread churn of short-lived small objects of mixed sizes.
 *
 * Mirrors the shape of cfrac and espresso (from the Zorn/Grunwald suite used by
 * the Hoard, mimalloc and snmalloc papers): a program that allocates millions of
 * small objects (8..256 bytes mostly, a few up to 2 KiB), most of which die
 * within a few allocations, while a smaller population lives much longer.
 * Stresses: the small-block fast path, free-list reuse of recently freed
 * blocks, per-size-class fragmentation.
 *
 * Usage: churn THREADS N   -- THREADS independent copies (the suite uses 1),
 * each doing N allocations.  Every freed block's contents are verified; the
 * printed checksum is deterministic for a given N.
 */
#include "bench.h"

#define SHORT_SLOTS 64      /* high turnover: lifetime of a few allocations */
#define LONG_SLOTS 4096     /* long-lived population */

static long N;

static size_t size_of_tag(uint64_t tag) {
    uint64_t h = mix64(tag);
    unsigned r = (unsigned)(h & 1023);
    if (r < 600) return 8 + (h >> 10) % 57;         /* 8..64: bignum digits, cubes */
    if (r < 900) return 65 + (h >> 10) % 192;       /* 65..256 */
    if (r < 1010) return 257 + (h >> 10) % 768;     /* 257..1024 */
    return 1025 + (h >> 10) % 1024;                 /* 1025..2048 */
}

static void *run(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    void *slots[SHORT_SLOTS + LONG_SLOTS] = {0};
    uint64_t *sum = malloc(sizeof *sum);
    rng_t r; rng_seed(&r, 12345 + id);
    uint64_t check = 0;
    for (long i = 0; i < N; i++) {
        uint64_t x = rng_next(&r);
        unsigned k = (x & 15) != 0 ? (unsigned)((x >> 8) % SHORT_SLOTS)
                                   : SHORT_SLOTS + (unsigned)((x >> 8) % LONG_SLOTS);
        void *old = slots[k];
        if (old) {
            uint64_t t = block_tag(old);
            if (!check_block(old, size_of_tag(t), t)) FAIL("churn: block %p corrupted", old);
            check += t;
            free(old);
        }
        uint64_t tag = (id << 48) ^ (uint64_t)i * 0x100000001b3ull;
        size_t n = size_of_tag(tag);
        void *p = xmalloc(n);
        fill_block(p, n, tag);
        slots[k] = p;
        /* every 16th step: a temporary that dies at once (espresso's scratch sets) */
        if ((x & 0xf0000) == 0) {
            size_t tn = 16 + (x >> 24) % 240;
            char *tmp = xmalloc(tn);
            memset(tmp, (int)i, tn);
            KEEP(tmp);
            check += (unsigned char)tmp[tn - 1];
            free(tmp);
        }
    }
    for (unsigned k = 0; k < SHORT_SLOTS + LONG_SLOTS; k++)
        if (slots[k]) {
            uint64_t t = block_tag(slots[k]);
            if (!check_block(slots[k], size_of_tag(t), t)) FAIL("churn: block corrupted at end");
            check += t;
            free(slots[k]);
        }
    *sum = check;
    return sum;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 10000000);
    pthread_t th[T];
    double t0 = now_s();
    uint64_t total = 0;
    if (T == 1) {
        uint64_t *s = run((void *)0);
        total = *s; free(s);
    } else {
        for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, run, (void *)(uintptr_t)i);
        for (int i = 0; i < T; i++) { void *s; pthread_join(th[i], &s); total += *(uint64_t *)s; free(s); }
    }
    double dt = now_s() - t0;
    printf("RESULT churn threads=%d ops=%ld secs=%.3f ops_per_s=%.0f check=%016llx\n",
           T, N * T, dt, N * T / dt, (unsigned long long)total);
    return 0;
}
