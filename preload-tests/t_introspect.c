/* t_introspect: mallinfo, mallinfo2, malloc_stats, malloc_info answer with
 * bmalloc's own figures.
 *  - mallinfo2: uordblks grows by at least what is allocated (exactly by the
 *    block sizes, 16 << bucket) and returns to its value when it is freed;
 *    fordblks grows by the block sizes freed; hblks/hblkhd count a large (mmapped) block; arena > 0.
 *  - mallinfo: the same in int fields.
 *  - malloc_stats: prints the report (V line ... S line) to stderr; checked in a
 *    re-executed child whose stderr is a file (the child _exits so that the exit
 *    report cannot be mistaken for it).
 *  - malloc_info(0, fp): XML starting with <malloc version="bmalloc, returns 0;
 *    malloc_info(1, fp): -1 and EINVAL. */
#include "check.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define NBLK 100
#define BLK 1000

static void test_mallinfo2(void)
{
    struct mallinfo2 a = mallinfo2();
    void *b[NBLK];
    for (int i = 0; i < NBLK; i++) {
        b[i] = OPQ(malloc(BLK));
        memset(b[i], i, BLK);
    }
    struct mallinfo2 m = mallinfo2();
    CHECK_MSG(m.uordblks >= a.uordblks + NBLK * BLK, "uordblks %zu -> %zu after %d x %d bytes",
              a.uordblks, m.uordblks, NBLK, BLK);
    /* bucket granularity: 1000 bytes are a 1024-byte block */
    CHECK_MSG(m.uordblks == a.uordblks + NBLK * 1024, "uordblks %zu -> %zu, want +%d",
              a.uordblks, m.uordblks, NBLK * 1024);
    CHECK(m.arena > 0);
    CHECK(m.arena >= m.uordblks);
    for (int i = 0; i < NBLK; i++)
        free(b[i]);
    struct mallinfo2 f = mallinfo2();
    CHECK_EQ(f.uordblks, a.uordblks);
    /* freed blocks are free bytes in our heap: 8 blocks of 4096 (fewer than any
     * batch a heap would hand to the exchange; measured from after the mallocs,
     * so it does not matter whether uncarved chunk space counts as free) */
    void *e[8];
    for (int i = 0; i < 8; i++)
        e[i] = OPQ(malloc(3000));
    struct mallinfo2 em = mallinfo2();
    for (int i = 0; i < 8; i++)
        free(e[i]);
    struct mallinfo2 ef = mallinfo2();
    CHECK_MSG(ef.fordblks == em.fordblks + 8 * 4096,
              "fordblks %zu -> %zu after freeing 8 blocks of 4096", em.fordblks, ef.fordblks);
    CHECK_EQ(ef.uordblks, em.uordblks - 8 * 4096);

    /* a large block is an mmapped block */
    size_t big = 5 << 20;
    void *p = OPQ(malloc(big));
    memset(p, 1, big);
    struct mallinfo2 l = mallinfo2();
    CHECK_MSG(l.hblks >= f.hblks + 1, "hblks %zu -> %zu", f.hblks, l.hblks);
    CHECK_MSG(l.hblkhd >= f.hblkhd + big, "hblkhd %zu -> %zu", f.hblkhd, l.hblkhd);
    CHECK_MSG(l.uordblks >= f.uordblks + big || l.hblkhd >= f.hblkhd + big,
              "large block is counted nowhere");
    free(p);
    struct mallinfo2 g = mallinfo2();
    CHECK_EQ(g.hblks, f.hblks);
    CHECK_EQ(g.hblkhd, f.hblkhd);
    CHECK_EQ(g.uordblks, f.uordblks);
}

static void test_mallinfo(void)
{
    struct mallinfo a = mallinfo();
    void *b[NBLK];
    for (int i = 0; i < NBLK; i++)
        b[i] = OPQ(malloc(BLK));
    struct mallinfo m = mallinfo();
    CHECK(m.arena > 0);
    CHECK_MSG(m.uordblks >= a.uordblks + NBLK * BLK, "uordblks %d -> %d", a.uordblks,
              m.uordblks);
    for (int i = 0; i < NBLK; i++)
        free(b[i]);
    struct mallinfo f = mallinfo();
    CHECK_EQ(f.uordblks, a.uordblks);
}

/* child: allocate a known bucket, call malloc_stats, mark, _exit (no exit report) */
static int child_malloc_stats(void)
{
    void *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = OPQ(malloc(1000));
    malloc_stats();
    ssize_t w = write(2, "MARK\n", 5);
    (void)w;
    for (int i = 0; i < 3; i++)
        free(p[i]);
    _exit(0);
}

static void test_malloc_stats(void)
{
    char err[256], buf[65536];
    snprintf(err, sizeof err, "%s/malloc_stats.err", test_tmp());
    char *args[] = {"malloc_stats", NULL};
    char *env[] = {"BMALLOC_STATS", NULL}; /* default destination: stderr */
    int st = run_self(args, env, NULL, err);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    long n = read_file(err, buf, sizeof buf);
    if (!CHECK(n > 0))
        return;
    char *mark = strstr(buf, "MARK\n");
    if (!CHECK_MSG(mark != NULL, "no MARK in child's stderr: [%s]", buf))
        return;
    *mark = 0;
    CHECK_MSG(strstr(buf, "\nV Memory Statistics (bmalloc: ") != NULL,
              "malloc_stats printed no V line (after a blank line): [%s]", buf);
    /* heap 0, bucket 6 (1024): at least our 3 mallocs, none freed yet */
    char *b = strstr(buf, "\nB 0/6(1024) ");
    if (CHECK_MSG(b != NULL, "no 'B 0/6(1024)' line: [%s]", buf)) {
        long fb, ma, fr, df, used, freeb;
        int k = sscanf(b + 1, "B 0/6(1024) %ld %ld/%ld/%ld %ld/%ld", &fb, &ma, &fr, &df,
                       &used, &freeb);
        CHECK_EQ(k, 6);
        CHECK(ma >= 3);
        CHECK_EQ(df, ma - fr);
        CHECK_EQ(used, df * 1024);
        CHECK_EQ(freeb, fb * 1024);
    }
    CHECK_MSG(strstr(buf, "\nH 0 ") != NULL, "no H 0 line");
    CHECK_MSG(strstr(buf, "\nS ") != NULL, "no S line");
}

static void test_malloc_info(void)
{
    char path[256], buf[65536];
    snprintf(path, sizeof path, "%s/malloc_info.xml", test_tmp());
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    int r = malloc_info(0, f);
    CHECK_EQ(r, 0);
    errno = 0;
    r = malloc_info(1, f);
    CHECK_EQ(r, -1);
    CHECK_ERRNO(EINVAL);
    fclose(f);
    long n = read_file(path, buf, sizeof buf);
    CHECK(n > 0);
    CHECK_MSG(strncmp(buf, "<malloc version=\"bmalloc", 24) == 0, "malloc_info wrote [%.200s]",
              buf);
    CHECK_MSG(strstr(buf, "</malloc>") != NULL, "no </malloc> in [%.200s]", buf);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "malloc_stats") == 0)
        return child_malloc_stats();
    require_bmalloc();
    test_mallinfo2();
    test_mallinfo();
    test_malloc_stats();
    test_malloc_info();
    return test_done("t_introspect");
}
