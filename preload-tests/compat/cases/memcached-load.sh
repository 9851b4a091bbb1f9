DESC="memcached -t 4 (a multithreaded server) under load on 127.0.0.1: 8 client threads, 160k requests, bounded at 90 s"
NEEDS="memcached"
APT="memcached"
FAST=1
TIMEOUT=150
PROOF=(memcached -h)

run() {
	local port ops=20000; [ "$COMPAT_FAST" = 1 ] && ops=2000
	port=$(free_port)
	bm memcached -l 127.0.0.1 -p "$port" -U 0 -t 4 -m 256 -c 256 -u root &
	local srv=$!
	wait_port "$port" 20 || return 1
	# The client is the load generator, on glibc in both runs: the server is under test.
	# Results are per-thread digests of the replies: identical unless a reply differed.
	env -u LD_PRELOAD "$PY" "$CASE_SRC/mc_load.py" "$port" 8 $ops 90; echo "client rc=$?"
	kill -TERM $srv; wait $srv; echo "server rc=$?"
}
