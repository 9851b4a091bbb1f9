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

lib:
	$(CARGO) build --release

# Unit tests run with the system allocator (the symbols are exported only from real builds);
# the preload tests run C programs and real programs on the built library, then again on the
# checked library.
test: lib unit asan preload checked

# The unit, layering and property tests, with the invariants asserted.
unit:
	BMALLOC_STATS=0 $(CARGO) test --profile checked --no-default-features

# The unit and property tests again under AddressSanitizer. The stable compiler ships ASan's
# runtime; RUSTC_BOOTSTRAP=1 lets it take the -Z flag. The library is built without its C
# symbols (--cfg bmalloc_noexport): ASan's own malloc must stay the process's.
asan:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address --cfg bmalloc_noexport" BMALLOC_STATS=0 \
	    $(CARGO) test --release --no-default-features \
	    --target x86_64-unknown-linux-gnu --target-dir target/asan

# The unit tests under Miri (needs a nightly toolchain with the miri component; not part of
# `make test`: a fresh machine is only promised the stable toolchain). The property tests
# cannot run there: they move the program break and map memory, which Miri does not emulate.
miri:
	BMALLOC_STATS=0 $(CARGO) +nightly miri test --no-default-features --lib

preload: lib
	preload-tests/run

# The preload tests on the checked library: a broken invariant aborts with its place in the
# source ("bmalloc: internal error: panicked at src/heap.rs:...").
checked:
	$(CARGO) build --profile checked
	BMALLOC_LIB=$(CURDIR)/$(CHECKED_LIB) preload-tests/run

# Formatting and lints, as CI would want them.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --release -- -D warnings
	$(CARGO) clippy --release --all-targets --no-default-features -- -D warnings

bench: lib
	bench/run $(BENCH_ARGS)

compat: lib
	scripts/compat

stress: lib
	scripts/stress $(STRESS_SECONDS)

clean:
	$(CARGO) clean
