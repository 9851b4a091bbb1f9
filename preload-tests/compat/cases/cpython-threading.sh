DESC="CPython regression tests, threads: threading, _thread, thread-locals, queue, signals in threads, temp files from threads"
NEEDS="python3"
APT="libpython3.11-testsuite"
FAST=0
TIMEOUT=240
PROOF=("$PY" -c "import threading, collections; print(len(collections.Counter('abracadabra')))")
usable() { pick_cpython >/dev/null; }

run() {
	cpython_tests test_threading test_thread test_threading_local test_queue test_threadsignals test_threadedtempfile
}
