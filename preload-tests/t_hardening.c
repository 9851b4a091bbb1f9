/* t_hardening: what default mode sees at no cost on its fast paths (README, "Memory errors").
 *  - An underflow of 1 to 8 bytes, of every byte position, changes the tag right in front of
 *    the block, and free reports it.
 *  - A header forged from the magic number: the plain tag a used block would carry without
 *    the process's secret, with the seal word as the plain free tag, written in front of a
 *    pointer inside a big block, is refused ("bad block header"), not freed.
 *  - A free block's link overwritten with an address (here: of a static buffer that holds a
 *    forged header) is refused by the malloc that takes the block, not followed.
 *  - The keys differ between runs: two processes write different tags for the same block.
 *  - A free block's seal overwritten (a write past the end of the block before it) is
 *    reported by the malloc that takes it; a used block's, by its free. */
#include "check.h"

#pragma GCC diagnostic ignored "-Wuse-after-free"

#define MAGIC 0x626d616cULL
static uint64_t plain_tag(char state, unsigned bucket)
{
    return MAGIC << 32 | (uint64_t)(unsigned char)state << 8 | bucket;
}

struct arg {
    unsigned char *p;
    size_t n;
};

static void do_underflow(void *a)
{
    struct arg *x = a;
    unsigned char *at = OPQ(x->p - x->n); /* see do_used_seal_overwritten */
    *at ^= 0x5a;
    free(x->p);
}

static void do_forged_free(void *a)
{
    unsigned char *big = ((struct arg *)a)->p;
    uint64_t *h = (uint64_t *)(big + 256);
    h[0] = plain_tag('F', 2);
    h[1] = plain_tag('U', 2);
    free(OPQ(big + 256 + 16));
}

static uint64_t fake[8] __attribute__((aligned(16)));

static void do_link_overwritten(void *a)
{
    unsigned char *p = OPQ(((struct arg *)a)->p);
    free(p);
    /* The freed block's tag word is now its link: point it at a forged free block. */
    fake[0] = plain_tag('F', 2);
    fake[1] = 0;
    ((uint64_t *)(p - 8))[0] = (uint64_t)(uintptr_t)fake;
    (void)OPQ(malloc(64)); /* takes p: refuses its link */
    (void)OPQ(malloc(64));
}

static void do_free_seal_overwritten(void *a)
{
    unsigned char *p = ((struct arg *)a)->p;
    free(p);
    unsigned char *seal = OPQ(p - 16);
    *seal ^= 1; /* as a one-byte overflow of the block before would */
    (void)OPQ(malloc(64));
}

static void do_used_seal_overwritten(void *a)
{
    unsigned char *p = ((struct arg *)a)->p;
    /* Through a pointer the compiler cannot relate to p: else the store, to a block about to
     * be freed, is dead to it. */
    unsigned char *seal = OPQ(p - 16);
    *seal ^= 1;
    free(p);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--tag")) {
        unsigned char *p = OPQ(malloc(64));
        uint64_t tag;
        memcpy(&tag, p - 8, sizeof tag);
        printf("%llx\n", (unsigned long long)tag);
        return 0;
    }
    require_bmalloc();
    no_core_dumps();
    char want[160];
    for (size_t size = 64; size <= 4096; size *= 64) {
        for (size_t n = 1; n <= 8; n++) {
            struct arg x = {malloc(size), n};
            snprintf(want, sizeof want, "bmalloc: free(%p): the word in front of the block",
                     (void *)x.p);
            char name[80];
            snprintf(name, sizeof name, "underflow of the byte %zu before a %zu-byte block", n,
                     size);
            expect_abort(name, do_underflow, &x, want, NULL);
        }
    }
    struct arg big = {malloc(8192), 0};
    snprintf(want, sizeof want, "bmalloc: free(%p): bad block header", (void *)(big.p + 272));
    expect_abort("a header forged from the magic number", do_forged_free, &big, want, NULL);

    struct arg x = {malloc(64), 0};
    snprintf(want, sizeof want, "bmalloc: malloc(%p): free block header overwritten",
             (void *)x.p);
    expect_abort("a free block's link overwritten with an address", do_link_overwritten, &x, want,
                 NULL);
    expect_abort("a free block's seal overwritten", do_free_seal_overwritten, &x, want, NULL);
    snprintf(want, sizeof want, "bmalloc: free(%p): block header overwritten", (void *)x.p);
    expect_abort("a used block's seal overwritten", do_used_seal_overwritten, &x, want, NULL);

    /* The keys are the process's own: two runs tag the same first block differently. */
    char tags[2][32];
    for (int i = 0; i < 2; i++) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "/proc/%d/exe --tag", (int)getpid());
        FILE *f = popen(cmd, "r");
        CHECK(f && fgets(tags[i], sizeof tags[i], f));
        if (f) pclose(f);
    }
    CHECK_MSG(strcmp(tags[0], tags[1]) != 0, "two runs keyed a tag alike: %s", tags[0]);
    CHECK_MSG(strtoull(tags[0], NULL, 16) != plain_tag('U', 2), "a tag is the plain magic");
    return test_done("t_hardening");
}
