DESC="bzip2: compress and decompress generated text, integrity test"
NEEDS="bzip2 md5sum"
APT="bzip2"
TIMEOUT=120
PROOF=(bzip2 --help)

setup() { gen_text 300000 15 >text.txt; }

run() {
	bm bzip2 -9 -c "$CASE_DATA/text.txt" >t.bz2; echo "bzip2 rc=$?"; md5sum <t.bz2
	bm bzip2 -dc t.bz2 | md5sum
	bm bzip2 -tv t.bz2 2>&1 | sed 's/^ *//'; echo "bzip2 -t rc=${PIPESTATUS[0]}"
}
