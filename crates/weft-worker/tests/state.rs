//! The `state.*` actions end to end: counters across executions, reading one's own writes,
//! no double write after a crash, limits, and scope isolation between customers.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Harness, Published, config, now_ms};
use weft_db::{ExecutionStatus, NewCustomer, NewDraft, NewInstance, ScopeKind, StateScope};
use weft_model::SourceFormat;

/// Publishes `yaml` (validated against the worker's catalog, which has the `state.*` actions)
/// and creates an instance of it for `customer`.
async fn publish(h: &Harness, yaml: &str, customer: &str) -> Published {
    let actions = h.worker(config("pub")).flow_cache().actions().to_vec();
    let (doc, def) = weft_model::load_definition(yaml, SourceFormat::Yaml, &actions)
        .unwrap_or_else(|d| panic!("test definition is invalid: {d:?}"));
    let draft = NewDraft {
        key: def.key.clone(),
        name: def.name.clone(),
        description: None,
        format: "yaml".into(),
        source: yaml.into(),
        definition: doc.value.clone(),
    };
    let integration = h.db.save_draft(&h.org, &draft, now_ms()).await.unwrap();
    let version = h.db.publish_version(&h.org, &integration.id, now_ms()).await.unwrap();
    instance_of(h, &integration.id, version.version, customer).await
}

async fn instance_of(h: &Harness, integration_id: &str, version: i64, customer: &str) -> Published {
    let new = NewInstance {
        customer_id: customer.into(),
        integration_id: integration_id.into(),
        version,
        name: "instance".into(),
        config: json!({}),
        webhook_flows: Vec::new(),
        secret_keys: Vec::new(),
    };
    let instance = h.db.create_instance(&h.org, &new, now_ms()).await.unwrap();
    Published { integration_id: integration_id.into(), version, instance_id: instance.id }
}

async fn run(h: &Harness, p: &Published, customer: &str, body: Value) -> weft_db::Execution {
    let mut exe = h.execution(p, "main", body, Some("node-1"), 30_000).await;
    if customer != h.customer {
        // `Harness::execution` uses the harness's customer; the row must carry the instance's.
        exe.customer_id = customer.into();
    }
    h.worker(config("node-1")).execute(exe.clone(), None).await;
    h.wait_finished(&exe.id).await
}

const COUNTER: &str = r#"
key: counter
name: Counter
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: inc
        action: state.increment
        inputs: {key: runs}
      - key: remember
        action: state.set
        inputs: {key: last, value: "{{ steps.inc.output }}"}
      - key: read
        action: state.get
        inputs: {key: last}
      - key: missing
        action: state.get
        inputs: {key: nothing, default: fallback}
    result: {count: "{{ steps.inc.output }}", read: "{{ steps.read.output }}", missing: "{{ steps.missing.output }}"}
"#;

#[tokio::test]
async fn a_counter_counts_every_execution_and_steps_read_their_own_writes() {
    let h = Harness::new().await;
    let p = publish(&h, COUNTER, &h.customer).await;
    for n in 1..=20 {
        let done = run(&h, &p, &h.customer, json!({})).await;
        assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
        assert_eq!(done.result, Some(json!({"count": n, "read": n, "missing": "fallback"})));
    }
    let scope = StateScope { org_id: h.org.clone(), kind: ScopeKind::Instance, id: p.instance_id.clone() };
    assert_eq!(h.db.state_get(&scope, "runs").await.unwrap(), Some(json!(20)));
    assert_eq!(h.db.state_get(&scope, "last").await.unwrap(), Some(json!(20)));
}

const BIG: &str = r#"
key: big
name: Big
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: put
        action: state.set
        inputs: {key: blob, value: "{{ trigger.body.blob }}"}
"#;

#[tokio::test]
async fn a_value_over_the_limit_fails_the_step_with_limit() {
    let h = Harness::new().await;
    let p = publish(&h, BIG, &h.customer).await;
    let done = run(&h, &p, &h.customer, json!({"blob": "x".repeat(70_000)})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    let error = done.error.unwrap();
    assert_eq!(error["kind"], "limit", "{error}");
    let msg = error["message"].as_str().unwrap();
    assert!(msg.contains("`blob`") && msg.contains("65536 bytes"), "{msg}");
    let scope = StateScope { org_id: h.org.clone(), kind: ScopeKind::Instance, id: p.instance_id.clone() };
    assert_eq!(h.db.state_get(&scope, "blob").await.unwrap(), None);
}

const SHARED: &str = r#"
key: shared
name: Shared
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: before
        action: state.get
        inputs: {key: note, scope: customer}
      - key: put
        action: state.set
        inputs: {key: note, scope: customer, value: "{{ trigger.body.note }}"}
    result: "{{ steps.before.output }}"
"#;

#[tokio::test]
async fn customer_scope_is_shared_by_a_customers_instances_only() {
    let h = Harness::new().await;
    let p1 = publish(&h, SHARED, &h.customer).await;
    let p2 = instance_of(&h, &p1.integration_id, p1.version, &h.customer).await;
    let other =
        h.db.create_customer(
            &h.org,
            &NewCustomer { external_id: None, name: "Other".into(), labels: Default::default() },
            now_ms(),
        )
        .await
        .unwrap();
    let p3 = instance_of(&h, &p1.integration_id, p1.version, &other.id).await;

    let first = run(&h, &p1, &h.customer, json!({"note": "from p1"})).await;
    assert_eq!(first.result, Some(Value::Null));
    // Another instance of the same customer sees it …
    let second = run(&h, &p2, &h.customer, json!({"note": "from p2"})).await;
    assert_eq!(second.result, Some(json!("from p1")));
    // … another customer's instance does not.
    let third = run(&h, &p3, &other.id, json!({"note": "from p3"})).await;
    assert_eq!(third.result, Some(Value::Null), "{third:#?}");
    let scope = StateScope { org_id: h.org.clone(), kind: ScopeKind::Customer, id: h.customer.clone() };
    assert_eq!(h.db.state_get(&scope, "note").await.unwrap(), Some(json!("from p2")));
}

const CRASH: &str = r#"
key: crash
name: Crash
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: a
        action: state.increment
        inputs: {key: n}
      - key: wait
        action: test.gate
      - key: after
        action: state.get
        inputs: {key: n}
    result: "{{ steps.after.output }}"
"#;

#[tokio::test]
async fn a_crash_after_a_state_step_does_not_apply_it_twice() {
    let h = Harness::new().await;
    let p = publish(&h, CRASH, &h.customer).await;
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let w1 = h.worker(config("node-1"));
    let id = exe.id.clone();
    let task = tokio::spawn(async move { w1.execute(exe, None).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !h.steps(&id).await.iter().any(|s| s.path == "a") {
        assert!(std::time::Instant::now() < deadline, "step a was never checkpointed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    h.probes.open_gate();

    // Node 2 takes over once node 1's lease (300 ms, no longer renewed) expires.
    let w2 = h.worker(config("node-2"));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        w2.run_loop(async {
            let _ = rx.await;
        })
        .await
    });
    let done = h.wait_finished(&id).await;
    stop.send(()).unwrap();
    handle.await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.result, Some(json!(1)));
    let scope = StateScope { org_id: h.org.clone(), kind: ScopeKind::Instance, id: p.instance_id.clone() };
    assert_eq!(h.db.state_get(&scope, "n").await.unwrap(), Some(json!(1)));
}
