/* t_aligned: memalign, posix_memalign, aligned_alloc, valloc at every power-of-two
 * alignment 1 .. 4 MiB with several sizes (0, 1, 100, al-1, al, al+1, 3*al):
 * aligned (to max(al, 16): smaller alignments still get malloc's 16), usable size
 * >= size, every usable byte writable with the neighbouring allocation intact,
 * free.  Then realloc of an aligned block (grow and shrink, small and large) keeps
 * its content, and aligned blocks freed by another thread. */
#include "check.h"
#include <pthread.h>

#define MAXAL ((size_t)4 << 20)

enum { MEMALIGN, POSIX_MEMALIGN, ALIGNED_ALLOC, NKIND };
static const char *const kind_name[] = {"memalign", "posix_memalign", "aligned_alloc"};

static void *alloc(int kind, size_t al, size_t n)
{
    void *p = NULL;
    switch (kind) {
    case MEMALIGN:
        return OPQ(memalign(OPQ(al), OPQ(n)));
    case POSIX_MEMALIGN: {
        size_t a = al < sizeof(void *) ? sizeof(void *) : al;
        int rc = posix_memalign(&p, a, n);
        CHECK_MSG(rc == 0, "posix_memalign(%zu, %zu) = %d", a, n, rc);
        return rc ? NULL : p;
    }
    case ALIGNED_ALLOC:
        return OPQ(aligned_alloc(OPQ(al), OPQ(n)));
    }
    return NULL;
}

static void one(int kind, size_t al, size_t n, unsigned seed)
{
    size_t want_al = al < 16 ? 16 : al;
    unsigned char *a = alloc(kind, al, n), *b = alloc(kind, al, n);
    if (!CHECK_MSG(a && b, "%s(%zu, %zu) = NULL", kind_name[kind], al, n)) {
        free(a);
        free(b);
        return;
    }
    CHECK_MSG((uintptr_t)a % want_al == 0 && (uintptr_t)b % want_al == 0,
              "%s(%zu, %zu) = %p, %p: not aligned", kind_name[kind], al, n, (void *)a, (void *)b);
    size_t ua = malloc_usable_size(a), ub = malloc_usable_size(b);
    CHECK_MSG(ua >= n && ub >= n, "%s(%zu, %zu): usable %zu, %zu", kind_name[kind], al, n, ua,
              ub);
    fill(a, ua, seed);
    fill(b, ub, seed + 1);
    CHECK_FILL(a, ua, seed);
    CHECK_FILL(b, ub, seed + 1);
    free(a);
    free(b);
}

static void *free_them(void *arg)
{
    void **v = arg;
    for (int i = 0; v[i]; i++) {
        size_t al = (size_t)16 << (i % 12);
        CHECK_ALIGNED(v[i], al);
        CHECK_FILL(v[i], 100, i);
        free(v[i]);
    }
    return NULL;
}

int main(void)
{
    require_bmalloc();
    unsigned seed = 1;
    for (size_t al = 1; al <= MAXAL; al <<= 1) {
        size_t sizes[] = {0, 1, 100, al - 1, al, al + 1, 3 * al};
        for (int kind = 0; kind < NKIND; kind++)
            for (int i = 0; i < 7; i++)
                one(kind, al, sizes[i], seed++);
    }
    /* valloc: page aligned */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t n = 0; n < 20000; n = n * 2 + 1) {
        unsigned char *v = OPQ(valloc(n));
        if (CHECK(v != NULL)) {
            CHECK_ALIGNED(v, page);
            CHECK(malloc_usable_size(v) >= n);
            memset(v, 0x3c, malloc_usable_size(v));
            free(v);
        }
    }

    /* realloc of an aligned block keeps its content */
    for (size_t al = 32; al <= MAXAL; al <<= 2) {
        static const size_t ns[] = {10, 1000, 100000, (1 << 20) + 100};
        for (int i = 0; i < 4; i++) {
            size_t n = ns[i];
            unsigned char *p = memalign(al, n);
            if (!CHECK(p != NULL))
                continue;
            CHECK_ALIGNED(p, al);
            fill(p, n, seed);
            unsigned char *q = OPQ(realloc(p, n * 4));
            if (!CHECK(q != NULL))
                continue;
            CHECK_ALIGNED(q, 16);
            CHECK_MSG(find_bad(q, n, seed) == (size_t)-1,
                      "realloc(memalign(%zu, %zu), %zu) lost content", al, n, n * 4);
            fill(q, n * 4, seed + 1);
            unsigned char *r = OPQ(realloc(q, n / 2 + 1));
            if (!CHECK(r != NULL))
                continue;
            CHECK_MSG(find_bad(r, n / 2 + 1, seed + 1) == (size_t)-1,
                      "shrinking realloc of an aligned block lost content");
            free(r);
            /* also shrink first */
            p = aligned_alloc(al, n);
            fill(p, n, seed + 2);
            q = OPQ(realloc(p, n / 3 + 1));
            CHECK_MSG(q && find_bad(q, n / 3 + 1, seed + 2) == (size_t)-1,
                      "realloc(aligned_alloc(%zu, %zu), %zu) lost content", al, n, n / 3 + 1);
            free(q);
            seed += 3;
        }
    }

    /* aligned blocks freed by another thread */
    static void *v[49];
    for (int i = 0; i < 48; i++) {
        v[i] = memalign((size_t)16 << (i % 12), 100);
        fill(v[i], 100, i);
    }
    pthread_t t;
    pthread_create(&t, NULL, free_them, v);
    pthread_join(t, NULL);
    return test_done("t_aligned");
}
