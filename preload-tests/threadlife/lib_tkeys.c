/* lib_tkeys.so: a library whose pthread keys have destructors that allocate and free while
 * the thread exits (issue 5, thread life). Built by preload-tests/t_thread_keys.sh.
 *
 * tk_init() creates TK_KEYS keys (more than 32 in all with the program's own, so glibc's
 * pthread_setspecific itself callocs a second-level array, freed after the destructors).
 * tk_thread_work(seed) gives every key a block holding a pattern. At thread exit each destructor
 * checks and frees its block, allocates and frees more, parks one block on a global list for
 * the main thread to check and free later, and sets its key again for the first two rounds so
 * glibc calls the destructors again (PTHREAD_DESTRUCTOR_ITERATIONS).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TK_KEYS 40

typedef struct tkblock {
    struct tkblock *next;
    size_t size;
    uint32_t seed;
    int round;
    unsigned char data[];
} tkblock;

static pthread_key_t keys[TK_KEYS];
static pthread_mutex_t parked_lock = PTHREAD_MUTEX_INITIALIZER;
static tkblock *parked;
static size_t parked_count;
static volatile int failures;

static unsigned char pat(const tkblock *b, size_t i)
{
    return (unsigned char)(((uintptr_t)b >> 4) * 31 + i * 7 + b->seed * 13 + b->round);
}

static tkblock *make(size_t size, uint32_t seed, int round)
{
    tkblock *b = malloc(sizeof *b + size);
    if (!b) {
        fprintf(stderr, "lib_tkeys: malloc(%zu) failed at thread exit\n", size);
        abort();
    }
    b->next = NULL;
    b->size = size;
    b->seed = seed;
    b->round = round;
    for (size_t i = 0; i < size; i++)
        b->data[i] = pat(b, i);
    return b;
}

static void check(const tkblock *b, const char *where)
{
    for (size_t i = 0; i < b->size; i++)
        if (b->data[i] != pat(b, i)) {
            char msg[200];
            int n = snprintf(msg, sizeof msg,
                             "lib_tkeys: block %p (%zu bytes, round %d) corrupted at byte %zu %s\n",
                             (void *)b, b->size, b->round, i, where);
            if (write(2, msg, n) < 0)
                _exit(3);
            abort();
        }
}

static void destructor(void *v)
{
    tkblock *b = v;
    check(b, "in a key destructor");
    int round = b->round;
    uint32_t seed = b->seed;
    size_t k = seed % TK_KEYS;
    free(b);
    /* allocate and free while the thread exits: several sizes, now and then a big one */
    void *tmp[8];
    for (int i = 0; i < 8; i++) {
        size_t sz = (size_t)24 << i;
        if (i == 7 && k % 8 == 0 && round == 0)
            sz = (size_t)300000 << (seed % 3); /* up to 1.2 MiB: a large block */
        tmp[i] = make(sz, seed + i, round);
    }
    for (int i = 0; i < 8; i++) {
        check(tmp[i], "during the destructor");
        tmp[i] = realloc(tmp[i], sizeof(tkblock) + 100);
        free(tmp[i]);
    }
    /* park one for the main thread */
    tkblock *p = make(40 + seed % 3000, seed, round);
    pthread_mutex_lock(&parked_lock);
    p->next = parked;
    parked = p;
    parked_count++;
    pthread_mutex_unlock(&parked_lock);
    /* set the key again: glibc runs the destructors another round */
    if (round < 2) {
        tkblock *again = make(16 + (seed * 7) % 500, seed, round + 1);
        pthread_setspecific(keys[k], again);
    }
}

/* each key gets its own destructor entry point so the key number is known */
#define D(n) static void d##n(void *v) { destructor(v); }
D(0) D(1) D(2) D(3) D(4) D(5) D(6) D(7) D(8) D(9) D(10) D(11) D(12) D(13) D(14) D(15) D(16) D(17)
D(18) D(19) D(20) D(21) D(22) D(23) D(24) D(25) D(26) D(27) D(28) D(29) D(30) D(31) D(32) D(33)
D(34) D(35) D(36) D(37) D(38) D(39)
static void (*const dtors[TK_KEYS])(void *) = {
    d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11, d12, d13, d14, d15, d16, d17, d18, d19,
    d20, d21, d22, d23, d24, d25, d26, d27, d28, d29, d30, d31, d32, d33, d34, d35, d36, d37, d38, d39};

int tk_init(void)
{
    for (int i = 0; i < TK_KEYS; i++)
        if (pthread_key_create(&keys[i], dtors[i]) != 0)
            return -1;
    return 0;
}

/* The block's seed encodes the key: seed % TK_KEYS == key index. */
void tk_thread_work(uint32_t seed)
{
    for (int i = 0; i < TK_KEYS; i++) {
        uint32_t s = (seed * TK_KEYS) + i;
        tkblock *b = make(16 + (s * 37) % 2000, s, 0);
        pthread_setspecific(keys[i], b);
    }
}

/* Main thread: check and free everything the destructors parked. Returns the count. */
size_t tk_drain(void)
{
    pthread_mutex_lock(&parked_lock);
    tkblock *b = parked;
    parked = NULL;
    size_t n = parked_count;
    parked_count = 0;
    pthread_mutex_unlock(&parked_lock);
    size_t seen = 0;
    while (b) {
        tkblock *next = b->next;
        check(b, "when the main thread freed it");
        free(b);
        b = next;
        seen++;
    }
    if (seen != n) {
        fprintf(stderr, "lib_tkeys: %zu parked blocks counted, %zu on the list\n", n, seen);
        abort();
    }
    return seen;
}
