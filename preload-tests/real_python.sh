#!/bin/bash
# Real program under bmalloc: python3 running an allocation-heavy multithreaded script
# Runs it without and with LD_PRELOAD=$BMALLOC_LIB (BMALLOC_STATS=0), compares stdout and exit
# status exactly, and proves the preload was active (an exit report from the program's own pid).
# The workload is preload-tests/compat/cases/python-threads.sh (also part of `make compat`).
exec "$(dirname "$0")/compat/runcase" python-threads
