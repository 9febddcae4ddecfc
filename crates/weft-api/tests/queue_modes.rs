//! Queue modes and concurrency limits over HTTP: sync webhooks of a limited flow (or instance)
//! go through the queue instead of running on the accepting node, so the limit holds — shown by
//! the most calls a local service ever sees at once.

mod common;

use axum::routing::post;
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const FLOWS: &str = r#"
key: limited
name: Limited
config:
  - page: Settings
    vars:
      - key: endpoint
        type: string
        required: true
flows:
  - key: one-at-a-time
    queue:
      mode: fifo
    trigger:
      webhook:
        mode: sync
    steps:
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/slow"
          json: "{{ trigger.body }}"
    result: "{{ trigger.body.n }}"
  - key: free
    trigger:
      webhook:
        mode: sync
    steps:
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/slow"
    result: done
"#;

/// A service that takes 50 ms per call and remembers the most calls it had at once.
async fn slow_service() -> (String, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let app = axum::Router::new().route(
        "/slow",
        post(move || {
            let (now, peak) = (n.clone(), p.clone());
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, peak)
}

async fn deploy(s: &Server, endpoint: &str) -> Value {
    s.deploy(FLOWS, "limited", endpoint).await
}

/// Fires `n` concurrent sync deliveries at `hook`; returns their answers.
async fn burst(s: &Server, hook: &str, n: usize) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (http, hook) = (s.http.clone(), hook.to_string());
        tasks.push(tokio::spawn(async move {
            let r = http.post(&hook).json(&json!({"n": i})).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_flow_runs_its_sync_webhooks_one_at_a_time() {
    let s = start().await;
    let (endpoint, peak) = slow_service().await;
    let inst = deploy(&s, &endpoint).await;
    let hook = inst["webhooks"]["one-at-a-time"].as_str().unwrap();
    let answers = burst(&s, hook, 6).await;
    for (i, (st, body)) in answers.iter().enumerate() {
        assert_eq!((*st, body.clone()), (200, json!(i)), "delivery {i}");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1, "a fifo flow ran two executions at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_limit_caps_its_running_executions() {
    let s = start().await;
    let (endpoint, peak) = slow_service().await;
    let inst = deploy(&s, &endpoint).await;
    let id = inst["id"].as_str().unwrap();
    let (st, v) = s.post(&format!("/api/v1/instances/{id}/settings"), json!({"max_concurrency": 2})).await;
    assert_eq!((st, v["max_concurrency"].clone()), (200, json!(2)), "{v}");
    let got = s.post(&format!("/api/v1/instances/{id}/settings"), json!({"max_concurrency": 0})).await;
    assert_eq!(got.0, 422, "{}", got.1);
    let hook = inst["webhooks"]["free"].as_str().unwrap();
    let answers = burst(&s, hook, 8).await;
    assert!(answers.iter().all(|(st, body)| *st == 200 && body == "done"), "{answers:?}");
    assert!(peak.load(Ordering::SeqCst) <= 2, "peak {} over the instance limit", peak.load(Ordering::SeqCst));

    // Lifted: the same burst may run side by side again (and all of it is answered).
    let (st, v) = s.post(&format!("/api/v1/instances/{id}/settings"), json!({"max_concurrency": null})).await;
    assert_eq!((st, v["max_concurrency"].clone()), (200, Value::Null));
    let answers = burst(&s, hook, 8).await;
    assert!(answers.iter().all(|(st, _)| *st == 200), "{answers:?}");
}

/// Creates an instance of `limited` for `customer` calling `endpoint`; returns its `free` hook.
async fn free_hook(s: &Server, customer: &str, endpoint: &str) -> String {
    let (st, inst) = s
        .post(
            "/api/v1/instances",
            json!({"integration": "limited", "customer": customer, "config": {"endpoint": endpoint}}),
        )
        .await;
    assert_eq!(st, 201, "{inst}");
    inst["webhooks"]["free"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_limit_caps_all_its_instances_together() {
    let s = start().await;
    let (endpoint, peak) = slow_service().await;
    let (other_endpoint, _) = slow_service().await;
    let first = deploy(&s, &endpoint).await;
    let first = first["webhooks"]["free"].as_str().unwrap().to_string();
    let second = free_hook(&s, "ext:acme", &endpoint).await;
    assert_eq!(s.post("/api/v1/customers", json!({"external_id": "beta", "name": "Beta"})).await.0, 201);
    let other = free_hook(&s, "ext:beta", &other_endpoint).await;

    let patch = |v: Value| s.call(Some(&s.owner), "PATCH", "/api/v1/customers/ext:acme", Body::Json(v));
    let (st, v) = patch(json!({"max_concurrency": 2})).await;
    assert_eq!((st, v["max_concurrency"].clone()), (200, json!(2)), "{v}");
    assert_eq!(s.get("/api/v1/customers/ext:acme").await.1["max_concurrency"], json!(2));
    // Below one is refused and changes nothing; leaving the field out keeps the limit.
    let got = patch(json!({"max_concurrency": 0, "name": "Zero"})).await;
    assert_error(&got, 422, "request.invalid");
    assert_eq!(s.get("/api/v1/customers/ext:acme").await.1["name"], "Acme");
    let (st, v) = patch(json!({"name": "Acme Inc"})).await;
    assert_eq!((st, v["name"].clone(), v["max_concurrency"].clone()), (200, json!("Acme Inc"), json!(2)), "{v}");
    assert_eq!(s.get("/api/v1/customers/ext:beta").await.1["max_concurrency"], Value::Null);

    // Bursts at both of acme's instances and at beta's at once: acme's service never sees more
    // than two calls at a time, and beta's executions all run too.
    let (a, b, c) = tokio::join!(burst(&s, &first, 5), burst(&s, &second, 5), burst(&s, &other, 5));
    for answers in [&a, &b, &c] {
        assert!(answers.iter().all(|(st, body)| *st == 200 && body == "done"), "{answers:?}");
    }
    assert!(peak.load(Ordering::SeqCst) <= 2, "peak {} over the customer limit", peak.load(Ordering::SeqCst));

    // Null lifts the limit.
    let (st, v) = patch(json!({"max_concurrency": null})).await;
    assert_eq!((st, v["max_concurrency"].clone()), (200, Value::Null), "{v}");
    let answers = burst(&s, &first, 4).await;
    assert!(answers.iter().all(|(st, _)| *st == 200), "{answers:?}");
}
