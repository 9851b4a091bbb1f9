DESC="openssl: digests, AES/ChaCha encryption with fixed keys, base64, EC key parsing, s_server/s_client over loopback"
NEEDS="openssl md5sum"
APT="openssl"
TIMEOUT=90
PROOF=(openssl version)

setup() {
	gen_bytes 30000000 81 >data.bin
	# A fixed key pair made once: key generation itself is random, parsing and signing with it are not.
	env -u LD_PRELOAD openssl genpkey -algorithm ed25519 -out ed.key 2>/dev/null
	env -u LD_PRELOAD openssl req -new -x509 -key ed.key -subj /CN=localhost -days 2 -out ed.crt 2>/dev/null
}

run() {
	local D=$CASE_DATA
	bm openssl dgst -sha256 -r "$D/data.bin" | cut -d' ' -f1
	bm openssl dgst -sha3-512 -r "$D/data.bin" | cut -d' ' -f1
	bm openssl enc -aes-256-cbc -K "$(printf '%064x' 7)" -iv "$(printf '%032x' 9)" -in "$D/data.bin" | md5sum
	bm openssl enc -chacha20 -K "$(printf '%064x' 7)" -iv "$(printf '%032x' 9)" -in "$D/data.bin" -out c.bin; echo "enc rc=$?"
	bm openssl enc -d -chacha20 -K "$(printf '%064x' 7)" -iv "$(printf '%032x' 9)" -in c.bin | cmp -s - "$D/data.bin" && echo "round trip ok"
	head -c 3000000 "$D/data.bin" | bm openssl base64 | bm openssl base64 -d | md5sum
	bm openssl pkey -in "$D/ed.key" -pubout | md5sum
	head -c 100000 "$D/data.bin" >msg; bm openssl pkeyutl -sign -rawin -inkey "$D/ed.key" -in msg | md5sum
	bm openssl x509 -in "$D/ed.crt" -noout -subject
	# TLS 1.3 handshake and data over loopback, both ends on bmalloc.
	local port; port=$(free_port)
	bm openssl s_server -quiet -accept 127.0.0.1:$port -cert "$D/ed.crt" -key "$D/ed.key" -naccept 1 >srv.out 2>/dev/null &
	local srv=$!
	wait_port $port 10 || return 1
	(head -c 200000 "$D/data.bin" | bm openssl base64; sleep 1) | bm openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:$port >/dev/null 2>&1
	wait $srv
	md5sum <srv.out
}
