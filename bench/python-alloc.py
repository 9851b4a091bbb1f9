# python: a real program -- CPython 3 running an allocation-heavy script.
#
# Mirrors the "real programs" rows of allocator papers (mimalloc-bench runs
# redis, lean, z3...; we run the interpreter every Debian machine has).  The
# script builds and discards many dicts, lists, strings and bytes objects,
# round-trips them through json, sorts, and joins -- the objects above 512
# bytes (list and dict tables, long strings) go to malloc; smaller ones to
# CPython's own pymalloc arenas, as in any real Python program.
# Stresses: a mature program's natural mix of realloc-grown tables, medium
# strings and short-lived temporaries.
#
# Usage: python3 python-alloc.py N    -- N rounds; prints RESULT with a digest
# that is the same under every allocator (the bench script compares it).
import hashlib, json, random, sys, time

def round_(rng, r, h):
    # a table of records, like parsed log lines
    recs = []
    for i in range(4000):
        recs.append({"id": i, "user": "user%05d" % rng.randrange(100000),
                     "path": "/".join("seg%d" % rng.randrange(50) for _ in range(rng.randrange(1, 8))),
                     "tags": [rng.randrange(1000) for _ in range(rng.randrange(0, 40))],
                     "body": "x" * rng.randrange(0, 3000)})
    # index them: dicts of lists, growing
    by_user = {}
    for rec in recs:
        by_user.setdefault(rec["user"][:6], []).append(rec)
    # json round trip (large strings, many temporaries)
    s = json.dumps(recs)
    back = json.loads(s)
    if back != recs:
        raise SystemExit("json round trip differs")
    # sort and join
    recs.sort(key=lambda x: (x["path"], x["id"]))
    joined = "\n".join("%s %s %d" % (x["user"], x["path"], len(x["tags"])) for x in recs)
    # a string builder and bytearray growth
    ba = bytearray()
    for x in recs[:2000]:
        ba += x["body"].encode() + b"|"
    h.update(joined.encode()); h.update(ba); h.update(str(len(by_user)).encode())
    return len(s)

def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rng = random.Random(2026)
    h = hashlib.sha256()
    t0 = time.monotonic()
    total = 0
    for r in range(n):
        total += round_(rng, r, h)
    dt = time.monotonic() - t0
    print("RESULT python rounds=%d secs=%.3f ops_per_s=%.2f json_bytes=%d digest=%s" % (n, dt, n / dt, total, h.hexdigest()[:16]))

main()
