DESC="jq: parse, transform, group and sort a generated 30 MB JSON document"
NEEDS="jq md5sum"
APT="jq"
TIMEOUT=90
PROOF=(jq -n '[1,2,3] | add')

setup() {
	local n=100000; [ "$COMPAT_FAST" = 1 ] && n=30000
	"$PY" - $n <<'PY'
import json, sys
n = int(sys.argv[1]); x = 3; rows = []
for i in range(n):
    x = (x * 16807) % 2147483647
    rows.append({"id": i, "name": "user%d" % (x % 5000), "score": x % 1000 / 7.0,
                 "tags": ["t%d" % (x >> k & 15) for k in range(x % 6)], "nested": {"a": [x % 3, {"b": str(x)}]}})
json.dump({"rows": rows}, open("doc.json", "w"))
PY
}

run() {
	local D=$CASE_DATA
	bm jq -c '.rows | length' "$D/doc.json"
	bm jq -c '[.rows[] | select(.score > 100) | {id, name}] | length' "$D/doc.json"
	bm jq -c '.rows | group_by(.name) | map({name: .[0].name, n: length, s: (map(.score) | add)}) | sort_by(-.n, .name) | .[:5]' "$D/doc.json"
	bm jq -c '[.rows[].tags[]] | unique | length' "$D/doc.json"
	bm jq -S '.rows[:200]' "$D/doc.json" | md5sum
	bm jq -r '.rows[] | [.id, .name, (.tags | join("|"))] | @csv' "$D/doc.json" | md5sum
	bm jq -n '[range(0; 300000) | {k: "k\(. % 1000)", v: .}] | group_by(.k) | map(length) | add'
	echo '{"broken": ' | bm jq . >/dev/null 2>&1; echo "bad json rc=$?"
}
