/* bench/sizeclass-model.c: what a program's heap would weigh under other size classes
 * (issue 10: "whether the power of two counts the header", Kingsley's 8-byte header).
 *
 * An LD_PRELOAD shim over glibc's malloc. It keeps each block's requested size in a 16-byte
 * prefix and, at every malloc, calloc, realloc and free, adds or takes that block's footprint
 * under four schemes from a running total, keeping each total's peak:
 *   now    the payload is the power of two (at least 16 B), plus a 16-byte header (bmalloc);
 *   hdr16  the power of two counts a 16-byte header (at least 32 B);
 *   hdr8   the power of two counts an 8-byte header (at least 16 B): Kingsley's union,
 *          blocks at 16n+8 so that user pointers stay 16-aligned;
 *   glibc  glibc's chunk: the size plus 8, rounded up to 16, at least 32 B.
 * Every block is counted as if small (large blocks are page-rounded mappings in bmalloc), so
 * programs with big buffers read higher than their RSS. At exit it appends one line to
 * $LIVE_OUT (default /tmp/sizeclass-model.txt): $LIVE_NAME, the process name, and the four
 * peaks in bytes. Aligned requests are served unaligned (none of the suite's programs needs
 * more than 16).
 *
 *   gcc -O2 -fno-builtin -shared -fPIC -o /tmp/sizeclass-model.so bench/sizeclass-model.c -ldl
 *   LIVE_NAME=jq LD_PRELOAD=/tmp/sizeclass-model.so jq . doc.json > /dev/null
 *   # every real program of the suite, one line each:
 *   for w in $(bench/real --list | awk '{print $1}'); do LIVE_NAME=$w \
 *     BMALLOC_BASE_LIB=/tmp/sizeclass-model.so bench/real --allocators bmalloc-base \
 *     --workloads $w --runs 1 --out /tmp/model-$w; done
 * (-fno-builtin: gcc would otherwise turn calloc's malloc+memset into a call to calloc.) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMES 4
#define PREFIX 16

static long live[SCHEMES], peak[SCHEMES];
static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_realloc)(void *, size_t);
/* dlsym allocates: what it asks for before the real functions are known comes from here */
static char boot[1 << 16];
static size_t boot_used;
static int resolving;

static unsigned long pow2_at_least(unsigned long x)
{
    if (x > (1UL << 40))
        return x; /* a failing request: no loop to overflow */
    unsigned long v = 1;
    while (v < x)
        v <<= 1;
    return v;
}

static long footprint(int scheme, size_t s)
{
    switch (scheme) {
    case 0:
        return (long)pow2_at_least(s < 16 ? 16 : s) + 16;
    case 1:
        return (long)pow2_at_least(s + 16 < 32 ? 32 : s + 16);
    case 2:
        return (long)pow2_at_least(s + 8 < 16 ? 16 : s + 8);
    default: {
        size_t c = (s + 8 + 15) & ~15UL;
        return c < 32 ? 32 : (long)c;
    }
    }
}

static void count(size_t s, int sign)
{
    for (int k = 0; k < SCHEMES; k++) {
        live[k] += sign * footprint(k, s);
        if (live[k] > peak[k])
            peak[k] = live[k];
    }
}

static void resolve(void)
{
    if (real_malloc || resolving)
        return;
    resolving = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    resolving = 0;
}

static void *from_boot(size_t s)
{
    char *p = boot + boot_used;
    boot_used += (s + PREFIX + 15) & ~15UL;
    return p + PREFIX;
}

void *malloc(size_t s)
{
    resolve();
    if (!real_malloc)
        return from_boot(s);
    char *p = real_malloc(s + PREFIX);
    if (!p)
        return p;
    *(size_t *)p = s;
    count(s, 1);
    return p + PREFIX;
}

void free(void *q)
{
    if (!q || ((char *)q >= boot && (char *)q < boot + sizeof boot))
        return;
    char *p = (char *)q - PREFIX;
    count(*(size_t *)p, -1);
    real_free(p);
}

void *calloc(size_t n, size_t size)
{
    size_t s = n * size;
    resolve();
    if (!real_malloc)
        return from_boot(s); /* static memory: already zero */
    void *q = malloc(s);
    if (q)
        memset(q, 0, s);
    return q;
}

void *realloc(void *q, size_t s)
{
    if (!q)
        return malloc(s);
    char *p = (char *)q - PREFIX;
    size_t old = *(size_t *)p;
    char *n = real_realloc(p, s + PREFIX);
    if (!n)
        return n;
    count(old, -1);
    *(size_t *)n = s;
    count(s, 1);
    return n + PREFIX;
}

size_t malloc_usable_size(void *q)
{
    return q ? *(size_t *)((char *)q - PREFIX) : 0;
}

int posix_memalign(void **out, size_t align, size_t s)
{
    (void)align;
    *out = malloc(s);
    return *out ? 0 : 12;
}

void *memalign(size_t align, size_t s)
{
    (void)align;
    return malloc(s);
}

void *aligned_alloc(size_t align, size_t s)
{
    (void)align;
    return malloc(s);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("LIVE_OUT");
    FILE *out = fopen(path ? path : "/tmp/sizeclass-model.txt", "a");
    if (!out)
        return;
    char comm[64] = {0};
    FILE *c = fopen("/proc/self/comm", "r");
    if (c) {
        if (fgets(comm, sizeof comm, c))
            comm[strcspn(comm, "\n")] = 0;
        fclose(c);
    }
    const char *name = getenv("LIVE_NAME");
    fprintf(out, "%s %s now %ld hdr16 %ld hdr8 %ld glibc %ld\n", name ? name : "?", comm, peak[0],
            peak[1], peak[2], peak[3]);
    fclose(out);
}
