//! A sync webhook run by the node that accepted it starts before its creation commits (see
//! weft-db's `pending`); whatever answers the caller before the flow ends — a `respond` step, or
//! the 202 after the sync wait runs out — must still come only once the execution is stored.
//! Checked while the flow is held inside a call to a local service and the database's write
//! lock is held by the test: no answer may come while the execution cannot be stored, and once
//! the lock is released the execution is readable through the API the moment the caller has
//! its answer.

mod common;

use common::*;
use serde_json::{Value, json};
use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const HELD: &str = r#"
key: held
name: Held
config:
  - page: Settings
    vars:
      - key: endpoint
        type: string
        required: true
flows:
  - key: answer-first
    trigger:
      webhook: { mode: sync }
    steps:
      - key: ack
        respond:
          status: 202
          body:
            accepted: "{{ trigger.body.id }}"
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/held"
          json: "{{ trigger.body }}"
  - key: slow
    trigger:
      webhook: { mode: sync }
    steps:
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/held"
          json: "{{ trigger.body }}"
"#;

/// A local service whose `/held` answers only once released.
async fn held_service() -> (String, watch::Sender<bool>) {
    let (release, released) = watch::channel(false);
    let released = Arc::new(released);
    let app = axum::Router::new().route(
        "/held",
        axum::routing::post(move || {
            let mut released = (*released).clone();
            async move {
                let _ = released.wait_for(|r| *r).await;
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, release)
}

/// Deploys `HELD` for a new customer; returns the instance id and its webhooks.
async fn deploy(s: &Server, endpoint: &str) -> (String, Value) {
    let inst = s.deploy(HELD, "held", endpoint).await;
    (inst["id"].as_str().unwrap().to_string(), inst["webhooks"].clone())
}

/// Holds SQLite's write lock from a connection of the test's own (COMMIT releases it): the
/// server's group writer waits in `BEGIN IMMEDIATE` meanwhile, so nothing it is given commits.
async fn hold_write_lock(s: &Server) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", s.dir.path().join("weft.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
    conn
}

/// Sends `body` to `hook` while the write lock is held: checks that no answer comes for
/// `hold`, releases the lock, and returns the answer.
async fn answer_while_unstorable(s: &Server, hook: &str, body: Value, hold: Duration) -> (u16, Value) {
    let mut lock = hold_write_lock(s).await;
    let call = {
        let (http, hook) = (s.http.clone(), hook.to_string());
        tokio::spawn(async move {
            let r = http.post(hook).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(hold).await;
    assert!(!call.is_finished(), "answered while its execution could not be stored: {:?}", call.await);
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    call.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_comes_after_the_execution_is_stored() {
    let s = start().await;
    let (endpoint, release) = held_service().await;
    let (instance, hooks) = deploy(&s, &endpoint).await;
    let hook = hooks["answer-first"].as_str().unwrap();
    for n in 0..3 {
        let id = format!("O-{n}");
        let answer = answer_while_unstorable(&s, hook, json!({"id": id}), Duration::from_millis(300)).await;
        assert_eq!(answer, (202, json!({"accepted": id})));
        // The flow is still held in its call: the execution must be stored already.
        let (st, list) = s.get(&format!("/api/v1/executions?instance={instance}")).await;
        assert_eq!(st, 200);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), n + 1, "answered delivery {id} is not stored: {list}");
        assert_eq!(items[0]["status"], "running", "{list}");
    }
    release.send(true).unwrap();
    let (_, list) = s.get(&format!("/api/v1/executions?instance={instance}")).await;
    for e in list["items"].as_array().unwrap() {
        assert_eq!(s.finished(e["id"].as_str().unwrap()).await["status"], "succeeded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_after_the_sync_wait_names_a_stored_execution() {
    let s = start_with(|cfg| cfg.sync_timeout = Duration::from_millis(300)).await;
    let (endpoint, release) = held_service().await;
    let (_, hooks) = deploy(&s, &endpoint).await;
    // Held longer than the sync wait: the 202 must still wait for the execution to be stored.
    let hook = hooks["slow"].as_str().unwrap();
    let (st, body) = answer_while_unstorable(&s, hook, json!({"id": "S-1"}), Duration::from_millis(700)).await;
    assert_eq!(st, 202, "{body}");
    let id = body["execution_id"].as_str().unwrap();
    let (st, e) = s.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!((st, e["status"].clone()), (200, json!("running")), "{e}");
    release.send(true).unwrap();
    assert_eq!(s.finished(id).await["status"], "succeeded");
}
