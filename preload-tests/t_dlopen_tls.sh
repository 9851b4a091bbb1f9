#!/usr/bin/env bash
# preload-test-timeout: 120
# Thread life: dlopen of libraries with their own thread-local storage (general-dynamic 64 KiB
# .tbss + .tdata, and initial-exec) after threads are running; the threads then use it and
# allocate; new threads too; dlclose and dlopen again. glibc allocates each thread's block of a
# dlopen'ed module's TLS with malloc (from inside __tls_get_addr) and frees it at thread exit.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/threadlife
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cc=${CC:-gcc}
"$cc" -O2 -g -Wall -fPIC -shared -pthread -o "$tmp/lib_tls_gd.so" "$src/lib_tls_gd.c"
"$cc" -O2 -g -Wall -fPIC -shared -pthread -o "$tmp/lib_tls_ie.so" "$src/lib_tls_ie.c"
"$cc" -O2 -g -Wall -pthread -I"$here" -o "$tmp/tl_dlopen" "$src/tl_dlopen_main.c" -ldl
BMALLOC_STATS="$tmp/report.txt" LD_PRELOAD="$BMALLOC_LIB" "$tmp/tl_dlopen" "$tmp"
grep -q '^V Memory Statistics (bmalloc: ' "$tmp/report.txt" || { echo "no exit report"; exit 1; }
echo "t_dlopen_tls: ok"
