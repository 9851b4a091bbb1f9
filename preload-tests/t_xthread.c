/* t_xthread: cross-thread frees with content checks in 8 threads.
 * The threads form a ring: thread i allocates blocks of mixed sizes (16 B .. 64 KiB,
 * some aligned, a few large > 1 MiB), fills each with a pattern derived from its
 * (thread, index) tag, and hands it to thread i+1 through a lock-free
 * single-producer/single-consumer queue; thread i+1 checks the tag and the whole
 * pattern, overwrites it and frees the block (so freed blocks pile into its heap
 * and are reused for its own allocations, where a block handed out twice would
 * show up as a damaged pattern).  Each thread also allocates and frees blocks of
 * its own.  At the end every thread must have received exactly what its
 * predecessor sent, and the bytes in use (mallinfo2) are back where they were. */
#include "check.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NT 8
#define PER_THREAD 25000
#define QCAP 512

struct queue {
    _Alignas(64) _Atomic size_t head; /* consumer */
    _Alignas(64) _Atomic size_t tail; /* producer */
    void *slot[QCAP];
};
static struct queue q[NT]; /* q[i]: from thread i-1 to thread i */

struct hdr {
    uint32_t thread, index;
    uint64_t size;
};

static atomic_int start_flag;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rng_next(s);
    if (r % 1000 == 0)
        return (1 << 20) + (r >> 40) % (2 << 20); /* large: mmapped */
    switch (r % 100) {
    case 0 ... 9:
        return 4096 + (r >> 20) % 61440;
    case 10 ... 39:
        return 256 + (r >> 20) % 3840;
    default:
        return sizeof(struct hdr) + (r >> 20) % 240;
    }
}

static unsigned tag_seed(uint32_t t, uint32_t i) { return t * 1000003u + i; }

static void *make_block(uint32_t t, uint32_t i, uint64_t *s)
{
    size_t n = pick_size(s);
    unsigned char *p;
    if (i % 7 == 3) {
        p = memalign((size_t)32 << (i % 5), n); /* 32 .. 512 aligned */
        CHECK_ALIGNED(p, (size_t)32 << (i % 5));
    } else if (i % 7 == 5) {
        p = calloc(1, n);
    } else {
        p = malloc(n);
    }
    if (!CHECK(p != NULL))
        FATAL("allocation failed");
    CHECK_ALIGNED(p, 16);
    CHECK(malloc_usable_size(p) >= n);
    struct hdr h = {t, i, n};
    memcpy(p, &h, sizeof h);
    fill(p + sizeof h, n - sizeof h, tag_seed(t, i));
    return p;
}

static void check_block(unsigned char *p, uint32_t want_thread, uint32_t want_index)
{
    struct hdr h;
    memcpy(&h, p, sizeof h);
    CHECK_MSG(h.thread == want_thread && h.index == want_index,
              "block %p: tag (%u, %u), want (%u, %u)", (void *)p, h.thread, h.index,
              want_thread, want_index);
    size_t bad = find_bad(p + sizeof h, h.size - sizeof h, tag_seed(h.thread, h.index));
    CHECK_MSG(bad == (size_t)-1, "block %p (thread %u #%u, %zu bytes): byte %zu damaged",
              (void *)p, h.thread, h.index, (size_t)h.size, bad + sizeof h);
    memset(p, 0xdd, h.size);
}

static int try_push(struct queue *qu, void *p)
{
    size_t t = atomic_load_explicit(&qu->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&qu->head, memory_order_acquire);
    if (t - h == QCAP)
        return 0;
    qu->slot[t % QCAP] = p;
    atomic_store_explicit(&qu->tail, t + 1, memory_order_release);
    return 1;
}

static void *try_pop(struct queue *qu)
{
    size_t h = atomic_load_explicit(&qu->head, memory_order_relaxed);
    size_t t = atomic_load_explicit(&qu->tail, memory_order_acquire);
    if (h == t)
        return NULL;
    void *p = qu->slot[h % QCAP];
    atomic_store_explicit(&qu->head, h + 1, memory_order_release);
    return p;
}

struct thread_state {
    uint32_t id;
    uint32_t received;
};

static void drain(struct thread_state *st)
{
    struct queue *in = &q[st->id];
    uint32_t from = (st->id + NT - 1) % NT;
    void *p;
    while ((p = try_pop(in)) != NULL) {
        check_block(p, from, st->received);
        st->received++;
        free(p);
    }
}

static void *thread_main(void *arg)
{
    struct thread_state *st = arg;
    uint64_t s = 0x9e3779b97f4a7c15ULL * (st->id + 1);
    struct queue *out = &q[(st->id + 1) % NT];
    void *own[64] = {0};
    while (!atomic_load(&start_flag))
        sched_yield();
    for (uint32_t i = 0; i < PER_THREAD; i++) {
        void *p = make_block(st->id, i, &s);
        while (!try_push(out, p)) {
            drain(st);
            sched_yield();
        }
        /* blocks of our own, freed here, some kept a while */
        int k = (int)(rng_next(&s) % 64);
        if (own[k]) {
            struct hdr h;
            memcpy(&h, own[k], sizeof h);
            check_block(own[k], h.thread, h.index);
            free(own[k]);
        }
        own[k] = make_block(st->id, 0x80000000u | i, &s);
        if ((i & 15) == 0)
            drain(st);
    }
    while (st->received < PER_THREAD) {
        drain(st);
        sched_yield();
    }
    for (int k = 0; k < 64; k++)
        if (own[k]) {
            struct hdr h;
            memcpy(&h, own[k], sizeof h);
            check_block(own[k], h.thread, h.index);
            free(own[k]);
        }
    return NULL;
}

int main(void)
{
    require_bmalloc();
    size_t before = mallinfo2().uordblks;
    pthread_t th[NT];
    static struct thread_state st[NT];
    for (int i = 0; i < NT; i++) {
        st[i].id = (uint32_t)i;
        pthread_create(&th[i], NULL, thread_main, &st[i]);
    }
    atomic_store(&start_flag, 1);
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) {
        CHECK_EQ(st[i].received, PER_THREAD);
        CHECK(try_pop(&q[i]) == NULL);
    }
    /* everything the threads allocated was freed (the threads' own stacks and
     * thread control blocks are not malloc'ed in the threads' heaps, but
     * pthread_create may calloc a little in the main thread: allow 64 KiB) */
    size_t after = mallinfo2().uordblks;
    CHECK_MSG(after <= before + 65536, "bytes in use %zu before, %zu after", before, after);
    return test_done("t_xthread");
}
