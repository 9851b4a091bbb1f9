/* t_misuse: each misuse makes bmalloc write one line on stderr and abort():
 *     bmalloc: <call>(<pointer as 0x%lx>): <fault>
 * Each case runs in a forked child (expect_abort) that must die of SIGABRT (not
 * SIGSEGV) after writing exactly one line that contains the whole expected
 * message.  The blocks are allocated in the parent before the fork, so the
 * parent knows the pointer the message must name.
 * Cases: double free (small, aligned, and of a large block: its fault phrase is
 * not checked, the mapping being gone), free of a stack pointer, of static data,
 * of wild pointers (must be a message, not a segfault), of a pointer inside a
 * block (p+32, and inside a large block), of misaligned pointers (p+1, p+8),
 * realloc of a freed block and of a stack pointer, malloc_usable_size of a freed
 * block, a block whose header was overwritten (free and realloc), a free block
 * whose header was overwritten (found by the malloc/calloc that takes it), and a
 * double free inside a non-main thread. */
#include "check.h"
#include <pthread.h>

/* the use after free is the point of this test */
#pragma GCC diagnostic ignored "-Wuse-after-free"

static char static_buf[256] __attribute__((aligned(64)));

struct arg {
    void *p;
    size_t n;
};

static void do_double_free(void *a)
{
    void *p = ((struct arg *)a)->p;
    free(p);
    free(OPQ(p));
}
static void do_free(void *a) { free(OPQ(((struct arg *)a)->p)); }
static void do_realloc(void *a) { (void)OPQ(realloc(OPQ(((struct arg *)a)->p), 100)); }
static void do_realloc_freed(void *a)
{
    void *p = ((struct arg *)a)->p;
    free(p);
    (void)OPQ(realloc(OPQ(p), 64));
}
static void do_usable_freed(void *a)
{
    void *p = ((struct arg *)a)->p;
    free(p);
    (void)OPQ(malloc_usable_size(OPQ(p)));
}
static void do_clobber_free(void *a)
{
    unsigned char *p = ((struct arg *)a)->p;
    memset(OPQ(p) - 16, 0x41, 16);
    free(p);
}
static void do_clobber_realloc(void *a)
{
    unsigned char *p = ((struct arg *)a)->p;
    memset(OPQ(p) - 16, 0x41, 16);
    (void)OPQ(realloc(p, 5000));
}
/* free the block, clobber its header (as a write past the end of the block
 * before it would), then ask for a block of that size: the allocator takes the
 * most recently freed block (LIFO) and finds its header overwritten */
static void do_clobber_free_block_malloc(void *a)
{
    struct arg *g = a;
    unsigned char *p = g->p;
    free(p);
    memset(OPQ(p) - 16, 0x41, 16);
    (void)OPQ(malloc(g->n));
}
static void do_clobber_free_block_calloc(void *a)
{
    struct arg *g = a;
    unsigned char *p = g->p;
    free(p);
    memset(OPQ(p) - 16, 0x41, 16);
    (void)OPQ(calloc(1, g->n));
}
static void *thread_double_free(void *a)
{
    do_double_free(a);
    return NULL;
}
static void do_in_thread(void *a)
{
    pthread_t t;
    pthread_create(&t, NULL, thread_double_free, a);
    pthread_join(t, NULL);
}

static void one_line(const char *what)
{
    const char *o = expect_abort_output;
    const char *nl = strchr(o, '\n');
    CHECK_MSG(nl && nl[1] == 0, "%s: want exactly one line on stderr, got [%s]", what, o);
}

#define EXPECT(what, fn, p, n, ...)                                               \
    do {                                                                          \
        struct arg _a = {(p), (n)};                                               \
        char _m[256];                                                             \
        snprintf(_m, sizeof _m, __VA_ARGS__);                                     \
        if (expect_abort(what, fn, &_a, "bmalloc", _m, NULL))                     \
            one_line(what);                                                       \
    } while (0)

int main(void)
{
    require_bmalloc();
    char stack_buf[256] __attribute__((aligned(64)));
    memset(stack_buf, 0, sizeof stack_buf);

    unsigned char *p = OPQ(malloc(32));
    EXPECT("double free", do_double_free, p, 0, "bmalloc: free(%p): double free", p);
    p = OPQ(malloc(3000));
    EXPECT("double free 3000", do_double_free, p, 0, "bmalloc: free(%p): double free", p);
    void *al = memalign(4096, 100);
    EXPECT("double free of memalign'ed", do_double_free, al, 0,
           "bmalloc: free(%p): double free", al);
    void *big = OPQ(malloc(4 << 20));
    EXPECT("double free of a large block", do_double_free, big, 0, "bmalloc: free(%p): ", big);

    EXPECT("free stack", do_free, stack_buf + 64, 0,
           "bmalloc: free(%p): not allocated by bmalloc", (void *)(stack_buf + 64));
    EXPECT("free static", do_free, static_buf + 64, 0,
           "bmalloc: free(%p): not allocated by bmalloc", (void *)(static_buf + 64));
    static const uintptr_t wild[] = {0x123456789000UL, 0x10, 0x7ffffffff000UL,
                                     0xfffffffffffff000UL, 0x100000000000UL};
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++)
        EXPECT("free wild", do_free, (void *)wild[i], 0,
               "bmalloc: free(%p): not allocated by bmalloc", (void *)wild[i]);

    p = OPQ(malloc(100));
    memset(p, 0x5a, 100);
    EXPECT("free inside a block", do_free, p + 32, 0, "bmalloc: free(%p): bad block header",
           (void *)(p + 32));
    memset(p, 0, 100);
    EXPECT("free inside a block (zeros)", do_free, p + 48, 0,
           "bmalloc: free(%p): bad block header", (void *)(p + 48));
    unsigned char *bigc = OPQ(malloc(3 << 20));
    memset(bigc, 0, 3 << 20);
    EXPECT("free inside a large block", do_free, bigc + 8192, 0,
           "bmalloc: free(%p): bad block header", (void *)(bigc + 8192));
    EXPECT("free misaligned +1", do_free, p + 1, 0, "bmalloc: free(%p): misaligned pointer",
           (void *)(p + 1));
    EXPECT("free misaligned +8", do_free, p + 8, 0, "bmalloc: free(%p): misaligned pointer",
           (void *)(p + 8));

    p = OPQ(malloc(32));
    EXPECT("realloc freed", do_realloc_freed, p, 0, "bmalloc: realloc(%p): block already freed",
           p);
    EXPECT("realloc stack", do_realloc, stack_buf + 128, 0,
           "bmalloc: realloc(%p): not allocated by bmalloc", (void *)(stack_buf + 128));
    EXPECT("realloc misaligned", do_realloc, p + 4, 0,
           "bmalloc: realloc(%p): misaligned pointer", (void *)(p + 4));
    EXPECT("malloc_usable_size freed", do_usable_freed, p, 0,
           "bmalloc: malloc_usable_size(%p): block already freed", p);

    p = OPQ(malloc(48));
    EXPECT("header overwritten, free", do_clobber_free, p, 0,
           "bmalloc: free(%p): bad block header", p);
    EXPECT("header overwritten, realloc", do_clobber_realloc, p, 0,
           "bmalloc: realloc(%p): bad block header", p);
    EXPECT("free block header overwritten, malloc", do_clobber_free_block_malloc, p, 48,
           "bmalloc: malloc(%p): free block header overwritten", p);
    EXPECT("free block header overwritten, calloc", do_clobber_free_block_calloc, p, 48,
           "bmalloc: calloc(%p): free block header overwritten", p);

    p = OPQ(malloc(64));
    EXPECT("double free in a thread", do_in_thread, p, 0, "bmalloc: free(%p): double free", p);

    return test_done("t_misuse");
}
