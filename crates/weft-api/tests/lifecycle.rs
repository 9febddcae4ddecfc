//! The whole lifecycle of the reference example through the HTTP API: import, publish, deploy,
//! webhooks (sync), executions with step results and logs, replay, pause/resume, upgrade, manual
//! run, delete — against a local service standing in for the customer's fulfilment API.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_example_lifecycle() {
    let s = start().await;
    let api = fulfilment().await;
    let inst = s.deploy_reference(&api.url).await;
    let id = inst["id"].as_str().unwrap().to_string();
    assert_eq!(inst["version"], 1);
    assert_eq!(inst["config"], json!({"endpoint": api.url, "min_total": 100, "tags": ["weft"]}));
    let hook = inst["webhooks"]["new-order"].as_str().unwrap().to_string();
    assert!(hook.starts_with(&format!("{}/hooks/", s.url)), "{hook}");

    // A large order is forwarded; the sync webhook answers with the flow's result.
    let (st, res) =
        s.call(None, "POST", &hook, Body::Json(order("A-1", &[("ab-1", 2, 30.0), ("cd-2", 1, 50.0)]))).await;
    assert_eq!((st, res.clone()), (200, json!({"order": "A-1", "total": 110.0, "forwarded": true})));
    let sent = api.orders.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![
            json!({"id": "A-1", "total": 110.0, "lines": [{"sku": "AB-1", "subtotal": 60.0}, {"sku": "CD-2", "subtotal": 50.0}], "tags": ["weft"]})
        ]
    );

    // A small one is not.
    let (st, res) = s.call(None, "POST", &hook, Body::Json(order("A-2", &[("x", 1, 5.0)]))).await;
    assert_eq!((st, res), (200, json!({"order": "A-2", "total": 5.0, "forwarded": false})));
    assert_eq!(api.orders.lock().unwrap().len(), 1);

    // Both executions are listed, newest first, with filters.
    let (st, list) = s.get(&format!("/api/v1/executions?instance={id}")).await;
    assert_eq!(st, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|e| e["status"] == "succeeded" && e["flow"] == "new-order"), "{list}");
    let small = items[0]["id"].as_str().unwrap().to_string();
    let large = items[1]["id"].as_str().unwrap().to_string();
    let (_, only) = s.get("/api/v1/executions?customer=ext:acme&status=succeeded&limit=1").await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    let cursor = only["next_cursor"].as_str().expect("a second page").to_string();
    let (_, next) =
        s.get(&format!("/api/v1/executions?customer=ext:acme&status=succeeded&limit=1&cursor={cursor}")).await;
    assert_eq!(next["items"][0]["id"], large.as_str());
    assert_eq!(next["next_cursor"], Value::Null);
    let (_, none) = s.get("/api/v1/executions?status=failed").await;
    assert_eq!(none["items"], json!([]));

    // An execution shows its trigger, result and every step with input/output.
    let e = s.finished(&large).await;
    assert_eq!(e["trigger"]["body"]["id"], "A-1");
    assert_eq!(e["trigger"]["method"], "POST");
    assert_eq!(e["result"]["forwarded"], true);
    let steps: Vec<(String, String)> = e["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| (st["path"].as_str().unwrap().to_string(), st["status"].as_str().unwrap().to_string()))
        .collect();
    let paths: Vec<&str> = steps.iter().map(|(p, _)| p.as_str()).collect();
    for p in ["lines[0].line", "lines[1].line", "lines", "total", "forward", "decide"] {
        assert!(paths.contains(&p), "missing step {p} in {paths:?}");
    }
    assert!(steps.iter().all(|(_, st)| st == "succeeded"));
    let forward = e["steps"].as_array().unwrap().iter().find(|st| st["path"] == "forward").unwrap();
    assert_eq!(forward["action"], "http.request");
    assert_eq!(forward["input"]["url"], format!("{}/orders", api.url));
    assert_eq!(forward["output"]["status"], 200);
    assert_eq!(forward["output"]["body"], json!({"accepted": "A-1"}));
    assert_eq!(forward["attempts"], 1);
    let (st, logs) = s.get(&format!("/api/v1/executions/{large}/logs")).await;
    assert_eq!(st, 200);
    assert!(logs["items"].is_array());

    // Replay: a new execution with the same trigger payload.
    let (st, r) = s.post(&format!("/api/v1/executions/{large}/replay"), Value::Null).await;
    assert_eq!(st, 202, "{r}");
    assert_eq!(r["replay_of"], large.as_str());
    let replayed = s.finished(r["execution_id"].as_str().unwrap()).await;
    assert_eq!(replayed["status"], "succeeded");
    assert_eq!(replayed["replay_of"], large.as_str());
    assert_eq!(replayed["trigger"]["body"], e["trigger"]["body"]);
    assert_eq!(api.orders.lock().unwrap().len(), 2);
    let _ = small;

    // Pause: the webhook is refused and nothing runs; resume brings it back.
    let (st, p) = s.post(&format!("/api/v1/instances/{id}/pause"), Value::Null).await;
    assert_eq!((st, p["enabled"].clone()), (200, json!(false)));
    let (st, err) = s.call(None, "POST", &hook, Body::Json(order("A-3", &[("x", 9, 20.0)]))).await;
    assert_eq!((st, err["error"]["code"].clone()), (409, json!("instance.paused")));
    let (_, list) = s.get(&format!("/api/v1/executions?instance={id}")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "a paused instance records no execution");
    let (st, _) = s.post(&format!("/api/v1/instances/{id}/resume"), Value::Null).await;
    assert_eq!(st, 200);

    // Publish v2 (lower threshold) and upgrade: config carried over, webhook URL kept.
    let v2 = REFERENCE.replace("default: 100", "default: 10");
    assert_eq!(s.import(&v2).await.0, 200);
    let (st, v) = s.post("/api/v1/integrations/order-sync/versions", Value::Null).await;
    assert_eq!((st, v["version"].clone()), (201, json!(2)));
    let (_, versions) = s.get("/api/v1/integrations/order-sync/versions").await;
    assert_eq!(
        versions["items"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect::<Vec<_>>(),
        [2, 1]
    );
    let (st, up) = s.post(&format!("/api/v1/instances/{id}/upgrade"), json!({"config": {"min_total": 5}})).await;
    assert_eq!(st, 200, "{up}");
    assert_eq!(up["version"], 2);
    assert_eq!(up["config"]["endpoint"], api.url.as_str());
    assert_eq!(up["config"]["min_total"], 5);
    assert_eq!(up["webhooks"]["new-order"], hook.as_str());

    // Manual run, waiting for the result: 6 >= 5 now forwards.
    let (st, run) =
        s.post(&format!("/api/v1/instances/{id}/flows/new-order/run?wait=true"), order("M-1", &[("m", 1, 6.0)])).await;
    assert_eq!(st, 200, "{run}");
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["version"], 2);
    assert_eq!(run["result"], json!({"order": "M-1", "total": 6.0, "forwarded": true}));
    assert_eq!(api.orders.lock().unwrap().len(), 3);

    // Delete: the webhook is gone, the executions stay.
    let (st, _) = s.call(Some(&s.owner), "DELETE", &format!("/api/v1/instances/{id}"), Body::None).await;
    assert_eq!(st, 204);
    let (st, err) = s.call(None, "POST", &hook, Body::Json(order("A-4", &[]))).await;
    assert_eq!((st, err["error"]["code"].clone()), (404, json!("webhook.not_found")));
    let (_, list) = s.get(&format!("/api/v1/executions?instance={id}")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_webhook_answers_202_and_runs() {
    let s = start().await;
    let api = fulfilment().await;
    let yaml = REFERENCE.replace("mode: sync", "mode: async");
    assert_eq!(s.import(&yaml).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/order-sync/versions", Value::Null).await.0, 201);
    s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await;
    let (_, inst) = s
        .post(
            "/api/v1/instances",
            json!({"integration": "order-sync", "customer": "ext:acme", "config": {"endpoint": api.url}}),
        )
        .await;
    let hook = inst["webhooks"]["new-order"].as_str().unwrap();
    let (st, acc) = s.call(None, "POST", hook, Body::Json(order("B-1", &[("a", 10, 20.0)]))).await;
    assert_eq!(st, 202, "{acc}");
    let e = s.finished(acc["execution_id"].as_str().unwrap()).await;
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["result"]["total"], 200.0);
    assert_eq!(api.orders.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_flow_is_recorded_with_its_error() {
    let s = start().await;
    // Nothing listens on port 9 of loopback: the forward step fails with a connection error.
    let inst = s.deploy_reference("http://127.0.0.1:9").await;
    let hook = inst["webhooks"]["new-order"].as_str().unwrap();
    let (st, err) = s.call(None, "POST", hook, Body::Json(order("F-1", &[("a", 10, 20.0)]))).await;
    assert_eq!(st, 500, "{err}");
    assert_eq!(err["error"]["code"], "execution.failed");
    let id = err["error"]["details"]["execution_id"].as_str().unwrap();
    let e = s.finished(id).await;
    assert_eq!(e["status"], "failed");
    assert_eq!(e["error"]["kind"], "connection");
    let forward = e["steps"].as_array().unwrap().iter().find(|st| st["path"] == "forward").unwrap();
    assert_eq!(forward["status"], "failed");
    assert_eq!(forward["error"]["kind"], "connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_guard_refuses_private_addresses_not_allowed() {
    let s = start().await;
    // 10.0.0.1 is private and not on the allow list (only 127.0.0.1/32 is).
    let inst = s.deploy_reference("http://10.0.0.1:8080").await;
    let hook = inst["webhooks"]["new-order"].as_str().unwrap();
    let (st, err) = s.call(None, "POST", hook, Body::Json(order("E-1", &[("a", 10, 20.0)]))).await;
    assert_eq!(st, 500, "{err}");
    assert_eq!(err["error"]["details"]["error"]["kind"], "egress_denied", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_redacted_in_instances_and_executions() {
    let s = start().await;
    let api = fulfilment().await;
    let yaml = r#"
key: secret-demo
name: Secret demo
config:
  - page: Auth
    vars:
      - key: endpoint
        type: string
        required: true
      - key: api_key
        type: secret
        required: true
flows:
  - key: send
    trigger:
      webhook:
        mode: sync
    steps:
      - key: call
        action: http.request
        inputs:
          method: POST
          url: "{{ config.endpoint }}/orders"
          headers:
            x-api-key: "{{ config.api_key }}"
          json:
            id: "{{ config.api_key }}"
      - key: note
        action: log.write
        inputs:
          message: "used key {{ config.api_key }}"
    result:
      echoed: "{{ steps.call.output.body }}"
"#;
    assert_eq!(s.import(yaml).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/secret-demo/versions", Value::Null).await.0, 201);
    s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await;
    let secret = "sk_live_very_secret_value";
    let (st, inst) = s
        .post("/api/v1/instances", json!({"integration": "secret-demo", "customer": "ext:acme", "config": {"endpoint": api.url, "api_key": secret}}))
        .await;
    assert_eq!(st, 201, "{inst}");
    assert_eq!(inst["config"]["api_key"], "[redacted]");
    let hook = inst["webhooks"]["send"].as_str().unwrap();
    let (st, res) = s.call(None, "POST", hook, Body::Json(json!({}))).await;
    assert_eq!(st, 200, "{res}");
    // The remote really got the secret …
    assert_eq!(api.orders.lock().unwrap()[0]["id"], secret);
    // … but nothing we return or store shows it.
    assert!(!res.to_string().contains(secret), "{res}");
    let (_, list) = s.get("/api/v1/executions").await;
    let id = list["items"][0]["id"].as_str().unwrap();
    let (_, e) = s.get(&format!("/api/v1/executions/{id}")).await;
    let (_, logs) = s.get(&format!("/api/v1/executions/{id}/logs")).await;
    assert!(logs.to_string().contains("used key [redacted]"), "{logs}");
    for v in [&e, &logs, &inst] {
        assert!(!v.to_string().contains(secret), "secret leaked in {v}");
    }

    // At rest: the database files (with the write-ahead log) hold the config, not the secret.
    let upgraded = s.post(&format!("/api/v1/instances/{}/upgrade", inst["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(upgraded.0, 200, "{}", upgraded.1);
    let holds = |needle: &str| s.stored(needle);
    assert!(holds(&api.url), "the scan sees stored config (the endpoint)");
    assert!(!holds(secret), "the secret is stored in plaintext");
    // … and the key file that seals it is the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.dir.path().join("master.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Upgraded (config carried over, opened and sealed again), the instance still works.
    let (st, _) = s.call(None, "POST", hook, Body::Json(json!({}))).await;
    assert_eq!(st, 200);
    assert_eq!(api.orders.lock().unwrap()[1]["id"], secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_see_their_instance_and_customer() {
    let s = start().await;
    let yaml = r#"
key: who
name: Who
flows:
  - key: hook
    trigger:
      webhook:
        mode: sync
    steps: []
    result:
      customer: "{{ customer.external_id }}"
      name: "{{ customer.name }}"
      tier: "{{ customer.labels.tier }}"
      instance: "{{ instance.name }}"
"#;
    assert_eq!(s.import(yaml).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/who/versions", Value::Null).await.0, 201);
    let (st, _) =
        s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme", "labels": {"tier": "gold"}})).await;
    assert_eq!(st, 201);
    let (st, inst) = s
        .post("/api/v1/instances", json!({"integration": "who", "customer": "ext:acme", "name": "Who for Acme"}))
        .await;
    assert_eq!(st, 201, "{inst}");
    let hook = inst["webhooks"]["hook"].as_str().unwrap();
    let (st, res) = s.call(None, "POST", hook, Body::Json(json!({}))).await;
    assert_eq!(
        (st, res),
        (200, json!({"customer": "acme", "name": "Acme", "tier": "gold", "instance": "Who for Acme"}))
    );
    // A renamed customer is seen by the next execution.
    let (st, _) =
        s.call(Some(&s.owner), "PATCH", "/api/v1/customers/ext:acme", Body::Json(json!({"name": "Acme Corp"}))).await;
    assert_eq!(st, 200);
    let (_, res) = s.call(None, "POST", hook, Body::Json(json!({}))).await;
    assert_eq!(res["name"], "Acme Corp");
}

/// An instance an older Weft stored with its secret in the clear gets it sealed by the pass
/// `weft serve` runs at start; flows still read it.
#[tokio::test]
async fn secrets_stored_in_plaintext_by_an_older_weft_are_sealed_at_start() {
    let s = start().await;
    let def = r#"
key: legacy
name: Legacy
config:
  - page: P
    vars:
      - {key: token, type: secret}
flows:
  - key: f
    trigger: {manual: {}}
    steps: []
    result: "{{ config.token | length }}"
"#;
    assert_eq!(s.import(def).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/legacy/versions", Value::Null).await.0, 201);
    let (_, c) = s.post("/api/v1/customers", json!({"external_id": "old", "name": "Old"})).await;
    let (_, integration) = s.get("/api/v1/integrations/legacy").await;
    let secret = "legacy-plain-5ecr3t";
    let old = weft_db::NewInstance {
        customer_id: c["id"].as_str().unwrap().into(),
        integration_id: integration["id"].as_str().unwrap().into(),
        version: 1,
        name: "old".into(),
        config: json!({"token": secret}),
        webhook_flows: vec![],
        // What an older Weft did: nothing sealed.
        secret_keys: vec![],
    };
    let i = s.db.create_instance(&s.org, &old, 0).await.unwrap();
    let holds = |needle: &str| s.stored(needle);
    assert!(holds(secret));
    assert_eq!(s.state.worker.seal_plain_secrets().await.unwrap(), 1);
    assert_eq!(s.state.worker.seal_plain_secrets().await.unwrap(), 0, "nothing left");
    let (st, e) = s.post(&format!("/api/v1/instances/{}/flows/f/run?wait=true", i.id), json!({})).await;
    assert_eq!((st, e["result"].clone()), (200, json!(secret.len())), "{e}");
    // The row no longer holds it.
    use sqlx::Connection;
    let url = format!("sqlite://{}", s.dir.path().join("weft.db").display());
    let mut raw = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
    let row: String =
        sqlx::query_scalar("SELECT config FROM instances WHERE id = $1").bind(&i.id).fetch_one(&mut raw).await.unwrap();
    assert!(!row.contains(secret) && row.contains('{'), "{row}");
}
