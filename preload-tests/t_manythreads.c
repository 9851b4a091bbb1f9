/* t_manythreads: no limit on the number of threads (the seed had 1024): 3,000
 * threads alive at the same time (64 KiB stacks), each allocating blocks of a few
 * sizes with its own pattern, then waiting until all have allocated, then
 * checking and freeing them.  Also every thread's first call is a different
 * entry point (free of a block main allocated, free(NULL), realloc, calloc,
 * memalign, posix_memalign, aligned_alloc, malloc_usable_size, mallinfo2,
 * malloc_trim, reallocarray, valloc), which must give the thread a heap as well
 * as malloc does.  Re-executed with BMALLOC_STATS=<file>: the report must have
 * a B line for every one of the 3,001 heaps. */
#include "check.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NT 3000
#define NBLK 6

static atomic_int allocated;
static pthread_barrier_t all_allocated;
static void *from_main[NT];

static void first_call(int id)
{
    void *p = NULL;
    switch (id % 12) {
    case 0:
        CHECK_FILL(from_main[id], 40, id);
        free(from_main[id]);
        return;
    case 1:
        free(NULL);
        free(from_main[id]);
        return;
    case 2:
        p = realloc(from_main[id], 400);
        CHECK(p != NULL);
        CHECK_FILL(p, 40, id);
        break;
    case 3:
        p = calloc(10, 10);
        CHECK(p && ((char *)p)[99] == 0);
        break;
    case 4:
        p = memalign(256, 10);
        CHECK_ALIGNED(p, 256);
        break;
    case 5:
        CHECK_EQ(posix_memalign(&p, 64, 10), 0);
        CHECK_ALIGNED(p, 64);
        break;
    case 6:
        p = aligned_alloc(128, 128);
        CHECK_ALIGNED(p, 128);
        break;
    case 7:
        CHECK(malloc_usable_size(from_main[id]) >= 40);
        free(from_main[id]);
        return;
    case 8:
        CHECK(mallinfo2().uordblks > 0);
        free(from_main[id]);
        return;
    case 9:
        malloc_trim(0);
        free(from_main[id]);
        return;
    case 10:
        p = reallocarray(NULL, 10, 10);
        break;
    case 11:
        p = valloc(10);
        CHECK_ALIGNED(p, 4096);
        break;
    }
    CHECK(p != NULL);
    free(p);
    if (id % 12 != 2)
        free(from_main[id]);
}

static void *thread_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    first_call(id);
    unsigned char *b[NBLK];
    size_t n[NBLK];
    for (int i = 0; i < NBLK; i++) {
        n[i] = (size_t)24 << (2 * i); /* 24 B .. 24 KiB */
        b[i] = malloc(n[i]);
        if (!CHECK(b[i] != NULL))
            return NULL;
        fill(b[i], n[i], (unsigned)(id * NBLK + i));
    }
    atomic_fetch_add(&allocated, 1);
    pthread_barrier_wait(&all_allocated);
    for (int i = 0; i < NBLK; i++) {
        CHECK_FILL(b[i], n[i], (unsigned)(id * NBLK + i));
        free(b[i]);
    }
    return NULL;
}

static int run_threads(void)
{
    static pthread_t t[NT];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    pthread_barrier_init(&all_allocated, NULL, NT);
    for (int i = 0; i < NT; i++) {
        from_main[i] = malloc(40);
        fill(from_main[i], 40, i);
    }
    for (int i = 0; i < NT; i++) {
        int rc = pthread_create(&t[i], &attr, thread_main, (void *)(intptr_t)i);
        if (rc)
            FATAL("pthread_create #%d: %s", i, strerror(rc));
    }
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    return 0;
}

static char report[4 << 20];

int main(int argc, char **argv)
{
    if (argc > 1) { /* child: report to a file */
        run_threads();
        exit(check_failures ? 1 : 0);
    }
    require_bmalloc();
    run_threads();
    CHECK_EQ(atomic_load(&allocated), NT);

    char path[512], env[600];
    snprintf(path, sizeof path, "%s/many.stats", test_tmp());
    snprintf(env, sizeof env, "BMALLOC_STATS=%s", path);
    char *a[] = {"child", NULL}, *e[] = {env, NULL};
    int st = run_self(a, e, NULL, NULL);
    char how[128];
    describe_status(st, how, sizeof how);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s", how);
    long n = read_file(path, report, sizeof report);
    if (CHECK_MSG(n > 0, "no report in %s", path)) {
        static char seen[NT + 1];
        int heaps = 0, maxheap = -1;
        for (char *l = report; (l = strstr(l, "\nH ")) != NULL; l++) {
            int h = atoi(l + 3);
            if (h >= 0 && h <= NT && !seen[h]) {
                seen[h] = 1;
                heaps++;
            }
            if (h > maxheap)
                maxheap = h;
        }
        CHECK_MSG(heaps == NT + 1 && maxheap == NT, "%d heaps in the report (highest %d), want %d",
                  heaps, maxheap, NT + 1);
    }
    return test_done("t_manythreads");
}
