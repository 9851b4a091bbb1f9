#!/usr/bin/env bash
# t_early.sh: allocation before bmalloc's constructor has run.
# A shared library that the program links against (libearly.so) calls malloc,
# calloc, realloc, memalign, posix_memalign and free in its ELF constructor; the
# dynamic linker runs it before the constructor of the preloaded libbmalloc.so
# (checked with LD_DEBUG=files, so the test means what it says).  The program then
# checks and frees the block the constructor kept, and the exit report (to a file)
# must count it: the early mallocs are in heap 0.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cd "$tmp" || exit 1
cat > early.c <<'C'
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
void *early_block;
int early_ok;
__attribute__((constructor)) static void early(void)
{
    char *p = malloc(100), *q = calloc(50, 4);
    if (!p || !q) _exit(11);
    for (int i = 0; i < 200; i++) if (q[i]) _exit(12);
    memset(p, 7, 100);
    p = realloc(p, 5000);
    if (!p || p[99] != 7) _exit(13);
    void *a = memalign(4096, 100), *b = NULL;
    if (!a || ((unsigned long)a & 4095)) _exit(14);
    if (posix_memalign(&b, 64, 10) || !b || ((unsigned long)b & 63)) _exit(15);
    free(a); free(b); free(q); free(p);
    early_block = malloc(300000); /* bucket 15 (524288): nothing else uses it */
    if (!early_block) _exit(16);
    memset(early_block, 0x5e, 300000);
    early_ok = 1;
}
C
cat > prog.c <<'C'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
extern void *early_block;
extern int early_ok;
int main(void)
{
    if (!early_ok) return 21;
    unsigned char *p = early_block;
    for (int i = 0; i < 300000; i++) if (p[i] != 0x5e) return 22;
    if (malloc_usable_size(p) < 300000) return 23;
    free(p);
    puts("ok");
    return 0;
}
C
gcc -O2 -Wall -shared -fPIC -o libearly.so early.c || exit 1
gcc -O2 -Wall -o prog prog.c -L. -learly -Wl,-rpath,"$tmp" || exit 1
fail=0
# the order of the constructors
order=$(LD_DEBUG=files LD_PRELOAD=$lib BMALLOC_STATS=0 ./prog 2>&1 >/dev/null |
        sed -n 's/.*calling init: //p')
e=$(grep -n 'libearly' <<<"$order" | cut -d: -f1 | head -1)
b=$(grep -n 'libbmalloc' <<<"$order" | cut -d: -f1 | head -1)
if [[ -z $e || -z $b ]]; then
    echo "note: LD_DEBUG gave no init order: [$order]"
elif (( e > b )); then
    echo "setup: libearly's constructor ran after libbmalloc's: the test proves nothing"; fail=1
fi
out=$(LD_PRELOAD=$lib BMALLOC_STATS=$tmp/early.stats ./prog 2>err.txt); rc=$?
if [[ $rc != 0 || $out != ok ]]; then
    echo "prog: exit $rc, output [$out], stderr:"; cat err.txt; fail=1
fi
# heap 0, bucket 15 (524288): the constructor's block, freed by main
line=$(grep '^B 0/15(' early.stats 2>/dev/null)
if [[ $line != "B 0/15(524288) 1 1/1/0 0/524288" ]]; then
    echo "report: got [$line], want [B 0/15(524288) 1 1/1/0 0/524288]"; cat early.stats; fail=1
fi
[[ $fail == 0 ]] && echo "early allocations OK (init order: $(echo $order | tr '\n' ' '))"
exit $fail
