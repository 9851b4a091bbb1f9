# Multithreaded allocation-heavy CPython workload with deterministic output.
# Threads build and tear down dicts, lists, strings, bytes and objects, hand objects to each
# other through queues (so memory allocated in one thread is freed in another), and each
# thread's result is a digest printed in thread order.
import hashlib, queue, sys, threading
from concurrent.futures import ThreadPoolExecutor

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
NTHREADS = 8

class Node:
    __slots__ = ("key", "val", "kids")
    def __init__(self, key, val):
        self.key, self.val, self.kids = key, val, []

def worker(tid, out, inbox, outbox):
    h = hashlib.sha256()
    x = tid + 1
    for r in range(ROUNDS):
        d = {}
        for i in range(2000):
            x = (x * 16807) % 2147483647
            k = "k%d_%d" % (x % 5000, tid)
            d[k] = d.get(k, []) + [x % 997, str(x)]
        lst = sorted(d.items())
        s = "|".join("%s=%s" % (k, ",".join(map(str, v))) for k, v in lst[:300])
        h.update(s.encode())
        root = Node("r", r)
        for i in range(500):
            n = Node(str(i), bytes([i % 256]) * (i % 300))
            root.kids.append(n)
        h.update(b"".join(n.val for n in root.kids[::7]))
        outbox.put([bytearray(s[:1000].encode()), {i: str(i) * 3 for i in range(200)}])
        got = inbox.get()
        h.update(bytes(got[0]))
        h.update(repr(sorted(got[1].items())[:20]).encode())
        del d, lst, root, got
    out[tid] = h.hexdigest()

def main():
    queues = [queue.Queue() for _ in range(NTHREADS)]
    out = [None] * NTHREADS
    threads = [threading.Thread(target=worker, args=(t, out, queues[t], queues[(t + 1) % NTHREADS]))
               for t in range(NTHREADS)]
    for t in threads: t.start()
    for t in threads: t.join()
    for t, digest in enumerate(out):
        print("thread", t, digest)

    def task(n):
        words = ["w%d" % ((n * 31 + i) % 1000) for i in range(20000)]
        counts = {}
        for w in words: counts[w] = counts.get(w, 0) + 1
        return n, len(counts), sum(len(w) for w in words), max(counts.values())
    with ThreadPoolExecutor(max_workers=6) as ex:
        for res in ex.map(task, range(64)):
            print("task", *res)
    big = [str(i) * (i % 50) for i in range(200000)]
    print("big", len(big), sum(map(len, big)), hashlib.md5("".join(big[::997]).encode()).hexdigest())

main()
