/* Driver for t_dlopen_tls.sh: threads are already running (and allocating) when the main
 * thread dlopens lib_tls_gd.so and lib_tls_ie.so; the running threads then use the libraries'
 * thread-local storage and allocate; new threads start and do the same; the libraries are
 * dlclosed and dlopened again, three times. */
#define _GNU_SOURCE
#include "../stress_util.h"
#include <pthread.h>
#include <stdatomic.h>

static int (*gd_work)(uint32_t);
static int (*ie_work)(uint32_t);
static atomic_int generation; /* bumped after each dlopen; 0 = libraries not loaded */

typedef struct {
    int wait_for_gen; /* spin (allocating) until this generation is loaded */
    uint32_t seed;
    int result;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    su_rng r = {j->seed};
    void *held[32] = {0};
    /* allocate while waiting for the libraries */
    while (atomic_load(&generation) < j->wait_for_gen) {
        int i = su_below(&r, 32);
        free(held[i]);
        held[i] = malloc(1 + su_below(&r, 3000));
        sched_yield();
    }
    int (*gd)(uint32_t) = gd_work;
    int (*ie)(uint32_t) = ie_work;
    for (int it = 0; it < 200 && !j->result; it++) {
        int e = gd(j->seed + it);
        if (!e)
            e = ie(j->seed + it);
        if (e)
            j->result = e;
        int i = su_below(&r, 32);
        free(held[i]);
        held[i] = malloc(1 + su_below(&r, 70000));
        memset(held[i], 1, 1);
    }
    for (int i = 0; i < 32; i++)
        free(held[i]);
    return NULL;
}

static void *open_lib(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        FATAL("dlopen(%s): %s", path, dlerror());
    return h;
}

int main(int argc, char **argv)
{
    require_bmalloc();
    const char *dir = argc > 1 ? argv[1] : ".";
    enum { OLD = 6, NEW = 6, CYCLES = 3 };
    for (int cycle = 1; cycle <= CYCLES; cycle++) {
        pthread_t t[OLD + NEW];
        job jobs[OLD + NEW];
        for (int i = 0; i < OLD; i++) {
            jobs[i] = (job){cycle, (uint32_t)(cycle * 1000 + i), 0};
            if (pthread_create(&t[i], NULL, worker, &jobs[i]))
                FATAL("pthread_create");
        }
        usleep(20000); /* the threads are running and allocating */
        void *hg = open_lib(dir, "lib_tls_gd.so");
        void *hi = open_lib(dir, "lib_tls_ie.so");
        gd_work = (int (*)(uint32_t))dlsym(hg, "tls_gd_work");
        ie_work = (int (*)(uint32_t))dlsym(hi, "tls_ie_work");
        if (!gd_work || !ie_work)
            FATAL("dlsym: %s", dlerror());
        /* the main thread uses them too */
        CHECK_EQ(gd_work(cycle), 0);
        CHECK_EQ(ie_work(cycle), 0);
        atomic_store(&generation, cycle);
        for (int i = OLD; i < OLD + NEW; i++) {
            jobs[i] = (job){cycle, (uint32_t)(cycle * 1000 + i), 0};
            if (pthread_create(&t[i], NULL, worker, &jobs[i]))
                FATAL("pthread_create");
        }
        for (int i = 0; i < OLD + NEW; i++) {
            pthread_join(t[i], NULL);
            CHECK_MSG(jobs[i].result == 0, "cycle %d thread %d: TLS check failed with %d", cycle,
                      i, jobs[i].result);
        }
        CHECK_EQ(gd_work(cycle + 100), 0);
        gd_work = NULL;
        ie_work = NULL;
        CHECK_EQ(dlclose(hi), 0);
        CHECK_EQ(dlclose(hg), 0);
    }
    return test_done("tl_dlopen");
}
