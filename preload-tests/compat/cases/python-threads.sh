DESC="python3: 8 threads allocating dicts/lists/strings/objects, cross-thread frees via queues, a thread pool"
NEEDS="python3"
PROOF=("$PY" -c "print(sum(range(10)))")
TIMEOUT=90

run() {
	# PYTHONHASHSEED fixed so that any set/dict iteration order is the same in both runs.
	PYTHONHASHSEED=0 bm "$PY" "$CASE_SRC/py_threads.py" 40; echo "rc=$?"
}
