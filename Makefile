# bmalloc: `make` builds target/release/libbmalloc.so; `make test` runs every test.
CARGO ?= cargo
LIB := target/release/libbmalloc.so
# The same library with every debug_assert! on (Cargo profile `checked`): the invariants of
# docs/DESIGN.md are checked while the tests run.
CHECKED_LIB := target/checked/libbmalloc.so
STRESS_SECONDS ?= 600
BENCH_ARGS ?=

.PHONY: all lib test unit asan miri preload checked check bench compat stress clean

all: lib

# The shared object for LD_PRELOAD: the `preload` feature (C symbols, no_std; see Cargo.toml).
lib:
	$(CARGO) build --release --features preload

# Unit tests run with the system allocator (the symbols are exported only from real builds);
# the preload tests run C programs and real programs on the built library, then again on the
# checked library.
test: lib unit asan preload checked

# The unit, layering and property tests, with the invariants asserted.
unit:
	BMALLOC_STATS=0 $(CARGO) test --profile checked

# The unit and property tests again under AddressSanitizer. The stable compiler ships ASan's
# runtime; RUSTC_BOOTSTRAP=1 lets it take the -Z flag. The default features export no C
# symbol, so ASan's own malloc stays the process's. Doc tests are left out: rustdoc does not
# link them with the sanitizer's runtime.
asan:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" BMALLOC_STATS=0 \
	    $(CARGO) test --release --lib --tests --target x86_64-unknown-linux-gnu --target-dir target/asan

# The unit tests under Miri (needs a nightly toolchain with the miri component; not part of
# `make test`: a fresh machine is only promised the stable toolchain). The property tests
# cannot run there: they move the program break and map memory, which Miri does not emulate.
miri:
	BMALLOC_STATS=0 $(CARGO) +nightly miri test --lib

preload: lib
	preload-tests/run

# The preload tests on the checked library: a broken invariant aborts with its place in the
# source ("bmalloc: internal error: panicked at src/heap.rs:...").
checked:
	$(CARGO) build --profile checked --features preload
	BMALLOC_LIB=$(CURDIR)/$(CHECKED_LIB) preload-tests/run

# Formatting and lints, as CI would want them.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --features preload -- -D warnings
	$(CARGO) clippy --release --all-targets -- -D warnings

bench: lib
	bench/run $(BENCH_ARGS)
	bench/rust/run

compat: lib
	scripts/compat

stress: lib
	scripts/stress $(STRESS_SECONDS)

clean:
	$(CARGO) clean
