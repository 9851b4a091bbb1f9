# Load for a memcached server on 127.0.0.1: THREADS client threads, each with its own
# connection, doing a fixed number of set/get/append/incr/delete operations on its own keys
# (deterministic results whatever the interleaving), bounded in time. Prints per-thread
# digests of everything read back, then the server's item count.
import hashlib, socket, sys, threading, time

port, threads, ops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
deadline = time.time() + float(sys.argv[4]) if len(sys.argv) > 4 else time.time() + 60

class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""
    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d: raise EOFError
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l
    def exact(self, n):
        while len(self.buf) < n + 2:
            d = self.s.recv(65536)
            if not d: raise EOFError
            self.buf += d
        v, self.buf = self.buf[:n], self.buf[n + 2:]
        return v
    def cmd(self, c, data=None):
        self.s.sendall(c + b"\r\n" + (data + b"\r\n" if data is not None else b""))
        return self.line()
    def get(self, k):
        self.s.sendall(b"get " + k + b"\r\n")
        l = self.line()
        if l == b"END": return None
        n = int(l.split()[3]); v = self.exact(n); assert self.line() == b"END"
        return v

out = [None] * threads
def worker(t):
    c = Conn(); h = hashlib.sha256(); x = t + 1; done = 0
    for i in range(ops):
        if time.time() > deadline: break
        x = (x * 16807) % 2147483647
        k = b"t%d:k%d" % (t, x % 2000)
        v = (b"%d-" % x) * (1 + x % 300)
        r = c.cmd(b"set %s 0 0 %d" % (k, len(v)), v); h.update(r)
        got = c.get(k); h.update(got or b"MISS")
        if i % 5 == 0: h.update(c.cmd(b"append %s 0 0 3" % k, b"abc")); h.update(c.get(k) or b"MISS")
        if i % 7 == 0:
            h.update(c.cmd(b"set n%d:%d 0 0 1" % (t, i % 50), b"5")); h.update(c.cmd(b"incr n%d:%d %d" % (t, i % 50, i)))
        if i % 11 == 0: h.update(c.cmd(b"delete %s" % k))
        done += 1
    out[t] = (done, h.hexdigest())
ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
for t, (done, d) in enumerate(out): print("client", t, done, d)
c = Conn()
c.s.sendall(b"stats\r\n"); stats = {}
while True:
    l = c.line()
    if l == b"END": break
    _, k, v = l.decode().split(" ", 2); stats[k] = v
print("curr_items", stats["curr_items"], "threads", stats["threads"])
