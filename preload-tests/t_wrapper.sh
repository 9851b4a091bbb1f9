#!/usr/bin/env bash
# t_wrapper.sh: the wrapper command, scripts/bmalloc (installed as bin/bmalloc; see
# t_install.sh for that form).
# - -h/--help prints the usage and exits 0; --version prints the library's version.
# - An unknown option (-c, --bogus) is refused with a message and status 125; the program
#   does not run.
# - Arguments pass through untouched (spaces, empty ones, globs, dashes), and the exit status
#   and the signal are the program's own; a missing program gives 127.
# - --stats=FILE (%p expanded), --stats, --no-stats and -v/--verbose do what they say, and the
#   program really runs on bmalloc.
# - It works through a symlink in PATH, and from a checkout whose path has spaces in it.
# - In a checkout it builds the library when a source is newer than it, says so, and does not
#   build again when nothing changed (a stand-in cargo records what it was asked to do).
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$tmp" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# A checkout to drive: the sources, and the library under test as its built library (newer
# than every source, so nothing is rebuilt unless a test touches a source).
co="$tmp/check out/bmalloc"
mkdir -p "$co/scripts" "$co/target/release"
cp -r "$repo/src" "$repo/Cargo.toml" "$repo/Cargo.lock" "$repo/build.rs" "$co/"
cp "$repo/scripts/bmalloc" "$co/scripts/"
find "$co" -exec touch -d '-10 minutes' {} +
cp "$lib" "$co/target/release/libbmalloc.so"
bm="$co/scripts/bmalloc"
# no cargo may run unless a test asks for a build: a stand-in that records any call
mkdir -p fakebin
cat > fakebin/cargo <<'SH'
#!/bin/sh
echo "cargo $* in $(pwd)" >> "$CARGO_LOG"
touch "$(pwd)/target/release/libbmalloc.so"
SH
chmod +x fakebin/cargo
export CARGO_LOG="$tmp/cargo.log"
export PATH="$tmp/fakebin:$PATH"
unset BMALLOC_STATS

# --- help, version, refused options
"$bm" --help >out 2>err
[ $? -eq 0 ] && grep -q '^Usage: bmalloc \[options\] \[--\] PROGRAM \[ARGS...\]' out || bad "--help: $(head -2 out err)"
"$bm" -h >out 2>&1 && grep -q '^Usage: bmalloc' out || bad "-h"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
"$bm" --version >out 2>err && grep -q "^bmalloc $version, " out || bad "--version: [$(cat out err)]"
for opt in -c --bogus -x; do
    "$bm" "$opt" touch ran >out 2>err
    rc=$?
    [ $rc -eq 125 ] || bad "$opt: status $rc, want 125"
    grep -q "^bmalloc: unknown option: $opt" err || bad "$opt: message [$(cat err)]"
    [ -e ran ] && bad "$opt: the program ran" && rm -f ran
done
"$bm" >out 2>err
[ $? -eq 125 ] && grep -q '^Usage' err || bad "no program: want the usage on stderr and 125"
"$bm" no-such-program-here >out 2>err
[ $? -eq 127 ] && grep -q '^bmalloc: no-such-program-here: command not found' err || bad "missing program: [$(cat err)]"

# --- arguments, status, signal
"$bm" --no-stats printf '[%s]\n' "a b" "" '*' --help -- "-v" >out 2>err
printf '[%s]\n' "a b" "" '*' --help -- "-v" >want
cmp -s out want || bad "arguments changed: $(cat out)"
"$bm" --no-stats sh -c 'exit 42'
rc=$?
[ $rc -eq 42 ] || bad "exit status $rc, want 42"
"$bm" --no-stats sh -c 'kill -TERM $$'
rc=$?
[ $rc -eq $((128 + 15)) ] || bad "status $rc after SIGTERM, want 143"
"$bm" --no-stats -- --help 2>err
[ $? -eq 127 ] && grep -q -- '--help: command not found' err || bad "after --, --help is the program"

# --- the program runs on bmalloc, and the report options work
cat > prog.c <<'C'
#include <stdlib.h>
int main(void) { char *volatile p = malloc(64); free(p); return 0; }
C
gcc -O1 -o prog prog.c || { echo "cannot compile prog.c"; exit 1; }
"$bm" --stats=rep.%p.txt ./prog 2>err
ls rep.*.txt >/dev/null 2>&1 && grep -q '^B 0/2(64) ' rep.*.txt || bad "--stats=FILE wrote no report [$(cat err)]"
[ -e 'rep.%p.txt' ] && bad "--stats=FILE did not expand %p"
"$bm" --stats ./prog 2>err
grep -q '^V Memory Statistics (bmalloc' err || bad "--stats: no report on stderr"
BMALLOC_STATS=1 "$bm" --no-stats ./prog 2>err
[ -s err ] && bad "--no-stats: printed [$(head -2 err)]"
"$bm" -v --no-stats ./prog 2>err
grep -qF "bmalloc: running ./prog on $co/target/release/libbmalloc.so" err || bad "-v: [$(cat err)]"
grep -q '^bmalloc:   BMALLOC_STATS=0 (environment)' err || bad "-v: no settings listing"
"$bm" --stats= ./prog >/dev/null 2>err
[ $? -eq 125 ] || bad "--stats= (empty) accepted"

# --- through a symlink in PATH, and the path with spaces (the checkout's own) works
mkdir -p links
ln -sf "$bm" links/bm
PATH="$tmp/links:$PATH" bm --stats ./prog 2>err
grep -q '^B 0/2(64) ' err || bad "through a symlink: no report [$(head -3 err)]"
[ -s "$CARGO_LOG" ] && bad "cargo ran though nothing changed: $(cat "$CARGO_LOG")"

# --- a source newer than the library: rebuilt, and said so
touch "$co/src/lib.rs"
"$bm" --no-stats ./prog 2>err
grep -q '^bmalloc: building the library (a source is newer than it)' err || bad "no building message: [$(cat err)]"
grep -qF "cargo rustc --release --features preload --lib --crate-type cdylib in $co" "$CARGO_LOG" || bad "cargo not asked to build: [$(cat "$CARGO_LOG" 2>/dev/null)]"
: > "$CARGO_LOG"
"$bm" --no-stats ./prog 2>err
[ -s "$CARGO_LOG" ] && bad "built again with nothing changed"
grep -q building err && bad "said building with nothing changed"
# no library and no cargo: a clear message
rm "$co/target/release/libbmalloc.so"
PATH=/usr/bin:/bin "$bm" ./prog 2>err
[ $? -eq 125 ] && grep -q '^bmalloc: cargo is needed' err || bad "no cargo: [$(cat err)]"

[ $fail -eq 0 ] && echo "wrapper: options, pass-through, symlink, spaces and rebuilds as documented"
exit $fail
