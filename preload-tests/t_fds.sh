#!/usr/bin/env bash
# A process on bmalloc holds the same file descriptors as on glibc when the exit report is off
# or goes to a file (CPython's test_subprocess lists a child's fds and expects exactly those it
# passed). Only the default report to stderr keeps a copy of fd 2 (close-on-exec, fd >= 200), so
# that the report survives a program closing its stderr.
set -eu
fds() { ls /proc/self/fd | sort -n | tr '\n' ' '; }
export -f fds
want=$(bash -c fds)
for stats in 0 "$BMALLOC_TEST_TMP/report.%p"; do
    got=$(BMALLOC_STATS=$stats LD_PRELOAD="$BMALLOC_LIB" bash -c fds)
    if [ "$got" != "$want" ]; then
        echo "BMALLOC_STATS=$stats: fds [$got], without bmalloc [$want]"
        exit 1
    fi
done
# The default (BMALLOC_STATS unset) keeps exactly one extra descriptor, at 200 or above, a copy of
# fd 2. Compared with the same shell without bmalloc, so that descriptors inherited from whoever
# runs the test (the runner exports BMALLOC_STATS=0; a CI shell may hold fds of its own) count
# for nothing.
own_fds='for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done'
base=$(env -u BMALLOC_STATS bash -c "$own_fds" 2>"$BMALLOC_TEST_TMP/err" | sort)
with=$(env -u BMALLOC_STATS LD_PRELOAD="$BMALLOC_LIB" bash -c "$own_fds" 2>"$BMALLOC_TEST_TMP/err" | sort)
# Pipes differ from run to run: compare descriptor numbers, then look at the extra one's target.
extra=$(join -v2 <(echo "$base") <(echo "$with"))
missing=$(join -v1 <(echo "$base") <(echo "$with"))
[ -z "$missing" ] || { echo "default mode: descriptors lost: [$missing]"; exit 1; }
[ "$(echo "$extra" | grep -c .)" = 1 ] || { echo "default mode: want one extra fd, got [$extra]"; exit 1; }
read -r fd target <<<"$extra"
[ "$fd" -ge 200 ] || { echo "default mode: the copy of stderr is fd $fd, below 200"; exit 1; }
[ "$target" = "$BMALLOC_TEST_TMP/err" ] || { echo "default mode: fd $fd is $target, not stderr"; exit 1; }
echo "t_fds: ok (default mode keeps fd $fd, a copy of stderr)"
