#!/bin/bash
# preload-test-timeout: 300
# The fast subset of the compatibility corpus (issue 6): `scripts/compat --fast`, about a dozen
# real programs (CPython's container tests, Node.js, the JVM, a Rust program, cargo, make -j with
# g++, sqlite3, redis-server + redis-benchmark, memcached under load, zstd, grep, awk), each run
# without and with LD_PRELOAD=$BMALLOC_LIB and compared. Under two minutes on an idle 2-core
# machine; the timeout above leaves room for a loaded one. Installs missing Debian packages
# (redis-server, redis-tools, memcached) when run as root.
here=$(cd "$(dirname "$0")" && pwd)
COMPAT_TMP=${BMALLOC_TEST_TMP:-/tmp}/compat exec "$here/../scripts/compat" --fast
