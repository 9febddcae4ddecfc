//! Retention: settings, pruning exactly what is due (in batches), and instances that keep no
//! payloads.

mod common;

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};
use weft_db::*;

use common::TestDb;

db_tests!(
    retention_settings,
    pruning_removes_exactly_what_is_due,
    pruning_runs_in_batches,
    store_payloads_off_drops_payloads_at_finish
);

const T0: Millis = 1_700_000_000_000;
const DAY: Millis = 86_400_000;
/// "Now" for pruning: long after every execution below.
const NOW: Millis = T0 + 400 * DAY;

struct Fixture {
    org: String,
    customer: String,
    integration: String,
}

async fn fixture(db: &Db, org_name: &str) -> Fixture {
    let (org, _) = db.ensure_organization(org_name, T0).await.unwrap();
    let customer = db
        .create_customer(&org.id, &NewCustomer { external_id: None, name: "Acme".into(), labels: Map::new() }, T0)
        .await
        .unwrap();
    let draft = NewDraft {
        key: "sync".into(),
        name: "Sync".into(),
        description: None,
        format: "yaml".into(),
        source: "key: sync\n".into(),
        definition: json!({"key": "sync"}),
    };
    let integration = db.save_draft(&org.id, &draft, T0).await.unwrap();
    db.publish_version(&org.id, &integration.id, T0).await.unwrap();
    Fixture { org: org.id, customer: customer.id, integration: integration.id }
}

async fn instance(db: &Db, fx: &Fixture) -> String {
    let new = NewInstance {
        customer_id: fx.customer.clone(),
        integration_id: fx.integration.clone(),
        version: 1,
        name: "i".into(),
        config: json!({}),
        webhook_flows: vec![],
        secret_keys: Vec::new(),
    };
    db.create_instance(&fx.org, &new, T0).await.unwrap().id
}

fn new_execution(fx: &Fixture, instance: &str, claimed: bool) -> NewExecution {
    NewExecution {
        org_id: fx.org.clone(),
        instance_id: instance.into(),
        customer_id: fx.customer.clone(),
        integration_id: fx.integration.clone(),
        version: 1,
        flow_key: "hook".into(),
        trigger: json!({"body": {"secret": "payload"}}),
        replay_of: None,
        claimed_by: claimed.then(|| "r1".to_string()),
        lease_ms: if claimed { 60_000 } else { 0 },
        idempotency_key: None,
    }
}

fn step(n: i64) -> StepRow {
    StepRow {
        seq: 0,
        path: format!("s{n}"),
        key: format!("s{n}"),
        kind: "action".into(),
        action: Some("data.map".into()),
        status: "succeeded".into(),
        input: Some(json!({"in": n})),
        output: Some(json!({"out": n})),
        error: None,
        attempts: 1,
        started_at: T0,
        finished_at: T0,
    }
}

fn log(n: i64) -> LogRow {
    LogRow { seq: 0, at: T0, level: "info".into(), step_path: None, message: format!("line {n}") }
}

/// An execution of `instance` that finished (with `status`) `age_days` before [`NOW`], with one
/// step and two log lines.
async fn finished(db: &Db, fx: &Fixture, instance: &str, age_days: i64, status: ExecutionStatus) -> String {
    let at = NOW - age_days * DAY;
    let exe = db.create_execution(&new_execution(fx, instance, true), at - 1_000).await.unwrap();
    db.finish_execution(&Finish {
        id: &exe.id,
        owner: "r1",
        status,
        result: Some(&json!({"ok": true})),
        error: None,
        state: &json!({}),
        steps: &[step(1)],
        logs: &[log(1), log(2)],
        response: None,
        now: at,
    })
    .await
    .unwrap();
    exe.id
}

/// An execution created `age_days` before [`NOW`] that never finished: queued, or running with
/// a checkpoint (one step, one log line).
async fn unfinished(db: &Db, fx: &Fixture, instance: &str, age_days: i64, running: bool) -> String {
    let exe = db.create_execution(&new_execution(fx, instance, running), NOW - age_days * DAY).await.unwrap();
    if running {
        let cp = Checkpoint {
            id: &exe.id,
            owner: "r1",
            state: &json!({}),
            steps: &[step(1)],
            logs: &[log(1)],
            response: None,
        };
        db.checkpoint(&cp).await.unwrap();
    }
    exe.id
}

async fn ids(t: &TestDb, table: &str, column: &str) -> BTreeSet<String> {
    let sql = format!("SELECT DISTINCT {column} FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_all(&t.raw().await).await.unwrap().into_iter().collect()
}

async fn count(t: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&t.raw().await).await.unwrap()
}

async fn retention_settings(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let ins = instance(db, &fx).await;
    assert_eq!(db.org_retention(&fx.org).await.unwrap(), 30);
    let i = db.get_instance(&fx.org, &ins).await.unwrap().unwrap();
    assert_eq!((i.retention_days, i.store_payloads), (None, true));

    db.set_org_retention(&fx.org, 7).await.unwrap();
    assert_eq!(db.org_retention(&fx.org).await.unwrap(), 7);
    db.set_instance_retention(&fx.org, &ins, Some(90), false).await.unwrap();
    let i = db.get_instance(&fx.org, &ins).await.unwrap().unwrap();
    assert_eq!((i.retention_days, i.store_payloads), (Some(90), false));
    db.set_instance_retention(&fx.org, &ins, None, true).await.unwrap();
    let i = db.get_instance(&fx.org, &ins).await.unwrap().unwrap();
    assert_eq!((i.retention_days, i.store_payloads), (None, true));

    for bad in [0, -1, 36_501] {
        assert!(matches!(db.set_org_retention(&fx.org, bad).await, Err(DbError::Invalid(_))), "{bad}");
        assert!(matches!(db.set_instance_retention(&fx.org, &ins, Some(bad), true).await, Err(DbError::Invalid(_))));
    }
    // another organization's instance, or none at all
    let other = fixture(db, "other").await;
    assert!(matches!(db.set_instance_retention(&other.org, &ins, None, true).await, Err(DbError::NotFound(_))));
    assert!(matches!(db.set_org_retention("org_missing", 5).await, Err(DbError::NotFound(_))));
    assert!(matches!(db.org_retention("org_missing").await, Err(DbError::NotFound(_))));
}

async fn pruning_removes_exactly_what_is_due(t: &TestDb) {
    use ExecutionStatus::*;
    let db = &t.db;
    // Organization A keeps the default 30 days; B keeps 7.
    let a = fixture(db, "a").await;
    let b = fixture(db, "b").await;
    db.set_org_retention(&b.org, 7).await.unwrap();
    let a_default = instance(db, &a).await;
    let a_short = instance(db, &a).await;
    db.set_instance_retention(&a.org, &a_short, Some(3), true).await.unwrap();
    let a_long = instance(db, &a).await;
    db.set_instance_retention(&a.org, &a_long, Some(90), true).await.unwrap();
    let b_default = instance(db, &b).await;

    let mut due = BTreeSet::new();
    let mut kept = BTreeSet::new();
    due.insert(finished(db, &a, &a_default, 31, Succeeded).await);
    due.insert(finished(db, &a, &a_default, 45, Canceled).await);
    kept.insert(finished(db, &a, &a_default, 29, Failed).await);
    // exactly the retention: not older than it yet
    kept.insert(finished(db, &a, &a_default, 30, Succeeded).await);
    // never finished, however old
    kept.insert(unfinished(db, &a, &a_default, 300, false).await);
    kept.insert(unfinished(db, &a, &a_default, 300, true).await);
    // a shorter override
    due.insert(finished(db, &a, &a_short, 4, Failed).await);
    kept.insert(finished(db, &a, &a_short, 2, Succeeded).await);
    kept.insert(unfinished(db, &a, &a_short, 100, false).await);
    // a longer override: the organization's default does not apply
    kept.insert(finished(db, &a, &a_long, 45, Succeeded).await);
    due.insert(finished(db, &a, &a_long, 91, Succeeded).await);
    // an instance that was deleted: the organization's default
    due.insert(finished(db, &a, "ins_deleted", 31, Succeeded).await);
    kept.insert(finished(db, &a, "ins_deleted", 10, Succeeded).await);
    // organization B's default
    due.insert(finished(db, &b, &b_default, 8, Failed).await);
    kept.insert(finished(db, &b, &b_default, 6, Succeeded).await);
    kept.insert(finished(db, &b, &b_default, 1, Canceled).await);

    let before_steps = count(t, "execution_steps").await;
    let before_logs = count(t, "execution_logs").await;
    let report = db.prune(NOW, 100).await.unwrap();
    assert_eq!(report, PruneReport { executions: 6, steps: 6, logs: 12 });
    assert_eq!(ids(t, "executions", "id").await, kept);
    assert!(due.iter().all(|id| !kept.contains(id)));
    // the kept ones still have their steps and logs (queued ones have none)
    let with_rows: BTreeSet<String> = ids(t, "execution_steps", "execution_id").await;
    assert!(with_rows.is_subset(&kept));
    assert_eq!(ids(t, "execution_logs", "execution_id").await, with_rows);
    assert_eq!(count(t, "execution_steps").await, before_steps - 6);
    assert_eq!(count(t, "execution_logs").await, before_logs - 12);
    // nothing more is due
    assert_eq!(db.prune(NOW, 100).await.unwrap(), PruneReport::default());
    // later, more is
    let later = db.prune(NOW + 2 * DAY, 100).await.unwrap();
    assert_eq!(later.executions, 4, "a_short at 2 days, b at 6 days, a_default at 29 and 30 days");
}

async fn pruning_runs_in_batches(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let ins = instance(db, &fx).await;
    let mut due = BTreeSet::new();
    for age in 31..36 {
        due.insert(finished(db, &fx, &ins, age, ExecutionStatus::Succeeded).await);
    }
    let fresh = finished(db, &fx, &ins, 1, ExecutionStatus::Succeeded).await;
    let mut sizes = Vec::new();
    loop {
        let r = db.prune(NOW, 2).await.unwrap();
        sizes.push(r.executions);
        assert_eq!((r.steps, r.logs), (r.executions, 2 * r.executions));
        if r.executions < 2 {
            break;
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(ids(t, "executions", "id").await, BTreeSet::from([fresh]));
    assert_eq!(db.prune(NOW, 0).await.unwrap(), PruneReport::default());
}

async fn store_payloads_off_drops_payloads_at_finish(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let lean = instance(db, &fx).await;
    db.set_instance_retention(&fx.org, &lean, None, false).await.unwrap();
    let full = instance(db, &fx).await;

    // Queued: the trigger is whole, a runner taking over needs it.
    let exe = db.create_execution(&new_execution(&fx, &lean, false), T0).await.unwrap();
    let claimed = db.claim_executions("r1", 10, 60_000, T0 + 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].trigger, json!({"body": {"secret": "payload"}}));
    let mut lean_step = step(1);
    (lean_step.input, lean_step.output) = (None, None);
    let cp = Checkpoint {
        id: &exe.id,
        owner: "r1",
        state: &json!({"steps": "outputs"}),
        steps: std::slice::from_ref(&lean_step),
        logs: &[log(1)],
        response: None,
    };
    db.checkpoint(&cp).await.unwrap();
    let running = db.get_execution(&fx.org, &exe.id).await.unwrap().unwrap();
    assert_eq!(running.trigger, json!({"body": {"secret": "payload"}}));
    assert_eq!(running.state, Some(json!({"steps": "outputs"})));

    let error = json!({"kind": "component", "message": "boom"});
    let fin = Finish {
        id: &exe.id,
        owner: "r1",
        status: ExecutionStatus::Failed,
        result: Some(&json!({"partial": 1})),
        error: Some(&error),
        state: &json!({"steps": "outputs"}),
        steps: &[],
        logs: &[log(2)],
        response: None,
        now: T0 + 2,
    };
    db.finish_execution(&fin).await.unwrap();
    let done = db.get_execution(&fx.org, &exe.id).await.unwrap().unwrap();
    let omitted: Value = serde_json::from_str(OMITTED_TRIGGER).unwrap();
    assert_eq!(done.trigger, omitted);
    assert_eq!((done.result, done.state), (None, None));
    assert_eq!((done.status, done.error, done.finished_at), (ExecutionStatus::Failed, Some(error), Some(T0 + 2)));
    assert_eq!(db.list_steps(&exe.id).await.unwrap(), vec![StepRow { seq: 1, ..lean_step }]);
    assert_eq!(db.list_logs(&exe.id, &Page::default()).await.unwrap().items.len(), 2);

    // An instance that stores payloads keeps them.
    let id = finished(db, &fx, &full, 1, ExecutionStatus::Succeeded).await;
    let kept = db.get_execution(&fx.org, &id).await.unwrap().unwrap();
    assert_eq!(kept.trigger, json!({"body": {"secret": "payload"}}));
    assert_eq!((kept.result, kept.state), (Some(json!({"ok": true})), Some(json!({}))));
}
