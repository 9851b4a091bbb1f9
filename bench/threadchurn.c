/* threadchurn: threads created and destroyed, each allocating and freeing.
 *
 * Mirrors the thread-creation tests of allocator suites (mimalloc-bench's
 * "threadtest"/"mstressN" generations, and short-lived worker threads of
 * servers): N generations of THREADS threads each.  A thread allocates 2000
 * small blocks (16..512 bytes), frees half of them, hands the other half to
 * the next generation (which verifies and frees them) and exits.
 * Stresses: per-thread heap creation and teardown, what happens to an exited
 * thread's free memory and to blocks it left behind, thread-exit hooks.
 *
 * Usage: threadchurn THREADS N   (N generations)
 */
#include "bench.h"

#define PER_THREAD 2000

typedef struct { void **take; void **leave; int id; long gen; uint64_t sum; } targ_t;

static size_t size_of_tag(uint64_t tag) { return 16 + mix64(tag) % 497; }

static void release(void *p, uint64_t *sum) {
    uint64_t t = block_tag(p);
    if (!check_block(p, size_of_tag(t), t)) FAIL("threadchurn: block %p corrupted", p);
    *sum += t;
    free(p);
}

static void *worker(void *a) {
    targ_t *ta = a;
    uint64_t sum = 0;
    if (ta->take)
        for (int i = 0; i < PER_THREAD / 2; i++) release(ta->take[i], &sum);
    void *mine[PER_THREAD];
    uint64_t base = ((uint64_t)ta->gen << 32) | ((uint64_t)ta->id << 20);
    for (int i = 0; i < PER_THREAD; i++) {
        uint64_t tag = base + (uint64_t)i;
        size_t n = size_of_tag(tag);
        mine[i] = xmalloc(n);
        fill_block(mine[i], n, tag);
    }
    for (int i = 0; i < PER_THREAD; i += 2) release(mine[i], &sum);
    for (int i = 0; i < PER_THREAD / 2; i++) ta->leave[i] = mine[2 * i + 1];
    ta->sum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int T; long N;
    parse_args(argc, argv, &T, &N, 2000);
    void ***hand = xmalloc(sizeof(void **) * 2 * (size_t)T);
    for (int i = 0; i < 2 * T; i++) hand[i] = xmalloc(sizeof(void *) * PER_THREAD / 2);
    pthread_t th[T]; targ_t ta[T];
    uint64_t sum = 0, expect = 0;
    double t0 = now_s();
    for (long g = 0; g < N; g++) {
        for (int i = 0; i < T; i++) {
            ta[i] = (targ_t){.take = g ? hand[((g - 1) & 1) * T + i] : NULL, .leave = hand[(g & 1) * T + i], .id = i, .gen = g};
            if (pthread_create(&th[i], NULL, worker, &ta[i]) != 0) FAIL("pthread_create");
        }
        join_threads(th, T);
        for (int i = 0; i < T; i++) sum += ta[i].sum;
    }
    for (int i = 0; i < T; i++) for (int k = 0; k < PER_THREAD / 2; k++) release(hand[((N - 1) & 1) * T + i][k], &sum);
    double dt = now_s() - t0;
    for (long g = 0; g < N; g++) for (int i = 0; i < T; i++) for (int k = 0; k < PER_THREAD; k++)
        expect += ((uint64_t)g << 32) + ((uint64_t)i << 20) + (uint64_t)k;
    if (sum != expect) FAIL("threadchurn: freed tags %llx != allocated %llx", (unsigned long long)sum, (unsigned long long)expect);
    for (int i = 0; i < 2 * T; i++) free(hand[i]);
    free(hand);
    printf("RESULT threadchurn threads=%d threads_created=%ld secs=%.3f ops_per_s=%.0f\n", T, N * T, dt, N * T / dt);
    return 0;
}
