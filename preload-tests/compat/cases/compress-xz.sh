DESC="xz: multithreaded (-T2) and single-threaded compress/decompress, memory limits, integrity check"
NEEDS="xz md5sum"
APT="xz-utils"
TIMEOUT=150
PROOF=(xz --version)

setup() {
	local n=300000; [ "$COMPAT_FAST" = 1 ] && n=80000
	gen_text $n 12 >text.txt
	gen_numbers $n 9 >nums.txt
}

run() {
	local f
	for f in text.txt nums.txt; do
		bm xz -6 -T1 -c "$CASE_DATA/$f" >"$f.xz"; echo "xz -T1 $f rc=$?"; md5sum <"$f.xz"
		bm xz -3 -T2 --block-size=1MiB -c "$CASE_DATA/$f" >"$f.mt.xz"; echo "xz -T2 $f rc=$?"; md5sum <"$f.mt.xz"
		bm xz -dc -T2 "$f.mt.xz" | md5sum
		bm xz -dc "$f.xz" | cmp -s - "$CASE_DATA/$f" && echo "round trip ok"
		bm xz -9e -T1 -c "$CASE_DATA/$f" | bm xz -dc | md5sum
	done
	bm xz -l text.txt.mt.xz | md5sum
	bm xz -t nums.txt.xz; echo "xz -t rc=$?"
	bm xz -dc --memlimit=1KiB text.txt.xz >/dev/null 2>&1; echo "memlimit rc=$?"
}
