/* t_false_sharing: a thread that frees a block another thread allocated does not hand it out
 * again at once (passive false sharing, as in Hoard's cache-scratch).
 *
 * The main thread allocates neighbouring 8-byte blocks, which share cache lines, and hands one
 * to each worker. A worker frees the block it was given, then allocates blocks of the same
 * size: none of them may be the freed one, nor lie on a cache line with a block the main
 * thread still holds. (With free putting the block on the freeing thread's list and malloc
 * taking the newest, the worker got its freed block straight back.) Blocks a thread allocated
 * itself are still reused at once, and blocks freed by another thread come back to use once a
 * batch of them gathers: a worker that frees many of the main thread's blocks does not grow
 * the process without bound.
 */
#define _GNU_SOURCE
#include "check.h"
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>

#define WORKERS 4
#define KEEP 16

static char *given[WORKERS * 2];
/* Workers exit only when all are done: an exiting thread's foreign blocks go to the exchange,
 * where another thread may take them (t_stats checks that they go there). */
static pthread_barrier_t all_done;
static char *kept[KEEP];

static int same_line(const void *a, const void *b)
{
    return (uintptr_t)a / 64 == (uintptr_t)b / 64;
}

static void *worker(void *arg)
{
    long i = (long)arg;
    char *mine = given[i];
    free(OPQ(mine));
    for (int k = 0; k < 8; k++) {
        char *p = malloc(OPQ(8));
        CHECK(p != NULL);
        CHECK_MSG(p != mine, "worker %ld: malloc returned the main thread's block it freed", i);
        for (int j = 0; j < KEEP; j++)
            CHECK_MSG(!same_line(p, kept[j]), "worker %ld: block %p shares a line with %p", i,
                      (void *)p, (void *)kept[j]);
        /* Its own block comes back at once. */
        free(OPQ(p));
        char *q = malloc(OPQ(8));
        CHECK_MSG(q == p, "worker %ld: its own freed block %p did not come back (%p)", i,
                  (void *)p, (void *)q);
        free(OPQ(q));
    }
    pthread_barrier_wait(&all_done);
    return NULL;
}

/* Frees the null-terminated array of blocks that the main thread allocated. */
static void *free_all(void *arg)
{
    void **blocks = arg;
    for (size_t i = 0; blocks[i]; i++)
        free(blocks[i]);
    return NULL;
}

int main(void)
{
    /* Interleaved: each given block has kept neighbours on its line. */
    for (int i = 0; i < WORKERS * 2; i++) {
        given[i] = malloc(OPQ(8));
        if (i < KEEP)
            kept[i] = malloc(OPQ(8));
    }
    for (int i = WORKERS * 2; i < KEEP; i++)
        kept[i] = malloc(OPQ(8));
    pthread_t t[WORKERS];
    CHECK(pthread_barrier_init(&all_done, NULL, WORKERS) == 0);
    for (long i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);

    /* Many rounds of main-thread blocks freed by another thread: the blocks are reused, so
     * the bytes obtained from the OS stay about where the first round left them. */
    enum { N = 20000 };
    void **blocks = calloc(N + 1, sizeof *blocks);
    CHECK(blocks != NULL);
    size_t after_first = 0;
    for (int round = 0; round < 30; round++) {
        for (int i = 0; i < N; i++)
            blocks[i] = malloc(OPQ(64));
        pthread_t f;
        CHECK(pthread_create(&f, NULL, free_all, blocks) == 0);
        pthread_join(f, NULL);
        struct mallinfo2 mi = mallinfo2();
        if (round == 2)
            after_first = mi.arena;
        if (round == 29) {
            printf("bytes obtained after round 3: %zu, after round 30: %zu\n", after_first,
                   mi.arena);
            CHECK_MSG(mi.arena <= after_first + (1 << 20),
                      "blocks freed by another thread were not reused: %zu bytes, %zu before",
                      mi.arena, after_first);
        }
    }
    free(blocks);
    for (int i = 0; i < KEEP; i++)
        free(kept[i]);
    for (int i = WORKERS; i < WORKERS * 2; i++)
        free(given[i]);
    return test_done("t_false_sharing");
}
