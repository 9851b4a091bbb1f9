DESC="gzip: compress (levels 1, 6, 9) and decompress 60 MB of generated text and binary data"
NEEDS="gzip md5sum"
TIMEOUT=120
PROOF=(gzip --version)

setup() {
	local n=600000; [ "$COMPAT_FAST" = 1 ] && n=150000
	gen_text $n 11 >text.txt
	head -c 20000000 /dev/zero | tr '\0' 'a' >zeros.bin
	gen_bytes $((n * 30)) 5 >mixed.bin
}

run() {
	local f l
	for f in text.txt zeros.bin mixed.bin; do
		for l in 1 6 9; do
			bm gzip -$l -n -c "$CASE_DATA/$f" >"$f.$l.gz"; echo "gzip -$l $f rc=$?"
			md5sum <"$f.$l.gz"
			bm gzip -d -c "$f.$l.gz" | md5sum
			cmp -s <(bm gzip -dc "$f.$l.gz") "$CASE_DATA/$f" && echo "round trip ok"
		done
	done
	bm gzip -t text.txt.9.gz; echo "gzip -t rc=$?"
	head -c 1000 text.txt.9.gz | bm gzip -dc >/dev/null 2>&1; echo "truncated rc=$?"
}
