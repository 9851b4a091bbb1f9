/* t_heapless_free: free() from a thread that has no heap of its own, before its first
 * allocation and after its exit hook parked its heap. The fast paths find a vacant heap in
 * such a thread's slot and must hand the call to the slow path, which finds the thread a heap:
 * the block is then counted as freed, and the bytes in use (mallinfo2) come back to where they
 * were. A free that stayed with the vacant heap would be counted nowhere.
 *
 * - Fresh threads whose very first allocator call is free() of blocks the main thread
 *   allocated, in every small bucket.
 * - Threads whose pthread-key destructor frees the main thread's blocks in the last
 *   destructor round, after bmalloc's own exit hook (made first, so it runs first in each
 *   round) has parked the thread's heap. */
#include "check.h"
#include <pthread.h>

#define THREADS 8
#define PER 68 /* 4 blocks in each of the 17 small buckets */

static void *blocks[THREADS][PER];
static pthread_key_t key;

static void alloc_set(int t) {
    for (int i = 0; i < PER; i++) {
        size_t size = (size_t)16 << (i / 4);
        blocks[t][i] = malloc(size);
        CHECK(blocks[t][i] != NULL);
        memset(blocks[t][i], t, size < 64 ? size : 64);
    }
}

static void free_set(int t) {
    for (int i = 0; i < PER; i++) free(blocks[t][i]);
}

static void *first_call_is_free(void *arg) {
    free_set((int)(intptr_t)arg);
    return NULL;
}

/* Sets itself again until glibc's last round (PTHREAD_DESTRUCTOR_ITERATIONS = 4), in which
 * bmalloc's hook has parked the heap before this destructor runs. */
static void late_destructor(void *value) {
    intptr_t round = (intptr_t)value;
    int t = (int)(round >> 8);
    round &= 0xff;
    if (round < 4) {
        pthread_setspecific(key, (void *)(((intptr_t)t << 8) | (round + 1)));
        return;
    }
    free_set(t);
}

static void *frees_after_exit_hook(void *arg) {
    int t = (int)(intptr_t)arg;
    void *p = OPQ(malloc(32)); /* this thread's heap, and bmalloc's exit hook, exist now */
    free(p);
    pthread_setspecific(key, (void *)(((intptr_t)t << 8) | 1));
    return NULL;
}

static void *nothing(void *arg) { return arg; }

static void run(void *(*fn)(void *), const char *what) {
    /* glibc keeps an exited thread's stack, and the TLS vector it callocs with it, for the
     * next thread: made here, before the count, as the threads below reuse it. */
    pthread_t warm;
    CHECK_EQ(pthread_create(&warm, NULL, nothing, NULL), 0);
    CHECK_EQ(pthread_join(warm, NULL), 0);
    size_t before = mallinfo2().uordblks;
    for (int t = 0; t < THREADS; t++) alloc_set(t);
    CHECK(mallinfo2().uordblks > before);
    for (int t = 0; t < THREADS; t++) {
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, fn, (void *)(intptr_t)t), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
    }
    size_t after = mallinfo2().uordblks;
    if (after != before) fprintf(stderr, "%s: %zu bytes in use before, %zu after\n", what, before, after);
    CHECK_EQ(after, before);
}

int main(void) {
    require_bmalloc();
    free(OPQ(malloc(16))); /* the main thread's heap, and bmalloc's exit key, first */
    CHECK_EQ(pthread_key_create(&key, late_destructor), 0);
    run(first_call_is_free, "first call free");
    run(frees_after_exit_hook, "free after the exit hook");
    return test_done("t_heapless_free");
}
