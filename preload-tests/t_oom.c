/* t_oom: out of memory under a low address-space limit (issue 5).
 *
 * The test re-executes itself once per phase ("child <phase>") with
 * BMALLOC_STATS=<scratch>/oom_report_<phase>.txt; `t_oom <phase>` runs a single phase. The child
 * sets RLIMIT_AS to its current VmSize + 256 MiB, then (phase names in brackets):
 *  1. [huge] one huge request (300 MiB, 1 GiB, 1 TiB) through malloc, calloc, realloc, reallocarray,
 *     memalign, posix_memalign, aligned_alloc, valloc, pvalloc: NULL (posix_memalign: ENOMEM
 *     returned) with errno ENOMEM, no crash; the block given to realloc is intact;
 *  2. [large8m .. malloc24] exhaustion by many blocks, one call and size at a time (large 8 MiB, medium, small), each
 *     until NULL + ENOMEM; every block holds a pattern that is checked when it is freed; while
 *     exhausted, a growing realloc fails with the old block intact; after freeing, the same
 *     allocations succeed again, and so does a large block (64 MiB);
 *     [all] runs 1 and 2 in one process (memory freed by one size must serve the next);
 *  3. [exit-exhausted] exhausts the memory once more and exits holding it: the exit report must still be
 *     written.
 * The parent checks that each child exited 0 and that its report file has its V and S lines.
 */
#define _GNU_SOURCE
#include "stress_util.h"
#include <sys/resource.h>

#define MiB (1024UL * 1024)
#define HEADROOM (256 * MiB)

/* A block on a list threaded through the blocks themselves (no memory needed besides them). */
typedef struct node {
    struct node *next;
    size_t size;
    uint64_t key;
} node;

static size_t pattern_len(size_t size)
{
    /* the whole block for small/medium ones; first 64 KiB for big ones (keeps it quick) */
    size_t n = size - sizeof(node);
    return n > 65536 ? 65536 : n;
}

static node *push(node *head, void *p, size_t size, uint64_t seq)
{
    node *n = p;
    n->next = head;
    n->size = size;
    n->key = su_key(p, size, seq);
    su_fill_key(n + 1, pattern_len(size), n->key);
    /* and the last bytes of the block */
    if (size >= sizeof(node) + 64 + 65536)
        su_fill_key((char *)p + size - 64, 64, n->key ^ 1);
    return n;
}

static int node_ok(node *n)
{
    if (su_check_key(n + 1, pattern_len(n->size), n->key) != (size_t)-1)
        return 0;
    if (n->size >= sizeof(node) + 64 + 65536 &&
        su_check_key((char *)n + n->size - 64, 64, n->key ^ 1) != (size_t)-1)
        return 0;
    return 1;
}

/* Check and free a whole list; returns the number of blocks. */
static size_t free_list(node *head, const char *what)
{
    size_t count = 0, bad = 0;
    while (head) {
        node *next = head->next;
        if (!node_ok(head))
            bad++;
        free(head);
        head = next;
        count++;
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu blocks lost their content", what, bad, count);
    return count;
}

enum api { A_MALLOC, A_CALLOC, A_MEMALIGN, A_POSIX_MEMALIGN, A_ALIGNED_ALLOC, A_REALLOC_NULL };
static const char *const api_name[] = {"malloc", "calloc", "memalign", "posix_memalign",
                                       "aligned_alloc", "realloc(NULL)"};

/* One allocation through `api`; returns NULL on failure with *err = the error code seen. */
static void *alloc_one(enum api api, size_t size, size_t align, int *err)
{
    void *p = NULL;
    errno = 0;
    switch (api) {
    case A_MALLOC:
        p = malloc(size);
        break;
    case A_CALLOC:
        p = calloc(size / 8, 8);
        break;
    case A_MEMALIGN:
        p = memalign(align, size);
        break;
    case A_POSIX_MEMALIGN: {
        void *out = (void *)0x5a5a;
        int e = posix_memalign(&out, align, size);
        if (e) {
            CHECK_MSG(out == (void *)0x5a5a || out == NULL,
                      "posix_memalign failed with %d but set *memptr to %p", e, out);
            *err = e;
            return NULL;
        }
        p = out;
        break;
    }
    case A_ALIGNED_ALLOC:
        p = aligned_alloc(align, size);
        break;
    case A_REALLOC_NULL:
        p = realloc(NULL, size);
        break;
    }
    *err = errno;
    if (p && align)
        CHECK_ALIGNED(p, align);
    return p;
}

/* ---------------------------------------------------------------- 1. one huge request */

static void huge_requests(void)
{
    static const size_t sizes[] = {HEADROOM + 44 * MiB, 1024 * MiB, (size_t)1 << 40};
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t s = sizes[i];
        void *p;
        errno = 0;
        p = malloc(OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "malloc(%zu) = %p errno %d", s, p, errno);
        errno = 0;
        p = calloc(OPQ(s) / 16, 16);
        CHECK_MSG(p == NULL && errno == ENOMEM, "calloc(%zu, 16) = %p errno %d", s / 16, p, errno);
        errno = 0;
        p = calloc(1, OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "calloc(1, %zu) = %p errno %d", s, p, errno);
        errno = 0;
        p = memalign(64, OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "memalign(64, %zu) = %p errno %d", s, p, errno);
        errno = 0;
        p = memalign(1 << 20, OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "memalign(1 MiB, %zu) = %p errno %d", s, p, errno);
        errno = 0;
        p = aligned_alloc(4096, OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "aligned_alloc(4096, %zu) = %p errno %d", s, p,
                  errno);
        errno = 0;
        p = valloc(OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "valloc(%zu) = %p errno %d", s, p, errno);
        errno = 0;
        p = pvalloc(OPQ(s));
        CHECK_MSG(p == NULL && errno == ENOMEM, "pvalloc(%zu) = %p errno %d", s, p, errno);
        void *out = (void *)0x5a5a;
        int e = posix_memalign(&out, 256, OPQ(s));
        CHECK_MSG(e == ENOMEM && (out == (void *)0x5a5a || out == NULL),
                  "posix_memalign(256, %zu) = %d, *memptr %p", s, e, out);

        /* a failed realloc leaves the old block intact, small and big */
        static const size_t old_sizes[] = {100, 5000, 200000, 3 * MiB};
        for (unsigned k = 0; k < 4; k++) {
            size_t os = old_sizes[k];
            unsigned char *q = malloc(os);
            if (!CHECK_MSG(q != NULL, "malloc(%zu) failed with memory to spare", os))
                continue;
            uint64_t key = su_key(q, os, 77);
            su_fill_key(q, os, key);
            errno = 0;
            p = realloc(OPQ(q), OPQ(s));
            CHECK_MSG(p == NULL && errno == ENOMEM, "realloc(%zu-byte block, %zu) = %p errno %d",
                      os, s, p, errno);
            if (p)
                continue; /* (leaks it: the test has failed) */
            CHECK_MSG(su_check_key(q, os, key) == (size_t)-1,
                      "failed realloc(%zu-byte block, %zu) changed the old block", os, s);
            CHECK_EQ(malloc_usable_size(q) >= os, 1);
            errno = 0;
            p = reallocarray(OPQ(q), OPQ(s) / 8, 8);
            CHECK_MSG(p == NULL && errno == ENOMEM, "reallocarray(%zu-byte block, %zu, 8) = %p errno %d",
                      os, s / 8, p, errno);
            if (p)
                continue;
            CHECK_MSG(su_check_key(q, os, key) == (size_t)-1,
                      "failed reallocarray(%zu-byte block) changed the old block", os);
            free(q);
        }
    }
}

/* ---------------------------------------------------------------- 2. exhaustion */

/* Allocates through `api` until it fails; checks the failure is ENOMEM. */
static node *exhaust(enum api api, size_t size, size_t align, size_t *count, uint64_t *seq)
{
    node *head = NULL;
    size_t n = 0;
    int err = 0;
    for (;;) {
        void *p = alloc_one(api, size, align, &err);
        if (!p)
            break;
        head = push(head, p, size, ++*seq);
        n++;
    }
    CHECK_MSG(err == ENOMEM, "%s(size %zu, align %zu) failed after %zu blocks with error %d, want "
              "ENOMEM",
              api_name[api], size, align, n, err);
    CHECK_MSG(n > 0, "%s(size %zu): not a single block under the limit", api_name[api], size);
    *count = n;
    return head;
}

/* While memory is exhausted: grow one block with realloc until it fails; the block must then
 * be intact. Returns the (maybe moved) block's node. */
static node *grow_until_failure(node *n, uint64_t *seq)
{
    size_t size = n->size;
    for (int steps = 0; steps < 40; steps++) {
        size_t ns = size * 2;
        uint64_t key = n->key;
        size_t keep = pattern_len(size);
        errno = 0;
        void *q = realloc(n, ns);
        if (!q) {
            CHECK_MSG(errno == ENOMEM, "realloc(%zu -> %zu) failed with errno %d, want ENOMEM",
                      size, ns, errno);
            CHECK_MSG(node_ok(n), "realloc(%zu -> %zu) failed and damaged the old block", size,
                      ns);
            return n;
        }
        node *m = q;
        CHECK_MSG(m->size == size && su_check_key(m + 1, keep, key) == (size_t)-1,
                  "realloc(%zu -> %zu) lost content", size, ns);
        node *next = m->next;
        n = push(next, q, ns, ++*seq);
        size = ns;
    }
    CHECK_MSG(0, "realloc kept growing a block to %zu bytes under a %lu MiB limit", size,
              HEADROOM / MiB);
    return n;
}

static int large_block_works(const char *after)
{
    size_t s = 64 * MiB;
    errno = 0;
    unsigned char *p = malloc(OPQ(s));
    if (!CHECK_MSG(p != NULL, "malloc(64 MiB) after %s and freeing failed (errno %d)", after,
                   errno))
        return 0;
    p[0] = 1;
    p[s - 1] = 2;
    memset(p + s / 2, 3, 4096);
    free(p);
    unsigned char *q = calloc(1, 32 * MiB);
    CHECK_MSG(q != NULL, "calloc(1, 32 MiB) after %s and freeing failed (errno %d)", after, errno);
    if (q)
        CHECK_MSG(q[0] == 0 && q[32 * MiB - 1] == 0, "calloc after %s: not zeroed", after);
    free(q);
    return 1;
}

static void exhaust_phase(enum api api, size_t size, size_t align, int grow)
{
    uint64_t seq = 0;
    size_t n1 = 0, n2 = 0;
    char what[128];
    snprintf(what, sizeof what, "%s(size %zu, align %zu)", api_name[api], size, align);
    node *head = exhaust(api, size, align, &n1, &seq);
    if (grow && head)
        head = grow_until_failure(head, &seq);
    /* everything else fails too while exhausted, and fails cleanly */
    errno = 0;
    void *big = malloc(OPQ(HEADROOM / 2));
    CHECK_MSG(big == NULL && errno == ENOMEM, "%s exhausted: malloc(128 MiB) = %p errno %d", what,
              big, errno);
    free(big);
    size_t freed = free_list(head, what);
    CHECK_EQ(freed, n1);
    /* free, then allocate again: the same calls succeed (most of them: some memory may have gone
     * to bookkeeping), and are freed again */
    head = NULL;
    int err = 0;
    for (size_t i = 0; i < n1 - n1 / 10; i++) {
        void *p = alloc_one(api, size, align, &err);
        if (!p)
            break;
        head = push(head, p, size, ++seq);
        n2++;
    }
    CHECK_MSG(n2 >= n1 - n1 / 10, "%s: after freeing %zu blocks only %zu could be allocated again "
              "(error %d)",
              what, n1, n2, err);
    free_list(head, what);
    /* A large block after freeing, whatever size used the memory up: the address space is
     * still taken by the freed blocks (MADV_DONTNEED does not give it back), so bmalloc must
     * merge them into one span across its 1 MiB chunks and cut the block from it. */
    large_block_works(what);
    su_msg("  %s: %zu blocks until ENOMEM, %zu again after freeing", what, n1, n2);
}

static void set_limit(void)
{
    long vm = proc_status_kib("VmSize");
    if (vm <= 0)
        FATAL("cannot read VmSize");
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)vm * 1024 + HEADROOM;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        FATAL("setrlimit(RLIMIT_AS): %s", strerror(errno));
    su_msg("t_oom child: VmSize %ld KiB, RLIMIT_AS %lu MiB", vm, (unsigned long)(rl.rlim_cur / MiB));
}

/* Each phase runs in its own child process, so that one phase's leftovers do not starve the
 * next; "all" runs them one after the other in one process. */
static const char *const phases[] = {"huge",        "large8m",     "large1m",  "memalign100k",
                                     "calloc3000",  "posix1000",   "aligned4k", "realloc200",
                                     "malloc64",    "malloc24",    "all",       "exit-exhausted",
                                     NULL};

static void phase(const char *name)
{
    int all = strcmp(name, "all") == 0;
    if (all || !strcmp(name, "huge"))
        huge_requests();
    /* large first (mmapped, returned on free), then medium and small */
    if (all || !strcmp(name, "large8m"))
        exhaust_phase(A_MALLOC, 8 * MiB, 0, 0);
    if (all || !strcmp(name, "large1m"))
        exhaust_phase(A_MALLOC, 3 * MiB / 2, 0, 0);
    if (all || !strcmp(name, "memalign100k"))
        exhaust_phase(A_MEMALIGN, 100000, 256, 0);
    if (all || !strcmp(name, "calloc3000"))
        exhaust_phase(A_CALLOC, 3000, 0, 0);
    if (all || !strcmp(name, "posix1000"))
        exhaust_phase(A_POSIX_MEMALIGN, 1000, 64, 0);
    if (all || !strcmp(name, "aligned4k"))
        exhaust_phase(A_ALIGNED_ALLOC, 4096, 4096, 0);
    if (all || !strcmp(name, "realloc200"))
        exhaust_phase(A_REALLOC_NULL, 200, 0, 0);
    if (all || !strcmp(name, "malloc64"))
        exhaust_phase(A_MALLOC, 64, 0, 1);
    if (all || !strcmp(name, "malloc24"))
        exhaust_phase(A_MALLOC, 24, 0, 0);
    if (all)
        huge_requests();
    if (!strcmp(name, "exit-exhausted")) {
        /* exit while the memory is exhausted: the report must still be written */
        uint64_t seq = 0;
        size_t n = 0;
        node *held = exhaust(A_MALLOC, 512, 0, &n, &seq);
        (void)held;
        su_msg("t_oom child: exiting with %zu blocks held and memory exhausted", n);
    }
}

static void check_report(const char *report, int held)
{
    static char text[1 << 16];
    long len = read_file(report, text, sizeof text);
    CHECK_MSG(len > 0, "no exit report in %s", report);
    if (len <= 0)
        return;
    CHECK_MSG(strstr(text, "V Memory Statistics (bmalloc: ") != NULL,
              "report lacks the V line: [%.300s]", text);
    CHECK_MSG(strncmp(text, "\nV ", 3) == 0, "report does not start with a blank line and V");
    char *s = strstr(text, "\nS ");
    CHECK_MSG(s != NULL, "report lacks the S line: [%.300s]", text);
    if (s) {
        long long used = -1, fr = -1;
        CHECK_MSG(sscanf(s + 3, "%lld/%lld", &used, &fr) == 2 && (used > 0 || !held),
                  "S line unreadable or (exiting with blocks held) no bytes in use: [%.80s]", s + 1);
    }
}

int main(int argc, char **argv)
{
    require_bmalloc();
    if (argc > 2 && strcmp(argv[1], "child") == 0) {
        set_limit();
        phase(argv[2]);
        return test_done(argv[2]);
    }
    const char *only = argc > 1 ? argv[1] : NULL; /* t_oom [phase] runs one phase */
    for (int i = 0; phases[i]; i++) {
        if (only && strcmp(only, phases[i]))
            continue;
        char report[1024], out[1024], err[1024];
        snprintf(report, sizeof report, "%s/oom_report_%s.txt", test_tmp(), phases[i]);
        snprintf(out, sizeof out, "%s/oom_%s.out", test_tmp(), phases[i]);
        snprintf(err, sizeof err, "%s/oom_%s.err", test_tmp(), phases[i]);
        char envv[1100];
        snprintf(envv, sizeof envv, "BMALLOC_STATS=%s", report);
        char *args[] = {"child", (char *)phases[i], NULL};
        char *env[] = {envv, NULL};
        unlink(report);
        int st = run_self(args, env, out, err);
        static char text[1 << 16];
        long len = read_file(err, text, sizeof text);
        check_msg("--- phase %s:\n", phases[i]);
        if (len > 0 && write(2, text, len) != len)
            ;
        char how[128];
        describe_status(st, how, sizeof how);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "t_oom phase %s: child %s", phases[i],
                  how);
        /* every phase ends with an exit report; the last one exits with memory exhausted */
        if (is_bmalloc_path(symbol_library("malloc")))
            check_report(report, !strcmp(phases[i], "exit-exhausted"));
    }
    return test_done("t_oom");
}
