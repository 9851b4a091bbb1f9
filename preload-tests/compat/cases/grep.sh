DESC="grep: -E, -P (PCRE), -F with 5,000 patterns, -o, -c, -w, -r on large inputs"
NEEDS="grep md5sum"
FAST=1
TIMEOUT=90
PROOF=(grep -c root /etc/passwd)

setup() {
	local n=500000; [ "$COMPAT_FAST" = 1 ] && n=150000
	gen_text $n 61 >text.txt
	gen_text 5000 62 | awk '{ print $1 $2 }' | sort -u >patterns.txt
	mkdir -p tree; split -l 5000 text.txt tree/part.
}

run() {
	export LC_ALL=C
	local D=$CASE_DATA
	bm grep -c 'malloc.*free' "$D/text.txt"
	bm grep -E '(alpha|omega)[0-9]{2,3}\b' "$D/text.txt" | md5sum
	bm grep -P '(?<=heap )\w+(?= block)' -o "$D/text.txt" | sort | uniq -c | sort -k1,1nr -k2 | head -5
	bm grep -F -f "$D/patterns.txt" "$D/text.txt" | md5sum
	bm grep -w -o -E '[a-z]+[0-9]+' "$D/text.txt" | wc -l
	bm grep -r -l -i 'ZETA999' "$D/tree" | sort | sed "s|$D/||" | head -5
	bm grep -c 'no-such-word' "$D/text.txt"; echo "grep rc=$?"
	bm grep -E '(' "$D/text.txt" 2>/dev/null; echo "bad regex rc=$?"
}
