//! Builds the role components for wasm32-wasip2 (profile `wasm`) so the
//! `supalite` binary can embed them as its defaults. Uses its own target
//! directory (`target/components`) to stay clear of the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const COMPONENTS: [&str; 10] = [
    "gateway",
    "rewriter",
    "verifier",
    "auth",
    "adapter",
    "bridge",
    "pgwire",
    "standalone",
    "role-env",
    "storage",
];

fn main() {
    let host_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = host_dir.parent().unwrap().to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("components").display()
    );
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    // The lock file, and where the `wasm` profile and the wasm stack size live.
    for f in ["Cargo.lock", "Cargo.toml", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }

    ensure_wasm_target();
    let target_dir = root.join("target").join("components");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // One cargo invocation per component: each enables its own world's
    // bindings in the `guest` crate, and features unify within one build.
    for c in COMPONENTS {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args([
                "build",
                "--locked",
                "--profile",
                "wasm",
                "--target",
                "wasm32-wasip2",
                "-p",
                c,
            ])
            .arg("--target-dir")
            .arg(&target_dir);
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_MAKEFLAGS",
            "MAKEFLAGS",
            "MFLAGS",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd
            .status()
            .expect("failed to run cargo for the wasm components");
        assert!(
            status.success(),
            "building the {c} component failed (see above)"
        );
    }
    for c in COMPONENTS {
        let built = target_dir
            .join("wasm32-wasip2")
            .join("wasm")
            .join(format!("{}.wasm", c.replace('-', "_")));
        std::fs::copy(&built, out.join(format!("{}.wasm", c.replace('-', "_"))))
            .unwrap_or_else(|e| panic!("missing {}: {e}", built.display()));
    }
}

/// Installs the wasm32-wasip2 target through rustup when it is missing.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok();
    let has_target = sysroot
        .map(|o| {
            Path::new(String::from_utf8_lossy(&o.stdout).trim())
                .join("lib/rustlib/wasm32-wasip2")
                .exists()
        })
        .unwrap_or(false);
    if !has_target {
        let ok = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "the wasm32-wasip2 target is missing; run `rustup target add wasm32-wasip2`"
        );
    }
}
