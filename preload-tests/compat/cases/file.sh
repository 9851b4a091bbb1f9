DESC="file (libmagic): identify 2,000 files of many types"
NEEDS="file md5sum"
APT="file"
TIMEOUT=60
PROOF=(file /bin/sh)

setup() {
	mkdir -p f
	local i
	for i in $(seq 1 200); do
		cp /bin/true f/elf$i; printf '#!/bin/sh\necho %d\n' $i >f/sh$i; printf '{"a": %d}\n' $i >f/j$i.json
		gen_text $((i % 50 + 1)) $i >f/t$i.txt; printf '%%PDF-1.4\n%d\n' $i >f/p$i.pdf
		printf '\x89PNG\r\n\x1a\n%d' $i >f/i$i.png; gzip -c f/t$i.txt >f/g$i.gz
		printf '<?xml version="1.0"?><a>%d</a>\n' $i >f/x$i.xml; head -c $((i * 10)) /dev/zero >f/z$i
		printf 'int main(void) { return %d; }\n' $i >f/c$i.c
	done
}

run() {
	cd "$CASE_DATA/f"
	bm file * | md5sum
	bm file -i -z * | md5sum
	bm file -b elf1 j1.json t1.txt g1.gz x1.xml c1.c
}
