DESC="awk (mawk, Debian's default awk): word counts in associative arrays, field sums, printf, split, regex on 500k lines"
NEEDS="mawk md5sum"
FAST=1
TIMEOUT=90
PROOF=(mawk 'BEGIN { a["x"] = 1; print length(a) }')

setup() { local n=500000; [ "$COMPAT_FAST" = 1 ] && n=150000; gen_text $n 41 >text.txt; }

run() {
	export LC_ALL=C
	bm mawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { for (w in c) print c[w], w }' "$CASE_DATA/text.txt" | sort -k1,1nr -k2 | head -20
	bm mawk '{ n += NF; l += length($0); if ($0 ~ /malloc.*free/) m++ } END { print NR, n, l, m }' "$CASE_DATA/text.txt"
	bm mawk '{ s = $0; gsub(/a/, "AA", s); k = split(s, p, /[ e]/); t += k; out = out substr(s, 1, 3) } NR % 1000 == 0 { print out; out = "" } END { print t }' "$CASE_DATA/text.txt" | md5sum
	bm mawk 'BEGIN { for (i = 0; i < 300000; i++) { a[i] = sprintf("%08d-%x", i * 7, i); if (i % 3 == 0) delete a[i - 1] } n = 0; for (k in a) n += length(a[k]); print n }'
}
