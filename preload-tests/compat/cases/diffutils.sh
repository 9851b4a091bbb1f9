DESC="diff -u / diff -y / cmp / diff -r on large generated files and trees"
NEEDS="diff cmp md5sum"
APT="diffutils"
TIMEOUT=90
PROOF=(diff /etc/passwd /etc/passwd)

setup() {
	gen_text 100000 71 >a.txt
	awk 'NR % 97 == 0 { print "changed " $0; next } NR % 501 == 0 { next } { print } NR % 1003 == 0 { print "inserted" }' a.txt >b.txt
	mkdir -p t1 t2; split -l 2000 a.txt t1/p.; split -l 2000 b.txt t2/p.
}

run() {
	cd "$CASE_DATA"
	bm diff -u a.txt b.txt >u.diff; echo "diff rc=$?"; md5sum <u.diff; wc -l <u.diff
	bm diff -y -W 100 --suppress-common-lines a.txt b.txt | md5sum
	bm diff -r t1 t2 | md5sum
	bm diff --minimal -e a.txt b.txt | md5sum
	bm cmp a.txt b.txt; echo "cmp rc=$?"
	bm cmp -l a.txt b.txt 2>/dev/null | wc -l
	rm -f u.diff
}
