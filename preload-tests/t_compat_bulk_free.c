/* Regression test from the compat corpus (notes/bugs.md, "compat: every program that frees many
 * blocks hangs" and "perl hangs"): programs such as python3, perl, openssl and redis free tens of
 * thousands of blocks of one bucket in a row (at exit, or when a big container dies), which makes
 * the heap hand batches to the global exchange again and again, then allocate them back.
 * The test re-executes itself with BMALLOC_PURGE_DELAY_MS=1 so that batches in the exchange age
 * and get purged and requeued all the time (perl hung there, in purge::nth under requeue).
 * Under a watchdog (alarm): a hang is a failure, not a stuck test run. Contents are checked. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 200000

static void fill(unsigned char *p, size_t n, unsigned seed) { for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i); }
static int check(const unsigned char *p, size_t n, unsigned seed) { for (size_t i = 0; i < n; i++) if (p[i] != (unsigned char)(seed + i)) return 0; return 1; }

static void *blocks[N];

static void round_trip(size_t size, int reverse) {
	int n = size > 512 ? N / 10 : N; /* bounded peak memory */
	for (int i = 0; i < n; i++) {
		blocks[i] = malloc(size);
		if (!blocks[i]) { fprintf(stderr, "malloc(%zu) failed\n", size); exit(1); }
		fill(blocks[i], size < 64 ? size : 64, (unsigned)i);
	}
	for (int i = 0; i < n; i++) {
		int k = reverse ? n - 1 - i : i;
		if (!check(blocks[k], size < 64 ? size : 64, (unsigned)k)) { fprintf(stderr, "block %d of %zu bytes corrupted\n", k, size); exit(1); }
		free(blocks[k]);
	}
}

static void *freer(void *arg) { (void)arg; for (int i = 0; i < N; i++) free(blocks[i]); return NULL; }

int main(int argc, char **argv) {
	(void)argc;
	if (!getenv("BMALLOC_PURGE_DELAY_MS")) {
		setenv("BMALLOC_PURGE_DELAY_MS", "1", 1);
		execv("/proc/self/exe", argv);
		perror("execv"); return 1;
	}
	alarm(60);
	static const size_t sizes[] = {24, 100, 500, 3000, 24, 40};
	for (int r = 0; r < 3; r++)
		for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) { round_trip(sizes[s], (int)(s + r) & 1); usleep(3000); }
	/* one thread allocates, another frees everything, then the first allocates again */
	for (int r = 0; r < 5; r++) {
		for (int i = 0; i < N; i++) { blocks[i] = malloc(48); fill(blocks[i], 48, (unsigned)i); }
		pthread_t t; pthread_create(&t, NULL, freer, NULL); pthread_join(t, NULL);
		usleep(3000);
	}
	round_trip(48, 0);
	/* a big container dying: many sizes interleaved, freed at once */
	for (int i = 0; i < N; i++) { size_t n = 16 + (size_t)(i * 37) % 600; blocks[i] = malloc(n); fill(blocks[i], 16, (unsigned)i); }
	for (int i = 0; i < N; i++) { if (!check(blocks[i], 16, (unsigned)i)) { fprintf(stderr, "mixed block %d corrupted\n", i); return 1; } free(blocks[i]); }
	puts("bulk free ok");
	return 0;
}
