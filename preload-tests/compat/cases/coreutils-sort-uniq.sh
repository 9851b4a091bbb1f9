DESC="coreutils text tools on large files: sort (keys, -u, -m, -S), uniq -c/-d, comm, join, cut, tr, wc, tac, shuf --random-source"
NEEDS="sort uniq comm join cut tr wc tac shuf md5sum"
TIMEOUT=120
PROOF=(sort --version)

setup() {
	local n=800000; [ "$COMPAT_FAST" = 1 ] && n=200000
	gen_text $n 21 >text.txt
	gen_numbers $n 22 100000 >a.txt
	gen_numbers $n 23 100000 >b.txt
	gen_bytes 1000000 24 >rand.bin
}

run() {
	export LC_ALL=C
	local D=$CASE_DATA
	bm sort "$D/text.txt" >text.sorted; echo "sort rc=$?"; md5sum <text.sorted
	bm sort -u -S 1M -T . "$D/text.txt" | md5sum
	bm uniq -c text.sorted | bm sort -k1,1nr -k2 | head -5
	bm uniq -d text.sorted | wc -l
	bm sort -n "$D/a.txt" | bm uniq >a.u; bm sort -n "$D/b.txt" | bm uniq >b.u
	bm sort a.u >a.s; bm sort b.u >b.s
	bm comm -12 a.s b.s | wc -l; bm comm -3 a.s b.s | md5sum
	bm join a.s b.s | wc -l
	bm sort -m a.s b.s | md5sum
	bm cut -d' ' -f2,4 "$D/text.txt" | bm tr 'a-z' 'A-Z' | bm tr -s ' ' | md5sum
	bm wc "$D/text.txt"
	bm tac "$D/text.txt" | md5sum
	bm shuf -n 1000 --random-source="$D/rand.bin" "$D/text.txt" | md5sum
	bm paste -d, "$D/a.txt" "$D/b.txt" | bm sort -t, -k2,2n -k1,1n | md5sum
}
