#!/bin/bash
# Real program under bmalloc: git init, 200 commits, log, blame, gc, repack, fsck, clone
# Runs it without and with LD_PRELOAD=$BMALLOC_LIB (BMALLOC_STATS=0), compares stdout and exit
# status exactly, and proves the preload was active (an exit report from the program's own pid).
# The workload is preload-tests/compat/cases/git.sh (also part of `make compat`).
exec "$(dirname "$0")/compat/runcase" git
