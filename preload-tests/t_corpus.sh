#!/usr/bin/env bash
# t_corpus.sh: bmalloc's corpus of memory errors (preload-tests/corpus/corpus.cc): every case
# runs in a fresh process under glibc, under bmalloc and under bmalloc with BMALLOC_CHECK=1,
# and bmalloc's outcome in both modes must be the one the corpus's table promises (README,
# "Memory errors"). glibc's outcomes are shown, not checked: they are glibc's to change.
# preload-test-timeout: 300
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
command -v g++ >/dev/null || { echo "g++ not installed: cannot run this test"; exit 1; }
g++ -O1 -g -fsized-deallocation -o "$tmp/corpus" "$here/corpus/corpus.cc" || exit 1
BMALLOC_LIB=$lib "$tmp/corpus"
