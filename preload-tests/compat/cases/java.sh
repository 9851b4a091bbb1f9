DESC="the JVM: javac compiling a program, which runs a thread pool, ConcurrentHashMap, parallel streams, zip, direct buffers"
NEEDS="java javac md5sum"
APT="openjdk-17-jdk-headless"
FAST=1
TIMEOUT=120
PROOF=(java -Xshare:auto -version)

run() {
	local n=200000; [ "$COMPAT_FAST" = 1 ] && n=50000
	bm javac -d classes "$CASE_SRC/java/Compat.java"; echo "javac rc=$?"
	# javac's output must be byte-identical whichever allocator it ran on
	md5sum classes/*.class
	bm java -cp classes Compat $n; echo "java rc=$?"
	bm java -cp classes NoSuchClass 2>/dev/null; echo "missing class rc=$?"
}
