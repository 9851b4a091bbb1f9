DESC="redis-server on 127.0.0.1 driven by redis-benchmark (bounded: 12 tests x 20k requests, 20 clients, 2 client threads) and redis-cli data checks"
NEEDS="redis-server redis-benchmark redis-cli md5sum"
APT="redis-server redis-tools"
FAST=1
TIMEOUT=120
PROOF=(redis-server --version)

run() {
	local port n=20000
	[ "$COMPAT_FAST" = 1 ] && n=2000
	port=$(free_port)
	# Loopback only, no persistence, bounded memory. No --io-threads: its I/O threads busy-poll,
	# which on a shared 2-core machine makes each test take seconds instead of milliseconds.
	bm redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no \
		--maxmemory 512mb --dir "$CASE_WORK" --logfile "$CASE_WORK/redis.log" &
	local srv=$!
	wait_port "$port" 20 || return 1
	# redis-benchmark's CSV has throughput and latencies, which vary: only the test names are kept
	# (every test must have completed and reported).
	bm redis-benchmark -h 127.0.0.1 -p "$port" -n $n -c 20 -r 10000 -d 100 --threads 2 --csv \
		-t set,get,incr,lpush,rpush,lpop,sadd,hset,spop,zadd,lrange_100,mset 2>&1 |
		tr '\r' '\n' | grep '^"' | cut -d, -f1 | sort
	echo "benchmark rc=${PIPESTATUS[0]}"
	# Deterministic data, written through a pipeline of 20,000 commands, then read back.
	env -u LD_PRELOAD awk 'BEGIN { for (i = 0; i < 20000; i++) {
		v = ""; for (k = 0; k <= i % 7; k++) v = v "v"
		printf "SET key:%d %s%d\r\nRPUSH list:%d %d\r\nHSET h:%d f%d %d\r\nZADD z %d m%d\r\n", i, v, i, i % 10, i, i % 100, i, i, i * 7 % 1000, i
	} }' >cmds.txt
	bm redis-cli -h 127.0.0.1 -p "$port" --pipe <cmds.txt | tail -1 | sed 's/^.*errors/errors/'
	bm redis-cli -h 127.0.0.1 -p "$port" GET key:1234
	bm redis-cli -h 127.0.0.1 -p "$port" LLEN list:3
	bm redis-cli -h 127.0.0.1 -p "$port" LRANGE list:7 0 4 | tr '\n' ' '; echo
	bm redis-cli -h 127.0.0.1 -p "$port" HLEN h:42
	bm redis-cli -h 127.0.0.1 -p "$port" ZRANGEBYSCORE z 500 501 | md5sum
	bm redis-cli -h 127.0.0.1 -p "$port" --scan --pattern 'key:12*' | sort | md5sum
	bm redis-cli -h 127.0.0.1 -p "$port" EVAL "local t = {} for i = 1, 10000 do t[i] = redis.call('GET', 'key:' .. i) end return #t" 0
	bm redis-cli -h 127.0.0.1 -p "$port" DEBUG RELOAD >/dev/null 2>&1
	bm redis-cli -h 127.0.0.1 -p "$port" FLUSHALL
	bm redis-cli -h 127.0.0.1 -p "$port" DBSIZE
	bm redis-cli -h 127.0.0.1 -p "$port" SHUTDOWN NOSAVE 2>/dev/null
	wait $srv; echo "server rc=$?"
	grep -E 'crash|Assertion|Segmentation' redis.log | head -3
}
