DESC="find (-printf, -regex, -newer, -exec +) and xargs -P over a tree of 6,000 entries"
NEEDS="find xargs md5sum"
TIMEOUT=60
PROOF=(find /etc -maxdepth 1 -name passwd)

setup() {
	"$PY" - <<'PY'
import os
for d in range(60):
    p = "tree/%s/d%02d" % ("abc"[d % 3], d)
    os.makedirs(p, exist_ok=True)
    for f in range(100):
        fn = "%s/file%03d.%s" % (p, f, ("txt", "c", "h", "log")[f % 4])
        with open(fn, "w") as fh:
            fh.write("x" * ((d * 100 + f) % 777))
        os.utime(fn, (1600000000 + d * 1000 + f,) * 2)
PY
}

run() {
	export LC_ALL=C TZ=UTC
	cd "$CASE_DATA"
	bm find tree -type f -printf '%p %s %TY-%Tm-%Td %m\n' | sort | md5sum
	bm find tree -regex '.*/d1[0-9]/file0[0-4][0-9]\.c' | sort | md5sum
	bm find tree -name '*.log' -size +1k | wc -l
	bm find tree -newer tree/b/d31/file050.log -type f | wc -l
	bm find tree -name '*.h' -exec wc -c {} + | sort -k2 | tail -2
	bm find tree -type f -print0 | bm xargs -0 -P 4 -n 50 cat | wc -c
	bm find tree -type f -name '*.txt' | sort | bm xargs -n 100 md5sum | md5sum
	bm find tree/no-such 2>/dev/null; echo "find missing rc=$?"
}
