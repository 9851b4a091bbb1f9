# Shared helpers for the real-program tests (preload-tests/real_*.sh) and the
# compatibility corpus (scripts/compat). Sourced, never executed.
#
# A corpus entry is a file preload-tests/compat/cases/<name>.sh that defines:
#   DESC="one line"        what the entry exercises
#   NEEDS="cmd ..."        commands that must exist (scripts/compat installs APT if one is missing)
#   APT="pkg ..."          Debian packages that provide NEEDS
#   FAST=1                 part of `scripts/compat --fast` (the subset run by `make test`)
#   TIMEOUT=<s>            limit for one run of run() (default 120)
#   PROOF=(cmd args)       a short run of the program under test; runcase starts it with
#                          LD_PRELOAD and BMALLOC_STATS=<dir>/stats.%p and requires the report of
#                          that very pid: proof that the program really runs on bmalloc
#   setup()  (optional)    makes inputs in $CASE_DATA; runs once, without the preload
#   run()                  the workload; runs twice in the same directory $CASE_WORK (emptied
#                          before each run, so absolute paths are the same both times): once with
#                          BM_MODE=glibc, once with BM_MODE=bmalloc. Programs under test are
#                          started through `bm` (or after `bm_export`). Its stdout and exit status
#                          must be identical in both runs. Anything legitimately variable (timings,
#                          pids, addresses) must be normalised in run() with a comment saying why.
#
# Environment seen by setup()/run(): BM_MODE, BM_LIB, CASE_DATA, CASE_WORK, CASE_SRC (the
# directory preload-tests/compat/data with sources the cases build), COMPAT_FAST (1 = small sizes),
# PY (the real python3 executable, not a pyenv shim), NPROC.

# bm CMD ARGS...: run CMD on bmalloc in bmalloc mode, on glibc otherwise.
bm() {
	if [ "$BM_MODE" = bmalloc ]; then
		env LD_PRELOAD="$BM_LIB" BMALLOC_STATS=0 "$@"
	else
		env -u LD_PRELOAD "$@"
	fi
}

# bm_export: every process the current shell starts from now on runs on bmalloc (bmalloc mode).
bm_export() {
	if [ "$BM_MODE" = bmalloc ]; then
		export LD_PRELOAD="$BM_LIB" BMALLOC_STATS=0
	else
		unset LD_PRELOAD
	fi
}

# gen_numbers COUNT SEED [MOD]: COUNT pseudo-random integers in [0, MOD), one a line, deterministic
# (Park-Miller LCG: exact in awk's doubles, unlike awk's rand() whose sequence differs by awk).
gen_numbers() {
	env -u LD_PRELOAD awk -v n="$1" -v x="$2" -v m="${3:-1000000000}" 'BEGIN {
		x = x % 2147483647; if (x <= 0) x = 1
		for (i = 0; i < n; i++) { x = (x * 16807) % 2147483647; print x % m }
	}'
}

# gen_text LINES SEED: deterministic text, words from a small vocabulary, varied line lengths.
gen_text() {
	env -u LD_PRELOAD awk -v n="$1" -v x="$2" 'BEGIN {
		split("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega malloc free realloc calloc heap bucket block thread", w, " ")
		nw = 0; for (k in w) nw++
		x = x % 2147483647; if (x <= 0) x = 1
		for (i = 0; i < n; i++) {
			x = (x * 16807) % 2147483647; len = 1 + x % 14; line = ""
			for (j = 0; j < len; j++) {
				x = (x * 16807) % 2147483647
				line = line (j ? " " : "") w[1 + x % nw]
				if (x % 7 == 0) line = line (x % 1000)
			}
			print line
		}
	}'
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
	env -u LD_PRELOAD "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: wait until something listens on 127.0.0.1:PORT.
wait_port() {
	local i
	for ((i = 0; i < ${2:-20} * 10; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# find_python: the real python3 executable (a pyenv shim is a bash script that would put
# pyenv's own processes under test instead of CPython).
find_python() {
	local p
	p=$(env -u LD_PRELOAD python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
	[ -x "$p" ] || p=$(command -v python3)
	echo "$p"
}

# pick_cpython: a python3 that has CPython's own regression tests (the pyenv build ships them;
# Debian's /usr/bin/python3 needs libpython3.X-testsuite).
pick_cpython() {
	local p
	for p in "$PY" /usr/bin/python3; do
		[ -x "$p" ] && env -u LD_PRELOAD "$p" -c 'import test.libregrtest, test.test_dict' 2>/dev/null && { echo "$p"; return 0; }
	done
	return 1
}

# cpython_tests TEST...: run CPython's regrtest on these tests (sequentially, one interpreter, no
# optional resources such as network) and print one line per test case with its outcome.
# The outcome list, not regrtest's console output, is compared: that output has durations,
# load averages and a random seed.
cpython_tests() {
	local cpy
	cpy=$(pick_cpython) || { echo "no CPython with its test package"; return 1; }
	local rc
	bm "$cpy" -m test --junit-xml="$CASE_WORK/junit.xml" "$@" >regrtest.log 2>&1
	rc=$?
	echo "regrtest rc=$rc"
	if [ ! -s "$CASE_WORK/junit.xml" ]; then
		echo "regrtest wrote no junit.xml (rc $rc); end of its log:" >&2
		tail -25 regrtest.log >&2
		return 1
	fi
	env -u LD_PRELOAD "$cpy" "$CASE_SRC/junit_outcomes.py" "$CASE_WORK/junit.xml"
	# the names of failed test files (same list expected: e.g. one environment-dependent failure)
	sed -n '/test.* failed:$/,/^$/p' regrtest.log | grep -E '^ +test_' | tr -s ' ' '\n' | grep . | sort | sed 's/^/failed file: /'
}

# gen_bytes COUNT KEY: COUNT deterministic pseudo-random bytes (AES-CTR keystream).
gen_bytes() {
	env -u LD_PRELOAD openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$2")" -iv 0 </dev/zero 2>/dev/null | head -c "$1"
}
