/* Driver for lib_tkeys.so (see t_thread_keys.sh): waves of short threads whose pthread-key
 * destructors (in another library) allocate and free while the thread exits, next to busy
 * threads that keep allocating with content checks (a heap handed to a new thread while its
 * old thread still allocates in a destructor would show up as corruption here). */
#define _GNU_SOURCE
#include "../stress_util.h"
#include <pthread.h>
#include <stdatomic.h>

int tk_init(void);
void tk_thread_work(uint32_t seed);
size_t tk_drain(void);

static atomic_int stop;

static void *short_thread(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    tk_thread_work(seed);
    /* some work of its own, left for the destructors' frees to interleave with */
    void *v[16];
    for (int i = 0; i < 16; i++)
        v[i] = malloc(16 << (i % 12));
    for (int i = 0; i < 16; i++)
        free(v[i]);
    return NULL;
}

static void *busy_thread(void *arg)
{
    su_rng r = {(uint64_t)(uintptr_t)arg};
    enum { N = 64 };
    unsigned char *p[N] = {0};
    size_t sz[N] = {0};
    uint64_t seq = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        int i = su_below(&r, N);
        if (p[i]) {
            size_t bad = su_check_key(p[i], sz[i], su_key(p[i], sz[i], i));
            if (bad != (size_t)-1)
                su_fail("tl_keys: busy block %p (%zu bytes) corrupted at byte %zu", (void *)p[i],
                        sz[i], bad);
            free(p[i]);
        }
        (void)seq;
        sz[i] = 1 + su_below(&r, su_below(&r, 10) == 0 ? 70000 : 600);
        p[i] = malloc(sz[i]);
        if (!p[i])
            su_fail("tl_keys: malloc failed");
        su_fill_key(p[i], sz[i], su_key(p[i], sz[i], i));
    }
    for (int i = 0; i < N; i++)
        free(p[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    require_bmalloc();
    int waves = argc > 1 ? atoi(argv[1]) : 40;
    if (tk_init() != 0)
        FATAL("tk_init");
    pthread_t busy[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&busy[i], NULL, busy_thread, (void *)(uintptr_t)(i + 1));
    uint32_t seed = 1;
    size_t parked = 0;
    for (int w = 0; w < waves; w++) {
        pthread_t t[8];
        for (int i = 0; i < 8; i++)
            if (pthread_create(&t[i], NULL, short_thread, (void *)(uintptr_t)seed++) != 0)
                FATAL("pthread_create");
        for (int i = 0; i < 8; i++)
            pthread_join(t[i], NULL);
        if (w % 4 == 3)
            parked += tk_drain();
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(busy[i], NULL);
    parked += tk_drain();
    /* 40 keys x 3 destructor rounds per thread */
    CHECK_EQ(parked, (size_t)waves * 8 * 40 * 3);
    /* the main thread's own keys: its destructors do not run at exit(), which is fine */
    check_msg("tl_keys: %d threads, %zu blocks parked by key destructors\n", waves * 8, parked);
    return test_done("tl_keys");
}
