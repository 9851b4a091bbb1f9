#!/usr/bin/env bash
# preload-test-timeout: 300
# Issue 4: after a program allocates 1 GiB in small blocks and frees it all, RSS falls back
# near where it started, at once and further after the purge delay (purge.c says how).
set -eu
for mode in 64 mixed threads; do
    echo "== purge $mode"
    BMALLOC_PURGE_DELAY_MS=200 LD_PRELOAD="$BMALLOC_LIB" "$BMALLOC_TEST_BIN/purge" "$mode"
done
