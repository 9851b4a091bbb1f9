/* xstress: many threads, objects handed between them, threads that exit and are replaced.
 *
 * Our own workload of the shape of mimalloc's test/test-stress.c (which stays outside this
 * repository): ROUNDS rounds; in each, THREADS threads start, each allocating objects of mostly
 * small sizes (16 B - 2 KiB, one in 100 up to 64 KiB), keeping some in a local set, and swapping
 * others with a slot of one shared transfer array (atomic exchange), so objects are freed by
 * threads other than their allocator and outlive the thread that made them. At its end a thread
 * frees its local set; the transfer array lives on into the next round's threads, which are
 * new ones. Every object freed is verified, and at the end the tags freed must sum to the tags
 * allocated.
 *
 * Usage: xstress THREADS ROUNDS
 */
#include "bench.h"

#define TRANSFER 1000
#define LOCAL 200
#define STEPS 20000

static _Atomic(void *) transfer[TRANSFER];
static long rounds;
static _Atomic(uint64_t) allocated, freed;

static size_t size_of_tag(uint64_t tag) {
    uint64_t m = mix64(tag);
    return (m % 100 == 0) ? 16 + (m >> 8) % 65520 : 16 + (m >> 8) % 2033;
}

static void release(void *p) {
    uint64_t t = block_tag(p);
    if (!check_block(p, size_of_tag(t), t)) FAIL("xstress: block %p corrupted", p);
    atomic_fetch_add_explicit(&freed, t, memory_order_relaxed);
    free(p);
}

typedef struct { int id; long round; } targ_t;

static void *worker(void *a) {
    targ_t *ta = a;
    rng_t r; rng_seed(&r, (uint64_t)ta->round * 1000 + (uint64_t)ta->id);
    void *local[LOCAL] = {0};
    uint64_t seq = ((uint64_t)ta->round << 44) | ((uint64_t)(ta->id + 1) << 32);
    uint64_t mine = 0;
    for (int s = 0; s < STEPS; s++) {
        uint64_t tag = seq++;
        size_t n = size_of_tag(tag);
        void *p = xmalloc(n);
        fill_block(p, n, tag);
        mine += tag;
        uint64_t what = rng_below(&r, 10);
        if (what < 3) { /* hand it on: whoever takes the slot's old object frees it */
            void *old = atomic_exchange_explicit(&transfer[rng_below(&r, TRANSFER)], p, memory_order_acq_rel);
            if (old) release(old);
        } else if (what < 8) { /* keep it for a while */
            int i = (int)rng_below(&r, LOCAL);
            if (local[i]) release(local[i]);
            local[i] = p;
        } else {
            release(p); /* short-lived */
        }
    }
    for (int i = 0; i < LOCAL; i++)
        if (local[i]) release(local[i]);
    atomic_fetch_add_explicit(&allocated, mine, memory_order_relaxed);
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &rounds, 50);
    double t0 = now_s();
    for (long round = 0; round < rounds; round++) {
        pthread_t th[T]; targ_t ta[T];
        for (int i = 0; i < T; i++) ta[i] = (targ_t){.id = i, .round = round};
        start_threads(th, T, worker, ta, sizeof ta[0]);
        join_threads(th, T);
    }
    for (int i = 0; i < TRANSFER; i++) {
        void *p = atomic_load(&transfer[i]);
        if (p) release(p);
    }
    double dt = now_s() - t0;
    if (atomic_load(&allocated) != atomic_load(&freed)) FAIL("xstress: tags freed differ from tags allocated");
    printf("RESULT xstress threads=%d rounds=%ld secs=%.3f\n", T, rounds, dt);
    return 0;
}
