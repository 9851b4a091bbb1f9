/* t_purge_rate: free never purges, and purges stay proportional to what is freed.
 * 160 MiB of 64-byte blocks are allocated; every other one is freed, so the free blocks share
 * their pages with live ones and no purge can release them: 80 MiB of them go to the exchange.
 *  - "free": the child stops there. A program that frees its own blocks pays for no purge
 *    (issue 10: jq spent a fifth of its time sorting blocks in purges on its way out), so the
 *    JSON report's os.purges must be 0.
 *  - "grow": the child then allocates 64 MiB in another bucket. Before the heap takes new
 *    memory, an exchange over its 32 MiB is purged, and purged again each time 16 MiB more
 *    has arrived. The bug this guards against: a purge that examined only the new arrivals
 *    remembered only what it kept of them, so the very next chance purged again, and every one
 *    after it (jq's group_by took 18x glibc's time, purging on nearly every batch). os.purges
 *    must stay at a few, not one per chunk.
 *  - "decay": with BMALLOC_PURGE_DELAY_MS=0, the child then takes batches of another bucket
 *    from the exchange for a second and a half, so that every few mallocs come to the decay.
 *    Each decay examines the 80 MiB and keeps all of it. The bug this guards against: a
 *    barren decay was followed by another at the next tick of the clock, each sorting a
 *    million blocks, so the thread did little else (the Rust benchmark took 40-140 s instead
 *    of 1). The JSON report's os.purge_us (time spent purging) must stay under a third of the
 *    child's wall time. */
#include "check.h"
#include <time.h>

#define N ((160L << 20) / 64)

/* Runs the child in `mode` and reads its JSON report: the figure `field` of its "os" part.
 * The child's wall time goes to *wall_us. */
static long figure_of(const char *mode, const char *field, long *wall_us)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/report-%s.json",
             getenv("BMALLOC_TEST_TMP") ? getenv("BMALLOC_TEST_TMP") : "/tmp", mode);
    char env_stats[4200];
    snprintf(env_stats, sizeof env_stats, "BMALLOC_STATS=%s", path);
    char *argv2[] = {"child", (char *)mode, NULL};
    char *envs[] = {env_stats, "BMALLOC_STATS_FORMAT=json", "BMALLOC_PURGE_DELAY_MS=0", NULL};
    /* The delay matters only to "decay": in the others no batch is taken from the exchange. */
    if (strcmp(mode, "decay") != 0)
        envs[2] = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int st = run_self(argv2, envs, "/dev/null", "/dev/null");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (wall_us)
        *wall_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the %s child failed (status %#x)", mode, st);
    static char buf[1 << 20];
    long n = read_file(path, buf, sizeof buf);
    CHECK_MSG(n > 0, "no report at %s", path);
    char key[64];
    snprintf(key, sizeof key, "\"%s\": ", field);
    const char *p = n > 0 ? strstr(buf, key) : NULL;
    CHECK_MSG(p != NULL, "no %s figure in the %s report", field, mode);
    long v = p ? atol(p + strlen(key)) : -1;
    printf("%s: %s %ld\n", mode, field, v);
    return v;
}

static long purges_of(const char *mode)
{
    return figure_of(mode, "purges", NULL);
}

int main(int argc, char **argv)
{
    require_bmalloc();
    if (argc > 2 && strcmp(argv[1], "child") == 0) {
        void **v = malloc(N * sizeof *v);
        for (long i = 0; i < N; i++) {
            v[i] = malloc(64);
            memset(v[i], 1, 64);
        }
        for (long i = 0; i < N; i += 2)
            free(v[i]);
        if (strcmp(argv[2], "grow") == 0)
            for (long i = 0; i < (64L << 20) / 256; i++)
                memset(malloc(256), 2, 256);
        if (strcmp(argv[2], "decay") == 0) {
            /* 200 blocks of 1000 bytes are three batches: their list runs empty, and the
             * heap takes a batch from the exchange, every 63 mallocs. */
            static void *p[200];
            struct timespec t0, t;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            do {
                for (int i = 0; i < 200; i++)
                    memset(p[i] = malloc(1000), 3, 8);
                for (int i = 0; i < 200; i++)
                    free(p[i]);
                clock_gettime(CLOCK_MONOTONIC, &t);
            } while ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1500);
        }
        return 0;
    }
    long on_free = purges_of("free");
    CHECK_MSG(on_free == 0, "freeing 80 MiB ran %ld purges, want none", on_free);
    long on_growth = purges_of("grow");
    CHECK_MSG(on_growth >= 1 && on_growth <= 8, "%ld purges while growing, want 1 to 8", on_growth);
    long wall_us = 0;
    long purge_us = figure_of("decay", "purge_us", &wall_us);
    printf("decay: the child ran %ld us\n", wall_us);
    CHECK_MSG(purge_us >= 0 && purge_us * 3 < wall_us,
              "barren decays took %ld us of the child's %ld us, want under a third", purge_us,
              wall_us);
    return test_done("t_purge_rate");
}
