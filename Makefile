# bmalloc: `make` builds target/release/libbmalloc.so; `make test` runs every test.
CARGO ?= cargo
LIB := target/release/libbmalloc.so
# The same library with every debug_assert! on (Cargo profile `checked`): the invariants of
# docs/DESIGN.md are checked while the tests run.
CHECKED_LIB := target/checked/libbmalloc.so
STRESS_SECONDS ?= 600
BENCH_ARGS ?=

.PHONY: all lib test unit asan miri preload checked check bench compat stress clean \
	install uninstall

# make install: the library with its SONAME and development link, the wrapper command and the
# chart command, pkg-config's file and the man pages, under $(DESTDIR)$(PREFIX).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# The ABI major version is build.rs's, which gives the library its SONAME.
ABI := $(shell sed -n 's/^const ABI_MAJOR: u32 = \([0-9]*\);/\1/p' build.rs)
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
SONAME := libbmalloc.so.$(ABI)
INSTALLED := $(LIBDIR)/$(SONAME) $(LIBDIR)/libbmalloc.so $(PKGCONFIGDIR)/bmalloc.pc \
	$(BINDIR)/bmalloc $(BINDIR)/bmalloc-chart \
	$(MANDIR)/man1/bmalloc.1 $(MANDIR)/man1/bmalloc-chart.1 $(MANDIR)/man7/bmalloc.7

all: lib

# The shared object for LD_PRELOAD: the `preload` feature (C symbols, no_std; see Cargo.toml),
# built as a cdylib alone, so that its statics are read without the GOT (Cargo.toml says why).
PRELOAD_BUILD := rustc --features preload --lib --crate-type cdylib
lib:
	$(CARGO) $(PRELOAD_BUILD) --release

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
	$(CARGO) $(PRELOAD_BUILD) --profile checked
	BMALLOC_CHECKED=1 BMALLOC_LIB=$(CURDIR)/$(CHECKED_LIB) preload-tests/run

# Formatting and lints, as CI would want them.
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --features preload -- -D warnings
	$(CARGO) clippy --release --all-targets -- -D warnings

bench: lib
	bench/run $(BENCH_ARGS)
	bench/real
	bench/rust/run

compat: lib
	scripts/compat

install: lib
	@test -n "$(ABI)" || { echo "make install: no ABI_MAJOR in build.rs" >&2; exit 1; }
	install -d "$(DESTDIR)$(LIBDIR)" "$(DESTDIR)$(PKGCONFIGDIR)" "$(DESTDIR)$(BINDIR)" \
	    "$(DESTDIR)$(MANDIR)/man1" "$(DESTDIR)$(MANDIR)/man7"
	install -m 755 $(LIB) "$(DESTDIR)$(LIBDIR)/$(SONAME)"
	ln -sfn $(SONAME) "$(DESTDIR)$(LIBDIR)/libbmalloc.so"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    dist/bmalloc.pc.in > "$(DESTDIR)$(PKGCONFIGDIR)/bmalloc.pc"
	chmod 644 "$(DESTDIR)$(PKGCONFIGDIR)/bmalloc.pc"
	# The wrapper finds the library relative to its own directory, so the tree can move.
	sed "s|^installed_lib=\$$|installed_lib='$$(realpath -m --relative-to="$(BINDIR)" "$(LIBDIR)/$(SONAME)")'|" \
	    scripts/bmalloc > "$(DESTDIR)$(BINDIR)/bmalloc"
	chmod 755 "$(DESTDIR)$(BINDIR)/bmalloc"
	install -m 755 scripts/bmalloc-chart "$(DESTDIR)$(BINDIR)/bmalloc-chart"
	for page in man1/bmalloc.1 man1/bmalloc-chart.1 man7/bmalloc.7; do \
	    sed 's|@VERSION@|$(VERSION)|' dist/$${page#*/} > "$(DESTDIR)$(MANDIR)/$$page" && \
	    chmod 644 "$(DESTDIR)$(MANDIR)/$$page" || exit 1; \
	done

# Removes the files `make install` installed (with the same PREFIX and DESTDIR). Directories
# stay: they may be shared with other packages.
uninstall:
	rm -f $(addprefix "$(DESTDIR),$(addsuffix ",$(INSTALLED)))

stress: lib
	scripts/stress $(STRESS_SECONDS)

clean:
	$(CARGO) clean
