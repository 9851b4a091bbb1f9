DESC="CPython regression tests, library: re, json, pickle, itertools, functools, sqlite3, zlib, hashlib, math, long, float, exceptions, descr, etree, subprocess"
NEEDS="python3"
APT="libpython3.11-testsuite"
FAST=0
TIMEOUT=300
PROOF=("$PY" -c "import threading, collections; print(len(collections.Counter('abracadabra')))")
usable() { pick_cpython >/dev/null; }

run() {
	cpython_tests test_re test_json test_pickle test_itertools test_functools test_sqlite3 test_zlib test_hashlib test_math test_long test_float test_exceptions test_descr test_xml_etree_c test_subprocess
}
