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
 *    must stay at a few, not one per chunk. */
#include "check.h"

#define N ((160L << 20) / 64)

static long purges_of(const char *mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/report-%s.json",
             getenv("BMALLOC_TEST_TMP") ? getenv("BMALLOC_TEST_TMP") : "/tmp", mode);
    char env_stats[4200];
    snprintf(env_stats, sizeof env_stats, "BMALLOC_STATS=%s", path);
    char *argv2[] = {"child", (char *)mode, NULL};
    char *envs[] = {env_stats, "BMALLOC_STATS_FORMAT=json", NULL};
    int st = run_self(argv2, envs, "/dev/null", "/dev/null");
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the %s child failed (status %#x)", mode, st);
    static char buf[1 << 20];
    long n = read_file(path, buf, sizeof buf);
    CHECK_MSG(n > 0, "no report at %s", path);
    const char *p = n > 0 ? strstr(buf, "\"purges\": ") : NULL;
    CHECK_MSG(p != NULL, "no purges figure in the %s report", mode);
    long purges = p ? atol(p + 10) : -1;
    printf("%s: %ld purges\n", mode, purges);
    return purges;
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
        return 0;
    }
    long on_free = purges_of("free");
    CHECK_MSG(on_free == 0, "freeing 80 MiB ran %ld purges, want none", on_free);
    long on_growth = purges_of("grow");
    CHECK_MSG(on_growth >= 1 && on_growth <= 8, "%ld purges while growing, want 1 to 8", on_growth);
    return test_done("t_purge_rate");
}
