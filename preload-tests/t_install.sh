#!/usr/bin/env bash
# t_install.sh: make install and make uninstall, into a DESTDIR, with the default PREFIX
# (/usr/local) and with PREFIX=/usr.
# - Installed: lib/libbmalloc.so.N (SONAME libbmalloc.so.N, N from build.rs), the development
#   link lib/libbmalloc.so, lib/pkgconfig/bmalloc.pc, bin/bmalloc, bin/bmalloc-chart, and the
#   man pages bmalloc(1), bmalloc-chart(1) and bmalloc(7).
# - A program linked with `pkg-config --libs bmalloc` records NEEDED libbmalloc.so.N and runs
#   on bmalloc.
# - bin/bmalloc finds the library relative to its own place: it still works after the whole
#   tree is moved elsewhere.
# - The man pages render without a warning, and bmalloc(7) documents every option the library
#   reads, every line of the exit report and every misuse message; bmalloc(1) every option of
#   the wrapper.
# - make uninstall removes every file make install put there.
# preload-test-timeout: 300
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
tmp=${BMALLOC_TEST_TMP:-$(mktemp -d)}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$tmp" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
abi=$(sed -n 's/^const ABI_MAJOR: u32 = \([0-9]*\);/\1/p' "$repo/build.rs")
[ -n "$abi" ] || { echo "FAIL: no ABI_MAJOR in build.rs"; exit 1; }
unset MAKEFLAGS MFLAGS MAKELEVEL

for prefix in /usr/local /usr; do
    dest="$tmp/dest${prefix//\//_}"
    args=(DESTDIR="$dest" LIB="$lib")
    [ "$prefix" = /usr/local ] || args+=(PREFIX="$prefix")
    make -s -C "$repo" install "${args[@]}" >make.log 2>&1 || { bad "make install failed: $(tail -5 make.log)"; continue; }
    root=$dest$prefix
    for f in "lib/libbmalloc.so.$abi" lib/pkgconfig/bmalloc.pc bin/bmalloc bin/bmalloc-chart \
        share/man/man1/bmalloc.1 share/man/man1/bmalloc-chart.1 share/man/man7/bmalloc.7; do
        [ -f "$root/$f" ] || bad "$prefix: $f not installed"
    done
    [ "$(readlink "$root/lib/libbmalloc.so")" = "libbmalloc.so.$abi" ] || bad "$prefix: lib/libbmalloc.so is no link to libbmalloc.so.$abi"
    soname=$(readelf -d "$root/lib/libbmalloc.so.$abi" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "libbmalloc.so.$abi" ] || bad "$prefix: SONAME [$soname]"
    [ -x "$root/bin/bmalloc" ] || bad "$prefix: bin/bmalloc not executable"

    # pkg-config, and a program linked with it
    pc() { PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$root/lib/pkgconfig" pkg-config "$@"; }
    [ "$(pc --modversion bmalloc)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)" ] ||
        bad "$prefix: pkg-config --modversion [$(pc --modversion bmalloc 2>&1)]"
    printf '#include <stdlib.h>\nint main(void) { char *volatile p = malloc(64); free(p); return 0; }\n' > linked.c
    # shellcheck disable=SC2046
    gcc -o linked linked.c $(pc --libs bmalloc) || bad "$prefix: cannot link with pkg-config --libs bmalloc ($(pc --libs bmalloc))"
    readelf -d linked | grep -q "NEEDED.*\[libbmalloc.so.$abi\]" || bad "$prefix: the linked program does not need libbmalloc.so.$abi"
    LD_LIBRARY_PATH="$root/lib" BMALLOC_STATS=1 ./linked 2>err
    grep -q '^B 0/2(64) ' err || bad "$prefix: the linked program did not run on bmalloc [$(head -3 err)]"

    # the installed wrapper, where it was installed and after the tree moved
    "$root/bin/bmalloc" --stats ./linked 2>err
    grep -q '^V Memory Statistics' err || bad "$prefix: bin/bmalloc: no report [$(head -3 err)]"
    mv "$dest" "$dest.moved"
    "$dest.moved$prefix/bin/bmalloc" -v --no-stats true 2>err
    grep -qF "on $dest.moved$prefix/bin/../lib/libbmalloc.so.$abi" err || bad "$prefix: moved tree: [$(cat err)]"
    mv "$dest.moved" "$dest"

    # the man pages
    for page in man1/bmalloc.1 man1/bmalloc-chart.1 man7/bmalloc.7; do
        warn=$(groff -man -ww -z "$root/share/man/$page" 2>&1)
        [ -z "$warn" ] || bad "$page: groff warns: $warn"
        grep -q '@VERSION@' "$root/share/man/$page" && bad "$page: @VERSION@ not replaced"
    done
    text=$(MANWIDTH=200 man -l "$root/share/man/man7/bmalloc.7" 2>/dev/null | col -b)
    for opt in $(grep -o 'c"BMALLOC_[A-Z_]*"' "$repo/src/options.rs" "$repo/src/startup.rs" | sed 's/.*c"\(.*\)"/\1/' | sort -u); do
        grep -q "$opt" <<<"$text" || bad "bmalloc(7) does not document $opt"
    done
    for letter in $(sed -n 's|^//! \([A-Z]\) .*|\1|p' "$repo/src/stats.rs"); do
        grep -qE "^ +$letter [A-Za-z(]" <<<"$text" || bad "bmalloc(7) does not describe the report's $letter line"
    done
    while IFS= read -r fault; do
        grep -qF "$fault" <<<"$text" || bad "bmalloc(7) does not list the misuse message [$fault]"
    done < <(sed -n '/pub fn text/,/^    }/p' "$repo/src/misuse.rs" | grep -o '"[^"(]*' | sed 's/^"//; s/ *$//')
    text1=$(MANWIDTH=200 man -l "$root/share/man/man1/bmalloc.1" 2>/dev/null | col -b)
    for opt in $(grep -o '^  \(-[a-z], \)\?--[a-z-]*' <("$repo/scripts/bmalloc" --help) | grep -o -- '--[a-z-]*'); do
        grep -q -- "$opt" <<<"$text1" || bad "bmalloc(1) does not document $opt"
    done

    make -s -C "$repo" uninstall "${args[@]}" >make.log 2>&1 || bad "make uninstall failed: $(tail -5 make.log)"
    left=$(find "$dest" ! -type d)
    [ -z "$left" ] || bad "$prefix: make uninstall left: $left"
done
[ $fail -eq 0 ] && echo "make install and uninstall: SONAME, link, pkg-config, wrapper and man pages as documented"
exit $fail
