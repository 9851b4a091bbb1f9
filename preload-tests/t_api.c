/* t_api: every exported call with its edge cases (glibc 2.36 semantics on x86-64):
 * errno/ENOMEM/EINVAL, sizes near SIZE_MAX and above PTRDIFF_MAX, calloc and
 * reallocarray overflow, realloc(p,0), realloc(NULL,n), malloc(0) uniqueness,
 * free(NULL), free keeping errno, the aligned calls' argument rules, valloc/pvalloc,
 * malloc_usable_size, cfree, mallopt, malloc_trim. (The introspection calls
 * mallinfo/mallinfo2/malloc_stats/malloc_info are in t_introspect.) */
#include "check.h"

#define NSMALL 256

static size_t page;

/* bytes in use according to mallinfo2 (used to see that a call really freed) */
static size_t in_use(void) { return mallinfo2().uordblks; }

static void test_exports_resolve(void)
{
    for (int i = 0; bmalloc_exports[i]; i++) {
        const char *lib = symbol_library(bmalloc_exports[i]);
        CHECK_MSG(is_bmalloc_path(lib), "%s resolves into %s", bmalloc_exports[i],
                  lib ? lib : "(nothing)");
    }
}

static void test_malloc(void)
{
    /* malloc(0): unique, non-NULL, 16-aligned, freeable */
    void *z[NSMALL];
    for (int i = 0; i < NSMALL; i++) {
        z[i] = OPQ(malloc(OPQ((size_t)0)));
        CHECK(z[i] != NULL);
        CHECK_ALIGNED(z[i], 16);
    }
    for (int i = 0; i < NSMALL; i++)
        for (int j = i + 1; j < NSMALL; j++)
            if (!CHECK_MSG(z[i] != z[j], "malloc(0) returned %p twice", z[i]))
                goto out;
out:
    for (int i = 0; i < NSMALL; i++)
        free(z[i]);

    /* ordinary sizes are usable and aligned */
    for (size_t n = 1; n < 5000; n = n * 3 + 1) {
        unsigned char *p = OPQ(malloc(OPQ(n)));
        if (!CHECK(p != NULL))
            continue;
        CHECK_ALIGNED(p, 16);
        fill(p, n, (unsigned)n);
        CHECK_FILL(p, n, (unsigned)n);
        free(p);
    }

    /* impossible sizes: NULL + ENOMEM */
    static const size_t huge[] = {
        SIZE_MAX,           SIZE_MAX - 1,       SIZE_MAX - 15,      SIZE_MAX - 16,
        SIZE_MAX - 4096,    SIZE_MAX / 2,       (size_t)PTRDIFF_MAX + 1,
        (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 16, (size_t)1 << 48,
        ((size_t)1 << 47) + 1,
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        void *p = OPQ(malloc(OPQ(huge[i])));
        CHECK_MSG(p == NULL, "malloc(%#zx) = %p, want NULL", huge[i], p);
        CHECK_MSG(errno == ENOMEM, "malloc(%#zx): errno %d, want ENOMEM", huge[i], errno);
        if (p)
            free(p);
    }
}

static void test_free(void)
{
    errno = 0;
    free(NULL);
    CHECK_ERRNO(0);
    errno = 4321;
    free(OPQ((void *)NULL));
    CHECK_ERRNO(4321);

    /* free keeps errno for small and large (munmap) blocks */
    static const size_t sizes[] = {1, 100, 4096, 65536, 1 << 20, (1 << 20) + 1, 8 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = OPQ(malloc(sizes[i]));
        CHECK(p != NULL);
        memset(p, 1, sizes[i]);
        errno = 1000 + (int)i;
        free(p);
        CHECK_MSG(errno == 1000 + (int)i, "free of a %zu-byte block changed errno to %d",
                  sizes[i], errno);
    }

    /* free really frees: the bytes in use come back */
    size_t before = in_use();
    void *p = OPQ(malloc(3000));
    CHECK(in_use() >= before + 3000);
    free(p);
    CHECK_EQ(in_use(), before);
}

static void test_calloc(void)
{
    /* zero sizes: unique non-NULL */
    void *a = OPQ(calloc(0, 0)), *b = OPQ(calloc(0, 7)), *c = OPQ(calloc(7, 0));
    CHECK(a && b && c);
    CHECK(a != b && b != c && a != c);
    CHECK_ALIGNED(a, 16);
    free(a);
    free(b);
    free(c);

    unsigned char *p = OPQ(calloc(100, 17));
    if (CHECK(p != NULL)) {
        CHECK_ALIGNED(p, 16);
        for (size_t i = 0; i < 1700; i++)
            if (!CHECK_MSG(p[i] == 0, "calloc byte %zu = %#x", i, p[i]))
                break;
        free(p);
    }

    /* overflow of n * size, or product above PTRDIFF_MAX: NULL + ENOMEM */
    static const size_t ov[][2] = {
        {SIZE_MAX, 2},
        {2, SIZE_MAX},
        {SIZE_MAX / 2 + 1, 2},
        {(size_t)1 << 32, (size_t)1 << 32},
        {((size_t)1 << 32) + 1, (size_t)1 << 32},
        {SIZE_MAX, SIZE_MAX},
        {1, SIZE_MAX},
        {1, (size_t)PTRDIFF_MAX + 1},
        {(size_t)PTRDIFF_MAX / 2 + 1, 2},
        {(size_t)1 << 24, (size_t)1 << 24}, /* 256 TiB: no overflow, but impossible */
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        errno = 0;
        void *q = OPQ(calloc(OPQ(ov[i][0]), OPQ(ov[i][1])));
        CHECK_MSG(q == NULL, "calloc(%#zx, %#zx) = %p, want NULL", ov[i][0], ov[i][1], q);
        CHECK_MSG(errno == ENOMEM, "calloc(%#zx, %#zx): errno %d, want ENOMEM", ov[i][0],
                  ov[i][1], errno);
        if (q)
            free(q);
    }
}

static void test_realloc(void)
{
    /* realloc(NULL, n) = malloc(n) */
    unsigned char *p = OPQ(realloc(NULL, 200));
    CHECK(p != NULL);
    CHECK_ALIGNED(p, 16);
    CHECK(malloc_usable_size(p) >= 200);
    fill(p, 200, 1);

    /* realloc(NULL, 0): unique non-NULL */
    void *z1 = OPQ(realloc(NULL, 0)), *z2 = OPQ(realloc(NULL, 0));
    CHECK(z1 != NULL && z2 != NULL && z1 != z2);
    CHECK(z1 != p && z2 != p);
    free(z1);
    free(z2);

    /* grow and shrink keep content */
    p = OPQ(realloc(p, 5000));
    if (CHECK(p != NULL)) {
        CHECK_ALIGNED(p, 16);
        CHECK_FILL(p, 200, 1);
        fill(p, 5000, 2);
        p = OPQ(realloc(p, 10));
        CHECK(p != NULL);
        CHECK_ALIGNED(p, 16);
        CHECK_FILL(p, 10, 2);
    }

    /* failed realloc: NULL + ENOMEM, p still valid with its content */
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 15, (size_t)PTRDIFF_MAX + 1,
                                  (size_t)PTRDIFF_MAX, (size_t)1 << 48};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        void *q = OPQ(realloc(OPQ(p), OPQ(huge[i])));
        CHECK_MSG(q == NULL, "realloc(p, %#zx) = %p, want NULL", huge[i], q);
        CHECK_MSG(errno == ENOMEM, "realloc(p, %#zx): errno %d, want ENOMEM", huge[i], errno);
        CHECK_FILL(p, 10, 2);
    }
    /* also for a large (mmapped) block */
    unsigned char *big = OPQ(malloc(3 << 20));
    CHECK(big != NULL);
    fill(big, 3 << 20, 3);
    errno = 0;
    CHECK(OPQ(realloc(OPQ(big), OPQ(SIZE_MAX - 4096))) == NULL);
    CHECK_ERRNO(ENOMEM);
    CHECK_FILL(big, 3 << 20, 3);
    free(big);

    /* realloc(p, 0) frees p and returns NULL (glibc) */
    size_t before = in_use();
    void *r = OPQ(malloc(700));
    CHECK(in_use() >= before + 700);
    void *r2 = OPQ(realloc(r, 0));
    CHECK_PTR_EQ(r2, NULL);
    CHECK_EQ(in_use(), before);
    /* and for a large block */
    r = OPQ(malloc(2 << 20));
    r2 = OPQ(realloc(r, 0));
    CHECK_PTR_EQ(r2, NULL);
    CHECK_EQ(in_use(), before);

    free(p);
}

static void test_reallocarray(void)
{
    unsigned char *p = OPQ(reallocarray(NULL, 10, 30));
    if (!CHECK(p != NULL))
        return;
    CHECK_ALIGNED(p, 16);
    CHECK(malloc_usable_size(p) >= 300);
    fill(p, 300, 4);
    p = OPQ(reallocarray(p, 100, 30));
    if (!CHECK(p != NULL))
        return;
    CHECK_FILL(p, 300, 4);

    static const size_t ov[][2] = {
        {SIZE_MAX, 2}, {(size_t)1 << 32, (size_t)1 << 32}, {SIZE_MAX / 3 + 1, 3},
        {2, SIZE_MAX / 2 + 1}, {1, (size_t)PTRDIFF_MAX + 1},
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        errno = 0;
        void *q = OPQ(reallocarray(OPQ(p), OPQ(ov[i][0]), OPQ(ov[i][1])));
        CHECK_MSG(q == NULL, "reallocarray(p, %#zx, %#zx) = %p", ov[i][0], ov[i][1], q);
        CHECK_MSG(errno == ENOMEM, "reallocarray(p, %#zx, %#zx): errno %d, want ENOMEM",
                  ov[i][0], ov[i][1], errno);
        CHECK_FILL(p, 300, 4); /* p untouched */
    }
    errno = 0;
    CHECK(OPQ(reallocarray(NULL, OPQ(SIZE_MAX), 2)) == NULL);
    CHECK_ERRNO(ENOMEM);

    /* reallocarray(p, 0, n) behaves as realloc(p, 0): frees, returns NULL (glibc) */
    size_t before = in_use();
    void *q = OPQ(malloc(900));
    CHECK_PTR_EQ(OPQ(reallocarray(q, 0, 16)), NULL);
    CHECK_EQ(in_use(), before);
    free(p);
}

static void test_memalign(void)
{
    /* ordinary */
    void *p = OPQ(memalign(64, 100));
    CHECK(p != NULL);
    CHECK_ALIGNED(p, 64);
    CHECK(malloc_usable_size(p) >= 100);
    memset(p, 7, malloc_usable_size(p));
    free(p);

    /* non-power-of-two alignment is rounded up to the next power of two */
    static const size_t odd[][2] = {{24, 32}, {48, 64}, {100, 128}, {3, 16}, {1000, 1024},
                                    {4097, 8192}, {65537, 131072}};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        for (int k = 0; k < 8; k++) { /* several, so a lucky alignment cannot pass */
            void *q = OPQ(memalign(OPQ(odd[i][0]), 40 + 8 * k));
            if (!CHECK(q != NULL))
                break;
            CHECK_ALIGNED(q, odd[i][1]);
            CHECK(malloc_usable_size(q) >= (size_t)(40 + 8 * k));
            memset(q, 9, 40 + 8 * k);
            free(q);
        }
    }
    /* alignments below 16 still give malloc's 16-byte alignment */
    for (size_t al = 0; al <= 16; al++) {
        void *q = OPQ(memalign(OPQ(al), 33));
        if (CHECK_MSG(q != NULL, "memalign(%zu, 33)", al)) {
            CHECK_ALIGNED(q, 16);
            free(q);
        }
    }
    /* size 0 */
    void *z = OPQ(memalign(256, 0));
    CHECK(z != NULL);
    CHECK_ALIGNED(z, 256);
    free(z);

    /* impossible size: NULL + ENOMEM */
    errno = 0;
    CHECK(OPQ(memalign(64, OPQ(SIZE_MAX - 100))) == NULL);
    CHECK_ERRNO(ENOMEM);
    errno = 0;
    CHECK(OPQ(memalign(4096, OPQ((size_t)PTRDIFF_MAX + 1))) == NULL);
    CHECK_ERRNO(ENOMEM);
    /* alignment above SIZE_MAX/2+1 (cannot be rounded to a power of two): glibc says EINVAL */
    errno = 0;
    CHECK(OPQ(memalign(OPQ(SIZE_MAX / 2 + 2), 16)) == NULL);
    CHECK_ERRNO(EINVAL);
}

static void test_posix_memalign(void)
{
    void *sentinel = (void *)0x5a5a5a5a5a5a5a50UL;
    /* bad alignments: EINVAL, errno and *memptr untouched */
    static const size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 100, 4095, 4097, SIZE_MAX,
                                 SIZE_MAX / 2 + 2, 3 * 4096};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *m = sentinel;
        errno = 555;
        int rc = posix_memalign(&m, OPQ(bad[i]), 64);
        CHECK_MSG(rc == EINVAL, "posix_memalign(&m, %#zx, 64) = %d, want EINVAL", bad[i], rc);
        CHECK_MSG(errno == 555, "posix_memalign(&m, %#zx, 64) changed errno to %d", bad[i],
                  errno);
        CHECK_MSG(m == sentinel, "posix_memalign(&m, %#zx, 64) changed *memptr to %p", bad[i],
                  m);
    }
    /* good alignments */
    for (size_t al = sizeof(void *); al <= (1 << 16); al <<= 1) {
        void *m = sentinel;
        errno = 555;
        int rc = posix_memalign(&m, OPQ(al), 3 * al / 2 + 5);
        if (!CHECK_MSG(rc == 0, "posix_memalign(&m, %zu, ...) = %d", al, rc))
            continue;
        CHECK_ERRNO(555);
        CHECK(m != sentinel && m != NULL);
        CHECK_ALIGNED(m, al);
        CHECK(malloc_usable_size(m) >= 3 * al / 2 + 5);
        memset(m, 0x33, 3 * al / 2 + 5);
        free(m);
    }
    /* size 0: success, a unique pointer (glibc) */
    void *m1 = sentinel, *m2 = sentinel;
    CHECK_EQ(posix_memalign(&m1, 32, 0), 0);
    CHECK_EQ(posix_memalign(&m2, 32, 0), 0);
    CHECK(m1 != sentinel && m1 != NULL && m2 != sentinel && m2 != NULL && m1 != m2);
    CHECK_ALIGNED(m1, 32);
    free(m1);
    free(m2);
    /* impossible size: ENOMEM, *memptr untouched */
    void *m = sentinel;
    int rc = posix_memalign(&m, 64, OPQ(SIZE_MAX - 64));
    CHECK_EQ(rc, ENOMEM);
    CHECK_PTR_EQ(m, sentinel);
    rc = posix_memalign(&m, 16, OPQ((size_t)PTRDIFF_MAX + 1));
    CHECK_EQ(rc, ENOMEM);
    CHECK_PTR_EQ(m, sentinel);
}

static void test_aligned_alloc(void)
{
    void *p = OPQ(aligned_alloc(64, 128));
    CHECK(p != NULL);
    CHECK_ALIGNED(p, 64);
    CHECK(malloc_usable_size(p) >= 128);
    free(p);
    /* size not a multiple of the alignment is accepted (glibc) */
    p = OPQ(aligned_alloc(256, 100));
    CHECK(p != NULL);
    CHECK_ALIGNED(p, 256);
    CHECK(malloc_usable_size(p) >= 100);
    free(p);
    /* small power-of-two alignments are fine */
    for (size_t al = 1; al <= 8; al <<= 1) {
        p = OPQ(aligned_alloc(OPQ(al), 24));
        if (CHECK(p != NULL)) {
            CHECK_ALIGNED(p, 16);
            free(p);
        }
    }
    /* non-power-of-two alignment (0 included): NULL + EINVAL (glibc 2.38's rule) */
    static const size_t bad[] = {0, 3, 24, 48, 100, 4095, 12288, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *q = OPQ(aligned_alloc(OPQ(bad[i]), 64));
        CHECK_MSG(q == NULL, "aligned_alloc(%#zx, 64) = %p, want NULL", bad[i], q);
        CHECK_MSG(errno == EINVAL, "aligned_alloc(%#zx, 64): errno %d, want EINVAL", bad[i],
                  errno);
    }
    errno = 0;
    CHECK(OPQ(aligned_alloc(64, OPQ(SIZE_MAX - 64))) == NULL);
    CHECK_ERRNO(ENOMEM);
}

static void test_valloc_pvalloc(void)
{
    static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 10000, 65536, (1 << 20) + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *v = OPQ(valloc(OPQ(n)));
        if (CHECK_MSG(v != NULL, "valloc(%zu)", n)) {
            CHECK_ALIGNED(v, page);
            CHECK(malloc_usable_size(v) >= n);
            memset(v, 0x11, malloc_usable_size(v));
            free(v);
        }
        size_t rounded = n ? (n + page - 1) / page * page : page;
        void *pv = OPQ(pvalloc(OPQ(n)));
        if (CHECK_MSG(pv != NULL, "pvalloc(%zu)", n)) {
            CHECK_ALIGNED(pv, page);
            CHECK_MSG(malloc_usable_size(pv) >= rounded,
                      "pvalloc(%zu): usable %zu, want >= %zu (whole pages)", n,
                      malloc_usable_size(pv), rounded);
            /* the whole rounded size is usable */
            memset(pv, 0x22, rounded);
            free(pv);
        }
    }
    errno = 0;
    CHECK(OPQ(valloc(OPQ(SIZE_MAX - 10))) == NULL);
    CHECK_ERRNO(ENOMEM);
    /* pvalloc's rounding must not overflow */
    errno = 0;
    CHECK(OPQ(pvalloc(OPQ(SIZE_MAX))) == NULL);
    CHECK_ERRNO(ENOMEM);
    errno = 0;
    CHECK(OPQ(pvalloc(OPQ(SIZE_MAX - page + 2))) == NULL);
    CHECK_ERRNO(ENOMEM);
}

static void test_usable_size(void)
{
    CHECK_EQ(malloc_usable_size(NULL), 0);
    for (size_t n = 0; n < 3000; n += 7) {
        unsigned char *p = OPQ(malloc(n));
        size_t u = malloc_usable_size(p);
        CHECK_MSG(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
        /* the slack is usable: write every byte, read it back */
        fill(p, u, (unsigned)n);
        CHECK_FILL(p, u, (unsigned)n);
        free(p);
    }
}

static void test_cfree(void)
{
    void (*cf)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    if (!CHECK(cf != NULL))
        return;
    size_t before = in_use();
    void *p = OPQ(malloc(1234));
    CHECK(in_use() >= before + 1234);
    errno = 99;
    cf(p);
    CHECK_ERRNO(99);
    CHECK_EQ(in_use(), before);
    cf(NULL);
}

static void test_mallopt_trim(void)
{
    static const int params[][2] = {
        {M_TRIM_THRESHOLD, 128 * 1024}, {M_TOP_PAD, 0}, {M_MMAP_THRESHOLD, 1 << 20},
        {M_MMAP_MAX, 65536}, {M_ARENA_MAX, 1}, {M_ARENA_TEST, 8}, {M_PERTURB, 0},
        {M_CHECK_ACTION, 3}, {M_MXFAST, 64},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        int r = mallopt(params[i][0], params[i][1]);
        CHECK_MSG(r == 1, "mallopt(%d, %d) = %d, want 1", params[i][0], params[i][1], r);
    }
    void *p = OPQ(malloc(100000));
    free(p);
    int t = malloc_trim(0);
    CHECK_MSG(t == 0 || t == 1, "malloc_trim(0) = %d", t);
    t = malloc_trim(1 << 20);
    CHECK_MSG(t == 0 || t == 1, "malloc_trim(1 MiB) = %d", t);
    /* still works after trimming */
    p = OPQ(malloc(100000));
    CHECK(p != NULL);
    memset(p, 1, 100000);
    free(p);
}

int main(void)
{
    require_bmalloc();
    page = (size_t)sysconf(_SC_PAGESIZE);
    test_exports_resolve();
    test_malloc();
    test_free();
    test_calloc();
    test_realloc();
    test_reallocarray();
    test_memalign();
    test_posix_memalign();
    test_aligned_alloc();
    test_valloc_pvalloc();
    test_usable_size();
    test_cfree();
    test_mallopt_trim();
    return test_done("t_api");
}
