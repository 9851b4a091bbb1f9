//! A Rust program on bmalloc: `bmalloc::Bmalloc` as its global allocator, with threads that
//! build `String`s, `Vec`s and `HashMap`s and hand them to each other over channels.
//!
//!     cargo run --release --example global_alloc
//!     BMALLOC_STATS=1 cargo run --release --example global_alloc   # with the exit report

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: bmalloc::Bmalloc = bmalloc::Bmalloc;

fn main() {
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..2000 {
                    let words = (0..8).map(|j| format!("w{}-{}-{}", t, i, j)).collect();
                    tx.send(words).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    // The consumer frees what the producers allocated.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for words in rx {
        for w in words {
            let key = w.split('-').next().unwrap().to_string();
            *counts.entry(key).or_default() += w.len();
        }
    }
    for p in producers {
        p.join().unwrap();
    }
    let mut keys: Vec<_> = counts.into_iter().collect();
    keys.sort();
    println!("{keys:?}");
}
