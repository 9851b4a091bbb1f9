DESC="a Rust program (std on the C malloc): 6 threads, channels moving Strings across threads, HashMap/BTreeMap, boxed slices"
NEEDS="rustc"
FAST=1
TIMEOUT=90
PROOF=("$CASE_DATA/rustprog" 1000)

setup() { env -u LD_PRELOAD rustc -O -o rustprog "$CASE_SRC/rustprog.rs"; }

run() {
	local n=200000; [ "$COMPAT_FAST" = 1 ] && n=50000
	bm "$CASE_DATA/rustprog" $n; echo "rc=$?"
}
