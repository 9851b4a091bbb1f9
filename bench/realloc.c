/* realloc: realloc growth of many strings and arrays.
 *
 * Mirrors the growth patterns of string builders and dynamic arrays (the
 * realloc-heavy parts of gcc, perl and the "glibc-realloc" style tests):
 * each thread keeps 512 live objects and grows them round-robin, so that
 * neighbours get in the way of in-place growth:
 *   - strings appended 1..32 bytes at a time, realloc on every append,
 *     up to 8 KiB;
 *   - arrays of 8-byte elements whose capacity doubles, up to 64 KiB.
 * A grown-out object is verified byte for byte (strings) or element by
 * element (arrays), freed and restarted.
 * Stresses: realloc in place vs move, copying cost, size-class steps
 * (power-of-two classes make doubling arrays cheap and appends wasteful or
 * vice versa), RSS from abandoned smaller blocks.
 *
 * Usage: realloc THREADS N   (N appends/pushes per thread)
 */
#include "bench.h"

#define NOBJ 512
#define STR_MAX 8192
#define ARR_MAX (64 * 1024 / 8)

typedef struct { char *p; size_t len; uint64_t id; } str_t;
typedef struct { uint64_t *p; size_t len, cap; uint64_t id; } arr_t;

static long N;
static inline char str_byte(uint64_t id, size_t i) { return (char)('a' + (id * 7 + i * 13) % 26); }

static void *worker(void *a) {
    uint64_t tid = (uint64_t)(uintptr_t)a, sum = 0, next_id = tid << 32;
    rng_t r; rng_seed(&r, 99 + tid);
    str_t s[NOBJ / 2]; arr_t v[NOBJ / 2];
    memset(s, 0, sizeof s); memset(v, 0, sizeof v);
    for (int k = 0; k < NOBJ / 2; k++) { s[k].id = next_id++; v[k].id = next_id++; }
    for (long i = 0; i < N; i++) {
        int k = (int)(i % (NOBJ / 2));
        if (i & 1) {
            str_t *o = &s[k];
            size_t add = 1 + rng_below(&r, 32);
            char *q = realloc(o->p, o->len + add + 1);
            if (!q) FAIL("realloc NULL");
            o->p = q;
            for (size_t j = 0; j < add; j++) q[o->len + j] = str_byte(o->id, o->len + j);
            o->len += add;
            q[o->len] = 0;
            if (o->len > STR_MAX) {
                if (strlen(q) != o->len) FAIL("realloc: string length");
                for (size_t j = 0; j < o->len; j++)
                    if (q[j] != str_byte(o->id, j)) FAIL("realloc: string %llu byte %zu", (unsigned long long)o->id, j);
                sum += o->len;
                free(q);
                o->p = NULL; o->len = 0; o->id = next_id++;
            }
        } else {
            arr_t *o = &v[k];
            /* push a few elements */
            for (int j = 0; j < 8; j++) {
                if (o->len == o->cap) {
                    o->cap = o->cap ? o->cap * 2 : 4;
                    uint64_t *q = realloc(o->p, o->cap * 8);
                    if (!q) FAIL("realloc NULL");
                    o->p = q;
                }
                o->p[o->len] = o->id * 1000003 + o->len;
                o->len++;
            }
            if (o->len >= ARR_MAX) {
                for (size_t j = 0; j < o->len; j++)
                    if (o->p[j] != o->id * 1000003 + j) FAIL("realloc: array element %zu", j);
                sum += o->len;
                free(o->p);
                o->p = NULL; o->len = o->cap = 0; o->id = next_id++;
            }
        }
    }
    for (int k = 0; k < NOBJ / 2; k++) {
        for (size_t j = 0; j < s[k].len; j++) if (s[k].p[j] != str_byte(s[k].id, j)) FAIL("realloc: string at end");
        for (size_t j = 0; j < v[k].len; j++) if (v[k].p[j] != v[k].id * 1000003 + j) FAIL("realloc: array at end");
        sum += s[k].len + v[k].len;
        free(s[k].p); free(v[k].p);
    }
    uint64_t *out = malloc(8);
    *out = sum;
    return out;
}

int main(int argc, char **argv) {
    int T;
    parse_args(argc, argv, &T, &N, 4000000);
    pthread_t th[T];
    double t0 = now_s();
    for (int i = 0; i < T; i++) pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
    uint64_t total = 0;
    for (int i = 0; i < T; i++) { void *o; pthread_join(th[i], &o); total += *(uint64_t *)o; free(o); }
    double dt = now_s() - t0;
    printf("RESULT realloc threads=%d ops=%ld secs=%.3f ops_per_s=%.0f check=%llu\n", T, N * T, dt, N * T / dt, (unsigned long long)total);
    return 0;
}
