/* fastpath: the instruction count of one malloc+free pair of a small block.
 *
 * Not a timed workload: scripts/fastpath runs it under valgrind's callgrind
 * twice per allocator, `fastpath loop` (1,000,000 malloc(32)+free pairs after
 * a warm-up) and `fastpath empty` (the same program, same warm-up, with the
 * loop body doing no allocation), and divides the difference of the two
 * instruction totals by 1e6.  Start-up, warm-up and exit costs cancel out.
 *
 * Usage: fastpath loop|empty [SIZE [PAIRS]]   (SIZE defaults to 32, PAIRS to 1000000)
 */
#include "bench.h"

int main(int argc, char **argv) {
    int loop = argc > 1 && strcmp(argv[1], "loop") == 0;
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 32;
    long PAIRS = argc > 3 ? atol(argv[3]) : 1000000;
    /* warm-up: the first allocations set up the thread's heap / tcache */
    for (int i = 0; i < 100; i++) { void *p = xmalloc(n); KEEP(p); free(p); }
    uint64_t sum = 0;
    if (loop) {
        for (long i = 0; i < PAIRS; i++) {
            void *p = malloc(n);
            KEEP(p);
            sum += (uintptr_t)p & 1;
            free(p);
        }
    } else {
        for (long i = 0; i < PAIRS; i++) {
            void *p = &sum;
            KEEP(p);
            sum += (uintptr_t)p & 1;
        }
    }
    printf("RESULT fastpath mode=%s size=%zu sum=%llu\n", loop ? "loop" : "empty", n, (unsigned long long)sum);
    return sum != 0;
}
