# Prints one line per test case of a regrtest --junit-xml file: "<class>.<name> <outcome>",
# sorted, then the counts. Durations in the XML are dropped (they differ run to run).
import sys, collections
import xml.etree.ElementTree as ET
rows, counts = [], collections.Counter()
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    outcome = "ok"
    for child in tc:
        if child.tag in ("failure", "error", "skipped"):
            outcome = child.tag
    rows.append("%s.%s %s" % (tc.get("classname", ""), tc.get("name", ""), outcome))
    counts[outcome] += 1
for r in sorted(rows):
    print(r)
print("counts", " ".join("%s=%d" % kv for kv in sorted(counts.items())))
