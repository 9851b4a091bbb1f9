#!/usr/bin/env bash
# t_fastpath_code.sh: the fast paths read the library's own data directly. In malloc, free,
# operator new and sized operator delete, the only loads from the GOT are of the thread slot's
# TLS offset (initial-exec TLS); no static's address is. A library built for the rlib and the
# cdylib at once (`cargo build`) loads the address of every static it reads from the GOT
# first: one dependent load more per static on every call (Cargo.toml says why). Jumps to the
# slow paths may go through the GOT: they are not taken on the fast path.
set -u
lib=${BMALLOC_LIB:?run through preload-tests/run}
command -v objdump >/dev/null || { echo "FAIL: objdump is needed"; exit 1; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The GOT's bounds, and the slots that hold a TLS offset (R_X86_64_TPOFF64).
read -r got_lo got_len < <(readelf -SW "$lib" | awk '$2 == ".got" { print $4, $6 }')
[ -n "${got_lo:-}" ] || { echo "FAIL: no .got section in $lib"; exit 1; }
got_lo=$((16#$got_lo)); got_hi=$((got_lo + 16#$got_len))
tls_slots=" "
for slot in $(readelf -rW "$lib" | awk '/R_X86_64_TPOFF64/ { print $1 }'); do
    tls_slots+="$((16#$slot)) "
done

for sym in malloc free _Znwm _ZdlPvm; do
    read -r addr size < <(nm -S --defined-only "$lib" | awk -v s="$sym" '$4 == s { print $1, $2; exit }')
    [ -n "${addr:-}" ] || { bad "$sym is not defined in $lib"; continue; }
    body=$(objdump -d --no-show-raw-insn --start-address=$((16#$addr)) \
        --stop-address=$((16#$addr + 16#$size)) "$lib")
    # objdump writes every RIP-relative operand's target as "# <hex address>".
    tls=0
    while read -r line; do
        target=$(sed -n 's/.*(%rip).*# \([0-9a-f]*\).*/\1/p' <<<"$line")
        [ -n "$target" ] || continue
        t=$((16#$target))
        [ "$t" -ge "$got_lo" ] && [ "$t" -lt "$got_hi" ] || continue
        if [[ $tls_slots == *" $t "* ]]; then
            tls=$((tls + 1))
        else
            bad "$sym reads a GOT slot that is not the TLS offset: $line"
        fi
    done < <(grep '(%rip)' <<<"$body" | grep -Ev '\s(jmp|call)q?\s')
    [ "$tls" -ge 1 ] || bad "$sym: no TLS offset loaded from the GOT (is the thread slot still initial-exec?)"
done
[ "$fail" = 0 ] && echo "PASS: t_fastpath_code"
exit "$fail"
