#!/usr/bin/env bash
# preload-test-timeout: 300
# Issue 4: peak RSS stays under 64 MiB when producers allocate and consumers free
# (prodcons.c says how): one pair with 64-byte blocks, four pairs, and random sizes.
set -eu
for args in "1" "4" "1 random"; do
    echo "== prodcons $args"
    # shellcheck disable=SC2086
    LD_PRELOAD="$BMALLOC_LIB" "$BMALLOC_TEST_BIN/prodcons" $args
done
