#!/usr/bin/env bash
# t_options.sh: the options answer back.
# - Switch values: 0/off/no/false (any case) print no report and create no file of that
#   name; 1/on/yes/true/stderr print it on stderr.
# - A relative BMALLOC_STATS path is resolved in the directory the program starts in, not
#   the one it exits in.
# - An unusable value gets one warning line naming bmalloc, the variable, the value and what
#   is used instead, and the program runs on (its output and exit status intact).
# - A report file that cannot be opened gets a warning, and the report goes to stderr.
# - BMALLOC_VERBOSE=1 lists the settings in effect and where each came from.
# - The options file (BMALLOC_CONF, default /etc/bmalloc.conf) sets options, the environment
#   takes precedence, and bad lines are reported with file and line.
# - BMALLOC_STATS_FORMAT=json writes one JSON document (python3 -m json.tool), with the same
#   totals as the text report, and both formats have the peak, OS and RSS figures.
# - Running libbmalloc.so as a program prints its version and usage, and exits 0.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$tmp" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
# run ENV... -- PROGRAM...: runs PROGRAM under bmalloc with ENV; stdout to out, stderr to err.
run() {
    local -a envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env -u BMALLOC_STATS "${envs[@]}" LD_PRELOAD="$lib" "$@" >out 2>err
}

# --- switch values
for v in 0 off no false OFF No FALSE; do
    rm -f ./"$v"
    run BMALLOC_STATS="$v" -- /bin/echo hi
    [ -s err ] && bad "BMALLOC_STATS=$v printed: $(head -2 err)"
    [ -e "$v" ] && bad "BMALLOC_STATS=$v created a file named $v"
    [ "$(cat out)" = hi ] || bad "BMALLOC_STATS=$v: output [$(cat out)]"
done
for v in 1 on yes true stderr ON Yes; do
    run BMALLOC_STATS="$v" -- /bin/echo hi
    grep -q '^V Memory Statistics (bmalloc' err || bad "BMALLOC_STATS=$v: no report on stderr"
    [ -e "$v" ] && bad "BMALLOC_STATS=$v created a file named $v"
done

# A program that changes directory to $1 (if given), then exits with status $2 (dash, for one,
# ends with _exit, so its report would never be written).
cat > chdir_exit.c <<'C'
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    free(malloc(100));
    if (argc > 1 && *argv[1] && chdir(argv[1]) != 0) return 99;
    return argc > 2 ? atoi(argv[2]) : 0;
}
C
gcc -O1 -o chdir_exit chdir_exit.c || { echo "cannot compile chdir_exit.c"; exit 1; }

# --- a relative path is resolved at start-up
mkdir -p start/elsewhere
(cd start && BMALLOC_STATS=rel.%p.txt LD_PRELOAD="$lib" ../chdir_exit elsewhere)
ls start/rel.*.txt >/dev/null 2>&1 || bad "relative report path: no report in the start directory"
ls start/elsewhere/rel.* >/dev/null 2>&1 && bad "relative report path resolved at exit"

# --- unusable values warn, name what is used, and the program runs on
check_warning() { # variable value want-using
    run "$1=$2" BMALLOC_STATS=0 -- /bin/sh -c 'echo ran; exit 7'
    local rc=$?
    [ $rc -eq 7 ] || bad "$1=$2: exit status $rc, want 7"
    [ "$(cat out)" = ran ] || bad "$1=$2: output [$(cat out)]"
    local want="bmalloc: $1=$2: "
    if [ "$(grep -c . err)" -ne 1 ] || ! grep -qF -- "$want" err || ! grep -q "; using $3\$" err; then
        bad "$1=$2: want one line [$want...; using $3], got [$(cat err)]"
    fi
}
for v in abc -5 1.5 1s 18446744073709551616 99999999999999999999999; do
    check_warning BMALLOC_PURGE_DELAY_MS "$v" 1000
done
check_warning BMALLOC_STATS_FORMAT xml text
check_warning BMALLOC_VERBOSE loud 0
run BMALLOC_PURGE_DELAY_MS=18446744073709551615 BMALLOC_STATS=0 -- /bin/true
[ -s err ] && bad "the largest 64-bit delay was refused: $(cat err)"

# --- a report file that cannot be opened
run BMALLOC_STATS=/nonexistent/dir/report -- ./chdir_exit "" 3
rc=$?
[ $rc -eq 3 ] || bad "unopenable report file: exit status $rc, want 3"
grep -q '^bmalloc: BMALLOC_STATS: cannot open /nonexistent/dir/report: .*; the report goes to stderr$' err ||
    bad "unopenable report file: no warning: [$(head -3 err)]"
grep -q '^S ' err || bad "unopenable report file: the report did not go to stderr"

# --- BMALLOC_VERBOSE lists the settings and their sources
run BMALLOC_VERBOSE=yes BMALLOC_STATS=0 BMALLOC_PURGE_DELAY_MS=250 -- /bin/true
for want in "BMALLOC_STATS=0 (environment)" "BMALLOC_STATS_FORMAT=text (default)" \
    "BMALLOC_PURGE_DELAY_MS=250 (environment)" "BMALLOC_VERBOSE=1 (environment)" \
    "options file /etc/bmalloc.conf"; do
    grep -qF "$want" err || bad "verbose listing lacks [$want]: $(cat err)"
done

# --- the options file; the environment takes precedence
cat > bm.conf <<'CONF'
# a comment, then settings
BMALLOC_STATS = conf-report.txt
BMALLOC_PURGE_DELAY_MS=250

BMALLOC_STAT=1
BMALLOC_VERBOSE
BMALLOC_STATS_FORMAT=yaml
CONF
run BMALLOC_CONF="$tmp/bm.conf" BMALLOC_VERBOSE=1 -- /bin/true
[ -s conf-report.txt ] || bad "options file: BMALLOC_STATS from it wrote no report"
grep -qF "BMALLOC_PURGE_DELAY_MS=250 (options file)" err || bad "options file: delay not taken: $(cat err)"
grep -qF "bmalloc: $tmp/bm.conf:5: unknown option BMALLOC_STAT; ignored" err ||
    bad "options file: unknown name not reported"
grep -qF "bmalloc: $tmp/bm.conf:6: not NAME=value; ignored" err || bad "options file: bad line not reported"
grep -qF "bmalloc: $tmp/bm.conf:7: BMALLOC_STATS_FORMAT=yaml: not text or json; using text" err ||
    bad "options file: bad value not reported"
rm -f conf-report.txt
run BMALLOC_CONF="$tmp/bm.conf" BMALLOC_STATS=0 BMALLOC_PURGE_DELAY_MS=5 BMALLOC_VERBOSE=1 -- /bin/true
[ -e conf-report.txt ] && bad "options file overrode the environment's BMALLOC_STATS=0"
grep -qF "BMALLOC_PURGE_DELAY_MS=5 (environment)" err || bad "environment did not take precedence"
run BMALLOC_CONF="$tmp/missing.conf" BMALLOC_VERBOSE=1 BMALLOC_STATS=0 -- /bin/true
grep -qF "options file $tmp/missing.conf: not present" err || bad "missing options file not said"

# --- checking mode comes from the environment alone (the first allocation decides it)
check_warning BMALLOC_CHECK maybe 0
echo BMALLOC_CHECK=1 > check.conf
run BMALLOC_CONF="$tmp/check.conf" BMALLOC_STATS=0 -- /bin/true
grep -qF "bmalloc: BMALLOC_CHECK=1: checking mode is chosen from the environment at the first allocation; using 0" err ||
    bad "BMALLOC_CHECK=1 in the options file: no warning, got [$(cat err)]"
run BMALLOC_CHECK=1 BMALLOC_VERBOSE=1 BMALLOC_STATS=0 -- /bin/true
grep -qF "BMALLOC_CHECK=1 (environment)" err || bad "BMALLOC_CHECK=1 not listed as in effect: $(cat err)"
grep -q "; using" err && bad "BMALLOC_CHECK=1 in the environment warned: $(cat err)"

# --- JSON, and the new figures in both formats
cat > threads.c <<'C'
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
static pthread_barrier_t all_in;
static void *work(void *arg)
{
    char *keep[2000];
    for (int i = 0; i < 2000; i++) { keep[i] = malloc(16 + (i * 37) % 3000); memset(keep[i], 1, 16); }
    pthread_barrier_wait(&all_in); /* all four live at once: four heaps, none handed on */
    for (int i = 0; i < 2000; i += 2) free(keep[i]);
    return arg;
}
int main(void)
{
    pthread_t t[4];
    pthread_barrier_init(&all_in, 0, 4);
    for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, work, 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
    char *volatile big = malloc(3 << 20); /* volatile: gcc drops a plain malloc/free pair */
    memset(big, 1, 3 << 20);
    free(big);
    malloc_trim(0);
    return 0;
}
C
gcc -O1 -pthread -o threads threads.c || { echo "cannot compile threads.c"; exit 1; }
run BMALLOC_STATS="$tmp/r.json" BMALLOC_STATS_FORMAT=json -- ./threads
python3 -m json.tool r.json >/dev/null || bad "the JSON report does not parse: $(head -5 r.json)"
python3 - r.json <<'PY' || bad "JSON report content"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["heaps"]) >= 5, "main thread and four threads"
for h in r["heaps"]:
    assert h["used_bytes"] == sum(b["used_bytes"] for b in h["buckets"]), h
    for b in h["buckets"]:
        assert b["live"] == b["mallocs"] - b["frees"] and b["used_bytes"] == b["live"] * b["block_size"], b
assert r["total"]["used_bytes"] == sum(h["used_bytes"] for h in r["heaps"])
assert r["peak_used_bytes"] >= (3 << 20) + 4 * 1000 * 16, r["peak_used_bytes"]
assert r["os"]["obtained_bytes"] >= 3 << 20 and r["os"]["returned_bytes"] >= 3 << 20, r["os"]
assert r["peak_rss_bytes"] > 3 << 20, r["peak_rss_bytes"]
PY
run BMALLOC_STATS="$tmp/r.txt" -- ./threads
python3 - r.txt <<'PY' || bad "text report's new lines: $(tail -4 r.txt)"
import sys
lines = open(sys.argv[1]).read().splitlines()
letters = [l[0] for l in lines if l]
assert letters[-4:] == ["S", "P", "O", "R"], letters[-4:]
peak = int(lines[-3].split()[1])
got, back = map(int, lines[-2].split()[1].split("/"))
assert peak >= 3 << 20 and got >= 3 << 20 and back >= 3 << 20 and int(lines[-1].split()[1]) > 0
PY

# --- the library run as a program
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
out=$("$lib" 2>&1)
rc=$?
[ $rc -eq 0 ] || bad "running $lib: exit status $rc"
head -1 <<<"$out" | grep -q "^bmalloc $version, " || bad "running the library: first line [$(head -1 <<<"$out")]"
grep -q "LD_PRELOAD=" <<<"$out" || bad "running the library: no usage"

[ $fail -eq 0 ] && echo "options, warnings, options file, JSON report and self-run: all as documented"
exit $fail
