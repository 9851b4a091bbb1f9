DESC="gawk: associative arrays, asort/asorti, gensub, patsplit, printf over 500k lines"
NEEDS="gawk md5sum"
APT="gawk"
TIMEOUT=90
PROOF=(gawk 'BEGIN { a["x"] = 1; print length(a) }')

setup() { gen_text 500000 42 >text.txt; }

run() {
	export LC_ALL=C
	bm gawk '{ for (i = 1; i <= NF; i++) c[$i]++ } END { n = asorti(c, k); for (i = 1; i <= 20; i++) print k[i], c[k[i]]; print n }' "$CASE_DATA/text.txt"
	bm gawk '{ s = gensub(/([a-z]+) ([a-z]+)/, "\\2_\\1", "g"); n = patsplit(s, p, /[a-z]+_[a-z]+/); t += n; h = h substr(s, 1, 2) } END { print t, length(h) }' "$CASE_DATA/text.txt"
	bm gawk 'BEGIN { PROCINFO["sorted_in"] = "@val_num_desc" } { l[NR % 5000] += length($0) } END { i = 0; for (k in l) if (i++ < 5) print k, l[k] }' "$CASE_DATA/text.txt"
	bm gawk 'BEGIN { for (i = 0; i < 200000; i++) a[i] = sprintf("%x", i * 977); n = asort(a, b); print n, b[1], b[n] }'
}
