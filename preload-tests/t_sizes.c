/* t_sizes: every size 0..65536 (malloc) and 0..4096 (calloc): the pointer is
 * 16-byte aligned, malloc_usable_size is exactly 16 << bucket (bucket b serves up
 * to 16<<b bytes), and every usable byte can be written without touching a
 * neighbouring block (two blocks of each size are filled with different bytes and
 * both read back).  Then sizes around every power of two up to 1 MiB (exact usable
 * size), and large (mmapped) sizes above 1 MiB (usable >= n, all writable). */
#include "check.h"

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    size_t i = 0;
    uint64_t w = 0x0101010101010101ULL * v;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (x != w)
            return 0;
    }
    for (; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void one(size_t n, int is_calloc)
{
    unsigned char *a = OPQ(is_calloc ? calloc(1, n) : malloc(n));
    unsigned char *b = OPQ(is_calloc ? calloc(n, 1) : malloc(n));
    if (!CHECK_MSG(a && b, "%s(%zu) failed", is_calloc ? "calloc" : "malloc", n))
        return;
    CHECK_MSG((uintptr_t)a % 16 == 0 && (uintptr_t)b % 16 == 0, "size %zu: %p %p not 16-aligned",
              n, (void *)a, (void *)b);
    size_t ua = malloc_usable_size(a), ub = malloc_usable_size(b);
    size_t want = (size_t)16 << bucket_of(n);
    CHECK_MSG(ua >= n && ub >= n, "size %zu: usable %zu %zu < n", n, ua, ub);
    CHECK_MSG(ua == want && ub == want, "size %zu: usable %zu %zu, want %zu (16 << %d)", n, ua,
              ub, want, bucket_of(n));
    if (is_calloc) {
        CHECK_MSG(all_bytes(a, n, 0) && all_bytes(b, n, 0), "calloc(%zu) not zeroed", n);
    }
    memset(a, 0xa5, ua);
    memset(b, 0x5a, ub);
    CHECK_MSG(all_bytes(a, ua, 0xa5), "size %zu: block %p lost bytes after writing %p", n,
              (void *)a, (void *)b);
    CHECK_MSG(all_bytes(b, ub, 0x5a), "size %zu: block %p damaged", n, (void *)b);
    free(a);
    free(b);
}

int main(void)
{
    require_bmalloc();
    for (size_t n = 0; n <= 65536; n++) {
        one(n, 0);
        if (check_failures > 20)
            break;
    }
    for (size_t n = 0; n <= 4096; n++)
        one(n, 1);
    /* around every power of two up to 1 MiB (the largest small bucket, 16 << 16) */
    for (int k = 4; k <= 20; k++) {
        size_t p2 = (size_t)1 << k;
        size_t sizes[] = {p2 - 16, p2 - 1, p2, p2 + 1, p2 + 16};
        for (int i = 0; i < 5; i++)
            if (sizes[i] <= (1 << 20))
                one(sizes[i], 0);
    }
    /* large blocks: usable >= n, aligned, every byte writable */
    static const size_t large[] = {(1 << 20) + 1, (1 << 20) + 4096, 3 << 20, (4 << 20) - 1,
                                   (4 << 20) + 17, 33 << 20};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        unsigned char *p = OPQ(malloc(large[i]));
        if (!CHECK_MSG(p != NULL, "malloc(%zu)", large[i]))
            continue;
        CHECK_ALIGNED(p, 16);
        size_t u = malloc_usable_size(p);
        CHECK_MSG(u >= large[i], "usable %zu < %zu", u, large[i]);
        memset(p, 0x77, u);
        CHECK(all_bytes(p, u, 0x77));
        free(p);
    }
    return test_done("t_sizes");
}
