/* t_os: memory from the OS.
 *  - very large blocks go back to the OS on free: malloc(64 MiB) written whole
 *    raises VmRSS by >= 60 MiB, free brings it back within 4 MiB, 8 times (also
 *    for calloc, realloc to a large size, and memalign); mallinfo2's hblks/hblkhd
 *    come back too;
 *  - many large blocks alive at once are distinct and keep their content;
 *  - the program break, if bmalloc moved it, sits on a page boundary (growth in
 *    page-aligned steps), read with the raw brk system call (glibc's sbrk(0)
 *    returns its own cached value, not the kernel's). */
#include "check.h"
#include <sys/syscall.h>

#define BIG ((size_t)64 << 20)

static void returns_to_os(const char *what, int kind)
{
    for (int r = 0; r < 8; r++) {
        long before = rss_kib();
        struct mallinfo2 mb = mallinfo2();
        unsigned char *p = NULL;
        switch (kind) {
        case 0:
            p = OPQ(malloc(BIG + 1));
            break;
        case 1:
            p = OPQ(calloc(1, BIG));
            break;
        case 2:
            p = OPQ(realloc(OPQ(malloc(100)), BIG));
            break;
        case 3:
            p = OPQ(memalign(1 << 20, BIG));
            break;
        }
        if (!CHECK_MSG(p != NULL, "%s round %d", what, r))
            return;
        memset(p, r + 1, BIG);
        long during = rss_kib();
        CHECK_MSG(during - before >= 60 * 1024, "%s: VmRSS %ld -> %ld KiB while 64 MiB are in use",
                  what, before, during);
        CHECK_MSG(p[BIG / 2] == r + 1, "%s: content", what);
        free(p);
        long after = rss_kib();
        CHECK_MSG(after - before < 4 * 1024,
                  "%s round %d: VmRSS %ld KiB before, %ld with the block, %ld after free: "
                  "not returned to the OS",
                  what, r, before, during, after);
        struct mallinfo2 ma = mallinfo2();
        CHECK_EQ(ma.hblks, mb.hblks);
        CHECK_EQ(ma.hblkhd, mb.hblkhd);
        if (check_failures > 5)
            return;
    }
}

int main(void)
{
    require_bmalloc();
    uintptr_t brk0 = (uintptr_t)syscall(SYS_brk, 0);

    returns_to_os("malloc", 0);
    returns_to_os("calloc", 1);
    returns_to_os("realloc", 2);
    returns_to_os("memalign", 3);

    /* many large blocks at once */
    enum { N = 40 };
    unsigned char *b[N];
    size_t n[N];
    for (int i = 0; i < N; i++) {
        n[i] = ((size_t)1 << 20) + 4096 * (size_t)i + 1 + (size_t)(i % 3) * 700000;
        b[i] = OPQ(malloc(n[i]));
        if (!CHECK(b[i] != NULL))
            return test_done("t_os");
        fill(b[i], n[i], (unsigned)i);
    }
    for (int i = 0; i < N; i++) {
        CHECK_FILL(b[i], n[i], (unsigned)i);
        free(b[i]);
    }

    /* small allocations, enough to need more memory from the OS several times */
    static void *s[20000];
    for (int i = 0; i < 20000; i++)
        s[i] = OPQ(malloc(16 + (size_t)(i % 64) * 64));
    uintptr_t brk1 = (uintptr_t)syscall(SYS_brk, 0);
    if (brk1 != brk0)
        CHECK_MSG(brk1 % (uintptr_t)sysconf(_SC_PAGESIZE) == 0,
                  "the break moved from %#lx to %#lx, not a page boundary", (unsigned long)brk0,
                  (unsigned long)brk1);
    else
        check_msg("note: the break did not move (memory came from mmap)\n");
    for (int i = 0; i < 20000; i++)
        free(s[i]);
    return test_done("t_os");
}
