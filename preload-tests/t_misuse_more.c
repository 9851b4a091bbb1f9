/* t_misuse_more: misuse beyond the core cases (issue 5). Each case runs in a forked child that
 * must print the contract's one line and die of SIGABRT:
 *
 *  - a write past the end of a block that reaches the next block's header (1, 8, 16 or 24 bytes
 *    past the usable size), reported when that next block is freed, realloc'ed or asked its
 *    usable size (`bad block header`), or, when the next block is already free, when malloc or
 *    calloc takes it (`free block header overwritten`, with that block's pointer);
 *    for small and medium buckets;
 *  - a pointer freed twice from two different threads (thread A frees, is joined, thread B frees):
 *    `double free`; also after thread A's heap was handed to a new thread;
 *  - misuse inside a thread other than main (wild, stack, misaligned, interior pointers, double
 *    free, realloc and malloc_usable_size of a freed block), including a thread whose very first
 *    call is the misuse: the same message as from main.
 */
#define _GNU_SOURCE
#include "stress_util.h"
#include <pthread.h>

#define MAXB 256

static char expect[256];

static void set_expect(const char *call, const void *p, const char *fault)
{
    snprintf(expect, sizeof expect, "bmalloc: %s(0x%lx): %s", call, (unsigned long)(uintptr_t)p,
             fault);
}

/* ---------------------------------------------------------------- overflow into the next header */

typedef struct {
    unsigned char *p, *q; /* q's header starts right after p's usable bytes */
    size_t size, usable, len;
    int action;
} ovf;

enum { ACT_FREE, ACT_REALLOC, ACT_USABLE, ACT_MALLOC_FREED, ACT_CALLOC_FREED, ACT_COUNT };
static const char *const act_name[] = {"free", "realloc", "malloc_usable_size", "malloc", "calloc"};

/* Finds two blocks of `size` bytes where the second's header follows the first's usable bytes. */
static int find_adjacent(size_t size, ovf *o)
{
    static unsigned char *b[MAXB];
    int n = 0;
    for (; n < MAXB; n++)
        b[n] = malloc(size);
    int found = 0;
    for (int i = 0; i < n && !found; i++) {
        size_t u = malloc_usable_size(b[i]);
        for (int j = 0; j < n; j++) {
            if (b[j] == b[i] + u + 16) {
                o->p = b[i];
                o->q = b[j];
                o->usable = u;
                found = 1;
                b[i] = b[j] = NULL;
                break;
            }
        }
    }
    for (int i = 0; i < n; i++)
        free(b[i]);
    o->size = size;
    return found;
}

static void overflow_case(void *arg)
{
    ovf *o = arg;
    if (o->action >= ACT_MALLOC_FREED)
        free(o->q);
    /* the write past the end of p: exactly o->len bytes starting at p + usable */
    unsigned char *end = o->p + o->usable;
    for (size_t i = 0; i < o->len; i++)
        end[i] ^= 0xa5;
    switch (o->action) {
    case ACT_FREE:
        free(o->q);
        break;
    case ACT_REALLOC:
        (void)OPQ(realloc(o->q, o->size * 3));
        break;
    case ACT_USABLE:
        (void)OPQ(malloc_usable_size(o->q));
        break;
    case ACT_MALLOC_FREED:
    case ACT_CALLOC_FREED: {
        /* the freed q is taken by one of the next allocations of its size (the most recently
         * freed block, normally the very next one); taking it must be reported */
        size_t limit = (64u << 20) / (o->size + 16);
        if (limit > 20000)
            limit = 20000;
        for (size_t i = 0; i < limit; i++) {
            void *r = o->action == ACT_MALLOC_FREED ? malloc(o->size) : calloc(1, o->size);
            if (r == (void *)o->q) {
                su_msg("%s returned the block whose header was overwritten, without a report",
                       act_name[o->action]);
                return;
            }
        }
        su_msg("the freed block %p was not handed out again within %zu allocations of %zu bytes",
               (void *)o->q, limit, o->size);
        break;
    }
    }
}

static void overflow_tests(void)
{
    static const size_t sizes[] = {16, 48, 256, 4000, 65536};
    static const size_t lens[] = {16, 8, 1, 24};
    for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (unsigned l = 0; l < sizeof lens / sizeof *lens; l++) {
            for (int a = 0; a < ACT_COUNT; a++) {
                ovf o;
                memset(&o, 0, sizeof o);
                if (!CHECK_MSG(find_adjacent(sizes[s], &o),
                               "no two adjacent %zu-byte blocks among %d (contract: a 16-byte "
                               "header precedes every block)",
                               sizes[s], MAXB))
                    break;
                o.len = lens[l];
                o.action = a;
                /* Up to 8 bytes reach only the next block's seal (the word the checked tag
                 * follows): named as an overrun; more reach its tag too, and the header is
                 * then no header at all. */
                const char *fault = a >= ACT_MALLOC_FREED ? "free block header overwritten"
                                    : o.len <= 8 ? "block header overwritten (a write past the end"
                                                 : "bad block header";
                set_expect(act_name[a], o.q, fault);
                char name[160];
                snprintf(name, sizeof name, "%zu bytes past a %zu-byte block, then %s of the next",
                         o.len, sizes[s], act_name[a]);
                expect_abort(name, overflow_case, &o, expect, NULL);
                /* (p and q are left alone in this process: only the child damaged them) */
            }
        }
    }
}

/* ---------------------------------------------------------------- double free across threads */

static void *thread_free(void *p)
{
    free(p);
    return NULL;
}

static void *thread_alloc_some(void *arg)
{
    (void)arg;
    void *v[64];
    for (int i = 0; i < 64; i++)
        v[i] = malloc(32 + i * 8);
    for (int i = 0; i < 64; i++)
        free(v[i]);
    return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0)
        FATAL("pthread_create");
    pthread_join(t, NULL);
}

static void double_free_two_threads(void *p)
{
    run_thread(thread_free, p); /* thread A frees and exits */
    run_thread(thread_free, p); /* thread B (maybe reusing A's heap) frees again */
}

static void double_free_after_heap_handover(void *p)
{
    run_thread(thread_free, p);            /* A frees and exits: its heap goes to the registry */
    run_thread(thread_alloc_some, NULL);   /* C takes that heap and works with it */
    run_thread(thread_free, p);            /* B frees again */
}

static void double_free_thread_then_main(void *p)
{
    run_thread(thread_free, p);
    free(p);
}

static void *thread_alloc(void *arg)
{
    (void)arg;
    return malloc(200);
}

static void double_free_block_of_exited_thread(void *arg)
{
    (void)arg;
    pthread_t t;
    void *p;
    pthread_create(&t, NULL, thread_alloc, NULL);
    pthread_join(t, &p); /* allocated by an exited thread */
    run_thread(thread_free, p);
    free(p);
}

static void double_free_tests(void)
{
    void *p = malloc(100);
    set_expect("free", p, "double free");
    expect_abort("free in thread A, joined, free again in thread B", double_free_two_threads, p,
                 expect, NULL);
    expect_abort("free in thread A, heap handed to thread C, free again in thread B",
                 double_free_after_heap_handover, p, expect, NULL);
    expect_abort("free in a thread, free again in main", double_free_thread_then_main, p, expect,
                 NULL);
    void *big = malloc(3 << 20); /* large (mmapped) block */
    set_expect("free", big, "double free");
    expect_abort("large block: free in thread A, free again in thread B", double_free_two_threads,
                 big, expect, NULL);
    free(big);
    expect_abort("block of an exited thread freed twice by two others",
                 double_free_block_of_exited_thread, NULL, "bmalloc: free(0x", "): double free",
                 NULL);
    free(p);
}

/* ---------------------------------------------------------------- misuse in another thread */

typedef struct {
    int kind;
    int in_thread;
    void *p; /* the pointer the misuse uses (set by the parent where it can be known) */
} mis;

enum { M_STACK, M_STATIC, M_MISALIGNED, M_INTERIOR, M_DOUBLE, M_REALLOC_FREED, M_USABLE_FREED,
       M_FIRST_CALL_WILD, M_COUNT };

static char static_buf[4096] __attribute__((aligned(64)));

static void *misuse_body(void *arg)
{
    mis *m = arg;
    switch (m->kind) {
    case M_STACK: {
        char local[64] __attribute__((aligned(16)));
        set_expect("free", local, "not allocated by bmalloc");
        /* the expected text depends on this stack address: print it for the parent */
        su_msg("expect: %s", expect);
        free(OPQ((void *)local));
        break;
    }
    case M_STATIC:
        free(OPQ((void *)(static_buf + 1024)));
        break;
    case M_FIRST_CALL_WILD:
        free(OPQ((void *)0x10000));
        break;
    case M_MISALIGNED:
    case M_INTERIOR:
        free(m->p);
        break;
    case M_DOUBLE:
        free(m->p);
        free(m->p);
        break;
    case M_REALLOC_FREED:
        free(m->p);
        (void)OPQ(realloc(m->p, 500));
        break;
    case M_USABLE_FREED:
        free(m->p);
        (void)OPQ(malloc_usable_size(m->p));
        break;
    }
    return NULL;
}

static void misuse_case(void *arg)
{
    mis *m = arg;
    if (m->in_thread)
        run_thread(misuse_body, m);
    else
        misuse_body(m);
}

static void thread_misuse_tests(void)
{
    for (int kind = 0; kind < M_COUNT; kind++) {
        for (int in_thread = 0; in_thread < 2; in_thread++) {
            mis m = {kind, in_thread, NULL};
            unsigned char *blk = malloc(100);
            const char *a = NULL, *b = NULL;
            char name[128];
            static const char *const kname[] = {"free(stack)", "free(static)", "free(misaligned)",
                                                "free(interior)", "double free",
                                                "realloc(freed)", "malloc_usable_size(freed)",
                                                "free(wild) as a thread's first call"};
            snprintf(name, sizeof name, "%s in %s", kname[kind],
                     in_thread ? "another thread" : "main");
            switch (kind) {
            case M_STACK:
                a = "bmalloc: free(0x";
                b = "): not allocated by bmalloc";
                break;
            case M_STATIC:
                set_expect("free", static_buf + 1024, "not allocated by bmalloc");
                a = expect;
                break;
            case M_FIRST_CALL_WILD:
                set_expect("free", (void *)0x10000, "not allocated by bmalloc");
                a = expect;
                break;
            case M_MISALIGNED:
                m.p = blk + 8;
                set_expect("free", m.p, "misaligned pointer");
                a = expect;
                break;
            case M_INTERIOR:
                m.p = blk + 32;
                set_expect("free", m.p, "bad block header");
                a = expect;
                break;
            case M_DOUBLE:
                m.p = blk;
                set_expect("free", m.p, "double free");
                a = expect;
                break;
            case M_REALLOC_FREED:
                m.p = blk;
                set_expect("realloc", m.p, "block already freed");
                a = expect;
                break;
            case M_USABLE_FREED:
                m.p = blk;
                set_expect("malloc_usable_size", m.p, "block already freed");
                a = expect;
                break;
            }
            expect_abort(name, misuse_case, &m, a, b, NULL);
            free(blk);
        }
    }
}

int main(void)
{
    require_bmalloc();
    no_core_dumps();
    overflow_tests();
    double_free_tests();
    thread_misuse_tests();
    return test_done("t_misuse_more");
}
