/* t_stress: randomised multi-threaded stress with content checks (issue 5).
 *
 *   t_stress [seconds] [seed] [threads]
 *   env: STRESS_SECONDS, STRESS_SEED, STRESS_THREADS (arguments win).
 *
 * Without a thread count it runs four phases (2, 4, 8, 16 threads) with seeds seed..seed+3,
 * each for a quarter of the time (default 16 s in all, for `make test`). scripts/stress runs it
 * for longer with rotating seeds.
 *
 * Every worker does random malloc / calloc / realloc / free / memalign / posix_memalign /
 * aligned_alloc with sizes 0..4 MiB (mostly small). Each block holds a pattern derived from its
 * address, size and a sequence number, up to its usable size (capped for big blocks); the pattern
 * is checked before every free and realloc, when a block changes hands, and at random. Blocks move
 * between threads through a shared mutex-protected pool (swap of a private slot with a pool slot).
 * Workers exit after a random number of operations, leaving their blocks in the pool for others to
 * check and free, and the main thread starts new workers while the others still hold blocks.
 *
 * Thread interleaving is not reproducible, but each worker's operation sequence is a function of
 * (seed, worker number); the seed and a command line are printed on failure.
 */
#define _GNU_SOURCE
#include "stress_util.h"
#include <pthread.h>
#include <stdatomic.h>

#define LOCAL_SLOTS 128
#define POOL_SLOTS 2048
#define MAX_THREADS 64
#define MAX_SIZE (4u << 20)

typedef struct {
    unsigned char *p;
    size_t size;   /* requested size */
    size_t fill;   /* bytes holding the pattern (>= size, <= usable) */
    size_t usable; /* malloc_usable_size at allocation */
    size_t align;  /* alignment asked for (16 for malloc/calloc/realloc) */
    uint64_t seq;
    const char *how; /* the call that produced it (for messages) */
    int owner;       /* worker number that produced it */
} blk;

static blk pool[POOL_SLOTS];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_int stop_flag;
static atomic_ullong total_ops, total_bytes_checked, total_handoffs;

static uint64_t run_seed;
static int run_threads;
static double run_seconds;

typedef struct {
    pthread_t tid;
    int number; /* worker number, unique for the run */
    atomic_int done;
    int running;
} worker;

static worker workers[MAX_THREADS];

/* ---------- blocks ---------- */

static uint64_t blk_key(const blk *b) { return su_key(b->p, b->size, b->seq); }

static void blk_check(const blk *b, const char *when, int me)
{
    size_t off = su_check_key(b->p, b->fill, blk_key(b));
    if (off != (size_t)-1)
        su_fail("t_stress: CONTENT CORRUPTED %s (worker %d): block %p size %zu fill %zu usable %zu "
                "seq %llu from %s by worker %d: byte %zu is 0x%02x, expected 0x%02x",
                when, me, (void *)b->p, b->size, b->fill, b->usable, (unsigned long long)b->seq,
                b->how, b->owner, off, b->p[off], su_expected_byte(blk_key(b), off));
    size_t u = malloc_usable_size(b->p);
    if (u != b->usable)
        su_fail("t_stress: malloc_usable_size(%p) changed from %zu to %zu %s (size %zu, from %s)",
                (void *)b->p, b->usable, u, when, b->size, b->how);
    atomic_fetch_add_explicit(&total_bytes_checked, b->fill, memory_order_relaxed);
}

/* Record a freshly returned block: check alignment and usable size, then write its pattern. */
static void blk_set(blk *b, void *p, size_t size, size_t align, uint64_t seq, const char *how,
                    int me)
{
    if (!p)
        su_fail("t_stress: %s(size %zu, align %zu) returned NULL (errno %d) in worker %d", how,
                size, align, errno, me);
    if ((uintptr_t)p % (align < 16 ? 16 : align))
        su_fail("t_stress: %s(size %zu, align %zu) returned %p, misaligned", how, size, align, p);
    size_t u = malloc_usable_size(p);
    if (u < size)
        su_fail("t_stress: %s(size %zu) returned %p with malloc_usable_size %zu < size", how, size,
                p, u);
    b->p = p;
    b->size = size;
    b->usable = u;
    b->align = align;
    b->seq = seq;
    b->how = how;
    b->owner = me;
    /* the slack reported by malloc_usable_size must be usable too: fill it, capped for big ones */
    b->fill = u <= 65536 ? u : (u - size > 4096 ? size + 4096 : u);
    su_fill_key(p, b->fill, blk_key(b));
}

/* ---------- random sizes and alignments ---------- */

static size_t rand_size(su_rng *r)
{
    uint64_t c = su_below(r, 1000);
    if (c < 80) { /* bucket edges: 16<<k - 1, 16<<k, 16<<k + 1 (k up to 4 MiB), and 0 */
        unsigned k = su_below(r, 19);
        size_t e = (size_t)16 << k;
        if (e > MAX_SIZE)
            e = MAX_SIZE;
        size_t s = e - 1 + su_below(r, 3);
        if (s > MAX_SIZE)
            s = MAX_SIZE;
        return su_below(r, 20) == 0 ? 0 : s;
    }
    if (c < 700)
        return su_below(r, 129);
    if (c < 900)
        return 129 + su_below(r, 4096 - 128);
    if (c < 980)
        return 4097 + su_below(r, 65536 - 4096);
    if (c < 997)
        return 65537 + su_below(r, (1u << 20) - 65536);
    return (1u << 20) + su_below(r, MAX_SIZE - (1u << 20) + 1);
}

static size_t rand_align(su_rng *r)
{
    uint64_t c = su_below(r, 100);
    if (c < 85)
        return (size_t)8 << su_below(r, 7); /* 8 .. 512 */
    if (c < 98)
        return (size_t)1024 << su_below(r, 3); /* 1 KiB .. 4 KiB */
    return (size_t)8192 << su_below(r, 8); /* 8 KiB .. 1 MiB */
}

/* ---------- operations ---------- */

static void do_alloc(blk *b, su_rng *r, uint64_t seq, int me)
{
    size_t size = rand_size(r);
    uint64_t c = su_below(r, 100);
    void *p = NULL;
    if (c < 40) {
        p = malloc(size);
        blk_set(b, p, size, 16, seq, "malloc", me);
    } else if (c < 55) {
        static const size_t elems[] = {1, 2, 4, 8, 16, 24, 100, 4096};
        size_t e = elems[su_below(r, 8)];
        size_t n = size / e;
        p = calloc(n, e);
        size = n * e;
        if (p) {
            /* calloc must hand out zeroes: check the requested bytes */
            const unsigned char *q = p;
            for (size_t i = 0; i < size; i++)
                if (q[i])
                    su_fail("t_stress: calloc(%zu, %zu) = %p has byte %zu = 0x%02x, not zero", n, e,
                            p, i, q[i]);
        }
        blk_set(b, p, size, 16, seq, "calloc", me);
    } else if (c < 60) {
        p = realloc(NULL, size);
        blk_set(b, p, size, 16, seq, "realloc(NULL)", me);
    } else if (c < 73) {
        size_t a = rand_align(r);
        p = memalign(a, size);
        blk_set(b, p, size, a, seq, "memalign", me);
    } else if (c < 87) {
        size_t a = rand_align(r);
        void *out = (void *)0x1;
        int e = posix_memalign(&out, a, size);
        if (e)
            su_fail("t_stress: posix_memalign(%zu, %zu) failed with %d", a, size, e);
        blk_set(b, out, size, a, seq, "posix_memalign", me);
    } else {
        size_t a = rand_align(r);
        p = aligned_alloc(a, size);
        blk_set(b, p, size, a, seq, "aligned_alloc", me);
    }
}

static void do_free(blk *b, int me)
{
    blk_check(b, "before free", me);
    int saved = errno = 1234;
    free(b->p);
    if (errno != saved)
        su_fail("t_stress: free(%p) changed errno to %d", (void *)b->p, errno);
    b->p = NULL;
}

static void do_realloc(blk *b, su_rng *r, uint64_t seq, int me)
{
    blk_check(b, "before realloc", me);
    size_t ns;
    uint64_t c = su_below(r, 100);
    if (c < 2)
        ns = 0;
    else if (c < 50)
        ns = rand_size(r);
    else if (c < 75) {
        ns = b->size + su_below(r, 64); /* grow a little: often in place */
        if (ns > MAX_SIZE)
            ns = MAX_SIZE;
    } else
        ns = b->size / 2 + su_below(r, 2);
    blk old = *b;
    uint64_t okey = blk_key(&old);
    uintptr_t oldp = (uintptr_t)old.p;
    void *q = realloc(old.p, ns);
    if (ns == 0) {
        /* realloc(p, 0) frees p and returns NULL (glibc contract) */
        if (q)
            su_fail("t_stress: realloc(%#lx, 0) returned %p, expected NULL", (unsigned long)oldp, q);
        b->p = NULL;
        return;
    }
    if (!q)
        su_fail("t_stress: realloc(%#lx, %zu) returned NULL (errno %d)", (unsigned long)oldp, ns, errno);
    size_t keep = old.size < ns ? old.size : ns;
    size_t off = su_check_key(q, keep, okey);
    if (off != (size_t)-1)
        su_fail("t_stress: realloc(%#lx size %zu from %s, %zu) = %p lost content: byte %zu is 0x%02x, "
                "expected 0x%02x",
                (unsigned long)oldp, old.size, old.how, ns, q, off, ((unsigned char *)q)[off],
                su_expected_byte(okey, off));
    blk_set(b, q, ns, 16, seq, "realloc", me);
}

/* Swap a private slot with a random pool slot; whatever comes back is checked at once. */
static void do_exchange(blk *b, su_rng *r, int me)
{
    size_t j = su_below(r, POOL_SLOTS);
    pthread_mutex_lock(&pool_lock);
    blk t = pool[j];
    pool[j] = *b;
    pthread_mutex_unlock(&pool_lock);
    *b = t;
    if (b->p) {
        blk_check(b, "after taking it from the pool", me);
        if (b->owner != me)
            atomic_fetch_add_explicit(&total_handoffs, 1, memory_order_relaxed);
    }
}

/* Put a block in an empty pool slot near a random index; returns 0 if none was free. */
static int pool_park(blk *b, su_rng *r)
{
    size_t j0 = su_below(r, POOL_SLOTS);
    int done = 0;
    pthread_mutex_lock(&pool_lock);
    for (size_t k = 0; k < 64 && !done; k++) {
        size_t j = (j0 + k) % POOL_SLOTS;
        if (!pool[j].p) {
            pool[j] = *b;
            done = 1;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (done)
        b->p = NULL;
    return done;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    int me = w->number;
    su_rng r = {su_mix64(run_seed * 0x100000001b3ULL + (uint64_t)me * 0x9e3779b97f4a7c15ULL)};
    blk local[LOCAL_SLOTS];
    memset(local, 0, sizeof local);
    uint64_t seq = (uint64_t)me << 40;
    /* short-lived and long-lived workers */
    uint64_t limit = su_below(&r, 4) == 0 ? 200 + su_below(&r, 2000) : 2000 + su_below(&r, 40000);
    uint64_t ops = 0;
    for (; ops < limit && !atomic_load_explicit(&stop_flag, memory_order_relaxed); ops++) {
        blk *b = &local[su_below(&r, LOCAL_SLOTS)];
        uint64_t c = su_below(&r, 100);
        if (!b->p) {
            if (c < 80)
                do_alloc(b, &r, ++seq, me);
            else
                do_exchange(b, &r, me);
        } else if (c < 35)
            do_free(b, me);
        else if (c < 60)
            do_realloc(b, &r, ++seq, me);
        else if (c < 80)
            do_exchange(b, &r, me);
        else
            blk_check(b, "at random", me);
    }
    atomic_fetch_add_explicit(&total_ops, ops, memory_order_relaxed);
    /* exit while holding blocks: most go to the pool for other threads to check and free */
    int keep_all = su_below(&r, 3) == 0;
    for (int i = 0; i < LOCAL_SLOTS; i++) {
        if (!local[i].p)
            continue;
        blk_check(&local[i], "at worker exit", me);
        if ((keep_all || su_below(&r, 4) != 0) && pool_park(&local[i], &r))
            continue;
        do_free(&local[i], me);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void start_worker(worker *w, int number)
{
    w->number = number;
    atomic_store(&w->done, 0);
    int e = pthread_create(&w->tid, NULL, worker_main, w);
    if (e)
        su_fail("t_stress: pthread_create: %s", strerror(e));
    w->running = 1;
}

static void run_phase(int nthreads, uint64_t seed, double seconds)
{
    run_seed = seed;
    run_threads = nthreads;
    run_seconds = seconds;
    snprintf(su_context, sizeof su_context,
             "t_stress: seed=%llu threads=%d seconds=%g; repro: LD_PRELOAD=$BMALLOC_LIB "
             "target/preload-tests/t_stress %g %llu %d",
             (unsigned long long)seed, nthreads, seconds, seconds, (unsigned long long)seed,
             nthreads);
    atomic_store(&stop_flag, 0);
    atomic_store(&total_ops, 0);
    atomic_store(&total_bytes_checked, 0);
    atomic_store(&total_handoffs, 0);
    int started = 0;
    for (int i = 0; i < nthreads; i++)
        start_worker(&workers[i], started++);
    double end = su_now() + seconds;
    while (su_now() < end) {
        for (int i = 0; i < nthreads; i++) {
            if (workers[i].running && atomic_load(&workers[i].done)) {
                pthread_join(workers[i].tid, NULL);
                workers[i].running = 0;
                start_worker(&workers[i], started++);
            }
        }
        usleep(2000);
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < nthreads; i++)
        if (workers[i].running) {
            pthread_join(workers[i].tid, NULL);
            workers[i].running = 0;
        }
    /* the main thread checks and frees what the workers left behind */
    size_t left = 0;
    for (int j = 0; j < POOL_SLOTS; j++) {
        if (pool[j].p) {
            left++;
            do_free(&pool[j], -1);
        }
    }
    fprintf(stderr,
            "t_stress: seed %llu, %d threads, %.1f s: %d workers, %llu ops, %llu handoffs, "
            "%llu MiB checked, %zu blocks freed by main at the end\n",
            (unsigned long long)seed, nthreads, seconds, started,
            (unsigned long long)atomic_load(&total_ops),
            (unsigned long long)atomic_load(&total_handoffs),
            (unsigned long long)(atomic_load(&total_bytes_checked) >> 20), left);
}

int main(int argc, char **argv)
{
    require_bmalloc();
    double seconds = argc > 1 ? atof(argv[1]) : (double)su_env_ll("STRESS_SECONDS", 16);
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)su_env_ll("STRESS_SEED", 1);
    int threads = argc > 3 ? atoi(argv[3]) : (int)su_env_ll("STRESS_THREADS", 0);
    if (seconds <= 0)
        seconds = 16;
    if (threads < 0 || threads > MAX_THREADS) {
        fprintf(stderr, "t_stress: threads must be 1..%d (0 = phases of 2, 4, 8, 16)\n",
                MAX_THREADS);
        return 2;
    }
    if (threads) {
        run_phase(threads, seed, seconds);
    } else {
        static const int counts[] = {2, 4, 8, 16};
        for (int i = 0; i < 4; i++)
            run_phase(counts[i], seed + i, seconds / 4);
    }
    printf("t_stress: ok\n");
    return 0;
}
