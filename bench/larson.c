/* larson: a server simulation -- blocks die in threads other than their birth thread.
 *
 * Mirrors the shape of Larson & Krishnan's server benchmark ("larson" in the
 * Hoard, mimalloc and rpmalloc suites): THREADS threads run for a fixed time,
 * each repeatedly picking a random slot of ONE shared array, putting a fresh
 * block of 8..1000 bytes there (atomic exchange) and freeing the block it
 * displaced -- which in general another thread allocated.  Fixed-time: the
 * result is throughput (replacements per second).
 * Stresses: cross-thread free, remote-free handling, memory blowup when freed
 * blocks pile up in the wrong thread's heap, scalability.
 *
 * Usage: larson THREADS MILLISECONDS
 * The array holds 2000 blocks per thread.  Every displaced block's contents
 * are verified against its tag (its size is derived from the tag).
 */
#include "bench.h"

#define SLOTS_PER_THREAD 2000

static _Atomic(void *) *slots;
static long nslots;
static atomic_int stop;

static size_t size_of_tag(uint64_t tag) { return 8 + mix64(tag) % 993; }

typedef struct { int id; long ops; uint64_t freed_sum; } targ_t;

static void verify_free(void *old, uint64_t *sum) {
    uint64_t t = block_tag(old);
    if (!check_block(old, size_of_tag(t), t)) FAIL("larson: block %p corrupted", old);
    *sum += t;
    free(old);
}

static void *worker(void *a) {
    targ_t *ta = a;
    rng_t r; rng_seed(&r, 777 + ta->id);
    long ops = 0; uint64_t sum = 0;
    uint64_t seq = (uint64_t)(ta->id + 1) << 40;
    for (;;) {
        for (int k = 0; k < 64; k++) {
            uint64_t tag = seq++;
            size_t n = size_of_tag(tag);
            void *p = xmalloc(n);
            fill_block(p, n, tag);
            long idx = (long)rng_below(&r, (uint64_t)nslots);
            void *old = atomic_exchange_explicit(&slots[idx], p, memory_order_acq_rel);
            if (old) verify_free(old, &sum);
        }
        ops += 64;
        if (atomic_load_explicit(&stop, memory_order_relaxed)) break;
    }
    ta->ops = ops; ta->freed_sum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int T; long ms;
    parse_args(argc, argv, &T, &ms, 3000);
    nslots = (long)T * SLOTS_PER_THREAD;
    slots = xmalloc(sizeof(void *) * (size_t)nslots);
    for (long i = 0; i < nslots; i++) {
        uint64_t tag = (uint64_t)i;
        size_t n = size_of_tag(tag);
        void *p = xmalloc(n);
        fill_block(p, n, tag);
        atomic_init(&slots[i], p);
    }
    pthread_t th[T]; targ_t ta[T];
    for (int i = 0; i < T; i++) ta[i] = (targ_t){.id = i};
    double t0 = now_s();
    start_threads(th, T, worker, ta, sizeof ta[0]);
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR) {}
    atomic_store(&stop, 1);
    join_threads(th, T);
    double dt = now_s() - t0;
    long ops = 0; uint64_t sum = 0;
    for (int i = 0; i < T; i++) { ops += ta[i].ops; sum += ta[i].freed_sum; }
    /* every block ever allocated is now either freed (sum) or still in a slot */
    uint64_t all = 0;
    for (long i = 0; i < nslots; i++) all += (uint64_t)i;
    for (int i = 0; i < T; i++) {
        uint64_t base = (uint64_t)(i + 1) << 40;
        all += (uint64_t)ta[i].ops * base + (uint64_t)ta[i].ops * (uint64_t)(ta[i].ops - 1) / 2;
    }
    for (long i = 0; i < nslots; i++) verify_free(atomic_load(&slots[i]), &sum);
    if (sum != all) FAIL("larson: tags freed %llx != tags allocated %llx", (unsigned long long)sum, (unsigned long long)all);
    free(slots);
    printf("RESULT larson threads=%d ops=%ld secs=%.3f ops_per_s=%.0f\n", T, ops, dt, ops / dt);
    return 0;
}
