DESC="make -j4 building a generated C and C++ project (16 C++ units with STL, 2 C files) with gcc and g++, ar, then running it"
NEEDS="make gcc g++ ar md5sum"
APT="make g++"
FAST=1
TIMEOUT=240
PROOF=(make --version)

setup() { "$PY" "$CASE_SRC/mkproj.py" proj $([ "$COMPAT_FAST" = 1 ] && echo 3 || echo 16); }

run() {
	cp -r "$CASE_DATA/proj" proj && cd proj
	# make and everything it starts (g++, cc1plus, as, ld, ar) on bmalloc.
	bm make -s -j4 prog libunits.a; echo "make rc=$?"
	# The objects, archive and program must be byte-identical whichever allocator built them.
	md5sum *.o libunits.a prog
	bm ./prog; echo "prog rc=$?"
	bm make -s -j4 prog; echo "make again rc=$?"
	touch common.h; bm make -j4 -q prog; echo "make -q rc=$?"
	bm make -s no-such-target 2>&1; echo "make error rc=$?"
}
