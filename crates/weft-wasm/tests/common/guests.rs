//! The guest components of `sdk/`, built from source for `wasm32-wasip2` once per test process,
//! and a stand-in for the API the CRM example talks to. Used by weft-wasm's tests and, through `#[path]`, by other crates' tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use axum::extract::Query;
use axum::http::HeaderMap;
use serde_json::{Value, json};

/// The compiled guests of `sdk/` (`.wasm` component bytes).
pub struct Guests {
    pub hostile: Vec<u8>,
    pub transform: Vec<u8>,
    /// The CRM connector example (`sdk/examples/crm`).
    pub crm: Vec<u8>,
    pub not_weft: Vec<u8>,
    pub bad_describe: Vec<u8>,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// `$CARGO_TARGET_DIR/wasm-guests`, else `<repo>/target/wasm-guests`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => repo().join(d).join("wasm-guests"),
        None => repo().join("target").join("wasm-guests"),
    }
}

/// Builds the sdk workspace for `wasm32-wasip2` (once per process; cargo's own lock on the
/// target directory serializes test processes) and reads the components.
pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let target = target_dir();
        let out = Command::new(env!("CARGO"))
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target)
            .current_dir(repo().join("sdk"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("cargo runs");
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let missing = stderr.contains("may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`");
            if missing {
                panic!(
                    "the Rust target wasm32-wasip2 is not installed, so the test components cannot be built: run `rustup target add wasm32-wasip2`\n{stderr}"
                );
            }
            panic!("building the sdk/ components failed:\n{stderr}");
        }
        let dir = target.join("wasm32-wasip2/release");
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        Guests {
            hostile: read("hostile.wasm"),
            transform: read("transform.wasm"),
            crm: read("acme_crm.wasm"),
            not_weft: read("not-weft.wasm"),
            bad_describe: read("bad_describe.wasm"),
        }
    })
}

/// Acme CRM: 5 contacts, 2 per page, oldest first; answers 401 without the key `k-123`.
pub async fn acme_crm_api() -> String {
    async fn contacts(
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> (axum::http::StatusCode, axum::Json<Value>) {
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k-123") {
            return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad key"})));
        }
        let since = q.get("updated_since").cloned().unwrap_or_default();
        let all: Vec<Value> = (1..=5)
            .map(|n| json!({"id": n, "name": format!("C{n}"), "updated_at": format!("2026-01-0{n}T00:00:00Z")}))
            .filter(|c| c["updated_at"].as_str().unwrap() >= since.as_str())
            .collect();
        let page: usize = q.get("page_token").map_or(0, |t| t.parse().unwrap());
        let items: Vec<Value> = all.iter().skip(page * 2).take(2).cloned().collect();
        let next = (all.len() > (page + 1) * 2).then(|| (page + 1).to_string());
        (axum::http::StatusCode::OK, axum::Json(json!({"items": items, "next_page_token": next})))
    }
    let app = axum::Router::new().route("/api/contacts", axum::routing::get(contacts)).route(
        "/api/lists",
        axum::routing::get(|| async { axum::Json(json!({"items": [{"id": "l1", "name": "Leads"}]})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api")
}
