/* t_purge_rate: purges stay proportional to what is freed, in a single-threaded program that
 * frees a large share of its blocks among live ones (jq's group_by does this: bmalloc took 18x
 * glibc's time there, purging on nearly every hand-over).
 * 160 MiB of 64-byte blocks are allocated; every other one is freed, so the free blocks share
 * their pages with live ones and no purge can release them: 80 MiB of them go to the exchange.
 * Past 32 MiB (what it keeps for reuse) the exchange is purged, and purged again each time
 * 16 MiB more has arrived. The bug: a purge that examined only the new arrivals remembered
 * only what it kept of them, so the very next hand-over purged again, and every one after it:
 * one purge per batch of 1024 blocks. The JSON report's os.purges must stay at a few (one per
 * 16 MiB handed over since the last purge), not hundreds. */
#include "check.h"

#define N ((160L << 20) / 64)

int main(int argc, char **argv)
{
    require_bmalloc();
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        void **v = malloc(N * sizeof *v);
        for (long i = 0; i < N; i++) {
            v[i] = malloc(64);
            memset(v[i], 1, 64);
        }
        for (long i = 0; i < N; i += 2)
            free(v[i]);
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/report.json", getenv("BMALLOC_TEST_TMP") ? getenv("BMALLOC_TEST_TMP") : "/tmp");
    char env_stats[4200];
    snprintf(env_stats, sizeof env_stats, "BMALLOC_STATS=%s", path);
    char *argv2[] = {"child", NULL};
    char *envs[] = {env_stats, "BMALLOC_STATS_FORMAT=json", NULL};
    int st = run_self(argv2, envs, "/dev/null", "/dev/null");
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed (status %#x)", st);
    static char buf[1 << 20];
    long n = read_file(path, buf, sizeof buf);
    CHECK_MSG(n > 0, "no report at %s", path);
    const char *p = strstr(buf, "\"purges\": ");
    CHECK_MSG(p != NULL, "no purges figure in the report");
    long purges = p ? atol(p + 10) : -1;
    printf("purges: %ld\n", purges);
    CHECK_MSG(purges >= 1 && purges <= 8, "%ld purges, want 1 to 8", purges);
    return test_done("t_purge_rate");
}
