/* A C program compiled by the gcc test and then run on bmalloc: threads build linked
 * structures, realloc growing arrays, hand blocks to the next thread to free, and print a
 * deterministic checksum. usage: prog NTHREADS NITEMS */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

struct item { struct item *next; size_t len; char *text; };
struct slot { pthread_mutex_t mu; struct item *head; };

static int nthreads, nitems;
static struct slot *slots;
static unsigned long *consumed; /* per thread: text bytes of items it freed */

static uint32_t lcg(uint32_t *x) { *x = *x * 1103515245u + 12345u; return *x >> 8; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void *worker(void *arg) {
	int id = (int)(intptr_t)arg;
	uint32_t x = 1000u + id, sum = 0;
	unsigned long eaten = 0;
	size_t cap = 4, n = 0;
	char **strs = malloc(cap * sizeof *strs);
	for (int i = 0; i < nitems; i++) {
		size_t len = 1 + lcg(&x) % 300;
		struct item *it = malloc(sizeof *it);
		it->len = len;
		it->text = malloc(len + 1);
		for (size_t k = 0; k < len; k++) it->text[k] = 'a' + (k + i) % 26;
		it->text[len] = 0;
		/* hand the item to the next thread, which frees it */
		struct slot *s = &slots[(id + 1) % nthreads];
		pthread_mutex_lock(&s->mu); it->next = s->head; s->head = it; pthread_mutex_unlock(&s->mu);
		if (i % 16 == 0) {
			if (n == cap) { cap *= 2; strs = realloc(strs, cap * sizeof *strs); }
			char buf[64]; snprintf(buf, sizeof buf, "%08x-%d", lcg(&x), i);
			strs[n++] = strdup(buf);
		}
		if (i % 64 == 0) {
			pthread_mutex_lock(&slots[id].mu);
			struct item *l = slots[id].head; slots[id].head = NULL;
			pthread_mutex_unlock(&slots[id].mu);
			while (l) { struct item *nx = l->next; for (size_t k = 0; k < l->len; k++) eaten += (unsigned char)l->text[k]; free(l->text); free(l); l = nx; }
		}
		if (i % 1000 == 0) { void *big = calloc(1, 100000 + i); sum += ((char *)big)[i % 100000] + 1; free(big); }
	}
	qsort(strs, n, sizeof *strs, cmp_str);
	for (size_t i = 0; i < n; i++) { sum = sum * 31 + (unsigned char)strs[i][3]; free(strs[i]); }
	free(strs);
	consumed[id] = eaten;
	return (void *)(uintptr_t)(n * 1000003u + sum % 1000003u);
}

int main(int argc, char **argv) {
	nthreads = argc > 1 ? atoi(argv[1]) : 4;
	nitems = argc > 2 ? atoi(argv[2]) : 100000;
	slots = calloc(nthreads, sizeof *slots);
	consumed = calloc(nthreads, sizeof *consumed);
	for (int i = 0; i < nthreads; i++) pthread_mutex_init(&slots[i].mu, NULL);
	pthread_t *t = malloc(nthreads * sizeof *t);
	for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	unsigned long total = 0;
	for (int i = 0; i < nthreads; i++) { void *r; pthread_join(t[i], &r); total += (uintptr_t)r; printf("thread %d -> %lu\n", i, (unsigned long)(uintptr_t)r); }
	/* which thread freed which item depends on scheduling; the grand total does not */
	unsigned long chars = 0;
	for (int i = 0; i < nthreads; i++) {
		chars += consumed[i];
		for (struct item *l = slots[i].head; l;) { struct item *nx = l->next; for (size_t k = 0; k < l->len; k++) chars += (unsigned char)l->text[k]; free(l->text); free(l); l = nx; }
	}
	printf("total %lu chars %lu sqrt %.6f\n", total, chars, sqrt((double)total));
	free(t); free(slots); free(consumed);
	return 0;
}
