# bmalloc: `make` builds target/release/libbmalloc.so; `make test` runs every test.
CARGO ?= cargo
LIB := target/release/libbmalloc.so
STRESS_SECONDS ?= 600
BENCH_ARGS ?=

.PHONY: all lib test unit preload check bench compat stress clean

all: lib

lib:
	$(CARGO) build --release

# Unit tests run with the system allocator (the symbols are exported only from real builds);
# the preload tests run C programs and real programs on the built library.
test: lib unit preload

unit:
	BMALLOC_STATS=0 $(CARGO) test --release --no-default-features

preload: lib
	preload-tests/run

# Formatting and lints, as CI would want them.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

bench: lib
	scripts/bench $(BENCH_ARGS)

compat: lib
	scripts/compat

stress: lib
	scripts/stress $(STRESS_SECONDS)

clean:
	$(CARGO) clean
