/* prodcons (run by t_prodcons.sh): memory stays bounded when one thread allocates and another frees (issue 4).
 * Producers allocate blocks in batches and hand each batch to a consumer, which checks and
 * frees it; at most two batches per producer/consumer pair are alive at once. Without the
 * exchange, every freed block would pile up in the consumer's heap while the producer asks
 * the OS for more, and RSS would grow to gigabytes.
 *   prodcons           1 producer, 1 consumer: 40 million 64-byte blocks, batches of 100,000
 *   prodcons 4         4 producers, 4 consumers: the same blocks, batches of 25,000, so the
 *                        live data is the same as with one pair
 *   prodcons 1 random  1 pair, random sizes from 16 bytes to 16 KiB: 4 million blocks,
 *                        batches of 1,000 (16 MB live, as 100,000 blocks of 64 bytes would be)
 * Each run checks peak RSS (VmHWM) stays under 64 MiB; the live data is about 13-16 MB. */
#include "check.h"
#include <pthread.h>
#include <stdatomic.h>

#define LIMIT_KIB (64 * 1024)

struct pair {
    _Atomic(void **) slot[2];  /* batches handed from producer to consumer */
    size_t batches;
    size_t batch;
    int random_sizes;
    unsigned seed;
    long bad;
};

static size_t size_for(struct pair *p, size_t i)
{
    if (!p->random_sizes)
        return 64;
    /* a fixed sequence, so producer and consumer agree on each block's size */
    uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ull ^ p->seed;
    x ^= x >> 29;
    return 16 + (size_t)(x % (16 * 1024 - 16 + 1));
}

static void *producer(void *arg)
{
    struct pair *p = arg;
    for (size_t n = 0; n < p->batches; n++) {
        int s = (int)(n % 2);
        while (atomic_load(&p->slot[s]) != NULL)
            sched_yield(); /* the consumer still has the batch from two rounds ago */
        void **batch = malloc(p->batch * sizeof *batch);
        if (!batch)
            FATAL("malloc of the batch array failed");
        for (size_t i = 0; i < p->batch; i++) {
            size_t sz = size_for(p, n * p->batch + i);
            unsigned char *b = malloc(sz);
            if (!b)
                FATAL("malloc(%zu) failed", sz);
            b[0] = (unsigned char)i;
            b[sz - 1] = (unsigned char)(i >> 8);
            batch[i] = b;
        }
        atomic_store(&p->slot[s], batch);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct pair *p = arg;
    for (size_t n = 0; n < p->batches; n++) {
        int s = (int)(n % 2);
        void **batch;
        while ((batch = atomic_load(&p->slot[s])) == NULL)
            sched_yield();
        for (size_t i = 0; i < p->batch; i++) {
            size_t sz = size_for(p, n * p->batch + i);
            unsigned char *b = batch[i];
            if (b[0] != (unsigned char)i || b[sz - 1] != (unsigned char)(i >> 8))
                p->bad++;
            free(b);
        }
        free(batch);
        atomic_store(&p->slot[s], NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    require_bmalloc();
    int pairs = argc > 1 ? atoi(argv[1]) : 1;
    int random_sizes = argc > 2 && strcmp(argv[2], "random") == 0;
    /* Random sizes average 8 KiB: fewer, smaller batches keep the live data near 16 MB
     * while still cycling 32 GB through the heaps. */
    size_t total = argc > 3 ? strtoul(argv[3], NULL, 10) : random_sizes ? 4000000 : 40000000;
    size_t batch = (random_sizes ? 1000 : 100000) / (size_t)(pairs > 0 ? pairs : 1);
    struct pair p[8];
    pthread_t t[16];
    if (pairs < 1 || pairs > 8)
        FATAL("pairs must be 1..8");
    long start_kib = rss_kib();
    for (int i = 0; i < pairs; i++) {
        memset(&p[i], 0, sizeof p[i]);
        p[i].batch = batch;
        p[i].batches = total / batch / (size_t)pairs;
        p[i].random_sizes = random_sizes;
        p[i].seed = 1234u + (unsigned)i;
        pthread_create(&t[2 * i], NULL, producer, &p[i]);
        pthread_create(&t[2 * i + 1], NULL, consumer, &p[i]);
    }
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(t[i], NULL);
    long peak = hwm_kib();
    printf("pairs %d, %s sizes: %zu blocks, start RSS %ld KiB, peak RSS %ld KiB\n", pairs,
           random_sizes ? "random" : "64-byte", total, start_kib, peak);
    for (int i = 0; i < pairs; i++)
        CHECK_MSG(p[i].bad == 0, "pair %d: %ld blocks arrived damaged", i, p[i].bad);
    CHECK_MSG(peak < LIMIT_KIB, "peak RSS %ld KiB, limit %d KiB", peak, LIMIT_KIB);
    return test_done("prodcons");
}
