DESC="Node.js: 4 worker_threads, Maps/objects/strings, JSON, Buffers, zlib gzip/brotli, crypto hashes"
NEEDS="node"
APT="nodejs"
FAST=1
TIMEOUT=90
PROOF=(node -e 'console.log([1,2,3].map(x => x * 2).join())')

run() {
	local n=300000; [ "$COMPAT_FAST" = 1 ] && n=30000
	bm node "$CASE_SRC/node_work.js" $n; echo "rc=$?"
	bm node -e 'process.exit(7)'; echo "exit rc=$?"
}
