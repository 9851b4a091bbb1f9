#!/usr/bin/env bash
# t_chart.sh: scripts/bmalloc-chart draws an exit report as a PNG chart. The report comes from
# a program whose 12 threads all live at once (12 heaps besides the main thread's), freeing
# blocks that others allocated: the chart has a panel for each of the 8 heaps with the most
# bytes, one for the other 5 summed, and one for the exchange, 10 in all (the PNG's height
# says how many). A JSON report and a file that is no report are refused with a message.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$tmp" || exit 1
command -v gnuplot >/dev/null || { echo "FAIL: gnuplot is needed (apt-get install gnuplot-nox)"; exit 1; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }
cat > threads.c <<'C'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define T 12
#define N 3000
static char *blocks[T][N];
static pthread_barrier_t made, freed;
static void *work(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < N; i++) { blocks[k][i] = malloc(16 + (i * 37 + k * 101) % 4000); memset(blocks[k][i], 1, 16); }
    pthread_barrier_wait(&made);
    /* free half of the next thread's blocks: cross-thread frees */
    for (int i = 0; i < N; i += 2) free(blocks[(k + 1) % T][i]);
    pthread_barrier_wait(&freed);
    return NULL;
}
int main(void)
{
    pthread_t t[T];
    pthread_barrier_init(&made, NULL, T);
    pthread_barrier_init(&freed, NULL, T);
    for (long i = 0; i < T; i++) pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < T; i++) pthread_join(t[i], NULL);
    return 0;
}
C
gcc -O1 -pthread -o threads threads.c || { echo "cannot compile threads.c"; exit 1; }
BMALLOC_STATS="$tmp/report.txt" LD_PRELOAD="$lib" ./threads || bad "the program failed"
heaps=$(grep -c '^H ' report.txt)
[ "$heaps" -ge 13 ] || bad "the report has $heaps heaps, want 13"
"$repo/scripts/bmalloc-chart" report.txt chart.png >out 2>err || bad "bmalloc-chart failed: $(cat err)"
[ "$(od -An -tx1 -N8 chart.png | tr -d ' \n')" = 89504e470d0a1a0a ] || bad "chart.png is no PNG"
size=$(stat -c %s chart.png 2>/dev/null || echo 0)
[ "$size" -gt 20000 ] || bad "chart.png has only $size bytes"
height=$((16#$(od -An -tx1 -j20 -N4 chart.png | tr -d ' \n')))
[ "$height" -eq $((180 * 10 + 80)) ] || bad "chart.png is $height pixels high, want 10 panels ($((180 * 10 + 80)))"

BMALLOC_STATS="$tmp/report.json" BMALLOC_STATS_FORMAT=json LD_PRELOAD="$lib" ./threads
"$repo/scripts/bmalloc-chart" report.json x.png 2>err
[ $? -ne 0 ] && grep -q 'JSON report' err || bad "a JSON report was not refused clearly: $(cat err)"
echo "hello" > notes.txt
"$repo/scripts/bmalloc-chart" notes.txt x.png 2>err
[ $? -ne 0 ] && grep -q 'no bmalloc exit report' err || bad "a non-report was not refused clearly: $(cat err)"
[ $fail -eq 0 ] && echo "chart: 10 panels for 13 heaps and the exchange"
exit $fail
