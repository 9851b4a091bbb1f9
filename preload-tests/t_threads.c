/* t_threads: 20,000 short-lived threads, created and joined 4 at a time, each
 * allocating and freeing blocks of mixed sizes with content checks.  An exited
 * thread's heap is handed to a later thread, so memory stays flat: VmRSS after
 * the first 1,000 threads and after all 20,000 differ by less than 8 MiB.
 * Every 10th thread also has a pthread key destructor that allocates and frees
 * (and re-arms itself, so it runs again after bmalloc's own thread-exit hook,
 * whatever the key order), and a few threads leave a block for the main thread
 * to free. */
#include "check.h"
#include <pthread.h>
#include <stdatomic.h>

#define NTHREADS 20000
#define BATCH 4
#define RSS_BOUND_KIB (8 * 1024)

static pthread_key_t key;
static atomic_int destructor_runs;

static void key_destructor(void *v)
{
    uintptr_t round = (uintptr_t)v;
    unsigned char *p = malloc(100 + round * 50);
    if (!p)
        abort();
    memset(p, (int)round, 100 + round * 50);
    unsigned char *q = realloc(p, 3000);
    if (!q || q[99] != (unsigned char)round)
        abort();
    free(q);
    atomic_fetch_add(&destructor_runs, 1);
    if (round < 3) /* run again in the next destructor round */
        pthread_setspecific(key, (void *)(round + 1));
}

static void *thread_main(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    void *b[24];
    size_t n[24];
    for (int i = 0; i < 24; i++) {
        n[i] = (size_t)16 << ((id + i) % 10); /* 16 B .. 8 KiB */
        n[i] += (id * 7 + i) % 13;
        b[i] = malloc(n[i]);
        if (!CHECK(b[i] != NULL))
            return NULL;
        fill(b[i], n[i], (unsigned)(id + i));
    }
    for (int i = 0; i < 24; i++) {
        CHECK_FILL(b[i], n[i], (unsigned)(id + i));
        free(b[i]);
    }
    if (id % 10 == 0)
        pthread_setspecific(key, (void *)(uintptr_t)1);
    if (id % 100 == 0) { /* a block the main thread frees */
        unsigned char *p = malloc(200);
        fill(p, 200, (unsigned)id);
        return p;
    }
    return NULL;
}

int main(void)
{
    require_bmalloc();
    pthread_key_create(&key, key_destructor);
    long rss_first = 0;
    for (int i = 0; i < NTHREADS; i += BATCH) {
        pthread_t t[BATCH];
        for (int j = 0; j < BATCH; j++)
            if (pthread_create(&t[j], NULL, thread_main, (void *)(uintptr_t)(i + j)) != 0)
                FATAL("pthread_create failed at thread %d", i + j);
        for (int j = 0; j < BATCH; j++) {
            void *r;
            pthread_join(t[j], &r);
            if (r) {
                CHECK_FILL(r, 200, (unsigned)(i + j));
                free(r);
            }
        }
        if (i + BATCH == 1000)
            rss_first = rss_kib();
        if (check_failures > 20)
            break;
    }
    long rss_end = rss_kib();
    check_msg("VmRSS after 1000 threads: %ld KiB, after %d: %ld KiB, peak %ld KiB\n", rss_first,
              NTHREADS, rss_end, hwm_kib());
    CHECK(rss_first > 0);
    CHECK_MSG(rss_end - rss_first < RSS_BOUND_KIB, "VmRSS grew by %ld KiB (bound %d KiB)",
              rss_end - rss_first, RSS_BOUND_KIB);
    /* key destructor: 3 rounds in each of the 2000 threads that set it */
    CHECK_EQ(atomic_load(&destructor_runs), 3 * (NTHREADS / 10));
    return test_done("t_threads");
}
