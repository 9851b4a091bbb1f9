DESC="cargo build/test/run --offline of a two-crate workspace with a build script (cargo and rustc on bmalloc)"
NEEDS="cargo rustc md5sum"
FAST=1
TIMEOUT=240
PROOF=(cargo --version)

run() {
	cp -r "$CASE_SRC/crate" crate && cd crate
	# cargo, rustc (with its own allocator linked in), the build script and the tests, all with
	# LD_PRELOAD: mixing allocators must not crash. No network: --offline, no registry crates.
	export CARGO_TARGET_DIR=$CASE_WORK/target CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never
	bm cargo build --offline -q; echo "build rc=$?"
	bm cargo run --offline -q; echo "run rc=$?"
	# test harness output minus its timing ("finished in 0.00s" varies run to run)
	bm cargo test --offline -q --workspace 2>/dev/null | sed -E 's/finished in [0-9.]+s/finished in Ns/' | grep -v '^$'
	echo "test rc=${PIPESTATUS[0]}"
	bm cargo build --offline -q --release; echo "release rc=$?"
	"$CARGO_TARGET_DIR/release/compatcrate"
}
