// JVM workload with deterministic output: a thread pool, ConcurrentHashMap, collections,
// strings, parallel streams, java.util.zip (native zlib, malloc-backed), and direct buffers.
import java.nio.ByteBuffer;
import java.util.*;
import java.util.concurrent.*;
import java.util.stream.*;
import java.util.zip.*;

public class Compat {
    static long lcg(long x) { return (x * 16807L) % 2147483647L; }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 200000;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        ConcurrentHashMap<String, Long> shared = new ConcurrentHashMap<>();
        List<Future<String>> fs = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            final int tid = t;
            fs.add(pool.submit(() -> {
                long x = tid + 1; TreeMap<String, List<Long>> m = new TreeMap<>(); StringBuilder sb = new StringBuilder();
                for (int i = 0; i < n; i++) {
                    x = lcg(x); String k = "k" + (x % 2000);
                    m.computeIfAbsent(k, kk -> new ArrayList<>()).add(x);
                    shared.merge(k, 1L, Long::sum);
                    if (i % 50 == 0) sb.append(Long.toString(x, 36)).append(',');
                }
                Deflater d = new Deflater(6); byte[] in = sb.toString().getBytes(); d.setInput(in); d.finish();
                byte[] out = new byte[in.length + 100]; int len = d.deflate(out); d.end();
                CRC32 c = new CRC32(); c.update(out, 0, len);
                return tid + " keys=" + m.size() + " first=" + m.firstKey() + " sb=" + sb.length() + " z=" + len + " crc=" + c.getValue();
            }));
        }
        for (Future<String> f : fs) System.out.println(f.get());
        pool.shutdown();
        pool.awaitTermination(1, TimeUnit.MINUTES);
        long total = shared.values().stream().mapToLong(Long::longValue).sum();
        System.out.println("shared keys=" + shared.size() + " total=" + total);
        List<String> words = IntStream.range(0, n).parallel().mapToObj(i -> "w" + (i * 7919 % 10007)).collect(Collectors.toList());
        Map<String, Long> counts = words.parallelStream().collect(Collectors.groupingByConcurrent(w -> w, Collectors.counting()));
        System.out.println("words=" + words.size() + " distinct=" + counts.size() + " max=" + Collections.max(counts.values()));
        long s = 0;
        for (int i = 0; i < 200; i++) { ByteBuffer b = ByteBuffer.allocateDirect(64 * 1024 + i); b.put(0, (byte) i); s += b.get(0) + b.capacity(); }
        System.out.println("direct " + s);
    }
}
