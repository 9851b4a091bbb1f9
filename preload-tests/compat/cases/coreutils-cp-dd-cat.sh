DESC="coreutils on large files: cp (sparse, -r), dd (block sizes, conv), cat, split, tee, md5sum/sha256sum, truncate"
NEEDS="cp dd cat split tee md5sum sha256sum sha512sum b2sum truncate"
TIMEOUT=120
PROOF=(cp --version)

setup() {
	local mb=150; [ "$COMPAT_FAST" = 1 ] && mb=40
	gen_bytes $((mb * 1048576)) 31 >big.bin
	mkdir -p tree/a/b; gen_text 20000 32 >tree/a/t.txt; cp big.bin tree/a/b/copy.bin
}

run() {
	local D=$CASE_DATA
	bm cp "$D/big.bin" c1.bin; echo "cp rc=$?"
	bm cp -r "$D/tree" tree2; echo "cp -r rc=$?"
	truncate -s 200M sparse; bm cp --sparse=always sparse sparse2; echo "cp sparse rc=$?"
	bm dd if="$D/big.bin" of=d1.bin bs=1M status=none; echo "dd rc=$?"
	bm dd if="$D/big.bin" bs=7k count=3000 skip=11 status=none | md5sum
	bm dd if="$D/big.bin" bs=64M iflag=fullblock status=none | md5sum
	bm dd if="$D/tree/a/t.txt" conv=ucase,swab status=none | md5sum
	bm cat "$D/big.bin" c1.bin d1.bin | md5sum
	bm cat -n "$D/tree/a/t.txt" | tail -2
	bm split -b 7M -d "$D/big.bin" part.; echo "split rc=$?"; ls part.* | wc -l
	bm cat part.* | bm tee t1 t2 | md5sum
	bm md5sum c1.bin d1.bin t1 t2 tree2/a/b/copy.bin sparse2
	bm sha256sum c1.bin; bm sha512sum d1.bin | cut -c1-64; bm b2sum t1 | cut -c1-64
	du -k --apparent-size sparse2 | cut -f1
}
