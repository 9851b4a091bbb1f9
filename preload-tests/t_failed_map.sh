#!/usr/bin/env bash
# t_failed_map.sh: a mapping the OS refuses leaves every other mapping alone. A non-PIE
# program (its code at 0x400000) under an address-space limit asks for blocks the OS cannot
# map (1 TiB, 300 MiB, aligned and through realloc): each call returns NULL and the program
# goes on, and the exit report counts no byte as returned that was not obtained.
# The bug: a refused mapping was dropped as if it had been made, so bmalloc unmapped
# [0, len): the program's own code with it (a segfault at the next instruction), and the
# report counted a TiB returned to the OS.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cd "$tmp" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
cat > prog.c <<'C'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
int main(void)
{
    struct rlimit r = {512L << 20, 512L << 20};
    if (setrlimit(RLIMIT_AS, &r) != 0)
        return 2;
    size_t sizes[] = {1UL << 40, 600UL << 20};
    int nulls = 0;
    for (int i = 0; i < 2; i++) {
        nulls += malloc(sizes[i]) == NULL;
        nulls += calloc(1, sizes[i]) == NULL;
        nulls += memalign(1 << 20, sizes[i]) == NULL;
        char *q = malloc(3 << 20);
        memset(q, 7, 3 << 20);
        nulls += realloc(q, sizes[i]) == NULL;
        nulls += q[(3 << 20) - 1] == 7;
        free(q);
    }
    printf("refused %d of 10\n", nulls);
    return nulls == 10 ? 0 : 1;
}
C
gcc -O1 -no-pie -o prog prog.c || { echo "FAIL: cannot build a non-PIE program"; exit 1; }
BMALLOC_STATS=report.txt LD_PRELOAD="$lib" ./prog > out.txt 2>&1
st=$?
cat out.txt
[ $st -eq 0 ] || bad "the program exited with status $st (139: segfault)"
if [ -f report.txt ]; then
    o=$(grep '^O ' report.txt)
    echo "report: $o"
    obtained=${o#O }; obtained=${obtained%%/*}
    returned=${o##*/}
    [ "$returned" -le "$obtained" ] || bad "the report returned $returned bytes of $obtained obtained"
else
    bad "no exit report"
fi
[ $fail -eq 0 ] && echo "t_failed_map: passed"
exit $fail
