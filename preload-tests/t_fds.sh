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
# The default keeps one extra descriptor, at 200 or above: seen from inside the process.
extra=$(LD_PRELOAD="$BMALLOC_LIB" python3 -c '
import os
print(" ".join(f for f in sorted(os.listdir("/proc/self/fd"), key=int) if int(f) >= 200))' 2>/dev/null)
[ -n "$extra" ] || { echo "default mode: no copy of stderr kept"; exit 1; }
echo "t_fds: ok (default mode keeps fd $extra)"
