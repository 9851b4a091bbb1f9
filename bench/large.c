/* large: large blocks of 1 to 32 MiB allocated and freed.
 *
 * Mirrors the big-buffer phases of real programs (image and compression
 * buffers, sort's buffers; mimalloc-bench's "malloc-large"): each thread keeps
 * 4 live blocks of log-uniform random sizes from 1 MiB to 32 MiB and replaces
 * a random one N times.  Each new block is touched once per page (as a
 * program that fills its buffer would) and verified once per page when freed.
 * Stresses: mmap/munmap cost and page faults versus caching or trimming of
 * freed large blocks; peak RSS.
 *
 * Usage: large THREADS N   (N replacements per thread)
 */
#include "bench.h"

#define LIVE 4
#define MiB (1024 * 1024)

static long N;

static size_t size_of_tag(uint64_t tag) {
    uint64_t h = mix64(tag);
    unsigned sh = (unsigned)(h % 5);                  /* 1,2,4,8,16 MiB steps */
    size_t lo = (size_t)MiB << sh;
    return lo + (h >> 8) % (lo + 1);                   /* 1 MiB .. 32 MiB */
}

static void release(void *p, uint64_t *sum) {
    uint64_t t = block_tag(p);
    if (!check_block(p, size_of_tag(t), t)) FAIL("large: block %p corrupted", p);
    *sum += t;
    free(p);
}

static void *worker(void *a) {
    uint64_t tid = (uint64_t)(uintptr_t)a, seq = (tid + 1) << 40, asum = 0, fsum = 0;
    rng_t r; rng_seed(&r, 31337 + tid);
    void *live[LIVE] = {0};
    for (long i = 0; i < N; i++) {
        int k = (int)rng_below(&r, LIVE);
        if (live[k]) release(live[k], &fsum);
        uint64_t tag = seq++;
        size_t n = size_of_tag(tag);
        live[k] = xmalloc(n);
        fill_block(live[k], n, tag);
        asum += tag;
    }
    for (int k = 0; k < LIVE; k++) if (live[k]) release(live[k], &fsum);
    if (asum != fsum) FAIL("large: allocated and freed tags differ");
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 2000);
    pthread_t th[T];
    double t0 = now_s();
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
    join_threads(th, T);
    double dt = now_s() - t0;
    printf("RESULT large threads=%d ops=%ld secs=%.3f ops_per_s=%.0f\n", T, N * T, dt, N * T / dt);
    return 0;
}
