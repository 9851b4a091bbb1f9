/* manythreads: many threads, each allocating and freeing small blocks of its own.
 *
 * The shape of glibc's bench-malloc-thread and of mimalloc-bench's "glibc-thread": THREADS
 * threads (the suite runs 8 per core, so most of them wait for a core at any moment), each
 * keeping a working set of 100 blocks of 16..1024 bytes and replacing a random one N times.
 * No block leaves its thread. Stresses: per-thread state under oversubscription (heaps handed
 * between threads that the scheduler interleaves), and the local fast paths.
 * Every replaced block's contents are verified, and every thread's checksum of freed tags must
 * match the tags it allocated.
 *
 * Usage: manythreads THREADS N
 */
#include "bench.h"

#define SET 100

static long N;

typedef struct { int id; uint64_t allocated, freed; } targ_t;

static size_t size_of_tag(uint64_t tag) { return 16 + mix64(tag) % 1009; }

static void *worker(void *a) {
    targ_t *ta = a;
    rng_t r; rng_seed(&r, 4242 + ta->id);
    void *set[SET];
    uint64_t seq = (uint64_t)(ta->id + 1) << 40;
    for (int i = 0; i < SET; i++) {
        uint64_t tag = seq++;
        size_t n = size_of_tag(tag);
        set[i] = xmalloc(n); fill_block(set[i], n, tag);
        ta->allocated += tag;
    }
    for (long k = 0; k < N; k++) {
        int i = (int)rng_below(&r, SET);
        uint64_t old = block_tag(set[i]);
        if (!check_block(set[i], size_of_tag(old), old)) FAIL("manythreads: block %p corrupted", set[i]);
        ta->freed += old;
        free(set[i]);
        uint64_t tag = seq++;
        size_t n = size_of_tag(tag);
        set[i] = xmalloc(n); fill_block(set[i], n, tag);
        ta->allocated += tag;
    }
    for (int i = 0; i < SET; i++) {
        uint64_t old = block_tag(set[i]);
        if (!check_block(set[i], size_of_tag(old), old)) FAIL("manythreads: block %p corrupted", set[i]);
        ta->freed += old;
        free(set[i]);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 1000000);
    pthread_t th[T]; targ_t ta[T];
    for (int i = 0; i < T; i++) ta[i] = (targ_t){.id = i};
    double t0 = now_s();
    start_threads(th, T, worker, ta, sizeof ta[0]);
    join_threads(th, T);
    double dt = now_s() - t0;
    for (int i = 0; i < T; i++)
        if (ta[i].allocated != ta[i].freed) FAIL("manythreads: thread %d freed other tags than it allocated", i);
    printf("RESULT manythreads threads=%d ops=%ld secs=%.3f\n", T, (long)T * N, dt);
    return 0;
}
