//! Link settings of the shared object (the cdylib), in one place for cargo and the Makefile.
//!
//! - SONAME `libbmalloc.so.<ABI_MAJOR>`: a program linked with `-lbmalloc` records that name,
//!   which `make install` provides. The ABI is the C allocation calls'; its major version
//!   changes only if a call's contract ever does.
//! - Entry point `bmalloc_run_as_program` (src/selfrun.rs): run as a program, the library
//!   prints its version and how to use it, as libc.so.6 does.
//! - src/cxx_new.c, the slow path of C++'s operator new (see src/cxx.rs), for the shared object
//!   of the `preload` feature.

/// The Makefile reads this line: keep it in this form.
const ABI_MAJOR: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/cxx_new.c");
    println!("cargo:rustc-env=BMALLOC_ABI_MAJOR={ABI_MAJOR}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbmalloc.so.{ABI_MAJOR}");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && arch == "x86_64" && env == "gnu" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-e,bmalloc_run_as_program");
        // The program interpreter goes into the shared object only: an object of its own,
        // linked into the cdylib alone (in the rlib it would clash with a program's own).
        // "R" (retain) keeps it through the linker's --gc-sections, as nothing refers to it.
        let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
        let src = out.join("interp.s");
        let obj = out.join("interp.o");
        std::fs::write(
            &src,
            ".section .interp,\"aR\"\n.string \"/lib64/ld-linux-x86-64.so.2\"\n\
             .section .note.GNU-stack,\"\",@progbits\n",
        )
        .expect("write interp.s");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let status = std::process::Command::new(&cc)
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap_or_else(|e| panic!("{cc}: {e}"));
        assert!(
            status.success(),
            "{cc} could not assemble {}",
            src.display()
        );
        println!("cargo:rustc-cdylib-link-arg={}", obj.display());
        // The slow path of C++'s operator new (src/cxx.rs says why it is C), in the shared
        // object only: the `preload` build is the one that exports operator new.
        if std::env::var_os("CARGO_FEATURE_PRELOAD").is_some() {
            let obj = out.join("cxx_new.o");
            let status = std::process::Command::new(&cc)
                .args([
                    "-c",
                    "-O2",
                    "-fPIC",
                    "-fexceptions",
                    "-fvisibility=hidden",
                    "-Wall",
                ])
                .arg("src/cxx_new.c")
                .arg("-o")
                .arg(&obj)
                .status()
                .unwrap_or_else(|e| panic!("{cc}: {e}"));
            assert!(status.success(), "{cc} could not compile src/cxx_new.c");
            println!("cargo:rustc-cdylib-link-arg={}", obj.display());
        }
    }
}
