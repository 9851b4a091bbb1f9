/* purge (run by t_purge.sh): memory goes back to the OS when a program frees most of what it had (issue 4).
 * A thread allocates 1 GiB in small blocks (chained through the blocks themselves, so the
 * test's own bookkeeping costs nothing) and frees them all. free itself never purges (issue
 * 10: a program on its way out should not pay for it), so the freed blocks wait in the
 * exchange. After the purge delay (BMALLOC_PURGE_DELAY_MS, set to 200 by t_purge.sh), the
 * program's next allocations purge them, a purge per batch taken from the exchange: after 2 MiB
 * of mallocs, RSS is back within 12 MiB of the start, for one thread's frees or four threads'
 * at once (the seams between what one purge examined and the next go with the next, see
 * purge.rs; kept back until the next delay, they left 6-32 MiB). Finally the memory is reused:
 * allocating 1 GiB again (in another size) raises the peak by less than 300 MiB.
 *   modes: "64" (64-byte blocks), "mixed" (16 B to 4 KiB), "threads" (4 threads at once) */
#include "check.h"
#include <pthread.h>
#include <time.h>

#define GIB (1024L * 1024 * 1024)

struct job {
    long bytes;
    int mixed;
    unsigned seed;
    long blocks;
};

static size_t next_size(struct job *j)
{
    if (!j->mixed)
        return 64;
    j->seed = j->seed * 1103515245u + 12345u;
    return 16 + (j->seed >> 8) % (4096 - 16 + 1);
}

/* Allocates j->bytes in blocks chained through their first word; frees them all. */
static void *churn(void *arg)
{
    struct job *j = arg;
    void *head = NULL;
    long got = 0;
    while (got < j->bytes) {
        size_t sz = next_size(j);
        void **b = malloc(sz);
        if (!b)
            FATAL("malloc(%zu) failed after %ld bytes", sz, got);
        memset(b, 0x5a, sz); /* touch it all, as a real program would */
        *b = head;
        head = b;
        got += (long)sz;
        j->blocks++;
    }
    while (head) {
        void *next = *(void **)head;
        free(head);
        head = next;
    }
    return NULL;
}

static void run(int threads, int mixed, long bytes)
{
    pthread_t t[8];
    struct job j[8];
    for (int i = 0; i < threads; i++) {
        j[i] = (struct job){ bytes / threads, mixed, 77u + (unsigned)i, 0 };
        pthread_create(&t[i], NULL, churn, &j[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
    require_bmalloc();
    const char *mode = argc > 1 ? argv[1] : "64";
    int mixed = strcmp(mode, "mixed") == 0;
    int threads = strcmp(mode, "threads") == 0 ? 4 : 1;
    long start = rss_kib();

    run(threads, mixed, GIB);
    long peak = hwm_kib();
    long after = rss_kib();
    printf("%s: start %ld KiB, peak %ld KiB, after freeing %ld KiB\n", mode, start, peak, after);
    CHECK_MSG(peak - start > 900 * 1024, "the test did not really use 1 GiB (peak %ld KiB)", peak);

    /* Past the purge delay, every malloc that takes a batch from the exchange (or new memory)
     * purges what waited longer than the delay, as much as a purge has room for. */
    struct timespec ts = { 0, 400 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    run(1, 0, 2L << 20);
    long later = rss_kib();
    printf("%s: after the delay %ld KiB\n", mode, later);
    CHECK_MSG(later - start < 12 * 1024,
              "RSS %ld KiB after the purge delay (%ld KiB before it), start %ld KiB", later, after, start);

    /* The purged memory is carved again: another GiB in another size class reuses it. */
    long before_again = hwm_kib();
    run(1, !mixed, GIB);
    long peak_again = hwm_kib();
    printf("%s: peak before %ld KiB, after a second GiB %ld KiB\n", mode, before_again, peak_again);
    CHECK_MSG(peak_again < before_again + 300 * 1024,
              "a second GiB raised the peak from %ld to %ld KiB", before_again, peak_again);
    return test_done(mode);
}
