/* cache-thrash: active false sharing.
 *
 * Mirrors Hoard's cache-thrash benchmark (Berger et al., ASPLOS 2000; also in
 * mimalloc-bench): each thread repeatedly allocates one small (8-byte)
 * object, writes it many times, and frees it.  If the allocator hands objects
 * that share a cache line to different threads, every write bounces the line
 * between cores and the run slows down by an order of magnitude.
 * Stresses: whether concurrently allocating threads get blocks on separate
 * cache lines (per-thread heaps avoid it by construction).
 *
 * Usage: cache-thrash THREADS N   (N = object rounds per thread; each round
 * writes its object 2000 times)
 */
#include "bench.h"

#define WRITES 2000
#define OBJSIZE 8

static long N;

static void *worker(void *a) {
    uint64_t *out = a, sum = 0;
    for (long i = 0; i < N; i++) {
        volatile char *p = xmalloc(OBJSIZE);
        for (int k = 0; k < OBJSIZE; k++) p[k] = 0;
        for (int j = 0; j < WRITES; j++)
            for (int k = 0; k < OBJSIZE; k++) p[k] = (char)(p[k] + 1);
        for (int k = 0; k < OBJSIZE; k++) sum += (unsigned char)p[k];
        free((void *)p);
    }
    *out = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 20000);
    pthread_t th[T];
    uint64_t sums[T * 8];
    double t0 = now_s();
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, worker, &sums[i * 8]);
    join_threads(th, T);
    double dt = now_s() - t0;
    for (int i = 0; i < T; i++)
        if (sums[i * 8] != (uint64_t)N * OBJSIZE * (WRITES % 256)) FAIL("cache-thrash: bad sum in thread %d", i);
    printf("RESULT cache-thrash threads=%d rounds=%ld secs=%.3f ops_per_s=%.0f\n", T, N * T, dt, N * T / dt);
    return 0;
}
