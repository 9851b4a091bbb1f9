DESC="CPython regression tests, containers and strings: dict, list, set, tuple, deque, collections, array, heapq, sort, str, bytes"
NEEDS="python3"
APT="libpython3.11-testsuite"
FAST=1
TIMEOUT=180
PROOF=("$PY" -c "import threading, collections; print(len(collections.Counter('abracadabra')))")
usable() { pick_cpython >/dev/null; }

run() {
	# the fast subset (make test) runs the core container tests only
	[ "$COMPAT_FAST" = 1 ] && { cpython_tests test_dict test_list test_set test_deque test_collections; return; }
	cpython_tests test_dict test_list test_set test_tuple test_deque test_collections test_ordered_dict test_defaultdict test_userdict test_userlist test_array test_heapq test_bisect test_sort test_dictviews test_unicode test_bytes test_string
}
