DESC="sed: substitutions with backreferences, -E, ranges, hold space, in-place edit, y/// on 500k lines"
NEEDS="sed md5sum"
TIMEOUT=90
PROOF=(sed -n '1p' /etc/passwd)

setup() { local n=500000; [ "$COMPAT_FAST" = 1 ] && n=150000; gen_text $n 51 >text.txt; }

run() {
	export LC_ALL=C
	bm sed 's/\([a-z]*\) \([a-z]*\)/\2 \1/g' "$CASE_DATA/text.txt" | md5sum
	bm sed -E 's/(alpha|beta|gamma)([0-9]+)?/<\1:\2>/g; s/ +/ /g; /^$/d' "$CASE_DATA/text.txt" | md5sum
	bm sed -n '/malloc/,/free/{ /heap/p }' "$CASE_DATA/text.txt" | wc -l
	bm sed -n 'H; ${ x; s/\n/,/g; p }' "$CASE_DATA/text.txt" | wc -c
	bm sed 'y/abcdefghij/ABCDEFGHIJ/; 1~3d; $!N; s/\n/ + /' "$CASE_DATA/text.txt" | md5sum
	cp "$CASE_DATA/text.txt" edit.txt
	bm sed -i.bak -e '/thread/s/^/T: /' -e '10,20000d' edit.txt; echo "sed -i rc=$?"
	md5sum edit.txt edit.txt.bak
	bm sed -e 's/(/x/' -e 's/\(/y/' /dev/null; echo "bad regex rc=$?"
}
