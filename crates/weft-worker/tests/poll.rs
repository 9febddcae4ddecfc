//! Poll triggers through the scheduler against a real database: a feed component serves a
//! growing list of records; each poll queues one execution per new record (or one for the
//! batch), never one twice — across a restart (new scheduler and worker on the same database)
//! and with two schedulers racing — and a failed poll starts nothing and keeps the cursor.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{Harness, Published, config, now_ms};
use weft_components::{ActionContext, BoxFuture, Component, Registry};
use weft_db::{Execution, ExecutionFilter, NewDraft, NewInstance, NewSchedule, Page};
use weft_model::{ActionSpec, ErrorKind, InputSpec, InputType, OperationKind, StepError};
use weft_worker::{Scheduler, SchedulerConfig, Worker};

/// A remote feed: `feed.list` returns the records whose `seq` is greater than `since` (all of
/// them when `since` is null), or fails while `down` is set.
#[derive(Default)]
struct Feed {
    records: Mutex<Vec<Value>>,
    down: Mutex<bool>,
    /// The `since` of every call, to see which cursor each poll sent.
    calls: Mutex<Vec<Value>>,
}

impl Feed {
    fn add(&self, n: i64) {
        let mut r = self.records.lock().unwrap();
        let start = r.len() as i64;
        r.extend((start + 1..=start + n).map(|seq| json!({"id": format!("r{seq}"), "seq": seq})));
    }
}

struct FeedComponent(Arc<Feed>);

impl Component for FeedComponent {
    fn key(&self) -> &'static str {
        "feed"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![ActionSpec {
            kind: OperationKind::Action,
            name: "feed.list".into(),
            description: "records after `since`".into(),
            inputs: vec![InputSpec {
                key: "since".into(),
                input_type: InputType::Any,
                required: false,
                description: String::new(),
            }],
            connection: None,
        }]
    }

    fn run<'a>(&'a self, _: &'a str, input: Value, _: &'a ActionContext) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            self.0.calls.lock().unwrap().push(input["since"].clone());
            if *self.0.down.lock().unwrap() {
                return Err(StepError::new(ErrorKind::Connection, "the feed is down"));
            }
            let since = input["since"].as_i64().unwrap_or(0);
            let records: Vec<Value> =
                self.0.records.lock().unwrap().iter().filter(|r| r["seq"].as_i64().unwrap() > since).cloned().collect();
            Ok(json!({"body": {"records": records}}))
        })
    }
}

fn flow(batch: bool) -> String {
    format!(
        r#"
key: feed-{batch}
name: Feed
flows:
  - key: new-record
    trigger:
      poll:
        schedule: {{cron: "* * * * *"}}
        action: feed.list
        inputs: {{since: "{{{{ cursor }}}}"}}
        items: "{{{{ output.body.records }}}}"
        id: "{{{{ item.id }}}}"
        cursor: "{{{{ item.seq }}}}"
        batch: {batch}
    steps: []
"#
    )
}

struct Setup {
    h: Harness,
    p: Published,
    feed: Arc<Feed>,
    registry: Arc<Registry>,
}

async fn setup(batch: bool) -> Setup {
    let h = Harness::new().await;
    let feed = Arc::new(Feed::default());
    let mut registry = Registry::new();
    registry.register(Arc::new(FeedComponent(feed.clone())));
    let registry = Arc::new(registry);
    let yaml = flow(batch);
    let (doc, def) = weft_model::load_definition(&yaml, weft_model::SourceFormat::Yaml, &registry.action_specs())
        .unwrap_or_else(|d| panic!("test definition is invalid: {d:?}"));
    assert!(matches!(def.flows[0].trigger, weft_model::Trigger::Poll(_)));
    let draft = NewDraft {
        key: def.key.clone(),
        name: def.name.clone(),
        description: None,
        format: "yaml".into(),
        source: yaml.clone(),
        definition: doc.value.clone(),
    };
    let integration = h.db.save_draft(&h.org, &draft, now_ms()).await.unwrap();
    let version = h.db.publish_version(&h.org, &integration.id, now_ms()).await.unwrap();
    let new = NewInstance {
        customer_id: h.customer.clone(),
        integration_id: integration.id.clone(),
        version: version.version,
        name: "instance".into(),
        config: json!({}),
        webhook_flows: Vec::new(),
        secret_keys: Vec::new(),
    };
    let instance = h.db.create_instance(&h.org, &new, now_ms()).await.unwrap();
    let p = Published { integration_id: integration.id, version: version.version, instance_id: instance.id };
    let s = NewSchedule {
        customer_id: h.customer.clone(),
        integration_id: p.integration_id.clone(),
        version: p.version,
        flow_key: "new-record".into(),
        cron: "* * * * *".into(),
        timezone: "UTC".into(),
        next_fire_at: T0,
    };
    h.db.replace_schedules(&h.org, &p.instance_id, &[s], T0).await.unwrap();
    Setup { h, p, feed, registry }
}

/// A fixed clock: fire times are whole minutes after it, so `tick(n)` is always due.
const T0: i64 = 1_700_000_040_000;

fn at(n: i64) -> i64 {
    T0 + n * 60_000
}

fn scheduler(s: &Setup, node: &str) -> Scheduler {
    let worker = Worker::new(s.h.db.clone(), s.registry.clone(), config(node));
    Scheduler::new(s.h.db.clone(), worker, SchedulerConfig::default()).with_pruning(None)
}

async fn executions(s: &Setup) -> Vec<Execution> {
    let filter = ExecutionFilter { instance_id: Some(s.p.instance_id.clone()), ..Default::default() };
    let mut exes = s.h.db.list_executions(&s.h.org, &filter, &Page::first(500)).await.unwrap().items;
    exes.sort_by(|a, b| {
        (a.created_at, a.trigger["body"]["seq"].as_i64()).cmp(&(b.created_at, b.trigger["body"]["seq"].as_i64()))
    });
    exes
}

async fn seqs(s: &Setup) -> Vec<i64> {
    let mut out: Vec<i64> = executions(s).await.iter().map(|e| e.trigger["body"]["seq"].as_i64().unwrap()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn each_new_record_starts_one_execution_across_restarts() {
    let s = setup(false).await;
    s.feed.add(3);
    let first = scheduler(&s, "a");
    assert_eq!(first.fire_due(at(0)).await.unwrap(), 1);
    assert_eq!(seqs(&s).await, [1, 2, 3]);
    let exe = &executions(&s).await[0];
    assert_eq!(exe.trigger["method"], "POLL");
    assert_eq!(exe.status, weft_db::ExecutionStatus::Queued);

    // Nothing new: the poll fires, but starts nothing.
    first.fire_due(at(1)).await.unwrap();
    assert_eq!(seqs(&s).await, [1, 2, 3]);

    // A restart: a new scheduler and worker on the same database continue from the cursor.
    s.feed.add(2);
    let second = scheduler(&s, "b");
    second.fire_due(at(2)).await.unwrap();
    assert_eq!(seqs(&s).await, [1, 2, 3, 4, 5]);
    let calls = s.feed.calls.lock().unwrap().clone();
    assert_eq!(calls, [Value::Null, json!(3), json!(3)], "each poll sends the stored cursor");
    let state = s.h.db.poll_state(&s.p.instance_id, "new-record").await.unwrap().unwrap();
    assert_eq!(state["cursor"], json!(5));
    assert_eq!(state["seen"], json!(["r1", "r2", "r3", "r4", "r5"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_schedulers_emit_each_record_once() {
    let s = setup(false).await;
    let (a, b) = (scheduler(&s, "a"), scheduler(&s, "b"));
    for n in 0..5 {
        s.feed.add(2);
        let (x, y) = tokio::join!(a.fire_due(at(n)), b.fire_due(at(n)));
        assert_eq!(x.unwrap() + y.unwrap(), 1, "one scheduler fires poll {n}");
    }
    assert_eq!(seqs(&s).await, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn batch_mode_starts_one_execution_per_poll() {
    let s = setup(true).await;
    let sch = scheduler(&s, "a");
    s.feed.add(3);
    sch.fire_due(at(0)).await.unwrap();
    sch.fire_due(at(1)).await.unwrap();
    s.feed.add(1);
    sch.fire_due(at(2)).await.unwrap();
    let bodies: Vec<Value> = executions(&s).await.into_iter().map(|e| e.trigger["body"].clone()).collect();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let mut sizes: Vec<usize> = bodies.iter().map(|b| b.as_array().unwrap().len()).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 3]);
}

#[tokio::test]
async fn a_failed_poll_keeps_the_cursor() {
    let s = setup(false).await;
    let sch = scheduler(&s, "a");
    s.feed.add(2);
    sch.fire_due(at(0)).await.unwrap();
    let before = s.h.db.poll_state(&s.p.instance_id, "new-record").await.unwrap();
    s.feed.add(2);
    *s.feed.down.lock().unwrap() = true;
    sch.fire_due(at(1)).await.unwrap();
    assert_eq!(seqs(&s).await, [1, 2], "a failed poll starts nothing");
    assert_eq!(s.h.db.poll_state(&s.p.instance_id, "new-record").await.unwrap(), before);
    // The schedule moved on; the next fire time polls again from the same cursor.
    assert!(s.h.db.due_schedules(at(1), 10).await.unwrap().is_empty());
    *s.feed.down.lock().unwrap() = false;
    sch.fire_due(at(2)).await.unwrap();
    assert_eq!(seqs(&s).await, [1, 2, 3, 4]);
    assert_eq!(s.feed.calls.lock().unwrap().clone(), [Value::Null, json!(2), json!(2)]);
}
