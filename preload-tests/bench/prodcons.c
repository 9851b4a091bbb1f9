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
 * Usage: prodcons THREADS N  (THREADS is rounded up to an even number >= 2)
 */
#include "bench.h"

#define RING 1024

typedef struct {
    _Alignas(64) _Atomic(uint64_t) head; /* written by producer */
    _Alignas(64) _Atomic(uint64_t) tail; /* written by consumer */
    _Alignas(64) void *buf[RING];
    int id;
    uint64_t sum;
} ring_t;

static long N;

static void *producer(void *a) {
    ring_t *q = a;
    uint64_t head = 0;
    for (long i = 0; i < N; i++) {
        uint64_t tag = ((uint64_t)q->id << 40) | (uint64_t)i;
        void *p = xmalloc(64);
        fill_block(p, 64, tag);
        while (head - atomic_load_explicit(&q->tail, memory_order_acquire) >= RING) sched_yield();
        q->buf[head % RING] = p;
        atomic_store_explicit(&q->head, ++head, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *a) {
    ring_t *q = a;
    uint64_t tail = 0, sum = 0;
    while (tail < (uint64_t)N) {
        uint64_t head;
        while ((head = atomic_load_explicit(&q->head, memory_order_acquire)) == tail) sched_yield();
        for (; tail < head; tail++) {
            void *p = q->buf[tail % RING];
            uint64_t t = block_tag(p);
            if (!check_block(p, 64, t) || (t >> 40) != (uint64_t)q->id) FAIL("prodcons: block %p corrupted", p);
            sum += t;
            free(p);
        }
        atomic_store_explicit(&q->tail, tail, memory_order_release);
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
