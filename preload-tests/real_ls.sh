#!/bin/bash
# Real program under bmalloc: ls -lR (and variants) of a generated tree of ~6,000 files
# Runs it without and with LD_PRELOAD=$BMALLOC_LIB (BMALLOC_STATS=0), compares stdout and exit
# status exactly, and proves the preload was active (an exit report from the program's own pid).
# The workload is preload-tests/compat/cases/ls-lR.sh (also part of `make compat`).
exec "$(dirname "$0")/compat/runcase" ls-lR
