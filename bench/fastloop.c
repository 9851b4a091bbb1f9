/* fastloop: a tight malloc/free loop of 16, 32 and 64 bytes -- the fast path.
 *
 * Mirrors the "malloc-free pair" micro-benchmarks (mimalloc-bench's
 * glibc-simple / glibc-thread, and the instruction counts allocators publish):
 * each round does N malloc+free pairs of one size, then N/64 rounds of a
 * LIFO batch of 64 blocks (allocate 64, free 64), for 16, 32 and 64 bytes.
 * Stresses: nothing but the cost of the small-block fast path and the
 * thread-local lookup.
 *
 * Usage: fastloop THREADS N [pairs|batches [SIZE]]  -- THREADS independent copies (the suite
 * uses 1). With a part named, only that part runs, for every size or for SIZE alone (16, 32
 * or 64): to time one part side by side, as docs/DESIGN.md ("Blocks") does.
 */
#include "bench.h"

static long N;
static int do_pairs = 1, do_batches = 1;
static size_t only_size; /* 0: every size */

static void *run(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    static const size_t sizes[3] = {16, 32, 64};
    uint64_t sum = 0;
    for (int s = 0; s < 3; s++) {
        size_t n = sizes[s];
        if (only_size && n != only_size) continue;
        for (long i = 0; i < N && do_pairs; i++) {
            uint64_t *p = malloc(n);
            if (!p) FAIL("malloc");
            p[0] = (uint64_t)i ^ id;
            KEEP(p);
            sum += p[0];
            free(p);
        }
        void *batch[64];
        for (long i = 0; i < N / 64 && do_batches; i++) {
            for (int k = 0; k < 64; k++) {
                uint64_t *p = malloc(n);
                if (!p) FAIL("malloc");
                p[0] = (uint64_t)k; p[n / 8 - 1] = (uint64_t)i;
                batch[k] = p;
            }
            for (int k = 63; k >= 0; k--) {
                uint64_t *p = batch[k];
                if (p[0] != (uint64_t)k || p[n / 8 - 1] != (uint64_t)i) FAIL("fastloop: block corrupted");
                sum += p[0];
                free(p);
            }
        }
    }
    uint64_t sizes_run = only_size ? 1 : 3, expect = 0;
    for (long i = 0; i < N && do_pairs; i++) expect += (uint64_t)i ^ id;
    expect *= sizes_run;
    if (do_batches) expect += sizes_run * (uint64_t)(N / 64) * (63 * 64 / 2);
    if (sum != expect) FAIL("fastloop: checksum %llu != %llu", (unsigned long long)sum, (unsigned long long)expect);
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 20000000);
    if (argc > 3) {
        if (strcmp(argv[3], "pairs") == 0) do_batches = 0;
        else if (strcmp(argv[3], "batches") == 0) do_pairs = 0;
        else FAIL("fastloop: the part is pairs or batches, not %s", argv[3]);
    }
    if (argc > 4) {
        only_size = (size_t)atol(argv[4]);
        if (only_size != 16 && only_size != 32 && only_size != 64)
            FAIL("fastloop: the size is 16, 32 or 64, not %s", argv[4]);
    }
    pthread_t th[T];
    double t0 = now_s();
    if (T == 1) run(0);
    else {
        for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, run, (void *)(uintptr_t)i);
        join_threads(th, T);
    }
    double dt = now_s() - t0;
    long sizes_run = only_size ? 1 : 3;
    long ops = sizes_run * ((do_pairs ? N : 0) + (do_batches ? N / 64 * 64 : 0)) * T; /* pairs */
    printf("RESULT fastloop threads=%d pairs=%ld secs=%.3f ops_per_s=%.0f ns_per_pair=%.2f\n",
           T, ops, dt, ops / dt, dt * 1e9 / ops * T);
    return 0;
}
