DESC="zstd: levels 1/19, -T2, --long, dictionary training and use, round trips"
NEEDS="zstd md5sum"
APT="zstd"
FAST=1
TIMEOUT=150
PROOF=(zstd --version)

setup() {
	local n=400000; [ "$COMPAT_FAST" = 1 ] && n=40000
	gen_text $n 13 >text.txt
	mkdir samples
	gen_text 20000 14 | split -l 20 - samples/s.
}

run() {
	bm zstd -q -1 -c "$CASE_DATA/text.txt" >t1.zst; echo "zstd -1 rc=$?"; md5sum <t1.zst
	bm zstd -q -19 -T2 -c "$CASE_DATA/text.txt" >t19.zst; echo "zstd -19 -T2 rc=$?"; md5sum <t19.zst
	bm zstd -q -3 -T2 --long=24 -c "$CASE_DATA/text.txt" >tl.zst; echo "zstd --long rc=$?"; md5sum <tl.zst
	for f in t1 t19 tl; do bm zstd -q -d --long=24 -c $f.zst | md5sum; done
	bm zstd -q -d -c t19.zst | cmp -s - "$CASE_DATA/text.txt" && echo "round trip ok"
	bm zstd -q --train "$CASE_DATA"/samples/s.* -o dict --maxdict=32768; echo "train rc=$?"
	md5sum <dict
	bm zstd -q -D dict -c "$CASE_DATA/samples/s.aa" | bm zstd -q -d -D dict -c | md5sum
	bm zstd -q -t t19.zst; echo "zstd -t rc=$?"
}
