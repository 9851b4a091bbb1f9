#!/usr/bin/env bash
# t_symbols.sh: libbmalloc.so exports exactly the contract's symbols (the C calls, and C++'s
# operator new and delete in all 20 forms), nothing else, and needs
# no shared library but libc.
# `nm -D --defined-only` lists the dynamic symbols the library defines.  A version
# script with a named version node adds an absolute symbol (type A) of that name:
# that is version-script noise, not a symbol a program can call, so type A is
# ignored.  Newer binutils print versions as name@VER / name@@VER: the suffix is cut.
# Every listed call must be a function (T, or W/i) defined in the library.
set -u
lib=${BMALLOC_LIB:?BMALLOC_LIB not set (run through preload-tests/run)}
want="aligned_alloc calloc cfree free malloc malloc_info malloc_stats malloc_trim
malloc_usable_size mallinfo mallinfo2 mallopt memalign posix_memalign pvalloc realloc
reallocarray valloc
_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t _ZnamSt11align_val_t
_ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t _ZdlPv _ZdaPv _ZdlPvm
_ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t
_ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t _ZdlPvSt11align_val_tRKSt9nothrow_t
_ZdaPvSt11align_val_tRKSt9nothrow_t"
out=$(nm -D --defined-only "$lib") || { echo "nm failed on $lib"; exit 1; }
fail=0
got=$(awk 'NF >= 2 { t = $(NF-1); n = $NF; sub(/@.*/, "", n);
            if (t == "A") next; print t, n }' <<<"$out" | sort -k2)
names=$(awk '{ print $2 }' <<<"$got" | sort -u)
wanted=$(tr -s ' \n' '\n' <<<"$want" | sed '/^$/d' | sort -u)
missing=$(comm -23 <(echo "$wanted") <(echo "$names"))
extra=$(comm -13 <(echo "$wanted") <(echo "$names"))
if [[ -n $missing ]]; then echo "missing exports:" $missing; fail=1; fi
if [[ -n $extra ]]; then
    echo "exported but not in the contract:"
    grep -wF -f <(echo "$extra") <<<"$got" | head -50 | sed 's/^/    /'
    fail=1
fi
while read -r t n; do
    [[ -z $n ]] && continue
    case $t in T|W|i) ;; *) echo "$n has symbol type $t, want a function (T)"; fail=1 ;; esac
done <<<"$got"
# And it needs nothing but the C library and the loader: no unwinder (libgcc_s) or anything
# else loaded into every process it is preloaded into.
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
case $needed in
    "ld-linux-x86-64.so.2 libc.so.6 " | "libc.so.6 ") ;;
    *) echo "needs [$needed], want only libc.so.6 (and the loader)"; fail=1 ;;
esac
if [[ $fail == 0 ]]; then
    echo "exports exactly: $(echo $names); needs: $needed"
    ignored=$(awk 'NF >= 2 && $(NF-1) == "A" { print $NF }' <<<"$out")
    [[ -n $ignored ]] && echo "ignored version nodes: $(echo $ignored)"
fi
exit $fail
