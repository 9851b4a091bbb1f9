DESC="gcc compiles a C program (cc1, as, collect2, ld all on bmalloc) and the program runs on bmalloc"
NEEDS="gcc md5sum"
APT="gcc"
PROOF=(gcc --version)
TIMEOUT=90

run() {
	set -o pipefail
	bm_export   # gcc and every process it starts (cc1, as, collect2, ld), then the program
	gcc -O2 -g -Wall -pthread -o prog "$CASE_SRC/cprog.c" -lm 2>&1; echo "gcc rc=$?"
	gcc -O0 -S -o prog.s "$CASE_SRC/cprog.c"; echo "gcc -S rc=$?"
	# Compiler output must be byte-identical whichever allocator the compiler ran on.
	md5sum prog prog.s
	./prog 4 200000; echo "prog rc=$?"
	./prog 1 5000; echo "prog rc=$?"
	gcc -fsyntax-only -Wall "$CASE_SRC/bad.c" 2>&1 | sed 's/^/diag: /'; echo "gcc bad rc=${PIPESTATUS[0]}"
}
