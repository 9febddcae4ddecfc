//! The guest components of `sdk/`, built from source for `wasm32-wasip2` once per test process,
//! (or, on a machine without that target, the committed prebuilt ones), and a stand-in for the
//! API the CRM example talks to. Used by weft-wasm's tests and, through `#[path]`, by other
//! crates' tests and benches.

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
    /// False when the Rust target `wasm32-wasip2` is missing and the committed prebuilt
    /// components (`sdk/prebuilt/`) stand in.
    pub from_source: bool,
}

/// The files of each guest, as cargo names them and as `sdk/prebuilt/` keeps them.
pub const GUEST_FILES: [&str; 5] =
    ["hostile.wasm", "transform.wasm", "acme_crm.wasm", "not-weft.wasm", "bad_describe.wasm"];

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

/// Where `scripts/prebuild-components` keeps the guests built from this repository's sources,
/// for machines that cannot install the `wasm32-wasip2` target.
pub fn prebuilt_dir() -> PathBuf {
    repo().join("sdk/prebuilt")
}

/// Builds the sdk workspace for `wasm32-wasip2` (once per process; cargo's own lock on the
/// target directory serializes test processes) and reads the components. Without the target
/// (a machine that refused `rustup target add`), the prebuilt components stand in.
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
        let (dir, from_source) = if out.status.success() {
            (target.join("wasm32-wasip2/release"), true)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let missing = stderr.contains("may not be installed")
                || stderr.contains("can't find crate for `core`")
                || stderr.contains("can't find crate for `std`");
            if !missing {
                panic!("building the sdk/ components failed:\n{stderr}");
            }
            eprintln!(
                "warning: the Rust target wasm32-wasip2 is not installed (run `rustup target add wasm32-wasip2`): \
                 using the prebuilt components of sdk/prebuilt/"
            );
            (prebuilt_dir(), false)
        };
        let read = |name: &str| std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        Guests {
            hostile: read(GUEST_FILES[0]),
            transform: read(GUEST_FILES[1]),
            crm: read(GUEST_FILES[2]),
            not_weft: read(GUEST_FILES[3]),
            bad_describe: read(GUEST_FILES[4]),
            from_source,
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
    async fn lists(headers: HeaderMap) -> (axum::http::StatusCode, axum::Json<Value>) {
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k-123") {
            return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad key"})));
        }
        (axum::http::StatusCode::OK, axum::Json(json!({"items": [{"id": "l1", "name": "Leads"}]})))
    }
    let app = axum::Router::new()
        .route("/api/contacts", axum::routing::get(contacts))
        .route("/api/lists", axum::routing::get(lists));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api")
}
