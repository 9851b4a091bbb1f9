/* rptest: random sizes from 16 bytes to 16 KiB with cross-thread frees.
 *
 * Mirrors the shape of rpmalloc's rptest (also in mimalloc-bench): each thread
 * keeps a working set of 1000 blocks with log-uniform random sizes from 16 B
 * to 16 KiB and replaces random ones; one displaced block in four is not
 * freed locally but handed to the next thread through a lock-free inbox, and
 * that thread verifies and frees it (every 256 replacements; when the inbox
 * already holds 2000 blocks the sender frees the block itself).
 * Stresses: many size classes at once, medium blocks (above typical small
 * size limits), cross-thread free throughput, and fragmentation / RSS.
 *
 * Usage: rptest THREADS N   (N replacements per thread)
 */
#include "bench.h"

#define WORKSET 1000
/* A sender frees locally instead when the receiver has this many blocks
 * waiting: without a bound, a receiver that is not scheduled (loaded machine)
 * lets hundreds of MiB pile up and peak RSS measures the scheduler. */
#define MAX_PENDING 2000

typedef struct {
    _Alignas(64) _Atomic(void *) inbox; /* Treiber stack linked through word 1 of each block */
    _Atomic(long) pending;              /* blocks in the inbox (bounded by MAX_PENDING) */
    int id, T;
    uint64_t alloc_sum, free_sum;
} targ_t;

static targ_t *ta;
static long N;
static atomic_int done_threads;

static size_t size_of_tag(uint64_t tag) {
    uint64_t h = mix64(tag);
    unsigned sh = (unsigned)(h % 11);              /* 16 << 0..10 : 16 B .. 16 KiB */
    size_t lo = (size_t)16 << sh;
    size_t n = lo + (h >> 8) % lo;
    return n > 16384 ? 16384 : n;
}

static void release(void *p, uint64_t *sum) {
    uint64_t t = block_tag(p);
    if (!check_block(p, size_of_tag(t), t)) FAIL("rptest: block %p corrupted", p);
    *sum += t;
    free(p);
}

static void drain(targ_t *me) {
    void *p = atomic_exchange_explicit(&me->inbox, NULL, memory_order_acquire);
    long n = 0;
    while (p) {
        n++;
        void *next = ((void **)p)[1];
        uint64_t t = block_tag(p);
        size_t n = size_of_tag(t);
        if (n < 24) { uint64_t v = ~t; memcpy((char *)p + n - 8, &v, 8); } /* the link overlapped the last word */
        release(p, &me->free_sum);
        p = next;
    }
    if (n) atomic_fetch_sub_explicit(&me->pending, n, memory_order_relaxed);
}

static void give(targ_t *to, void *p) {
    atomic_fetch_add_explicit(&to->pending, 1, memory_order_relaxed);
    void *head = atomic_load_explicit(&to->inbox, memory_order_relaxed);
    do ((void **)p)[1] = head;
    while (!atomic_compare_exchange_weak_explicit(&to->inbox, &head, p, memory_order_release, memory_order_relaxed));
}

static void *worker(void *a) {
    targ_t *me = a;
    targ_t *next = &ta[(me->id + 1) % me->T];
    rng_t r; rng_seed(&r, 4242 + me->id);
    void **ws = xmalloc(sizeof(void *) * WORKSET);
    uint64_t seq = (uint64_t)(me->id + 1) << 40;
    for (int i = 0; i < WORKSET; i++) {
        uint64_t tag = seq++;
        size_t n = size_of_tag(tag);
        ws[i] = xmalloc(n);
        fill_block(ws[i], n, tag);
        me->alloc_sum += tag;
    }
    for (long i = 0; i < N; i++) {
        uint64_t x = rng_next(&r);
        unsigned k = (unsigned)((x >> 16) % WORKSET);
        if ((x & 3) == 0 && me->T > 1 && atomic_load_explicit(&next->pending, memory_order_relaxed) < MAX_PENDING)
            give(next, ws[k]);
        else release(ws[k], &me->free_sum);
        uint64_t tag = seq++;
        size_t n = size_of_tag(tag);
        ws[k] = xmalloc(n);
        fill_block(ws[k], n, tag);
        me->alloc_sum += tag;
        if ((i & 255) == 0) drain(me);
    }
    for (int i = 0; i < WORKSET; i++) release(ws[i], &me->free_sum);
    free(ws);
    /* keep draining until every thread has stopped sending */
    atomic_fetch_add(&done_threads, 1);
    while (atomic_load(&done_threads) < me->T) { drain(me); sched_yield(); }
    drain(me);
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 2000000);
    ta = aligned_alloc(64, sizeof(targ_t) * (size_t)T);
    memset(ta, 0, sizeof(targ_t) * (size_t)T);
    for (int i = 0; i < T; i++) { ta[i].id = i; ta[i].T = T; }
    pthread_t th[T];
    double t0 = now_s();
    start_threads(th, T, worker, ta, sizeof ta[0]);
    join_threads(th, T);
    double dt = now_s() - t0;
    uint64_t a = 0, f = 0;
    for (int i = 0; i < T; i++) { drain(&ta[i]); a += ta[i].alloc_sum; f += ta[i].free_sum; }
    if (a != f) FAIL("rptest: allocated tags %llx != freed tags %llx", (unsigned long long)a, (unsigned long long)f);
    free(ta);
    printf("RESULT rptest threads=%d ops=%ld secs=%.3f ops_per_s=%.0f\n", T, N * T, dt, N * T / dt);
    return 0;
}
