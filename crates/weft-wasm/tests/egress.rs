//! Outbound HTTP and state: the guest reaches the network only through the egress guard, and
//! state only through the services the caller passed (their scope, not one the guest names).

mod common;

use std::sync::Arc;

use common::{call, guests, host_with, hostile, run};
use serde_json::json;
use weft_components::EgressGuard;
use weft_model::ErrorKind;
use weft_wasm::{Limits, MemoryServices, WasmHostConfig};

async fn refused(url: &str) -> String {
    let (out, _) = run(&hostile().await, "fetch", json!({"url": url}), &Limits::default()).await;
    let e = out.expect_err(url);
    assert_eq!(e.kind, ErrorKind::EgressDenied, "{url}: {e:?}");
    e.message
}

#[tokio::test]
async fn internal_addresses_are_refused() {
    let m = refused("http://127.0.0.1:9/").await;
    assert_eq!(
        m,
        "127.0.0.1 is a loopback address (in 127.0.0.0/8); outbound connections to it are refused; allow it with --egress-allow 127.0.0.1/32"
    );
    let m = refused("http://10.0.0.1/").await;
    assert!(m.starts_with("10.0.0.1 is a private address (in 10.0.0.0/8)"), "{m}");
    let m = refused("http://169.254.169.254/latest/meta-data/").await;
    assert!(m.starts_with("169.254.169.254 is a cloud metadata address"), "{m}");
    let m = refused("http://[::1]:9/").await;
    assert!(m.starts_with("::1 is a loopback address"), "{m}");
    // A name that resolves to loopback: refused after resolution.
    let m = refused("http://localhost:9/").await;
    assert!(m.starts_with("localhost resolves to "), "{m}");
    assert!(m.contains("which is a loopback address"), "{m}");
}

#[tokio::test]
async fn bad_urls_are_input_errors() {
    let (out, _) = run(&hostile().await, "fetch", json!({"url": "file:///etc/passwd"}), &Limits::default()).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input, "{e:?}");
    assert!(e.message.contains("is not an absolute http:// or https:// URL"), "{}", e.message);
}

#[tokio::test]
async fn an_allowed_local_server_is_reached() {
    let app = axum::Router::new().route("/ok", axum::routing::get(|| async { "hello from upstream" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let guard = EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let host = host_with(WasmHostConfig { egress: guard, ..WasmHostConfig::default() });
    let c = host.load(&guests().hostile).await.unwrap();
    let (out, _) = run(&c, "fetch", json!({"url": format!("http://{addr}/ok")}), &Limits::default()).await;
    assert_eq!(out.unwrap(), json!({"status": 200, "body": "hello from upstream"}));
    // The allow-list admits exactly its range: 10.0.0.1 is still refused.
    let (out, _) = run(&c, "fetch", json!({"url": "http://10.0.0.1/"}), &Limits::default()).await;
    assert_eq!(out.unwrap_err().kind, ErrorKind::EgressDenied);
}

#[tokio::test]
async fn state_goes_through_the_services_of_the_call() {
    let c = hostile().await;
    let a = Arc::new(MemoryServices::new("instance:ins_a"));
    a.put("cursor", json!(41));
    let out = c
        .invoke_action("state", call(json!({"key": "cursor", "value": 42})), &Limits::default(), a.clone())
        .await
        .unwrap();
    assert_eq!(out, json!({"old": 41}));
    assert_eq!(a.state()["cursor"], json!(42));
    assert_eq!(a.accesses(), ["get instance:ins_a/cursor", "set instance:ins_a/cursor"]);

    // Another instance's call sees only its own scope: the guest cannot name ins_a's.
    let b = Arc::new(MemoryServices::new("instance:ins_b"));
    let out = c.invoke_action("state", call(json!({"key": "cursor"})), &Limits::default(), b.clone()).await.unwrap();
    assert_eq!(out, json!({"old": null}));
    assert_eq!(b.accesses(), ["get instance:ins_b/cursor"]);
    assert_eq!(a.state()["cursor"], json!(42));
}
