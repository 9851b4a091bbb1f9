/* t_calloc: calloc returns zeroed memory even where the memory was dirty before:
 * blocks are malloc'ed, filled with 0xAA (their whole usable size), freed, and the
 * same sizes calloc'ed again (so the freed blocks are reused), many rounds, for
 * small sizes in every bucket, the 1 MiB boundary and large (mmapped) sizes; also
 * a calloc after realloc shrank a dirty block, and calloc in a second thread that
 * reuses blocks dirtied and freed by it. */
#include "check.h"
#include <pthread.h>

#define K 16

static int zero(const unsigned char *p, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) {
            *at = i;
            return 0;
        }
    return 1;
}

static void dirty_then_calloc(size_t n, int rounds, int k)
{
    void *b[K];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < k; i++) {
            b[i] = OPQ(malloc(n));
            if (!CHECK(b[i] != NULL))
                return;
            memset(b[i], 0xaa, malloc_usable_size(b[i]));
        }
        for (int i = 0; i < k; i++)
            free(b[i]);
        for (int i = 0; i < k; i++) {
            /* alternate the two argument orders, and split the size */
            unsigned char *c;
            if (i % 3 == 0)
                c = OPQ(calloc(1, n));
            else if (i % 3 == 1)
                c = OPQ(calloc(n, 1));
            else if (n % 8 == 0)
                c = OPQ(calloc(n / 8, 8));
            else
                c = OPQ(calloc(n, 1));
            if (!CHECK_MSG(c != NULL, "calloc(%zu)", n))
                return;
            CHECK_ALIGNED(c, 16);
            size_t at;
            CHECK_MSG(zero(c, n, &at), "calloc(%zu) round %d block %d (%p): byte %zu = %#x", n,
                      r, i, (void *)c, at, c[at]);
            b[i] = c;
        }
        for (int i = 0; i < k; i++) {
            memset(b[i], 0xaa, n);
            free(b[i]);
        }
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    for (size_t n = 1; n <= 8192; n = n * 2 + 3)
        dirty_then_calloc(n, 5, K);
    return NULL;
}

int main(void)
{
    require_bmalloc();
    for (size_t n = 0; n <= 256; n++)
        dirty_then_calloc(n, 3, 4);
    for (int k = 4; k <= 20; k++) {
        size_t p2 = (size_t)1 << k;
        dirty_then_calloc(p2 - 1, 10, K);
        dirty_then_calloc(p2, 10, K);
        if (p2 < (1 << 20))
            dirty_then_calloc(p2 + 1, 10, K);
    }
    /* large blocks */
    static const size_t large[] = {(1 << 20) + 1, (1 << 20) + 4096, 3 << 20, (8 << 20) + 5};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++)
        dirty_then_calloc(large[i], 4, 3);

    /* many blocks: more than one chunk's worth */
    static void *many[4000];
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 4000; i++) {
            many[i] = OPQ(malloc(500));
            memset(many[i], 0xaa, malloc_usable_size(many[i]));
        }
        for (int i = 0; i < 4000; i++)
            free(many[i]);
        for (int i = 0; i < 4000; i++) {
            unsigned char *c = OPQ(calloc(50, 10));
            size_t at;
            if (!CHECK_MSG(zero(c, 500, &at), "calloc(50, 10) #%d: byte %zu = %#x", i, at, c[at]))
                break;
            many[i] = c;
            memset(c, 0xaa, 500);
        }
        for (int i = 0; i < 4000; i++)
            free(many[i]);
    }

    /* a block shrunk by realloc, its tail dirty, then freed and calloc'ed */
    for (int r = 0; r < 50; r++) {
        unsigned char *p = OPQ(malloc(4000));
        memset(p, 0xaa, 4000);
        p = OPQ(realloc(p, 3000));
        free(p);
        unsigned char *c = OPQ(calloc(1, 3000));
        size_t at;
        CHECK_MSG(zero(c, 3000, &at), "calloc(3000) after realloc: byte %zu", at);
        free(c);
    }

    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    return test_done("t_calloc");
}
