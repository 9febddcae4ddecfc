//! Architecture invariants of ARCHITECTURE.md that a machine can check: which crates may depend
//! on IO-bearing crates, where SQL and HTTP status codes may appear, and that every module opens
//! with a `//!` doc comment.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Every crate `krate` depends on (normal dependencies, transitively).
fn dependencies(krate: &str) -> Vec<String> {
    tree(krate, &[])
}

/// The crates `krate` itself lists as normal dependencies.
fn direct_dependencies(krate: &str) -> Vec<String> {
    tree(krate, &["--depth", "1"])
}

fn tree(krate: &str, extra: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-e", "normal", "--prefix", "none", "-p", krate])
        .args(extra)
        .current_dir(workspace())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

#[test]
fn model_and_engine_do_no_io() {
    const IO_CRATES: [&str; 8] = ["tokio", "sqlx", "axum", "hyper", "reqwest", "wasmtime", "mio", "socket2"];
    for krate in ["weft-model", "weft-flow"] {
        let deps = dependencies(krate);
        let bad: Vec<_> = deps.iter().filter(|d| IO_CRATES.contains(&d.as_str())).collect();
        assert!(bad.is_empty(), "{krate} must do no IO but depends on {bad:?}");
    }
}

/// Libraries return typed errors. (wasmtime uses anyhow inside; what counts is that no
/// library of ours depends on it or names it.)
#[test]
fn only_binaries_use_anyhow() {
    for krate in crates().iter().filter(|k| *k != "weft-cli") {
        assert!(
            !direct_dependencies(krate).contains(&"anyhow".to_string()),
            "{krate} is a library and must not depend on anyhow"
        );
        for (path, text) in sources(krate) {
            assert!(!text.contains("anyhow::"), "{} is in a library and must not use anyhow", path.display());
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(krate: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates").join(krate).join("src"), &mut files);
    files.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect()
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sql_lives_only_in_the_storage_crate() {
    for krate in crates().iter().filter(|c| *c != "weft-db") {
        for (path, text) in sources(krate) {
            for needle in ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM"] {
                assert!(!text.contains(needle), "{} contains SQL (`{needle}`); SQL belongs in weft-db", path.display());
            }
        }
    }
}

/// Our HTTP answers (status codes, error bodies) are decided in weft-api alone: no other crate
/// has the server framework as a (non-dev) dependency. Clients that read remote statuses
/// (weft-components' http.request, the CLI) are fine.
#[test]
fn only_the_http_crate_serves_http() {
    for krate in crates().iter().filter(|c| *c != "weft-api") {
        let manifest = std::fs::read_to_string(workspace().join("crates").join(krate).join("Cargo.toml")).unwrap();
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with("axum")),
            "{krate} depends on axum; only weft-api serves HTTP"
        );
    }
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    for krate in crates() {
        for (path, text) in sources(&krate) {
            assert!(text.starts_with("//!"), "{} must open with a `//!` comment saying what it is for", path.display());
        }
    }
}
