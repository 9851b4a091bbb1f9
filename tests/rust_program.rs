//! A Rust program that depends on bmalloc with the default features and uses `Bmalloc`
//! (examples/global_alloc.rs) exports no C allocation symbol, leaves the process's C malloc
//! alone, prints no exit report unless BMALLOC_STATS asks, and really allocates through
//! bmalloc (the report, when asked for, counts its blocks).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the example in a target directory of its own (the outer cargo may hold the lock on
/// the usual one) and returns the binary.
fn example() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join("rust-program-test");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--example", "global_alloc"])
        .arg("--target-dir")
        .arg(&dir)
        .current_dir(root)
        .env_remove("RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the example builds");
    dir.join("release").join("examples").join("global_alloc")
}

/// The C allocation symbols the shared object exports.
const C_SYMBOLS: &[&str] = &[
    "malloc",
    "free",
    "calloc",
    "realloc",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "mallinfo",
    "malloc_trim",
];

#[test]
fn a_rust_program_on_bmalloc_exports_no_c_allocator_and_prints_no_report() {
    let exe = example();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&exe)
        .output()
        .expect("nm (binutils) runs");
    let symbols = String::from_utf8_lossy(&nm.stdout);
    for line in symbols.lines() {
        let name = line.split_whitespace().last().unwrap_or("");
        assert!(
            !C_SYMBOLS.contains(&name),
            "the program exports {name}: {line}"
        );
    }
    let quiet = Command::new(&exe)
        .env_remove("BMALLOC_STATS")
        .output()
        .expect("the example runs");
    assert!(quiet.status.success());
    let out = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        out.contains("(\"w0\", ") && out.contains("(\"w3\", "),
        "its output: {out}"
    );
    let err = String::from_utf8_lossy(&quiet.stderr);
    assert!(
        !err.contains("Memory Statistics"),
        "a report nobody asked for: {err}"
    );

    let asked = Command::new(&exe)
        .env("BMALLOC_STATS", "1")
        .output()
        .expect("the example runs");
    assert!(asked.status.success());
    assert_eq!(asked.stdout, quiet.stdout, "the same result");
    let report = String::from_utf8_lossy(&asked.stderr);
    assert!(
        report.contains("V Memory Statistics (bmalloc: "),
        "{report}"
    );
    // Its heaps counted the program's allocations: some B line has mallocs.
    let mallocs: u64 = report
        .lines()
        .filter(|l| l.starts_with("B "))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .split('/')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        mallocs > 10_000,
        "bmalloc served the program's allocations: {report}"
    );
}
