#!/usr/bin/env bash
# t_secure.sh: in a process the environment must not steer (AT_SECURE: here a setuid-root
# program run by nobody), no file is opened on the environment's word. A root-owned, mode
# 0644 file named in BMALLOC_STATS must come out unchanged, and the library must say that it
# ignored the variable. The same program run without the setuid bit, as root, does write the
# report there, so the test can tell the two apart. The options file still applies in the
# setuid program (it is root's to write).
# The program is linked with the library (the loader preloads only from its standard
# directories into setuid programs), found through an absolute RUNPATH, which the loader
# honours in secure mode. Needs root: only root can make a setuid-root program.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
cd "$tmp" || exit 1
if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL: this test needs root (to make a setuid-root program); run make test as root"
    exit 1
fi
command -v setpriv >/dev/null || { echo "FAIL: setpriv (util-linux) is needed"; exit 1; }
chmod 755 "$tmp"
cp "$lib" "$tmp/libbmalloc.so.1" && chmod 755 "$tmp/libbmalloc.so.1"
cat > probe.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
int main(void)
{
    char *volatile p = malloc(100);
    free(p);
    printf("secure %lu\n", getauxval(AT_SECURE));
    return 0;
}
C
gcc -O1 -o probe probe.c -L"$tmp" -l:libbmalloc.so.1 -Wl,-rpath,"$tmp" || { echo "cannot build probe"; exit 1; }
readelf -d probe | grep -q 'NEEDED.*libbmalloc.so.1' || { echo "FAIL: probe does not need libbmalloc.so.1"; exit 1; }
cp probe probe-suid && chown root:root probe-suid && chmod 4755 probe-suid
fail=0
bad() { echo "FAIL: $*"; fail=1; }
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }

echo precious > victim && chmod 644 victim
as_nobody env BMALLOC_STATS="$tmp/victim" BMALLOC_VERBOSE=1 ./probe-suid >out 2>err
rc=$?
[ $rc -eq 0 ] || bad "setuid probe: exit status $rc: $(cat err)"
grep -q '^secure 1$' out || bad "the setuid probe did not run in secure mode: $(cat out)"
[ "$(cat victim)" = precious ] || bad "the setuid program wrote the report into the root-owned file"
grep -q '^bmalloc: BMALLOC_STATS ignored: the process is privileged' err ||
    bad "no warning that BMALLOC_STATS was ignored: $(cat err)"
grep -q '^V Memory Statistics' err || bad "the default report (stderr) is missing: $(cat err)"

# The control: the same program, not setuid, as root: the report goes where it is told.
env BMALLOC_STATS="$tmp/victim" ./probe >out 2>err
grep -q '^secure 0$' out || bad "the plain probe ran in secure mode"
grep -q '^V Memory Statistics' victim || bad "control: the plain program wrote no report into the file"

# The options file applies in the setuid program; BMALLOC_CONF from the environment does not.
echo precious > victim
echo "BMALLOC_STATS=0" > "$tmp/env.conf"
as_nobody env BMALLOC_CONF="$tmp/env.conf" ./probe-suid >out 2>err
grep -q '^V Memory Statistics' err || bad "the setuid program took BMALLOC_CONF from the environment"
grep -q '^bmalloc: BMALLOC_CONF ignored' err || bad "no warning that BMALLOC_CONF was ignored: $(cat err)"

[ $fail -eq 0 ] && echo "setuid: BMALLOC_STATS and BMALLOC_CONF ignored, with warnings; the file untouched"
exit $fail
