//! Test harness for the worker: a fresh SQLite database in a temporary directory with an
//! organization and a customer, definitions published through weft-db, and a fake `test`
//! component whose actions record what they were asked to do.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use weft_components::{ActionContext, BoxFuture, Component, Registry};
use weft_db::{
    Db, Execution, ExecutionStatus, LogRow, NewCustomer, NewDraft, NewExecution, NewInstance, Page, StepRow,
};
use weft_model::{ActionSpec, ErrorKind, InputSpec, InputType, SourceFormat, StepError};
use weft_worker::{Worker, WorkerConfig};

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What the fake component saw, shared between the registry and the test.
#[derive(Default)]
pub struct Probes {
    /// Invocations of `test.count` per `key`.
    counts: Mutex<HashMap<String, usize>>,
    /// Every `test.count` input, in call order.
    pub inputs: Mutex<Vec<Value>>,
    /// `test.sleep` calls running now, and the most ever running at once.
    sleeping: AtomicUsize,
    pub max_sleeping: AtomicUsize,
    /// Attempts of `test.fail` per `key`.
    attempts: Mutex<HashMap<String, u32>>,
    /// `test.gate` calls return once this is true.
    gate: Mutex<Option<watch::Sender<bool>>>,
    /// `test.gate` calls entered so far.
    pub gate_entered: AtomicUsize,
    /// Every `test.gate` input, in call order.
    pub gate_inputs: Mutex<Vec<Value>>,
}

impl Probes {
    pub fn count(&self, key: &str) -> usize {
        self.counts.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub fn open_gate(&self) {
        self.gate_sender().send_replace(true);
    }

    fn gate_sender(&self) -> watch::Sender<bool> {
        self.gate.lock().unwrap().get_or_insert_with(|| watch::channel(false).0).clone()
    }
}

/// The `test` component: `count` (counts and echoes its input), `sleep` (waits `ms`, tracking
/// how many sleep at once), `fail` (fails its first `failures` attempts per `key` with `kind`),
/// `gate` (waits until the test opens the gate) and `big` (outputs a string of `bytes` bytes).
pub struct TestComponent(pub Arc<Probes>);

fn input(key: &str, input_type: InputType, required: bool) -> InputSpec {
    InputSpec { key: key.into(), input_type, required, description: String::new() }
}

fn action(name: &str, inputs: Vec<InputSpec>) -> ActionSpec {
    ActionSpec::new(name, format!("{name} (test double)"), inputs)
}

/// Decrements a counter when dropped, so a cancelled (timed-out) sleep is counted out too.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Component for TestComponent {
    fn key(&self) -> &'static str {
        "test"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![
            action("test.count", vec![input("key", InputType::String, true), input("value", InputType::Any, false)]),
            action("test.sleep", vec![input("ms", InputType::Integer, true)]),
            action(
                "test.fail",
                vec![
                    input("key", InputType::String, true),
                    input("failures", InputType::Integer, true),
                    input("kind", InputType::String, true),
                ],
            ),
            action("test.gate", vec![input("value", InputType::Any, false)]),
            action("test.big", vec![input("bytes", InputType::Integer, true)]),
        ]
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        _cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let p = &self.0;
            match action {
                "test.count" => {
                    let key = input["key"].as_str().unwrap_or_default().to_string();
                    *p.counts.lock().unwrap().entry(key).or_default() += 1;
                    p.inputs.lock().unwrap().push(input.clone());
                    Ok(input)
                }
                "test.sleep" => {
                    let now = p.sleeping.fetch_add(1, Ordering::SeqCst) + 1;
                    let _running = Running(&p.sleeping);
                    p.max_sleeping.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(input["ms"].as_u64().unwrap_or(0))).await;
                    Ok(json!({"slept": input["ms"]}))
                }
                "test.fail" => {
                    let key = input["key"].as_str().unwrap_or_default().to_string();
                    let attempt = {
                        let mut attempts = p.attempts.lock().unwrap();
                        let a = attempts.entry(key).or_default();
                        *a += 1;
                        *a
                    };
                    if u64::from(attempt) <= input["failures"].as_u64().unwrap_or(0) {
                        let kind = ErrorKind::from_name(input["kind"].as_str().unwrap_or("")).expect("a known kind");
                        Err(StepError::new(kind, format!("planned failure {attempt}")))
                    } else {
                        Ok(json!({"attempt": attempt}))
                    }
                }
                "test.gate" => {
                    p.gate_entered.fetch_add(1, Ordering::SeqCst);
                    p.gate_inputs.lock().unwrap().push(input.clone());
                    let mut rx = p.gate_sender().subscribe();
                    let _ = rx.wait_for(|open| *open).await;
                    Ok(json!({"passed": true}))
                }
                "test.big" => Ok(Value::String("x".repeat(input["bytes"].as_u64().unwrap_or(0) as usize))),
                other => Err(StepError::new(ErrorKind::Input, format!("unknown action {other}"))),
            }
        })
    }
}

/// One published integration version with an instance of it.
#[derive(Debug, Clone)]
pub struct Published {
    pub integration_id: String,
    pub version: i64,
    pub instance_id: String,
}

pub struct Harness {
    pub db: Db,
    pub org: String,
    pub customer: String,
    pub probes: Arc<Probes>,
    pub registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_dir(dir.path()).await.unwrap();
        let (org, _) = db.ensure_organization("acme", now_ms()).await.unwrap();
        let customer = db
            .create_customer(
                &org.id,
                &NewCustomer { external_id: Some("c-1".into()), name: "Customer".into(), labels: Default::default() },
                now_ms(),
            )
            .await
            .unwrap();
        let probes = Arc::new(Probes::default());
        let mut registry = Registry::new();
        registry.register(Arc::new(TestComponent(probes.clone())));
        registry.register(Arc::new(weft_components::log::LogComponent));
        Harness { db, org: org.id, customer: customer.id, probes, registry: Arc::new(registry), _dir: dir }
    }

    /// Publishes `yaml` as a new integration version and creates an instance with `config`
    /// (already resolved: the worker takes the stored config as is).
    pub async fn publish(&self, yaml: &str, config: Value) -> Published {
        let (doc, def) = weft_model::load_definition(yaml, SourceFormat::Yaml, &self.registry.action_specs())
            .unwrap_or_else(|d| panic!("test definition is invalid: {d:?}"));
        let draft = NewDraft {
            key: def.key.clone(),
            name: def.name.clone(),
            description: None,
            format: "yaml".into(),
            source: yaml.into(),
            definition: doc.value.clone(),
        };
        let integration = self.db.save_draft(&self.org, &draft, now_ms()).await.unwrap();
        let version = self.db.publish_version(&self.org, &integration.id, now_ms()).await.unwrap();
        let instance = self
            .db
            .create_instance(
                &self.org,
                &NewInstance {
                    customer_id: self.customer.clone(),
                    integration_id: integration.id.clone(),
                    version: version.version,
                    name: "instance".into(),
                    config,
                    webhook_flows: Vec::new(),
                    secret_keys: Vec::new(),
                },
                now_ms(),
            )
            .await
            .unwrap();
        Published { integration_id: integration.id, version: version.version, instance_id: instance.id }
    }

    /// A new execution of `flow` with `body` as trigger body; `claimed_by` creates it already
    /// claimed (for dispatch), else it is queued for a claim loop.
    pub async fn execution(
        &self,
        p: &Published,
        flow: &str,
        body: Value,
        claimed_by: Option<&str>,
        lease_ms: i64,
    ) -> Execution {
        let new = NewExecution {
            org_id: self.org.clone(),
            instance_id: p.instance_id.clone(),
            customer_id: self.customer.clone(),
            integration_id: p.integration_id.clone(),
            version: p.version,
            flow_key: flow.into(),
            trigger: json!({"body": body, "headers": {}, "query": {}, "method": "POST"}),
            replay_of: None,
            claimed_by: claimed_by.map(String::from),
            lease_ms,
            idempotency_key: None,
        };
        self.db.create_execution(&new, now_ms()).await.unwrap()
    }

    pub fn worker(&self, cfg: WorkerConfig) -> Worker {
        Worker::new(self.db.clone(), self.registry.clone(), cfg)
    }

    pub async fn get(&self, id: &str) -> Execution {
        self.db.get_execution(&self.org, id).await.unwrap().expect("execution exists")
    }

    /// Polls the execution until `done` holds for it (at most 10 s).
    pub async fn wait_until(&self, id: &str, what: &str, done: impl Fn(&Execution) -> bool) -> Execution {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let exe = self.get(id).await;
            if done(&exe) {
                return exe;
            }
            assert!(tokio::time::Instant::now() < give_up, "timed out waiting for {what}; execution is {exe:#?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls until the execution has ended.
    pub async fn wait_finished(&self, id: &str) -> Execution {
        self.wait_until(id, "the execution to finish", |e| {
            matches!(e.status, ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Canceled)
        })
        .await
    }

    pub async fn steps(&self, id: &str) -> Vec<StepRow> {
        self.db.list_steps(id).await.unwrap()
    }

    pub async fn step(&self, id: &str, path: &str) -> StepRow {
        let steps = self.steps(id).await;
        steps.iter().find(|s| s.path == path).cloned().unwrap_or_else(|| panic!("no step {path} in {steps:#?}"))
    }

    pub async fn logs(&self, id: &str) -> Vec<LogRow> {
        self.db.list_logs(id, &Page::first(500)).await.unwrap().items
    }
}

/// A worker configuration for tests: short leases and polls so recovery happens quickly.
pub fn config(node: &str) -> WorkerConfig {
    let mut cfg = WorkerConfig::new(node);
    cfg.lease = Duration::from_millis(300);
    cfg.poll_interval = Duration::from_millis(20);
    cfg.max_duration = Duration::from_secs(10);
    cfg
}
