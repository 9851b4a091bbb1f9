//! The Rust workload of the benchmark suite: threads that build `String`s, `Vec`s and
//! `HashMap`s and move them to other threads over channels, so that most blocks die in a
//! thread other than the one that allocated them. Built once per global allocator (a Cargo
//! feature each); prints a checksum that must be the same for all.
//!
//! Usage: bmalloc-rust-bench THREADS ROUNDS

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

#[cfg(feature = "bmalloc")]
#[global_allocator]
static GLOBAL: bmalloc::Bmalloc = bmalloc::Bmalloc;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A record as a server would hold one: a name, tags, and numbers.
struct Record {
    name: String,
    tags: Vec<String>,
    values: Vec<u64>,
}

fn make(t: u64, i: u64) -> Record {
    let mut x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n_tags = (next() % 6) as usize;
    let n_values = (next() % 40) as usize;
    Record {
        name: format!("record-{t}-{i}-{}", next() % 1000),
        tags: (0..n_tags).map(|k| format!("tag{}", (next() % 50) + k as u64)).collect(),
        values: (0..n_values).map(|_| next() % 10_000).collect(),
    }
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let threads = args.first().copied().unwrap_or(2).max(1);
    let rounds = args.get(1).copied().unwrap_or(200);
    const BATCH: u64 = 500;
    // Producers build batches of records; consumers index them and pass the index on to a
    // collector, so records die two threads away from where they were made.
    let (to_consumers, from_producers) = mpsc::sync_channel::<Vec<Record>>(64);
    let from_producers = std::sync::Arc::new(std::sync::Mutex::new(from_producers));
    // Both channels are bounded, so the memory in flight is the same under every allocator
    // (with an unbounded one, how far the collector falls behind depends on scheduling).
    let (to_collector, from_consumers) = mpsc::sync_channel::<HashMap<String, Vec<u64>>>(16);
    let producers: Vec<_> = (0..threads)
        .map(|t| {
            let tx = to_consumers.clone();
            thread::spawn(move || {
                for r in 0..rounds {
                    let batch = (0..BATCH).map(|i| make(t, r * BATCH + i)).collect();
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(to_consumers);
    let consumers: Vec<_> = (0..threads)
        .map(|_| {
            let rx = from_producers.clone();
            let tx = to_collector.clone();
            thread::spawn(move || {
                loop {
                    let batch = match rx.lock().unwrap().recv() {
                        Ok(b) => b,
                        Err(_) => return,
                    };
                    let mut index: HashMap<String, Vec<u64>> = HashMap::new();
                    for rec in batch {
                        for tag in rec.tags {
                            index.entry(tag).or_default().extend(&rec.values);
                        }
                        index.entry(rec.name).or_default().push(rec.values.len() as u64);
                    }
                    tx.send(index).unwrap();
                }
            })
        })
        .collect();
    drop(to_collector);
    let mut sum = 0u64;
    let mut keys = 0u64;
    for index in from_consumers {
        for (k, v) in index {
            keys += 1;
            sum = sum.wrapping_add(k.len() as u64).wrapping_add(v.iter().sum::<u64>());
        }
    }
    for h in producers.into_iter().chain(consumers) {
        h.join().unwrap();
    }
    println!("keys {keys} sum {sum}");
}
