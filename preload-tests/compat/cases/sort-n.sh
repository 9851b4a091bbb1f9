DESC="sort -n (multithreaded) of 2 million generated numbers, plus sort -u/-k/-r variants"
NEEDS="sort md5sum"
PROOF=(sort -n /etc/passwd)
TIMEOUT=90

setup() {
	gen_numbers 2000000 4242 >numbers.txt
	# Two numeric columns with a text field in between, for -k sorts.
	gen_numbers 300000 77 | awk '{ printf "%d k%05d %d.%03d\n", $1 % 1000, $1 % 99991, $1 % 7919, $1 % 1000 }' >cols.txt
}

run() {
	bm sort -n "$CASE_DATA/numbers.txt" >sorted.txt; echo "sort -n rc=$?"
	wc -l <sorted.txt; md5sum <sorted.txt; head -3 sorted.txt; tail -3 sorted.txt
	bm sort -n --parallel=4 -S 8M "$CASE_DATA/numbers.txt" | md5sum
	bm sort -rnu "$CASE_DATA/cols.txt" | md5sum
	bm sort -k3,3n -k2,2 -k1,1nr "$CASE_DATA/cols.txt" | md5sum
	bm sort -t' ' -k4g "$CASE_DATA/cols.txt" | md5sum
	bm sort -n -c sorted.txt; echo "sort -c rc=$?"
	bm sort -n -c "$CASE_DATA/numbers.txt" 2>/dev/null; echo "sort -c unsorted rc=$?"
}
