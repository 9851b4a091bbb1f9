/* preload-test-env: BMALLOC_PURGE_DELAY_MS=100
 * t_large_cache: freed large mappings (up to 32 MiB) are kept a while for reuse, and go back to
 * the OS after the purge delay or at malloc_trim.
 *  - a freed 8 MiB block's mapping is reused by the next 8 MiB malloc (same address), and
 *    calloc of a reused mapping is zero even though the block was dirty;
 *  - after the delay, the next large malloc unmaps what waited longer than that: RSS falls back;
 *  - malloc_trim(0) unmaps cached mappings at once;
 *  - a smaller request takes the start of a bigger cached mapping and the rest stays cached for
 *    the next one; freed, the two pieces merge again;
 *  - when no cached mapping is big enough, the pages of the largest move into a new one and
 *    are not faulted in again;
 *  - with nothing else live, a freed 24 MiB block stays cached (within the recent peak of the
 *    live large bytes) and is reused without faults, and malloc_trim gives it back. */
#include "check.h"
#include <sys/resource.h>
#include <time.h>

#define MiB (1024L * 1024)

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

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

    /* past the delay, another large malloc sends the old mapping back */
    sleep_ms(300);
    unsigned char *big = malloc(OPQ(40 * MiB)); /* above the cache's 32 MiB: unmapped at once */
    CHECK(big != NULL);
    big[0] = 1;
    free(OPQ(big));
    long later = rss_kib();
    printf("after the delay and another large malloc: %ld KiB\n", later);
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

    /* The cache is empty now. A smaller request takes the start of a bigger cached mapping and
     * leaves the rest cached: the next request is served from that rest. (The cache keeps at
     * most twice the bytes of live large blocks, at least 16 MiB: a live 16 MiB block makes
     * room for the freed 16 MiB and its page of header.) */
    unsigned char *ballast = malloc(OPQ(16 * MiB));
    CHECK(ballast != NULL);
    unsigned char *e = malloc(OPQ(16 * MiB));
    CHECK(e != NULL);
    memset(e, 2, 16 * MiB);
    free(OPQ(e));
    unsigned char *f = malloc(OPQ(4 * MiB));
    unsigned char *g = malloc(OPQ(8 * MiB));
    CHECK_MSG(f == e, "4 MiB after a freed 16 MiB: %p, not the freed block's %p", (void *)f,
              (void *)e);
    CHECK_MSG(g > e + 4 * MiB && g + 8 * MiB <= e + 16 * MiB + 4096,
              "8 MiB at %p, not in the rest of the freed 16 MiB at %p", (void *)g, (void *)e);
    /* freed again, the two pieces merge: 16 MiB fits at the old address */
    free(OPQ(g));
    free(OPQ(f));
    unsigned char *m = malloc(OPQ(16 * MiB));
    CHECK_MSG(m == e, "16 MiB after freeing both pieces: %p, not %p", (void *)m, (void *)e);
    memset(m, 3, 16 * MiB);
    free(OPQ(m));
    free(OPQ(ballast));

    /* No cached mapping is big enough: the pages of the largest move into the new mapping,
     * and those that were touched are not faulted in again (counted by minor page faults). */
    malloc_trim(0);
    unsigned char *s8 = malloc(OPQ(8 * MiB));
    CHECK(s8 != NULL);
    memset(s8, 4, 8 * MiB);
    free(OPQ(s8));
    long faults_before = minor_faults();
    unsigned char *s12 = malloc(OPQ(12 * MiB));
    CHECK(s12 != NULL);
    memset(s12, 5, 12 * MiB);
    long faults = minor_faults() - faults_before;
    long pages = 12 * MiB / 4096;
    printf("12 MiB after a freed 8 MiB: %ld page faults for %ld pages\n", faults, pages);
    CHECK_MSG(faults < pages / 2, "growing the cached 8 MiB took %ld faults for %ld pages", faults,
              pages);
    free(OPQ(s12));

    /* With no large block live, a freed 24 MiB block stays cached: it was live a moment ago,
     * so keeping it raises no peak. The next 24 MiB reuses its pages, and malloc_trim gives it
     * back at once. */
    malloc_trim(0);
    long idle = rss_kib();
    unsigned char *t24 = malloc(OPQ(24 * MiB));
    CHECK(t24 != NULL);
    memset(t24, 6, 24 * MiB);
    free(OPQ(t24));
    faults_before = minor_faults();
    t24 = malloc(OPQ(24 * MiB));
    CHECK(t24 != NULL);
    memset(t24, 7, 24 * MiB);
    faults = minor_faults() - faults_before;
    printf("24 MiB again after a freed 24 MiB: %ld page faults\n", faults);
    CHECK_MSG(faults < 24 * MiB / 4096 / 8, "the freed 24 MiB was not reused: %ld faults", faults);
    free(OPQ(t24));
    malloc_trim(0);
    long rss24 = rss_kib();
    printf("24 MiB freed and trimmed: RSS %ld KiB, %ld KiB before it\n", rss24, idle);
    CHECK_MSG(rss24 < idle + 4 * 1024, "a trimmed 24 MiB stayed resident: %ld KiB, %ld before",
              rss24, idle);
    return test_done("t_large_cache");
}


