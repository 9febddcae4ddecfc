//! Flow control over HTTP: webhook idempotency keys (a repeated delivery gets the first one's
//! execution and the flow runs once) and canceling executions, queued or running.

mod common;

use axum::extract::Path;
use axum::routing::post;
use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

const FLOWS: &str = r#"
key: flow-control
name: Flow control
config:
  - page: Settings
    vars:
      - key: endpoint
        type: string
        required: true
flows:
  - key: sync-hook
    trigger:
      webhook:
        mode: sync
    steps:
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/count/{{ trigger.body.tag }}"
    result: "{{ steps.call.output.body }}"
  - key: async-hook
    trigger:
      webhook:
        mode: async
    steps:
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/count/{{ trigger.body.tag }}"
  - key: slow-hook
    trigger:
      webhook:
        mode: async
    steps:
      - key: slow
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/slow"
      - key: after
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/count/after-slow"
"#;

/// A local service: `/count/{tag}` counts calls per tag; `/slow` answers only once released.
struct Service {
    url: String,
    counts: Arc<Mutex<HashMap<String, u64>>>,
    slow_entered: Arc<AtomicBool>,
    release: Arc<Notify>,
}

impl Service {
    fn count(&self, tag: &str) -> u64 {
        self.counts.lock().unwrap().get(tag).copied().unwrap_or(0)
    }
}

async fn service() -> Service {
    let counts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let slow_entered = Arc::new(AtomicBool::new(false));
    let release = Arc::new(Notify::new());
    let (c, entered, rel) = (counts.clone(), slow_entered.clone(), release.clone());
    let app = axum::Router::new()
        .route(
            "/count/{tag}",
            post(move |Path(tag): Path<String>| {
                let c = c.clone();
                async move {
                    let mut counts = c.lock().unwrap();
                    let n = counts.entry(tag.clone()).or_default();
                    *n += 1;
                    axum::Json(json!({"tag": tag, "n": *n}))
                }
            }),
        )
        .route(
            "/slow",
            post(move || {
                let (entered, rel) = (entered.clone(), rel.clone());
                async move {
                    let released = rel.notified();
                    entered.store(true, Ordering::SeqCst);
                    released.await;
                    axum::Json(json!({"slow": "done"}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Service { url, counts, slow_entered, release }
}

/// Imports, publishes and deploys the flows above; returns the webhook URL per flow key.
async fn deploy(s: &Server, endpoint: &str) -> (String, HashMap<String, String>) {
    let inst = s.deploy(FLOWS, "flow-control", endpoint).await;
    let hooks = inst["webhooks"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().into()));
    (inst["id"].as_str().unwrap().to_string(), hooks.collect())
}

async fn deliver(s: &Server, hook: &str, key: Option<&str>, tag: &str) -> (u16, Value) {
    let mut req = s.http.post(hook).json(&json!({"tag": tag}));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    s.send(req).await
}

async fn executions_of(s: &Server, instance: &str) -> Vec<Value> {
    let (st, list) = s.get(&format!("/api/v1/executions?instance={instance}&limit=500")).await;
    assert_eq!(st, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// Polls `cond` every 25 ms for up to 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..400 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_sync_delivery_answers_like_the_first_and_runs_once() {
    let s = start().await;
    let svc = service().await;
    let (instance, hooks) = deploy(&s, &svc.url).await;
    let hook = &hooks["sync-hook"];

    let first = deliver(&s, hook, Some("order-1"), "one").await;
    assert_eq!(first, (200, json!({"tag": "one", "n": 1})));
    let again = deliver(&s, hook, Some("order-1"), "one").await;
    assert_eq!(again, first, "the stored result, not a second run");
    assert_eq!(svc.count("one"), 1);

    // Racing repeats: one execution, every caller gets its result.
    let racing: Vec<_> = futures::future::join_all((0..4).map(|_| deliver(&s, hook, Some("order-2"), "two"))).await;
    for got in &racing {
        assert_eq!(got, &(200, json!({"tag": "two", "n": 1})));
    }
    assert_eq!(svc.count("two"), 1);

    // Without a key, or with another one: new executions.
    assert_eq!(deliver(&s, hook, None, "one").await.1["n"], 2);
    assert_eq!(deliver(&s, hook, Some("order-3"), "one").await.1["n"], 3);
    assert_eq!(executions_of(&s, &instance).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_async_delivery_gets_the_same_execution_and_runs_once() {
    let s = start().await;
    let svc = service().await;
    let (instance, hooks) = deploy(&s, &svc.url).await;
    let hook = &hooks["async-hook"];

    let (st, first) = deliver(&s, hook, Some("evt-1"), "a").await;
    assert_eq!(st, 202, "{first}");
    let id = first["execution_id"].as_str().unwrap().to_string();
    let (st, again) = deliver(&s, hook, Some("evt-1"), "a").await;
    assert_eq!((st, again["execution_id"].as_str()), (202, Some(id.as_str())), "{again}");
    assert_eq!(s.finished(&id).await["status"], "succeeded");
    // After the end too; the answer says where it stands.
    let (st, late) = deliver(&s, hook, Some("evt-1"), "a").await;
    assert_eq!(
        (st, late["execution_id"].as_str(), late["status"].as_str()),
        (202, Some(id.as_str()), Some("succeeded"))
    );
    assert_eq!(svc.count("a"), 1);
    assert_eq!(executions_of(&s, &instance).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_idempotency_key_is_refused() {
    let s = start().await;
    let svc = service().await;
    let (instance, hooks) = deploy(&s, &svc.url).await;
    let got = deliver(&s, &hooks["async-hook"], Some(&"k".repeat(256)), "x").await;
    assert_error(&got, 400, "request.invalid");
    assert!(got.1["error"]["message"].as_str().unwrap().contains("Idempotency-Key"), "{}", got.1);
    assert!(executions_of(&s, &instance).await.is_empty());
    // 255 is fine.
    let (st, acc) = deliver(&s, &hooks["async-hook"], Some(&"k".repeat(255)), "x").await;
    assert_eq!(st, 202, "{acc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_queued_execution_ends_it_before_it_runs() {
    let s = start().await;
    let svc = service().await;
    let (instance, _) = deploy(&s, &svc.url).await;
    let (_, inst) = s.get(&format!("/api/v1/instances/{instance}")).await;
    // Queued, but due only in an hour: the runner leaves it alone until then.
    let later = chrono::Utc::now().timestamp_millis() + 3_600_000;
    let new = weft_db::NewExecution {
        org_id: s.org.clone(),
        instance_id: instance.clone(),
        customer_id: inst["customer_id"].as_str().unwrap().into(),
        integration_id: inst["integration_id"].as_str().unwrap().into(),
        version: 1,
        flow_key: "async-hook".into(),
        trigger: json!({"body": {"tag": "queued"}, "headers": {}, "query": {}, "method": "POST"}),
        replay_of: None,
        claimed_by: None,
        lease_ms: 0,
        idempotency_key: None,
    };
    let exe = s.db.create_execution(&new, later).await.unwrap();
    let (st, got) = s.post(&format!("/api/v1/executions/{}/cancel", exe.id), Value::Null).await;
    assert_eq!((st, got["status"].as_str()), (200, Some("canceled")), "{got}");
    let (_, shown) = s.get(&format!("/api/v1/executions/{}", exe.id)).await;
    assert_eq!(shown["status"], "canceled");
    // Finished now: canceling again is fine, but a succeeded execution cannot be canceled.
    assert_eq!(s.post(&format!("/api/v1/executions/{}/cancel", exe.id), Value::Null).await.0, 200);
    let (_, acc) = deliver(&s, inst["webhooks"]["async-hook"].as_str().unwrap(), None, "done").await;
    let done = acc["execution_id"].as_str().unwrap();
    assert_eq!(s.finished(done).await["status"], "succeeded");
    let got = s.post(&format!("/api/v1/executions/{done}/cancel"), Value::Null).await;
    assert_error(&got, 409, "execution.not_cancelable");
    assert_error(&s.post("/api/v1/executions/exe_nope/cancel", Value::Null).await, 404, "execution.not_found");
    assert_eq!(svc.count("queued"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_running_execution_stops_it_after_its_current_step() {
    let s = start().await;
    let svc = service().await;
    let (_, hooks) = deploy(&s, &svc.url).await;
    let (st, acc) = deliver(&s, &hooks["slow-hook"], None, "slow").await;
    assert_eq!(st, 202, "{acc}");
    let id = acc["execution_id"].as_str().unwrap().to_string();
    let entered = svc.slow_entered.clone();
    eventually("the slow call to start", || entered.load(Ordering::SeqCst)).await;

    let (st, got) = s.post(&format!("/api/v1/executions/{id}/cancel"), Value::Null).await;
    assert_eq!((st, got["status"].as_str()), (200, Some("running")), "{got}");
    svc.release.notify_one();
    let end = s.finished(&id).await;
    assert_eq!(end["status"], "canceled", "{end}");
    assert_eq!(svc.count("after-slow"), 0, "the step after the cancel never ran");
}
