/* t_realloc: realloc keeps content across every bucket boundary.
 *  - one block walked up through sizes 2^k-1, 2^k, 2^k+1 (k = 0..23, up to 8 MiB:
 *    through the 1 MiB small/large limit into mmapped blocks) and back down,
 *    checking at each step that the common prefix survived and refilling it;
 *  - every pair (from, to) of the boundary sizes up to 64 KiB + 1;
 *  - pairs crossing the 1 MiB limit both ways;
 *  - a block allocated in another thread, realloc'ed here;
 * every result 16-byte aligned with usable size >= the request, and blocks
 * allocated around it stay intact. */
#include "check.h"
#include <pthread.h>

static size_t sizes[80];
static int nsizes;

static unsigned char *step(unsigned char *p, size_t old, size_t n, unsigned seed_old,
                           unsigned seed_new)
{
    unsigned char *q = OPQ(realloc(OPQ(p), n));
    if (!CHECK_MSG(q != NULL, "realloc(%zu -> %zu) = NULL", old, n))
        FATAL("cannot go on");
    CHECK_ALIGNED(q, 16);
    CHECK_MSG(malloc_usable_size(q) >= n, "realloc(%zu -> %zu): usable %zu", old, n,
              malloc_usable_size(q));
    size_t keep = old < n ? old : n;
    size_t bad = find_bad(q, keep, seed_old);
    CHECK_MSG(bad == (size_t)-1, "realloc %zu -> %zu (%p -> %p): byte %zu of %zu lost", old, n,
              (void *)p, (void *)q, bad, keep);
    fill(q, n, seed_new);
    return q;
}

/* blocks that must survive everything */
#define NGUARD 64
static unsigned char *guard[NGUARD];
static size_t guard_size(int i) { return (size_t)1 << (i % 14); }

static void *other_thread_alloc(void *arg)
{
    size_t n = *(size_t *)arg;
    unsigned char *p = malloc(n);
    fill(p, n, 77);
    return p;
}

int main(void)
{
    require_bmalloc();
    for (int i = 0; i < NGUARD; i++) {
        guard[i] = OPQ(malloc(guard_size(i)));
        fill(guard[i], guard_size(i), 1000 + i);
    }
    for (int k = 0; k <= 23; k++) {
        size_t p2 = (size_t)1 << k;
        if (p2 > 1)
            sizes[nsizes++] = p2 - 1;
        sizes[nsizes++] = p2;
        sizes[nsizes++] = p2 + 1;
    }
    /* walk up and down with one block */
    unsigned seed = 1;
    unsigned char *p = OPQ(malloc(1));
    fill(p, 1, seed);
    size_t cur = 1;
    for (int i = 0; i < nsizes; i++, seed++) {
        p = step(p, cur, sizes[i], seed, seed + 1);
        cur = sizes[i];
    }
    for (int i = nsizes - 1; i >= 0; i--, seed++) {
        p = step(p, cur, sizes[i], seed, seed + 1);
        cur = sizes[i];
    }
    free(p);

    /* every pair of boundary sizes up to 64 KiB + 1 */
    int small = 0;
    while (small < nsizes && sizes[small] <= 65537)
        small++;
    for (int i = 0; i < small; i++) {
        for (int j = 0; j < small; j++) {
            unsigned char *q = OPQ(malloc(sizes[i]));
            fill(q, sizes[i], seed);
            unsigned char *keepme = OPQ(malloc(sizes[i])); /* a neighbour */
            fill(keepme, sizes[i], seed + 7);
            q = step(q, sizes[i], sizes[j], seed, seed + 1);
            CHECK_FILL(keepme, sizes[i], seed + 7);
            free(keepme);
            free(q);
            seed++;
        }
    }

    /* crossing the 1 MiB small/large limit both ways */
    static const size_t cross[] = {1000, 65536, (1 << 20) - 16, 1 << 20, (1 << 20) + 1,
                                   (2 << 20) + 5, 5 << 20};
    int nc = sizeof cross / sizeof cross[0];
    for (int i = 0; i < nc; i++)
        for (int j = 0; j < nc; j++) {
            unsigned char *q = OPQ(malloc(cross[i]));
            fill(q, cross[i], seed);
            q = step(q, cross[i], cross[j], seed, seed + 1);
            free(q);
            seed++;
        }

    /* realloc of a block another thread allocated */
    static const size_t xs[] = {24, 1000, 70000, 3 << 20};
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        void *r;
        size_t n = xs[i];
        pthread_create(&t, NULL, other_thread_alloc, &n);
        pthread_join(t, &r);
        unsigned char *q = step(r, n, n * 3, 77, 78);
        q = step(q, n * 3, n / 2, 78, 79);
        free(q);
    }

    for (int i = 0; i < NGUARD; i++) {
        CHECK_FILL(guard[i], guard_size(i), 1000 + i);
        free(guard[i]);
    }
    return test_done("t_realloc");
}
