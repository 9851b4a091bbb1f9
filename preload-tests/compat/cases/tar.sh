DESC="tar: create (plain, gzip, xz) a generated tree of 3,000 files, list, extract, compare"
NEEDS="tar gzip xz md5sum"
TIMEOUT=120
PROOF=(tar --version)

setup() {
	"$PY" - <<'PY'
import os
x = 7
for d in range(30):
    p = "tree/dir%02d/sub%d" % (d, d % 4)
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        x = (x * 16807) % 2147483647
        with open("%s/f%03d.txt" % (p, f), "w") as fh:
            fh.write(("line %d %d\n" % (f, x)) * (x % 200))
        os.utime("%s/f%03d.txt" % (p, f), (1600000000 + x % 1000000,) * 2)
PY
}

run() {
	local D=$CASE_DATA
	# Fixed owner, order and mtime options: the archive bytes themselves must be identical.
	local opts=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 -C "$D")
	bm tar -cf t.tar "${opts[@]}" tree; echo "tar c rc=$?"; md5sum <t.tar
	bm tar -czf t.tgz "${opts[@]}" tree; echo "tar cz rc=$?"
	bm tar -cJf t.txz "${opts[@]}" tree; echo "tar cJ rc=$?"
	gzip -dc t.tgz | md5sum; xz -dc t.txz | md5sum
	bm tar -tvf t.tar | md5sum
	mkdir x1 x2
	bm tar -xzf t.tgz -C x1; echo "tar xz rc=$?"
	bm tar -xJf t.txz -C x2; echo "tar xJ rc=$?"
	diff -r x1/tree "$D/tree" && diff -r x2/tree "$D/tree" && echo "trees identical"
	bm tar -df t.tar -C "$D"; echo "tar -d rc=$?"
	bm tar -xf t.tar -C x1 no/such/member 2>/dev/null; echo "missing member rc=$?"
}
