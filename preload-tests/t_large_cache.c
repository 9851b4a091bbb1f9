/* preload-test-env: BMALLOC_PURGE_DELAY_MS=100
 * t_large_cache: freed large mappings (up to 32 MiB) are kept a while for reuse, and go back to
 * the OS after the purge delay or at malloc_trim.
 *  - a freed 8 MiB block's mapping is reused by the next 8 MiB malloc (same address), and
 *    calloc of a reused mapping is zero even though the block was dirty;
 *  - after the delay, the next large free unmaps what waited longer than that: RSS falls back;
 *  - malloc_trim(0) unmaps cached mappings at once. */
#include "check.h"
#include <time.h>

#define MiB (1024L * 1024)

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

int main(void)
{
    require_bmalloc();
    long start = rss_kib();
    unsigned char *a = malloc(OPQ(8 * MiB));
    CHECK(a != NULL);
    memset(a, 0xab, 8 * MiB);
    free(a);
    unsigned char *b = malloc(OPQ(8 * MiB));
    CHECK_MSG(b == a, "the freed mapping was not reused: %p then %p", (void *)a, (void *)b);
    memset(b, 0xcd, 8 * MiB);
    free(b);
    unsigned char *c = calloc(1, OPQ(8 * MiB));
    CHECK(c != NULL);
    size_t nonzero = 0;
    for (long i = 0; i < 8 * MiB; i++)
        nonzero += c[i] != 0;
    CHECK_MSG(nonzero == 0, "calloc of a reused mapping: %zu bytes not zero", nonzero);
    memset(c, 0xef, 8 * MiB);
    free(c);
    long cached = rss_kib();
    printf("start %ld KiB, with an 8 MiB mapping cached %ld KiB\n", start, cached);

    /* past the delay, another large free sends the old mapping back */
    sleep_ms(300);
    unsigned char *big = malloc(OPQ(40 * MiB)); /* above the cache's 32 MiB: unmapped at once */
    CHECK(big != NULL);
    big[0] = 1;
    free(OPQ(big));
    long later = rss_kib();
    printf("after the delay and another large free: %ld KiB\n", later);
    CHECK_MSG(later < cached - 6 * 1024, "RSS %ld KiB after the delay, %ld KiB before", later, cached);

    /* malloc_trim unmaps cached mappings at once */
    unsigned char *d = OPQ((unsigned char *)malloc(OPQ(8 * MiB)));
    CHECK(d != NULL);
    memset(d, 1, 8 * MiB);
    free(OPQ(d));
    long before_trim = rss_kib();
    malloc_trim(0);
    long after_trim = rss_kib();
    printf("before malloc_trim %ld KiB, after %ld KiB\n", before_trim, after_trim);
    CHECK_MSG(after_trim < before_trim - 6 * 1024, "malloc_trim left RSS at %ld KiB (from %ld)",
              after_trim, before_trim);
    return test_done("t_large_cache");
}
