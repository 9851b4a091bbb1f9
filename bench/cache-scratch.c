/* cache-scratch: passive false sharing.
 *
 * Mirrors Hoard's cache-scratch benchmark (Berger et al., ASPLOS 2000; also in
 * mimalloc-bench): the main thread allocates one small (8-byte) object per
 * thread -- so they are likely neighbours on one cache line -- and hands one
 * to each thread.  Each thread frees the object it was given, then repeatedly
 * allocates an object, writes it many times and frees it.  An allocator that
 * reuses the freed neighbour block in the freeing thread (free goes to the
 * caller's heap) makes the threads write one cache line: passive false sharing.
 * Stresses: where a remote free's block is reused.
 *
 * Usage: cache-scratch THREADS N   (N object rounds per thread, 2000 writes each)
 */
#include "bench.h"

#define WRITES 2000
#define OBJSIZE 8

static long N;

typedef struct { char *given; uint64_t sum; char pad[48]; } targ_t;

static void *worker(void *a) {
    targ_t *ta = a;
    if (ta->given[0] != 'g') FAIL("cache-scratch: given object corrupted");
    free(ta->given);
    uint64_t sum = 0;
    for (long i = 0; i < N; i++) {
        volatile char *p = xmalloc(OBJSIZE);
        for (int k = 0; k < OBJSIZE; k++) p[k] = 0;
        for (int j = 0; j < WRITES; j++)
            for (int k = 0; k < OBJSIZE; k++) p[k] = (char)(p[k] + 1);
        for (int k = 0; k < OBJSIZE; k++) sum += (unsigned char)p[k];
        free((void *)p);
    }
    ta->sum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 20000);
    pthread_t th[T];
    targ_t ta[T];
    for (int i = 0; i < T; i++) { ta[i].given = xmalloc(OBJSIZE); memset(ta[i].given, 'g', OBJSIZE); }
    double t0 = now_s();
    start_threads(th, T, worker, ta, sizeof ta[0]);
    join_threads(th, T);
    double dt = now_s() - t0;
    for (int i = 0; i < T; i++)
        if (ta[i].sum != (uint64_t)N * OBJSIZE * (WRITES % 256)) FAIL("cache-scratch: bad sum in thread %d", i);
    printf("RESULT cache-scratch threads=%d rounds=%ld secs=%.3f ops_per_s=%.0f\n", T, N * T, dt, N * T / dt);
    return 0;
}
