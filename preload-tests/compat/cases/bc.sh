DESC="bc: arbitrary precision arithmetic (2^200000, sqrt and atan to 3000 digits, factorials)"
NEEDS="bc md5sum"
APT="bc"
TIMEOUT=60
PROOF=(bc -q /dev/null)

run() {
	echo '2^200000' | bm bc | md5sum
	echo 'scale=3000; sqrt(2)' | bm bc | md5sum
	echo 'scale=2000; 4*a(1)' | bm bc -l | md5sum
	printf 'define f(n) { if (n < 2) return 1; return n * f(n - 1); }\nf(2000)\n' | bm bc | md5sum
	echo '1/0' | bm bc 2>&1; echo "rc=$?"
}
