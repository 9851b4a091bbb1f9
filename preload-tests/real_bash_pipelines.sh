#!/bin/bash
# Real program under bmalloc: a bash script that exports LD_PRELOAD and starts ~1,500 processes in pipelines
# Runs it without and with LD_PRELOAD=$BMALLOC_LIB (BMALLOC_STATS=0), compares stdout and exit
# status exactly, and proves the preload was active (an exit report from the program's own pid).
# The workload is preload-tests/compat/cases/bash-pipelines.sh (also part of `make compat`).
exec "$(dirname "$0")/compat/runcase" bash-pipelines
