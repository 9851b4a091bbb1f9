// Node.js workload with deterministic output: objects, Maps, strings, JSON, Buffers, zlib
// (native, malloc-backed), crypto, and worker_threads exchanging data.
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const zlib = require('zlib');
const crypto = require('crypto');

function lcg(x) { return (x * 16807) % 2147483647; }

function work(seed, n) {
  let x = seed; const m = new Map(); const parts = [];
  for (let i = 0; i < n; i++) {
    x = lcg(x);
    const k = 'k' + (x % 3000);
    const e = m.get(k) || { n: 0, s: [] };
    e.n++; if (e.s.length < 20) e.s.push(x.toString(36));
    m.set(k, e);
    if (i % 100 === 0) parts.push(JSON.stringify({ i, x, t: [x % 7, x % 11] }));
  }
  const big = Buffer.from(parts.join('\n'));
  const z = zlib.gzipSync(big, { level: 6 });
  const back = zlib.gunzipSync(z);
  const h = crypto.createHash('sha256').update(back).digest('hex');
  const keys = [...m.keys()].sort();
  return { keys: keys.length, first: keys.slice(0, 3), h, zlen: z.length, blen: big.length };
}

if (isMainThread) {
  const n = parseInt(process.argv[2] || '300000', 10);
  const results = [];
  let done = 0;
  for (let t = 0; t < 4; t++) {
    const w = new Worker(__filename, { workerData: { seed: t + 1, n } });
    w.on('message', (r) => { results[t] = r; if (++done === 4) finish(); });
    w.on('error', (e) => { console.error(e); process.exit(3); });
  }
  function finish() {
    results.forEach((r, t) => console.log('worker', t, JSON.stringify(r)));
    const local = work(99, n);
    console.log('main', JSON.stringify(local));
    const arr = Array.from({ length: Math.min(200000, n * 2) }, (_, i) => ({ id: i, s: 'x'.repeat(i % 40) }));
    arr.sort((a, b) => b.s.length - a.s.length || a.id - b.id);
    console.log('sorted', arr[0].id, arr[arr.length - 1].id, JSON.stringify(arr.slice(0, 1000)).length);
    const br = zlib.brotliCompressSync(Buffer.from(JSON.stringify(arr.slice(0, Math.min(50000, n)))));
    console.log('brotli', zlib.brotliDecompressSync(br).length);
  }
} else {
  parentPort.postMessage(work(workerData.seed, workerData.n));
}
