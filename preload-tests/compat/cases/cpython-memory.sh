DESC="CPython regression tests, memory: gc, weakref, memoryview, BytesIO, tracemalloc, mmap, buffer, struct, bigmem, finalization"
NEEDS="python3"
APT="libpython3.11-testsuite"
FAST=0
TIMEOUT=180
PROOF=("$PY" -c "import threading, collections; print(len(collections.Counter('abracadabra')))")
usable() { pick_cpython >/dev/null; }

run() {
	cpython_tests test_gc test_weakref test_memoryview test_memoryio test_tracemalloc test_mmap test_buffer test_struct test_bigmem test_finalization test_picklebuffer
}
