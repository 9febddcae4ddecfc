//! The multi-process fleet on PostgreSQL: 1 api + 2 runners + 1 scheduler, each a separate
//! `weft serve --role …` process on one fresh database. A few thousand webhooks (sync and
//! async, several concurrent senders) go to the api node, which runs nothing itself; midway
//! one runner is killed with SIGKILL and started again. Then: every accepted webhook is exactly
//! one succeeded execution, nothing is left queued or running, and no completed step ran twice
//! (side effects are counted at a local HTTP sink).
//!
//! Needs `WEFT_TEST_POSTGRES_URL` (a database the test may `CREATE DATABASE` next to); skipped,
//! saying so, without it.

mod common;

use axum::extract::{Path, State};
use common::fleet::*;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Deliveries in total, and concurrent senders.
const DELIVERIES: usize = 2_000;
const SENDERS: usize = 8;

/// The integration under test: each flow calls the sink twice in sequence (step `a`, then step
/// `b`), each call carrying the order id, the step name and the execution id.
const DEFINITION: &str = r#"
key: fleet
name: Fleet test
config:
  - page: Settings
    vars:
      - key: sink
        type: string
        required: true
flows:
  - key: sync
    trigger:
      webhook:
        mode: sync
    steps:
      - key: a
        action: http.request
        inputs:
          method: POST
          url: "{{ config.sink }}/a"
          json: { order: "{{ trigger.body.id }}", step: a, execution: "{{ execution.id }}" }
      - key: b
        action: http.request
        inputs:
          method: POST
          url: "{{ config.sink }}/b"
          json: { order: "{{ trigger.body.id }}", step: b, execution: "{{ execution.id }}" }
    result:
      order: "{{ trigger.body.id }}"
      execution: "{{ execution.id }}"
  - key: async
    trigger:
      webhook:
        mode: async
    steps:
      - key: a
        action: http.request
        inputs:
          method: POST
          url: "{{ config.sink }}/a"
          json: { order: "{{ trigger.body.id }}", step: a, execution: "{{ execution.id }}" }
      - key: b
        action: http.request
        inputs:
          method: POST
          url: "{{ config.sink }}/b"
          json: { order: "{{ trigger.body.id }}", step: b, execution: "{{ execution.id }}" }
"#;

/// Side effects seen by the sink: (order, step) → the execution id of each call.
type Calls = Arc<Mutex<HashMap<(String, String), Vec<String>>>>;

async fn sink_call(State(calls): State<Calls>, Path(step): Path<String>, body: axum::Json<Value>) -> axum::Json<Value> {
    // A little latency, as a real API has: calls are in flight when a runner is killed.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let order = body["order"].as_str().unwrap_or_default().to_string();
    let execution = body["execution"].as_str().unwrap_or_default().to_string();
    assert_eq!(body["step"].as_str(), Some(step.as_str()));
    calls.lock().unwrap().entry((order, step)).or_default().push(execution);
    axum::Json(json!({"ok": true}))
}

async fn start_sink() -> (String, Calls) {
    let calls: Calls = Default::default();
    let app = axum::Router::new().route("/sink/{step}", axum::routing::post(sink_call)).with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sink", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

/// What one accepted delivery was answered.
struct Accepted {
    order: String,
    execution: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_survives_a_killed_runner() {
    let Ok(base) = std::env::var("WEFT_TEST_POSTGRES_URL") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED fleet_survives_a_killed_runner: set WEFT_TEST_POSTGRES_URL=postgres://… to run it"
        );
        return;
    };
    weft_components::install_crypto_provider();
    let started = Instant::now();
    let db = ScratchDb::create(&base).await;
    let logs = tempfile::tempdir().unwrap();
    let logs_path = logs.keep();

    // `weft migrate` prepares the database once; then a token straight from the database.
    let out = weft().args(["migrate", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "weft migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    let out = weft().args(["token", "create", "--role", "admin", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "weft token create failed: {}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let api_port = free_port();
    let _api = serve("api", "api", &db.url, api_port, &logs_path);
    let mut runners = vec![
        serve("runner-1", "runner", &db.url, free_port(), &logs_path),
        serve("runner-2", "runner", &db.url, free_port(), &logs_path),
    ];
    let _scheduler = serve("scheduler", "scheduler", &db.url, free_port(), &logs_path);
    let api = Api { client: reqwest::Client::new(), base: format!("http://127.0.0.1:{api_port}"), token };
    api.wait_up(&logs_path).await;

    let (sink, calls) = start_sink().await;
    let (st, v) =
        api.call(reqwest::Method::POST, "/api/v1/integrations", Some(("application/yaml", DEFINITION.into()))).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api.call(reqwest::Method::POST, "/api/v1/integrations/fleet/versions", None).await;
    assert_eq!(st, 201, "{v}");
    api.post_json("/api/v1/customers", json!({"external_id": "fleet", "name": "Fleet customer"})).await;
    let inst = api
        .post_json(
            "/api/v1/instances",
            json!({"integration": "fleet", "customer": "ext:fleet", "config": {"sink": sink}}),
        )
        .await;
    let hooks = [
        inst["webhooks"]["sync"].as_str().unwrap().to_string(),
        inst["webhooks"]["async"].as_str().unwrap().to_string(),
    ];

    // The load: every sender alternates sync and async deliveries of distinct orders.
    let sent = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (client, hooks, sent) = (api.client.clone(), hooks.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for n in 0..DELIVERIES / SENDERS {
                let order = format!("o{sender}-{n}");
                let sync = n % 2 == 0;
                let r = client.post(&hooks[usize::from(!sync)]).json(&json!({"id": order})).send().await.unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                let execution = match status {
                    200 if sync => {
                        assert_eq!(v["order"], json!(order), "a sync answer is its own order's result");
                        v["execution"].as_str().unwrap().to_string()
                    }
                    // Async, or a sync delivery not finished within the sync timeout.
                    202 => v["execution_id"].as_str().unwrap().to_string(),
                    _ => panic!("delivery {order} (sync: {sync}) answered {status}: {v}"),
                };
                accepted.push(Accepted { order, execution });
                sent.fetch_add(1, Ordering::Relaxed);
            }
            accepted
        }));
    }

    // Midway, runner 1 dies without any warning, and comes back a little later.
    let wait_sent = |n: usize| {
        let sent = sent.clone();
        async move {
            while sent.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_sent(DELIVERIES / 4).await;
    let mut killed = runners.remove(0);
    killed.child.kill().unwrap(); // SIGKILL
    killed.child.wait().unwrap();
    drop(killed);
    wait_sent(DELIVERIES / 2).await;
    runners.push(serve("runner-1", "runner", &db.url, free_port(), &logs_path));

    let mut accepted = Vec::new();
    for s in senders {
        accepted.extend(s.await.unwrap());
    }
    assert_eq!(accepted.len(), DELIVERIES);

    // Nothing stuck: the queue drains (the dead runner's leases expire after 1 s, and the
    // survivors take its executions over) within a bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = api.executions(Some("queued")).await.len() + api.executions(Some("running")).await.len();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} executions still queued or running; logs in {}",
            logs_path.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every accepted delivery is exactly one execution, and it succeeded: the ids answered are
    // distinct, and the executions stored are exactly those.
    let all = api.executions(None).await;
    let answered: HashSet<&str> = accepted.iter().map(|a| a.execution.as_str()).collect();
    assert_eq!(answered.len(), DELIVERIES, "two deliveries were answered with the same execution");
    let stored: HashMap<&str, &Value> = all.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
    assert_eq!(stored.len(), all.len());
    assert_eq!(stored.keys().copied().collect::<HashSet<_>>(), answered, "stored executions != accepted deliveries");
    for e in &all {
        assert_eq!(e["status"], "succeeded", "execution {} did not succeed: {e}", e["id"]);
    }

    // Side effects. A runner checkpoints after every completed call, so a resumed execution
    // continues after its last completed step: a step whose completion was recorded never runs
    // again. What may repeat is the one step that was in flight (its request sent, its
    // checkpoint not yet committed) when the execution's runner lost it — killed here, or a
    // lease that lapsed under load. The flow is sequential, so at most one step is in flight
    // per lost lease, and every lost lease costs one more claim (`attempts`). Hence, per order:
    // both steps ran, every call came from that order's execution, and the calls beyond the
    // first of each step number at most `attempts - 1` (none for an execution claimed once).
    let calls = calls.lock().unwrap().clone();
    let mut resumed = 0;
    for a in &accepted {
        let attempts = stored[a.execution.as_str()]["attempts"].as_i64().unwrap();
        let mut repeats = 0;
        for step in ["a", "b"] {
            let seen = calls.get(&(a.order.clone(), step.to_string())).cloned().unwrap_or_default();
            assert!(!seen.is_empty(), "order {}: step {step} never ran", a.order);
            assert!(
                seen.iter().all(|x| *x == a.execution),
                "order {}: step {step} was run by executions {seen:?}, not only {}",
                a.order,
                a.execution
            );
            repeats += seen.len() as i64 - 1;
        }
        let lost_leases = attempts - 1;
        assert!(
            repeats <= lost_leases,
            "order {}: {repeats} repeated step call(s) with {attempts} attempt(s): a completed step ran twice",
            a.order
        );
        if attempts > 1 {
            resumed += 1;
        }
    }
    // The kill did interrupt work (else this test proved little): some executions were resumed.
    assert!(resumed > 0, "no execution was resumed after the kill");
    eprintln!("fleet: {DELIVERIES} deliveries, {resumed} executions resumed, {:.1}s", started.elapsed().as_secs_f64());
    drop(runners);
    let _ = std::fs::remove_dir_all(&logs_path);
}
