/* prodcons: producer/consumer -- half the threads only allocate, half only free.
 *
 * Mirrors the "xmalloc-test" / mstress producer-consumer pattern (and the
 * blowup example of the Hoard paper): THREADS/2 producers each allocate N
 * 64-byte blocks and hand them through a single-producer/single-consumer ring
 * to their consumer, which verifies and frees them.  No thread ever frees a
 * block it allocated.
 * Stresses: remote frees only, and memory growth in allocators whose freed
 * blocks stay with the freeing thread (pure private heaps): peak RSS is the
 * figure to watch here.
 *
 * Blocks are published in batches of 64 (as a work queue would); a side that
 * finds the ring full or empty spins briefly, then sleeps on a futex.
 *
 * Usage: prodcons THREADS N  (THREADS is rounded up to an even number >= 2)
 */
#include "bench.h"
#include <linux/futex.h>
#include <sys/syscall.h>

#define RING 1024

/* Indices are 32-bit so that a thread can sleep on them with a futex: on a
 * loaded machine, spinning with sched_yield while the other side is not
 * running makes the wall time explode (seen: 100 s instead of 1 s). */
typedef struct {
    _Alignas(64) _Atomic(uint32_t) head; /* written by producer */
    _Atomic(int) cons_sleeping;
    _Alignas(64) _Atomic(uint32_t) tail; /* written by consumer */
    _Atomic(int) prod_sleeping;
    _Alignas(64) void *buf[RING];
    int id;
    uint64_t sum;
} ring_t;

static long N;

static void futex_wait(_Atomic(uint32_t) *w, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic(uint32_t) *w) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Waits until *w != val: a short spin, then sleep.  `sleeping` tells the
 * other side to wake us (Dekker-style with sequentially consistent atomics). */
static uint32_t wait_change(_Atomic(uint32_t) *w, uint32_t val, _Atomic(int) *sleeping) {
    for (int i = 0; i < 200; i++) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);
        if (v != val) return v;
        __builtin_ia32_pause();
    }
    for (;;) {
        atomic_store(sleeping, 1);
        uint32_t v = atomic_load(w);
        if (v != val) { atomic_store(sleeping, 0); return v; }
        futex_wait(w, val);
    }
}

/* Only the sleeper clears its flag (when it returns): if the publisher cleared it, it could
 * wipe out the flag of a later sleep of the same thread, whose next wake-up would then be lost
 * (both threads asleep for good: seen under every allocator). */
static void publish(_Atomic(uint32_t) *w, uint32_t val, _Atomic(int) *sleeping) {
    atomic_store(w, val);
    if (atomic_load(sleeping)) futex_wake(w);
}

static void *producer(void *a) {
    ring_t *q = a;
    uint32_t head = 0, tail = 0;
    for (long i = 0; i < N; i++) {
        uint64_t tag = ((uint64_t)q->id << 40) | (uint64_t)i;
        void *p = xmalloc(64);
        fill_block(p, 64, tag);
        while ((uint32_t)(head - tail) >= RING) {
            tail = atomic_load_explicit(&q->tail, memory_order_acquire);
            if ((uint32_t)(head - tail) >= RING) tail = wait_change(&q->tail, tail, &q->prod_sleeping);
        }
        q->buf[head % RING] = p;
        head++;
        if ((head & 63) == 0 || i == N - 1) publish(&q->head, head, &q->cons_sleeping);
    }
    return NULL;
}

static void *consumer(void *a) {
    ring_t *q = a;
    uint32_t tail = 0;
    uint64_t sum = 0;
    while (tail != (uint32_t)N) {
        uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
        if (head == tail) head = wait_change(&q->head, tail, &q->cons_sleeping);
        for (; tail != head; tail++) {
            void *p = q->buf[tail % RING];
            uint64_t t = block_tag(p);
            if (!check_block(p, 64, t) || (t >> 40) != (uint64_t)q->id) FAIL("prodcons: block %p corrupted", p);
            sum += t;
            free(p);
        }
        publish(&q->tail, tail, &q->prod_sleeping);
    }
    q->sum = sum;
    return NULL;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 5000000);
    int pairs = (T + 1) / 2;
    ring_t *q = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
    if (!q) FAIL("aligned_alloc");
    memset(q, 0, sizeof(ring_t) * (size_t)pairs);
    pthread_t th[2 * pairs];
    double t0 = now_s();
    for (int i = 0; i < pairs; i++) {
        q[i].id = i + 1;
        pthread_create(&th[2 * i], NULL, consumer, &q[i]);
        pthread_create(&th[2 * i + 1], NULL, producer, &q[i]);
    }
    join_threads(th, 2 * pairs);
    double dt = now_s() - t0;
    for (int i = 0; i < pairs; i++) {
        uint64_t expect = (uint64_t)N * ((uint64_t)q[i].id << 40) + (uint64_t)N * (uint64_t)(N - 1) / 2;
        if (q[i].sum != expect) FAIL("prodcons: checksum of pair %d", i);
    }
    free(q);
    long ops = N * pairs;
    printf("RESULT prodcons threads=%d blocks=%ld secs=%.3f ops_per_s=%.0f\n", 2 * pairs, ops, dt, ops / dt);
    return 0;
}
