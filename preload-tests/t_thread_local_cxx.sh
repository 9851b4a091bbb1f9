#!/usr/bin/env bash
# preload-test-timeout: 120
# Thread life: C++ thread_local objects (in another shared library and in the program) whose
# destructors allocate and free while threads exit. Builds preload-tests/threadlife/
# lib_tlcxx.cpp and tl_cxx_main.cpp with g++ into the scratch dir and runs the driver under
# LD_PRELOAD=$BMALLOC_LIB; the exit report (after the main thread's thread_local destructors)
# must still be written.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/threadlife
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cxx=${CXX:-g++}
"$cxx" -std=c++17 -O2 -g -Wall -fPIC -shared -pthread -o "$tmp/lib_tlcxx.so" "$src/lib_tlcxx.cpp"
"$cxx" -std=c++17 -O2 -g -Wall -pthread -o "$tmp/tl_cxx" "$src/tl_cxx_main.cpp" \
    -L"$tmp" -l_tlcxx -Wl,-rpath,"$tmp" -ldl
BMALLOC_STATS="$tmp/report.txt" LD_PRELOAD="$BMALLOC_LIB" "$tmp/tl_cxx" "${TL_WAVES:-30}"
grep -q '^V Memory Statistics (bmalloc: ' "$tmp/report.txt" || { echo "no exit report"; exit 1; }
grep -q '^S ' "$tmp/report.txt" || { echo "exit report lacks S"; exit 1; }
echo "t_thread_local_cxx: ok"
