DESC="ls -lR (and sorted/colored variants) of a generated tree of ~6000 files and links"
NEEDS="ls"
PROOF=(ls -l /)
TIMEOUT=60

setup() {
	# 60 directories x 100 files of varied sizes, nested 3 deep, with symlinks; fixed mtimes.
	"$PY" - <<'PY'
import os
x = 12345
def rnd():
    global x
    x = (x * 16807) % 2147483647
    return x
for d in range(60):
    path = os.path.join("tree", "d%02d" % (d % 12), "sub%d" % (d // 12), "leaf%02d" % d)
    os.makedirs(path, exist_ok=True)
    for f in range(100):
        p = os.path.join(path, "file_%03d_%s.dat" % (f, "x" * (rnd() % 40)))
        with open(p, "wb") as fh:
            fh.write(b"z" * (rnd() % 5000))
        t = 1500000000 + rnd() % 100000000
        os.utime(p, (t, t))
    os.symlink("../" + "leaf%02d" % d, os.path.join(path, "link_up"))
    os.symlink("no/such/target", os.path.join(path, "dangling"))
PY
}

run() {
	bm ls -lR --time-style=full-iso "$CASE_DATA/tree"; echo "rc=$?"
	bm ls -lRaS "$CASE_DATA/tree" | md5sum; echo "rc=${PIPESTATUS[0]}"
	bm ls -lRt --color=always "$CASE_DATA/tree" | md5sum
	bm ls -R1iF "$CASE_DATA/tree" | md5sum
	bm ls -lR "$CASE_DATA/tree/no-such-dir"; echo "rc=$?"
}
