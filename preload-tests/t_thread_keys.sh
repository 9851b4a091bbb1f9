#!/usr/bin/env bash
# preload-test-timeout: 120
# Thread life: pthread-key destructors in another shared library (lib_tkeys.so) allocate and
# free while threads exit, next to busy threads. Builds preload-tests/threadlife/lib_tkeys.c and
# tl_keys_main.c into the scratch dir, runs the driver under LD_PRELOAD=$BMALLOC_LIB; the exit
# report must still be written (BMALLOC_STATS=<file>).
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/threadlife
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cc=${CC:-gcc}
"$cc" -O2 -g -Wall -fPIC -shared -pthread -o "$tmp/lib_tkeys.so" "$src/lib_tkeys.c"
"$cc" -O2 -g -Wall -pthread -I"$here" -o "$tmp/tl_keys" "$src/tl_keys_main.c" \
    -L"$tmp" -l_tkeys -Wl,-rpath,"$tmp" -ldl
BMALLOC_STATS="$tmp/report.txt" LD_PRELOAD="$BMALLOC_LIB" "$tmp/tl_keys" "${TL_WAVES:-40}"
grep -q '^V Memory Statistics (bmalloc: ' "$tmp/report.txt" || { echo "no exit report"; exit 1; }
grep -q '^S ' "$tmp/report.txt" || { echo "exit report lacks S"; exit 1; }
echo "t_thread_keys: ok"
