/* t_thread_handoff: threads that exit while holding blocks which other threads free later
 * (issue 5, thread life), with content checks and an account of every byte.
 *
 * Round r: producer threads allocate blocks of every small bucket (16 B .. 1 MiB) and some large
 * ones (2 and 5 MiB), through malloc, calloc, memalign and realloc, fill them with a pattern and
 * exit holding them. Then, while the producers of round r+1 already run (and take over the heaps
 * the exited threads left), consumer threads of round r check every block, free half, realloc a
 * quarter (content checked) and leave the rest; the main thread checks and frees what is left.
 * At the end mallinfo2().uordblks (bytes in use) must be back where it started: nothing lost,
 * nothing counted twice.
 */
#define _GNU_SOURCE
#include "stress_util.h"
#include <pthread.h>

#define PRODUCERS 4
#define CONSUMERS 3
#define PER_PRODUCER 160
#define ROUNDS 24
#define SLOTS (PRODUCERS * PER_PRODUCER)

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t seq;
} slot;

static slot slots[2][SLOTS];

static void check_slot(const slot *s, const char *when)
{
    size_t off = su_check_key(s->p, s->size, su_key(s->p, s->size, s->seq));
    if (off != (size_t)-1)
        su_fail("t_thread_handoff: block %p (%zu bytes, seq %llu) corrupted at byte %zu %s",
                (void *)s->p, s->size, (unsigned long long)s->seq, off, when);
}

typedef struct {
    int round, index;
} job;

static void *producer(void *arg)
{
    job *j = arg;
    slot *mine = &slots[j->round % 2][j->index * PER_PRODUCER];
    su_rng r = {su_mix64((uint64_t)j->round * 1000 + j->index)};
    for (int i = 0; i < PER_PRODUCER; i++) {
        size_t size;
        if (i < 17 * 8) /* every bucket, 8 times */
            size = ((size_t)16 << (i % 17)) - su_below(&r, (size_t)8 << (i % 17));
        else if (i < PER_PRODUCER - 4)
            size = su_below(&r, 300);
        else
            size = (i % 2 ? 2 : 5) << 20;
        void *p;
        switch (i % 4) {
        case 0:
            p = malloc(size);
            break;
        case 1:
            p = calloc(1, size);
            break;
        case 2:
            p = memalign(64, size);
            break;
        default:
            p = realloc(NULL, size);
            break;
        }
        if (!p)
            su_fail("t_thread_handoff: allocation of %zu bytes failed", size);
        mine[i].p = p;
        mine[i].size = size;
        mine[i].seq = ((uint64_t)j->round << 32) | (uint64_t)(j->index * PER_PRODUCER + i);
        su_fill_key(p, size, su_key(p, size, mine[i].seq));
    }
    return NULL; /* exits holding all of them */
}

static void *consumer(void *arg)
{
    job *j = arg;
    slot *all = slots[j->round % 2];
    su_rng r = {su_mix64((uint64_t)j->round * 7777 + j->index)};
    for (int i = j->index; i < SLOTS; i += CONSUMERS) {
        slot *s = &all[i];
        check_slot(s, "when another thread took it");
        uint64_t c = su_below(&r, 4);
        if (c < 2) {
            free(s->p);
            s->p = NULL;
        } else if (c == 2) {
            size_t ns = 1 + s->size / 2 + su_below(&r, s->size + 100);
            uint64_t key = su_key(s->p, s->size, s->seq);
            size_t keep = ns < s->size ? ns : s->size;
            unsigned char *q = realloc(s->p, ns);
            if (!q)
                su_fail("t_thread_handoff: realloc failed");
            size_t off = su_check_key(q, keep, key);
            if (off != (size_t)-1)
                su_fail("t_thread_handoff: realloc of another thread's block to %zu lost byte %zu",
                        ns, off);
            s->p = q;
            s->size = ns;
            s->seq ^= 1ULL << 63;
            su_fill_key(q, ns, su_key(q, ns, s->seq));
        }
    }
    return NULL;
}

static void *warm_up(void *arg)
{
    (void)arg;
    free(malloc(100));
    return NULL;
}

static void main_frees(int round)
{
    slot *all = slots[round % 2];
    for (int i = 0; i < SLOTS; i++) {
        if (all[i].p) {
            check_slot(&all[i], "when the main thread freed it");
            free(all[i].p);
            all[i].p = NULL;
        }
    }
}

static void start(pthread_t *t, void *(*fn)(void *), job *j)
{
    if (pthread_create(t, NULL, fn, j) != 0)
        FATAL("pthread_create");
}

int main(void)
{
    require_bmalloc();
    snprintf(su_context, sizeof su_context, "t_thread_handoff: deterministic per thread");
    /* warm up thread creation (glibc's own allocations for threads) before the baseline */
    {
        pthread_t t[PRODUCERS + CONSUMERS];
        job j[PRODUCERS + CONSUMERS];
        for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
            j[i] = (job){0, 0};
            start(&t[i], warm_up, &j[i]);
        }
        for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
            pthread_join(t[i], NULL);
    }
    size_t base = mallinfo2().uordblks;

    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    job pj[PRODUCERS], cj[CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++) {
        pj[i] = (job){0, i};
        start(&pt[i], producer, &pj[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    for (int round = 0; round < ROUNDS; round++) {
        /* consumers of this round and producers of the next run together */
        for (int i = 0; i < CONSUMERS; i++) {
            cj[i] = (job){round, i};
            start(&ct[i], consumer, &cj[i]);
        }
        int next = round + 1 < ROUNDS;
        if (next)
            for (int i = 0; i < PRODUCERS; i++) {
                pj[i] = (job){round + 1, i};
                start(&pt[i], producer, &pj[i]);
            }
        for (int i = 0; i < CONSUMERS; i++)
            pthread_join(ct[i], NULL);
        if (next)
            for (int i = 0; i < PRODUCERS; i++)
                pthread_join(pt[i], NULL);
        main_frees(round);
    }
    size_t end = mallinfo2().uordblks;
    check_msg("t_thread_handoff: %d rounds, %d blocks; bytes in use %zu before, %zu after\n",
              ROUNDS, ROUNDS * SLOTS, base, end);
    CHECK_MSG(end == base,
              "mallinfo2().uordblks is %zu after every block was freed, %zu before (%+lld)", end,
              base, (long long)end - (long long)base);
    return test_done("t_thread_handoff");
}
