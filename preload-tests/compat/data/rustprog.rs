// A Rust program (std's System allocator = the C malloc, so it runs on bmalloc under the
// preload): threads, channels moving heap data between threads, collections, strings.
use std::collections::{BTreeMap, HashMap};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

fn lcg(x: &mut u64) -> u64 { *x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); *x >> 33 }

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let shared = Arc::new(Mutex::new(BTreeMap::new()));
    let mut handles = Vec::new();
    for t in 0..6u64 {
        let tx = tx.clone();
        let shared = Arc::clone(&shared);
        handles.push(thread::spawn(move || {
            let mut x = t + 1;
            let mut map: HashMap<String, Vec<u64>> = HashMap::new();
            let mut batch = Vec::new();
            for i in 0..n {
                let v = lcg(&mut x);
                map.entry(format!("k{}", v % 4096)).or_default().push(v);
                batch.push(format!("{t}-{i}-{v:x}"));
                if batch.len() == 512 { tx.send(std::mem::take(&mut batch)).unwrap(); }
                if i % 1000 == 0 { map.retain(|_, v| v.len() < 40); }
            }
            tx.send(batch).unwrap();
            let total: usize = map.values().map(|v| v.len()).sum();
            shared.lock().unwrap().insert(t, (map.len(), total));
        }));
    }
    drop(tx);
    let (mut strings, mut bytes, mut h) = (0usize, 0usize, 0u64);
    for batch in rx { for s in batch { strings += 1; bytes += s.len(); h = h.wrapping_add(s.bytes().map(|b| b as u64).sum::<u64>()); } }
    for j in handles { j.join().unwrap(); }
    for (t, (keys, total)) in shared.lock().unwrap().iter() { println!("thread {t}: {keys} keys, {total} values"); }
    let mut v: Vec<Box<[u8]>> = (0..20000).map(|i| vec![(i % 251) as u8; i % 3000].into_boxed_slice()).collect();
    v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    println!("strings {strings} bytes {bytes} hash {h} boxes {} first {}", v.len(), v[0].len());
}
