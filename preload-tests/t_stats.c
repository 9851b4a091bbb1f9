/* t_stats: the exit report, exact.
 * The test re-executes itself ("pattern" mode) with BMALLOC_STATS=<file>: the
 * main thread (heap 0) allocates, then starts 4 threads one after the other, each
 * started only when the one before has made its first allocation, so thread k
 * owns heap k; all stay alive until all are done, so no heap is reused.  Each
 * thread runs a known sequence of malloc/calloc/realloc/free, hands blocks (and
 * one large block) to the next thread in a ring, which frees them: cross-thread
 * frees count in the freeing thread's heap, which holds the blocks apart from its
 * own (malloc does not hand them out again) and gives them to the exchange when the
 * thread exits: X lines.  The same sequence is replayed here
 * in a simulator that gives every heap's B numbers, and the report must match
 * them number by number for heaps 1..4 (the B lines, exactly that set); heap 0
 * gets libc's own allocations, so it is checked for consistency only.  Every H
 * line must be the sum of its heap's B lines and S the sum of the H and X lines; the
 * report is "\n", the V line, B.../H per heap ascending, the exchange's X lines
 * (bucket ascending, and exactly the blocks the threads freed for each other), the S line, then our
 * three lines: P (peak bytes in use, at least S's used bytes), O (bytes
 * obtained/returned; something was obtained) and R (peak RSS), once.
 * Heap 0 must count the frees done at exit by an atexit handler and by the
 * program's destructor (exactly, in buckets 13 and 14 that nothing else uses).
 * 100 threads run one after the other must all get heap 1 (handed on with its
 * counters and free blocks): B 1/2(64) 51 300/300/0 (the first malloc carved a page's
 * worth of 80-byte blocks, 51; each thread takes 3 of them and gives them back).
 * Also: the same report on stderr when BMALLOC_STATS is unset; BMALLOC_STATS=0
 * prints nothing; %p in the path is the pid; the report still appears on the
 * original stderr after the program closed fd 2; a program that calls _exit
 * prints none; a forked child (no exec) writes its own report to the file of its
 * own pid; exit() called from a thread prints one complete report; an
 * unwritable path does not change the exit status. */
#include "check.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* R() compares the old pointer with realloc's result on purpose */
#pragma GCC diagnostic ignored "-Wuse-after-free"

#define NT 4
#define NB 40
#define MAXHEAP 64

/* ------------------------------------------------------------ the pattern */

struct ctx {
    int k;   /* thread number 1..NT = expected heap */
    int sim; /* 1: count in the simulator instead of allocating */
};

/* simulator: per heap and bucket */
static long sim_m[NT + 1][NB], sim_f[NT + 1][NB], sim_fb[NT + 1][NB];
/* blocks another heap handed out, freed here: held apart, then to the exchange at exit */
static long sim_foreign[NT + 1][NB], sim_x[NB];

static int bucket_any(size_t n)
{
    int b = 0;
    while (((size_t)16 << b) < n)
        b++;
    return b;
}
#define LARGE_LIMIT ((size_t)1 << 20)

/* Blocks a heap carves at once in small bucket b when it has none free: a page's worth
 * (4096 bytes of 16 << b payloads with their 16-byte headers), at least one and at most a
 * batch (64 KiB of them, at most 1024): the first is handed out, the rest wait on the list. */
static long carve_len(int b)
{
    long stride = (16L << b) + 16, batch = 65536 / stride, n = 4096 / stride;
    if (batch < 1)
        batch = 1;
    if (batch > 1024)
        batch = 1024;
    if (n < 1)
        n = 1;
    return n < batch ? n : batch;
}

static void sim_malloc(int heap, size_t n)
{
    int b = bucket_any(n);
    sim_m[heap][b]++;
    if (n > LARGE_LIMIT)
        return;
    if (sim_fb[heap][b] > 0)
        sim_fb[heap][b]--;
    else
        sim_fb[heap][b] += carve_len(b) - 1;
}
static void sim_free(int heap, size_t n)
{
    int b = bucket_any(n);
    sim_f[heap][b]++;
    if (n <= LARGE_LIMIT)
        sim_fb[heap][b]++;
}

static void sim_free_foreign(int heap, size_t n)
{
    int b = bucket_any(n);
    sim_f[heap][b]++;
    if (n <= LARGE_LIMIT)
        sim_foreign[heap][b]++;
}
static void sim_exit(int heap)
{
    for (int b = 0; b < NB; b++) {
        sim_x[b] += sim_foreign[heap][b];
        sim_foreign[heap][b] = 0;
    }
}

static void *M(struct ctx *c, size_t n)
{
    if (c->sim) {
        sim_malloc(c->k, n);
        return (void *)16;
    }
    void *p = malloc(n);
    if (!p)
        _exit(3);
    memset(p, c->k, n);
    return p;
}
static void *C(struct ctx *c, size_t a, size_t b)
{
    if (c->sim) {
        sim_malloc(c->k, a * b);
        return (void *)16;
    }
    unsigned char *p = calloc(a, b);
    if (!p || p[0] || p[a * b - 1])
        _exit(3);
    return p;
}
static void F(struct ctx *c, void *p, size_t n)
{
    if (c->sim)
        sim_free(c->k, n);
    else
        free(p);
}
/* realloc growing or staying in its bucket (a move frees the old block) */
static void *R(struct ctx *c, void *p, size_t old, size_t n)
{
    if (c->sim) {
        if (bucket_any(n) != bucket_any(old)) {
            sim_malloc(c->k, n);
            sim_free(c->k, old);
        }
        return p;
    }
    uintptr_t before = (uintptr_t)p;
    void *q = realloc(p, n);
    if (!q)
        _exit(3);
    if (bucket_any(n) == bucket_any(old) && (uintptr_t)q != before) {
        check_msg("t_stats: realloc(%#lx, %zu) of a %zu-byte block moved it to %p although "
                  "the new size fits its usable size\n", (unsigned long)before, n, old, q);
        _exit(4);
    }
    return q;
}

/* what thread k hands to thread k % NT + 1 */
struct handoff {
    void *p[32];
    size_t n[32];
    int count;
};
static struct handoff hand[NT + 1]; /* hand[k]: from thread k */

static atomic_int turn = 1;
static atomic_int arrived;

static void barrier(struct ctx *c, int round)
{
    if (c->sim)
        return;
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < round * NT)
        sched_yield();
}

static void give(struct ctx *c, void *p, size_t n)
{
    if (c->sim)
        return;
    struct handoff *h = &hand[c->k];
    h->p[h->count] = p;
    h->n[h->count] = n;
    h->count++;
}

static int prev_of(int k) { return (k + NT - 2) % NT + 1; }

static void pattern(struct ctx *c)
{
    int k = c->k;
    void *keep[64];
    int nk = 0;
    /* first allocation, in thread order */
    keep[nk++] = M(c, 100); /* bucket 3 */
    if (!c->sim)
        atomic_store(&turn, k + 1);
    /* bucket 3: 10+k mallocs, 5 freed here, 2 more taken from those 5 */
    void *a[16];
    for (int i = 0; i < 10 + k; i++)
        a[i] = M(c, 100);
    for (int i = 0; i < 5; i++)
        F(c, a[i], 100);
    for (int i = 0; i < 2; i++)
        keep[nk++] = M(c, 90);
    /* bucket 6 (1000) x 8 and bucket 9 (5000) x k for the next thread */
    if (!c->sim)
        hand[k].count = 0;
    for (int i = 0; i < 8; i++)
        give(c, M(c, 1000), 1000);
    for (int i = 0; i < k; i++)
        give(c, M(c, 5000), 5000);
    /* bucket 1: 3 callocs freed, 2 mallocs reuse them */
    void *z[3];
    for (int i = 0; i < 3; i++)
        z[i] = C(c, 1, 20);
    for (int i = 0; i < 3; i++)
        F(c, z[i], 20);
    for (int i = 0; i < 2; i++)
        keep[nk++] = M(c, 30);
    /* realloc: within bucket 2 (stays), then to bucket 4 (moves), then freed */
    void *r = M(c, 40);
    r = R(c, r, 40, 60);
    r = R(c, r, 60, 200);
    F(c, r, 200);
    /* large blocks: thread 1 hands one to thread 2; thread 3 frees its own */
    if (k == 1)
        give(c, M(c, 1536 << 10), 1536 << 10); /* bucket 17 (2 MiB) */
    if (k == 3)
        F(c, M(c, 3 << 20), 3 << 20); /* bucket 18 (4 MiB) */
    barrier(c, 1);

    /* free what the previous thread handed over */
    int from = prev_of(k);
    if (c->sim) {
        /* the previous thread's hand-off: 8 x 1000, from x 5000, thread 1's large one */
        for (int i = 0; i < 8; i++)
            sim_free_foreign(k, 1000);
        for (int i = 0; i < from; i++)
            sim_free_foreign(k, 5000);
        if (from == 1)
            sim_free_foreign(k, 1536 << 10);
    } else {
        struct handoff *h = &hand[from];
        for (int i = 0; i < h->count; i++) {
            unsigned char *p = h->p[i];
            if (p[0] != from || p[h->n[i] - 1] != from)
                _exit(5);
            free(p);
        }
    }
    barrier(c, 2);
    /* bucket 6 again: 3 blocks from the ones just freed */
    for (int i = 0; i < 3; i++)
        keep[nk++] = M(c, 1000);
    barrier(c, 3);
    (void)keep;
}

static void *thread_main(void *arg)
{
    struct ctx c = {(int)(intptr_t)arg, 0};
    while (atomic_load(&turn) != c.k)
        sched_yield();
    pattern(&c);
    return NULL;
}

/* heap 0: freed at exit, by an atexit handler and by this program's destructor,
 * which both run before the report (the report must be complete) */
static void *at_exit_block, *destructor_block;
static int pattern_mode;
static void free_at_exit(void) { free(at_exit_block); }
__attribute__((destructor)) static void free_in_destructor(void)
{
    if (pattern_mode)
        free(destructor_block);
}

/* "reuse": threads started one after the other, each after the previous one was
 * joined: every one of them gets heap 1 back, with its free blocks and counters */
#define REUSE_THREADS 100
static void *reuse_thread(void *arg)
{
    (void)arg;
    void *p[3];
    for (int i = 0; i < 3; i++)
        if (!(p[i] = malloc(48))) /* bucket 2 */
            _exit(3);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    return NULL;
}
static int mode_reuse(void)
{
    void *p = OPQ(malloc(64));
    free(p);
    for (int i = 0; i < REUSE_THREADS; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, reuse_thread, NULL))
            return 6;
        pthread_join(t, NULL);
    }
    exit(0);
}

static int mode_pattern(void)
{
    void *p = OPQ(malloc(64)); /* heap 0 is the main thread's (libc may have made it already) */
    if (!p)
        return 3;
    free(p);
    pattern_mode = 1;
    at_exit_block = malloc(200000);    /* bucket 14 (262144) */
    destructor_block = malloc(100000); /* bucket 13 (131072) */
    if (!at_exit_block || !destructor_block)
        return 3;
    atexit(free_at_exit);
    pthread_t t[NT];
    for (int k = 1; k <= NT; k++) {
        if (pthread_create(&t[k - 1], NULL, thread_main, (void *)(intptr_t)k))
            return 6;
        while (atomic_load(&turn) <= k) /* wait for its first allocation */
            sched_yield();
    }
    for (int k = 0; k < NT; k++)
        pthread_join(t[k], NULL);
    exit(0);
}

/* ------------------------------------------------------------ the report */

struct bline {
    int heap, bucket;
    long bsize, fb, m, f, d, used, freeb;
};

static struct bline bl[4096];
static int nbl;
static long xl[NB]; /* the X lines: blocks in the exchange, by bucket */

/* Parses and checks the structure of a report; fills bl[]. Returns 1 if the
 * structure is right. */
static int parse_report(const char *what, char *text)
{
    int ok = 1;
    nbl = 0;
    memset(xl, 0, sizeof xl);
    if (!CHECK_MSG(strncmp(text, "\nV Memory Statistics (bmalloc: ", 31) == 0,
                   "%s: report does not start with a blank line and the V line: [%.200s]", what,
                   text))
        return 0;
    char *save = NULL;
    char *line = strtok_r(text + 1, "\n", &save);
    /* V line */
    size_t vl = strlen(line);
    ok &= CHECK_MSG(line[vl - 1] == ')' && vl > 32, "%s: V line [%s]", what, line);
    const char *lib = getenv("BMALLOC_LIB");
    if (lib) { /* <repo>/target/release/libbmalloc.so: compare with Cargo.toml's version */
        char toml[512], buf[8192];
        snprintf(toml, sizeof toml, "%s", lib);
        for (int up = 0; up < 3; up++) {
            char *s = strrchr(toml, '/');
            if (s)
                *s = 0;
        }
        strncat(toml, "/Cargo.toml", sizeof toml - strlen(toml) - 1);
        if (read_file(toml, buf, sizeof buf) > 0) {
            char *v = strstr(buf, "\nversion = \"");
            if (v) {
                v += 12;
                char *e = strchr(v, '"');
                if (e) {
                    *e = 0;
                    char want[128];
                    snprintf(want, sizeof want, "V Memory Statistics (bmalloc: %s)", v);
                    ok &= CHECK_MSG(strcmp(line, want) == 0, "%s: V line [%s], want [%s]",
                                    what, line, want);
                }
            }
        }
    }
    int cur_heap = -1, last_bucket = -1, last_heap = -1;
    long hu = 0, hf = 0, su = 0, sf = 0;
    int have_s = 0, heap_lines = 0, after_s = 0, last_x = -1;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (!ok)
            break;
        if (have_s) {
            /* P, O and R, in that order, and nothing more */
            long a, b;
            char end;
            if (after_s == 0) {
                ok &= CHECK_MSG(sscanf(line, "P %ld%c", &a, &end) == 1, "%s: want P, got [%s]",
                                what, line);
                ok &= CHECK_MSG(a >= su, "%s: peak in use %ld < S's %ld", what, a, su);
            } else if (after_s == 1) {
                ok &= CHECK_MSG(sscanf(line, "O %ld/%ld%c", &a, &b, &end) == 2,
                                "%s: want O, got [%s]", what, line);
                ok &= CHECK_MSG(a > 0 && b >= 0, "%s: [%s]", what, line);
            } else if (after_s == 2) {
                ok &= CHECK_MSG(sscanf(line, "R %ld%c", &a, &end) == 1, "%s: want R, got [%s]",
                                what, line);
                ok &= CHECK_MSG(a > 0, "%s: peak RSS [%s]", what, line);
            } else {
                ok &= CHECK_MSG(0, "%s: line after the R line: [%s]", what, line);
            }
            after_s++;
            continue;
        }
        if (line[0] == 'B') {
            struct bline b;
            char end;
            int n = sscanf(line, "B %d/%d(%ld) %ld %ld/%ld/%ld %ld/%ld%c", &b.heap, &b.bucket,
                           &b.bsize, &b.fb, &b.m, &b.f, &b.d, &b.used, &b.freeb, &end);
            ok &= CHECK_MSG(n == 9, "%s: bad B line [%s]", what, line);
            if (!ok)
                break;
            if (cur_heap == -1) { /* first B of a heap */
                ok &= CHECK_MSG(b.heap > last_heap, "%s: heap %d after heap %d: [%s]", what,
                                b.heap, last_heap, line);
                cur_heap = b.heap;
                last_bucket = -1;
                hu = hf = 0;
                heap_lines = 0;
            }
            ok &= CHECK_MSG(b.heap == cur_heap, "%s: B line of heap %d among heap %d's: [%s]",
                            what, b.heap, cur_heap, line);
            ok &= CHECK_MSG(b.bucket > last_bucket, "%s: bucket order: [%s]", what, line);
            ok &= CHECK_MSG(b.bucket >= 0 && b.bucket < NB && b.bsize == 16L << b.bucket,
                            "%s: block size: [%s]", what, line);
            ok &= CHECK_MSG(b.d == b.m - b.f, "%s: mallocs-frees: [%s]", what, line);
            ok &= CHECK_MSG(b.used == b.d * b.bsize, "%s: used bytes: [%s]", what, line);
            ok &= CHECK_MSG(b.freeb == b.fb * b.bsize, "%s: free bytes: [%s]", what, line);
            ok &= CHECK_MSG(b.fb >= 0 && b.m >= 0 && b.f >= 0, "%s: negative count: [%s]", what,
                            line);
            ok &= CHECK_MSG(b.m || b.f || b.fb, "%s: B line without activity: [%s]", what, line);
            last_bucket = b.bucket;
            hu += b.used;
            hf += b.freeb;
            heap_lines++;
            if (nbl < 4096)
                bl[nbl++] = b;
        } else if (line[0] == 'H') {
            int h;
            long u, f;
            char end;
            int n = sscanf(line, "H %d %ld/%ld%c", &h, &u, &f, &end);
            ok &= CHECK_MSG(n == 3, "%s: bad H line [%s]", what, line);
            ok &= CHECK_MSG(cur_heap != -1 && heap_lines > 0,
                            "%s: H line without B lines before it: [%s]", what, line);
            ok &= CHECK_MSG(h == cur_heap, "%s: H line for heap %d after heap %d's B lines", what,
                            h, cur_heap);
            ok &= CHECK_MSG(u == hu && f == hf, "%s: [%s], want H %d %ld/%ld (sum of B lines)",
                            what, line, cur_heap, hu, hf);
            su += u;
            sf += f;
            last_heap = cur_heap;
            cur_heap = -1;
        } else if (line[0] == 'X') {
            int b;
            long bs, n, bytes;
            char end;
            int got = sscanf(line, "X %d(%ld) %ld %ld%c", &b, &bs, &n, &bytes, &end);
            ok &= CHECK_MSG(got == 4, "%s: bad X line [%s]", what, line);
            ok &= CHECK_MSG(cur_heap == -1, "%s: X line among B lines: [%s]", what, line);
            ok &= CHECK_MSG(b > last_x && b < NB && bs == 16L << b && n > 0 && bytes == n * bs,
                            "%s: X line [%s]", what, line);
            if (ok)
                xl[b] = n;
            sf += bytes;
            last_x = b;
        } else if (line[0] == 'S') {
            long u, f;
            char end;
            int n = sscanf(line, "S %ld/%ld%c", &u, &f, &end);
            ok &= CHECK_MSG(n == 2, "%s: bad S line [%s]", what, line);
            ok &= CHECK_MSG(cur_heap == -1, "%s: S line right after B lines", what);
            ok &= CHECK_MSG(u == su && f == sf, "%s: [%s], want S %ld/%ld (sum of H and X lines)", what,
                            line, su, sf);
            have_s = 1;
        } else {
            ok &= CHECK_MSG(0, "%s: unexpected line [%s]", what, line);
        }
    }
    ok &= CHECK_MSG(have_s, "%s: no S line", what);
    ok &= CHECK_MSG(after_s == 3, "%s: %d lines after S, want P, O and R", what, after_s);
    return ok;
}

static void check_pattern_numbers(const char *what)
{
    memset(sim_m, 0, sizeof sim_m);
    memset(sim_f, 0, sizeof sim_f);
    memset(sim_fb, 0, sizeof sim_fb);
    memset(sim_foreign, 0, sizeof sim_foreign);
    memset(sim_x, 0, sizeof sim_x);
    for (int k = 1; k <= NT; k++) {
        struct ctx c = {k, 1};
        pattern(&c);
    }
    for (int k = 1; k <= NT; k++)
        sim_exit(k);
    for (int b = 0; b < NB; b++)
        CHECK_MSG(xl[b] == sim_x[b], "%s: X line of bucket %d: %ld blocks, want %ld", what, b,
                  xl[b], sim_x[b]);
    int seen_heap[MAXHEAP] = {0};
    for (int i = 0; i < nbl; i++)
        if (bl[i].heap >= 0 && bl[i].heap < MAXHEAP)
            seen_heap[bl[i].heap] = 1;
        else
            CHECK_MSG(0, "%s: heap %d", what, bl[i].heap);
    CHECK_MSG(seen_heap[0], "%s: no heap 0 (main thread)", what);
    /* heap 0: the blocks freed at exit (atexit handler, destructor) are counted */
    static const struct { int b; long bs; } late[] = {{13, 131072}, {14, 262144}};
    for (int j = 0; j < 2; j++) {
        struct bline *got = NULL;
        for (int i = 0; i < nbl; i++)
            if (bl[i].heap == 0 && bl[i].bucket == late[j].b)
                got = &bl[i];
        if (CHECK_MSG(got, "%s: no B line for heap 0 bucket %d", what, late[j].b))
            CHECK_MSG(got->m == 1 && got->f == 1 && got->fb == 1,
                      "%s: got B 0/%d(%ld) %ld %ld/%ld/%ld ..., want B 0/%d(%ld) 1 1/1/0 0/%ld: "
                      "a free done by %s at exit is missing from the report",
                      what, late[j].b, got->bsize, got->fb, got->m, got->f, got->d, late[j].b,
                      late[j].bs, late[j].bs,
                      j ? "an atexit handler" : "the program's destructor");
    }
    for (int h = NT + 1; h < MAXHEAP; h++)
        CHECK_MSG(!seen_heap[h], "%s: unexpected heap %d (only main + %d threads ran)", what, h,
                  NT);
    for (int h = 1; h <= NT; h++) {
        for (int b = 0; b < NB; b++) {
            int want = sim_m[h][b] || sim_f[h][b] || sim_fb[h][b];
            struct bline *got = NULL;
            for (int i = 0; i < nbl; i++)
                if (bl[i].heap == h && bl[i].bucket == b)
                    got = &bl[i];
            if (!want) {
                if (got)
                    CHECK_MSG(0,
                              "%s: heap %d has a B line for bucket %d (%ld free, %ld/%ld), "
                              "which the pattern never used",
                              what, h, b, got->fb, got->m, got->f);
                continue;
            }
            long bs = 16L << b, d = sim_m[h][b] - sim_f[h][b];
            if (!CHECK_MSG(got != NULL, "%s: no B line for heap %d bucket %d, want B %d/%d(%ld) "
                                        "%ld %ld/%ld/%ld %ld/%ld",
                           what, h, b, h, b, bs, sim_fb[h][b], sim_m[h][b], sim_f[h][b], d,
                           d * bs, sim_fb[h][b] * bs))
                continue;
            CHECK_MSG(got->fb == sim_fb[h][b] && got->m == sim_m[h][b] && got->f == sim_f[h][b],
                      "%s: got B %d/%d(%ld) %ld %ld/%ld/%ld %ld/%ld, want B %d/%d(%ld) %ld "
                      "%ld/%ld/%ld %ld/%ld",
                      what, h, b, got->bsize, got->fb, got->m, got->f, got->d, got->used,
                      got->freeb, h, b, bs, sim_fb[h][b], sim_m[h][b], sim_f[h][b], d, d * bs,
                      sim_fb[h][b] * bs);
        }
    }
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s++)
        n++;
    return n;
}

/* ------------------------------------------------------------ other modes */

static void some_allocations(void)
{
    void *p[10];
    for (int i = 0; i < 10; i++)
        p[i] = OPQ(malloc(100 * i + 1));
    for (int i = 0; i < 9; i++)
        free(p[i]);
}

static void *exit_from_thread(void *arg)
{
    (void)arg;
    void *volatile p = malloc(300000); /* bucket 15, in heap 1 */
    (void)p;
    exit(0);
}

static char buf[1 << 20], buf2[1 << 20];

static void check_exited0(const char *what, int st)
{
    char how[128];
    describe_status(st, how, sizeof how);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child %s", what, how);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "pattern"))
            return mode_pattern();
        if (!strcmp(argv[1], "reuse"))
            return mode_reuse();
        some_allocations();
        if (!strcmp(argv[1], "exit"))
            exit(0);
        if (!strcmp(argv[1], "pid")) {
            printf("%d\n", (int)getpid());
            exit(0);
        }
        if (!strcmp(argv[1], "close2")) {
            close(2);
            exit(0);
        }
        if (!strcmp(argv[1], "_exit"))
            _exit(0);
        if (!strcmp(argv[1], "fork")) {
            printf("%d\n", (int)getpid());
            fflush(stdout);
            pid_t c = fork();
            if (c == 0) {
                void *volatile q = malloc(300000); /* bucket 15, only in the child */
                printf("%d\n", (int)getpid());
                exit(q ? 0 : 1);
            }
            int st;
            waitpid(c, &st, 0);
            exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
        }
        if (!strcmp(argv[1], "thread_exit")) {
            pthread_t t;
            pthread_create(&t, NULL, exit_from_thread, NULL);
            pthread_join(t, NULL);
            return 7; /* not reached */
        }
        return 2;
    }
    require_bmalloc();
    const char *tmp = test_tmp();
    char stats[512], out[512], err[512];
    snprintf(out, sizeof out, "%s/out", tmp);
    snprintf(err, sizeof err, "%s/err", tmp);

    /* 1. the pattern, report to a file */
    snprintf(stats, sizeof stats, "%s/pattern.stats", tmp);
    {
        char env[600];
        snprintf(env, sizeof env, "BMALLOC_STATS=%s", stats);
        char *e[] = {env, NULL}, *a[] = {"pattern", NULL};
        int st = run_self(a, e, out, err);
        check_exited0("pattern", st);
        CHECK_MSG(read_file(err, buf, sizeof buf) == 0, "pattern: stderr not empty: [%.300s]",
                  buf);
        long n = read_file(stats, buf, sizeof buf);
        if (CHECK_MSG(n > 0, "pattern: no report in %s", stats)) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            memcpy(buf2, buf, (size_t)n + 1);
            if (parse_report("pattern (file)", buf2))
                check_pattern_numbers("pattern (file)");
            if (check_failures)
                check_msg("---- the report:%s----\n", buf);
        }
    }
    /* 2. the pattern, report to stderr (BMALLOC_STATS unset) */
    {
        char *e[] = {"BMALLOC_STATS", NULL}, *a[] = {"pattern", NULL};
        int st = run_self(a, e, out, err);
        check_exited0("pattern, stderr", st);
        long n = read_file(err, buf, sizeof buf);
        if (CHECK_MSG(n > 0, "pattern: no report on stderr")) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            if (parse_report("pattern (stderr)", buf))
                check_pattern_numbers("pattern (stderr)");
        }
    }
    /* 2b. heap reuse: 100 threads one after the other all use heap 1 */
    {
        snprintf(stats, sizeof stats, "%s/reuse.stats", tmp);
        char env[600];
        snprintf(env, sizeof env, "BMALLOC_STATS=%s", stats);
        char *e[] = {env, NULL}, *a[] = {"reuse", NULL};
        check_exited0("reuse", run_self(a, e, out, err));
        long n = read_file(stats, buf, sizeof buf);
        if (CHECK_MSG(n > 0, "reuse: no report") && parse_report("reuse", buf)) {
            int heap1 = 0;
            for (int i = 0; i < nbl; i++) {
                CHECK_MSG(bl[i].heap <= 1,
                          "reuse: heap %d exists although at most 2 threads ever ran at once",
                          bl[i].heap);
                if (bl[i].heap == 1) {
                    heap1++;
                    CHECK_MSG(bl[i].bucket == 2 && bl[i].m == 3 * REUSE_THREADS &&
                                  bl[i].f == 3 * REUSE_THREADS && bl[i].fb == carve_len(2),
                              "reuse: got B 1/%d(%ld) %ld %ld/%ld/%ld, want B 1/2(64) %ld %d/%d/0",
                              bl[i].bucket, bl[i].bsize, bl[i].fb, bl[i].m, bl[i].f, bl[i].d,
                              carve_len(2), 3 * REUSE_THREADS, 3 * REUSE_THREADS);
                }
            }
            CHECK_EQ(heap1, 1);
        }
    }
    /* 3. BMALLOC_STATS=0: nothing */
    {
        char *e[] = {"BMALLOC_STATS=0", NULL}, *a[] = {"exit", NULL};
        check_exited0("BMALLOC_STATS=0", run_self(a, e, out, err));
        CHECK_MSG(read_file(err, buf, sizeof buf) == 0, "BMALLOC_STATS=0 printed [%.300s]", buf);
    }
    /* 4. %p is the pid */
    {
        char env[600];
        snprintf(env, sizeof env, "BMALLOC_STATS=%s/pid-%%p.stats", tmp);
        char *e[] = {env, NULL}, *a[] = {"pid", NULL};
        check_exited0("%p", run_self(a, e, out, err));
        CHECK_MSG(read_file(err, buf, sizeof buf) == 0, "%%p: stderr not empty: [%.300s]", buf);
        int pid = 0;
        if (read_file(out, buf, sizeof buf) > 0)
            pid = atoi(buf);
        CHECK(pid > 0);
        snprintf(stats, sizeof stats, "%s/pid-%d.stats", tmp, pid);
        long n = read_file(stats, buf, sizeof buf);
        if (CHECK_MSG(n > 0, "%%p: no report in %s", stats)) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            parse_report("%p", buf);
        }
        snprintf(stats, sizeof stats, "%s/pid-%%p.stats", tmp);
        CHECK_MSG(access(stats, F_OK) != 0, "a file named %s was created", stats);
    }
    /* 5. the program closed fd 2: the report still goes to the original stderr */
    {
        char *e[] = {"BMALLOC_STATS", NULL}, *a[] = {"close2", NULL};
        check_exited0("close(2)", run_self(a, e, out, err));
        long n = read_file(err, buf, sizeof buf);
        if (CHECK_MSG(n > 0, "close(2): no report on the original stderr")) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            parse_report("close(2)", buf);
        }
    }
    /* 6. _exit: no report, neither on stderr nor in a file */
    {
        char *e[] = {"BMALLOC_STATS", NULL}, *a[] = {"_exit", NULL};
        check_exited0("_exit", run_self(a, e, out, err));
        CHECK_MSG(read_file(err, buf, sizeof buf) == 0, "_exit printed [%.300s]", buf);
        char env[600];
        snprintf(stats, sizeof stats, "%s/_exit.stats", tmp);
        snprintf(env, sizeof env, "BMALLOC_STATS=%s", stats);
        char *e2[] = {env, NULL};
        check_exited0("_exit, file", run_self(a, e2, out, err));
        CHECK_MSG(read_file(stats, buf, sizeof buf) <= 0, "_exit wrote a report: [%.300s]", buf);
    }
    /* 6b. a forked child writes its own report to the file of its own pid */
    {
        char env[600];
        snprintf(env, sizeof env, "BMALLOC_STATS=%s/fork-%%p.stats", tmp);
        char *e[] = {env, NULL}, *a[] = {"fork", NULL};
        check_exited0("fork", run_self(a, e, out, err));
        int parent = 0, child = 0;
        if (read_file(out, buf, sizeof buf) > 0)
            sscanf(buf, "%d %d", &parent, &child);
        CHECK_MSG(parent > 0 && child > 0 && parent != child, "fork: pids [%s]", buf);
        snprintf(stats, sizeof stats, "%s/fork-%d.stats", tmp, parent);
        if (CHECK_MSG(read_file(stats, buf, sizeof buf) > 0, "fork: no parent report %s", stats)) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            CHECK_MSG(!strstr(buf, "\nB 0/15("), "fork: the parent's report has the child's "
                                                 "block: [%s]", buf);
            parse_report("fork (parent)", buf);
        }
        snprintf(stats, sizeof stats, "%s/fork-%d.stats", tmp, child);
        if (CHECK_MSG(read_file(stats, buf, sizeof buf) > 0, "fork: no child report %s", stats)) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            CHECK_MSG(strstr(buf, "\nB 0/15(524288) 0 1/0/1 524288/0\n") != NULL,
                      "fork: the child's report lacks its block: [%s]", buf);
            parse_report("fork (child)", buf);
        }
    }
    /* 6c. exit() called by a thread: one complete report, heap 1 included */
    {
        char *e[] = {"BMALLOC_STATS", NULL}, *a[] = {"thread_exit", NULL};
        check_exited0("thread exit", run_self(a, e, out, err));
        long n = read_file(err, buf, sizeof buf);
        if (CHECK_MSG(n > 0, "exit from a thread: no report")) {
            CHECK_EQ(count(buf, "V Memory Statistics"), 1);
            CHECK_MSG(strstr(buf, "\nB 1/15(524288) 0 1/0/1 524288/0\n") != NULL,
                      "exit from a thread: no 'B 1/15(524288) 0 1/0/1 524288/0' line: [%s]", buf);
            parse_report("exit from a thread", buf);
        }
    }
    /* 7. a path that cannot be written does not change the program's exit status */
    {
        char *e[] = {"BMALLOC_STATS=/nonexistent-dir/x/stats", NULL}, *a[] = {"exit", NULL};
        check_exited0("unwritable path", run_self(a, e, out, err));
    }
    return test_done("t_stats");
}
