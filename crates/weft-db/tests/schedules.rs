//! Schedules: replace on deploy, due listing, pause, delete with the instance, and the
//! exactly-once fire step under concurrent schedulers — on SQLite and PostgreSQL.

mod common;

use serde_json::{Map, Value, json};
use sqlx::Row;
use weft_db::*;

use common::TestDb;

db_tests!(
    replace_and_list,
    due_skips_paused_and_future,
    delete_instance_deletes_schedules,
    fire_moves_and_queues,
    racing_schedulers_fire_once,
    fired_executions_carry_the_queue_policy
);

const T0: Millis = 1_700_000_000_000;

struct Fixture {
    org: String,
    customer: String,
    integration: String,
    instance: String,
}

async fn fixture(db: &Db) -> Fixture {
    let (org, _) = db.ensure_organization("acme", T0).await.unwrap();
    let customer = db
        .create_customer(&org.id, &NewCustomer { external_id: None, name: "Acme".into(), labels: Map::new() }, T0)
        .await
        .unwrap();
    let draft = NewDraft {
        key: "nightly".into(),
        name: "Nightly".into(),
        description: None,
        format: "yaml".into(),
        source: "key: nightly\n".into(),
        definition: json!({"key": "nightly"}),
    };
    let integration = db.save_draft(&org.id, &draft, T0).await.unwrap();
    db.publish_version(&org.id, &integration.id, T0).await.unwrap();
    let instance = db
        .create_instance(
            &org.id,
            &NewInstance {
                customer_id: customer.id.clone(),
                integration_id: integration.id.clone(),
                version: 1,
                name: "nightly".into(),
                config: json!({}),
                webhook_flows: Vec::new(),
                secret_keys: Vec::new(),
            },
            T0,
        )
        .await
        .unwrap();
    Fixture { org: org.id, customer: customer.id, integration: integration.id, instance: instance.id }
}

fn schedule(fx: &Fixture, flow: &str, next: Millis) -> NewSchedule {
    NewSchedule {
        customer_id: fx.customer.clone(),
        integration_id: fx.integration.clone(),
        version: 1,
        flow_key: flow.into(),
        cron: "0 2 * * *".into(),
        timezone: "Europe/Berlin".into(),
        next_fire_at: next,
    }
}

fn execution(fx: &Fixture, s: &Schedule) -> NewExecution {
    NewExecution {
        org_id: fx.org.clone(),
        instance_id: fx.instance.clone(),
        customer_id: fx.customer.clone(),
        integration_id: fx.integration.clone(),
        version: s.version,
        flow_key: s.flow_key.clone(),
        trigger: json!({"method": "SCHEDULE", "body": {"due_at": s.next_fire_at}}),
        replay_of: None,
        claimed_by: None,
        lease_ms: 0,
        idempotency_key: None,
    }
}

async fn executions_of(t: &TestDb, fx: &Fixture) -> Vec<Execution> {
    let filter = ExecutionFilter { instance_id: Some(fx.instance.clone()), ..Default::default() };
    t.db.list_executions(&fx.org, &filter, &Page::first(100)).await.unwrap().items
}

async fn replace_and_list(t: &TestDb) {
    let fx = fixture(&t.db).await;
    let stored =
        t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "b", T0 + 10), schedule(&fx, "a", T0 + 20)], T0)
            .await
            .unwrap();
    assert_eq!(stored.iter().map(|s| s.flow_key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(t.db.list_schedules(&fx.org, &fx.instance).await.unwrap(), stored);
    assert_eq!(stored[0].cron, "0 2 * * *");
    assert_eq!(stored[0].timezone, "Europe/Berlin");
    assert_eq!(stored[0].next_fire_at, T0 + 20);

    // An upgrade replaces the whole set.
    let again = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "c", T0 + 30)], T0 + 1).await.unwrap();
    assert_eq!(t.db.list_schedules(&fx.org, &fx.instance).await.unwrap(), again);
    assert_eq!(again.len(), 1);
    t.db.replace_schedules(&fx.org, &fx.instance, &[], T0 + 2).await.unwrap();
    assert!(t.db.list_schedules(&fx.org, &fx.instance).await.unwrap().is_empty());

    // Another organization cannot reach the instance.
    let (other, _) = t.db.ensure_organization("other", T0).await.unwrap();
    let err = t.db.replace_schedules(&other.id, &fx.instance, &[schedule(&fx, "a", T0)], T0).await.unwrap_err();
    assert!(matches!(err, DbError::NotFound(_)), "{err:?}");
    assert!(t.db.list_schedules(&other.id, &fx.instance).await.unwrap().is_empty());

    // Two schedules for one flow are a conflict, and nothing of the batch is stored.
    t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "a", T0)], T0).await.unwrap();
    let err =
        t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "x", T0), schedule(&fx, "x", T0)], T0)
            .await
            .unwrap_err();
    assert!(matches!(err, DbError::Conflict(_)), "{err:?}");
    let kept = t.db.list_schedules(&fx.org, &fx.instance).await.unwrap();
    assert_eq!(kept.iter().map(|s| s.flow_key.as_str()).collect::<Vec<_>>(), ["a"]);
}

async fn due_skips_paused_and_future(t: &TestDb) {
    let fx = fixture(&t.db).await;
    t.db.replace_schedules(
        &fx.org,
        &fx.instance,
        &[schedule(&fx, "late", T0 - 50), schedule(&fx, "now", T0), schedule(&fx, "future", T0 + 1)],
        T0,
    )
    .await
    .unwrap();
    let due = t.db.due_schedules(T0, 10).await.unwrap();
    assert_eq!(due.iter().map(|s| s.flow_key.as_str()).collect::<Vec<_>>(), ["late", "now"]);
    assert_eq!(t.db.due_schedules(T0, 1).await.unwrap().len(), 1);

    // Paused: not due, and a fire attempt (read before the pause) does nothing.
    t.db.set_instance_enabled(&fx.org, &fx.instance, false, T0).await.unwrap();
    assert!(t.db.due_schedules(T0 + 10, 10).await.unwrap().is_empty());
    let fired =
        t.db.fire_schedule(&due[0].id, T0 - 50, T0 + 100, &execution(&fx, &due[0]), QueuePolicy::PARALLEL, T0)
            .await
            .unwrap();
    assert_eq!(fired, None);
    assert!(executions_of(t, &fx).await.is_empty());

    t.db.set_instance_enabled(&fx.org, &fx.instance, true, T0).await.unwrap();
    assert_eq!(t.db.due_schedules(T0 + 1, 10).await.unwrap().len(), 3);
}

async fn delete_instance_deletes_schedules(t: &TestDb) {
    let fx = fixture(&t.db).await;
    t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "a", T0)], T0).await.unwrap();
    t.db.delete_instance(&fx.org, &fx.instance).await.unwrap();
    assert!(t.db.due_schedules(T0, 10).await.unwrap().is_empty());
    let raw = t.raw().await;
    let n: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM schedules").fetch_one(&raw).await.unwrap().try_get("n").unwrap();
    assert_eq!(n, 0);
}

async fn fire_moves_and_queues(t: &TestDb) {
    let fx = fixture(&t.db).await;
    let s = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "a", T0)], T0).await.unwrap().remove(0);
    let new = execution(&fx, &s);
    let exe =
        t.db.fire_schedule(&s.id, T0, T0 + 60_000, &new, QueuePolicy::PARALLEL, T0 + 5).await.unwrap().expect("fired");
    assert_eq!(exe.status, ExecutionStatus::Queued);
    assert_eq!(exe.flow_key, "a");
    assert_eq!(exe.trigger, new.trigger);
    assert_eq!(t.db.get_execution(&fx.org, &exe.id).await.unwrap(), Some(exe.clone()));
    let after = t.db.list_schedules(&fx.org, &fx.instance).await.unwrap().remove(0);
    assert_eq!(after.next_fire_at, T0 + 60_000);
    assert_eq!(after.updated_at, T0 + 5);

    // The same due time again: no second execution, the schedule is not moved.
    assert_eq!(t.db.fire_schedule(&s.id, T0, T0 + 120_000, &new, QueuePolicy::PARALLEL, T0 + 6).await.unwrap(), None);
    assert_eq!(t.db.list_schedules(&fx.org, &fx.instance).await.unwrap()[0].next_fire_at, T0 + 60_000);
    assert_eq!(executions_of(t, &fx).await.len(), 1);

    // The queued execution is claimable like any other.
    let claimed = t.db.claim_executions("runner", 10, 30_000, T0 + 10).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [exe.id.as_str()]);

    // Misuse is refused before anything is written.
    let err = t.db.fire_schedule(&s.id, T0 + 60_000, T0 + 60_000, &new, QueuePolicy::PARALLEL, T0).await.unwrap_err();
    assert!(matches!(err, DbError::Invalid(_)), "{err:?}");
    let claimed_new = NewExecution { claimed_by: Some("me".into()), lease_ms: 1000, ..new };
    let err =
        t.db.fire_schedule(&s.id, T0 + 60_000, T0 + 120_000, &claimed_new, QueuePolicy::PARALLEL, T0)
            .await
            .unwrap_err();
    assert!(matches!(err, DbError::Invalid(_)), "{err:?}");
}

async fn racing_schedulers_fire_once(t: &TestDb) {
    let fx = fixture(&t.db).await;
    let rows: Vec<NewSchedule> = (0..10).map(|i| schedule(&fx, &format!("f{i}"), T0 - i)).collect();
    t.db.replace_schedules(&fx.org, &fx.instance, &rows, T0).await.unwrap();
    // Eight schedulers read the same due rows and all try to fire every one of them.
    let due = t.db.due_schedules(T0, 100).await.unwrap();
    assert_eq!(due.len(), 10);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = t.db.clone();
        let jobs: Vec<(Schedule, NewExecution)> = due.iter().map(|s| (s.clone(), execution(&fx, s))).collect();
        tasks.push(tokio::spawn(async move {
            let mut won = 0;
            for (s, new) in jobs {
                if db
                    .fire_schedule(&s.id, s.next_fire_at, T0 + 60_000, &new, QueuePolicy::PARALLEL, T0)
                    .await
                    .unwrap()
                    .is_some()
                {
                    won += 1;
                }
            }
            won
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 10, "each due time fires exactly once");
    let exes = executions_of(t, &fx).await;
    assert_eq!(exes.len(), 10);
    let mut flows: Vec<_> = exes.iter().map(|e| e.flow_key.clone()).collect();
    flows.sort();
    flows.dedup();
    assert_eq!(flows.len(), 10);
    assert!(t.db.due_schedules(T0 + 59_999, 100).await.unwrap().is_empty());
}

/// The stored `(queue_limit, fifo)` of an execution.
async fn stored_policy(t: &TestDb, id: &str) -> (Option<i64>, i64) {
    let raw = t.raw().await;
    let row =
        sqlx::query("SELECT queue_limit, fifo FROM executions WHERE id = $1").bind(id).fetch_one(&raw).await.unwrap();
    (row.try_get("queue_limit").unwrap(), row.try_get("fifo").unwrap())
}

async fn finish(t: &TestDb, e: &Execution, now: Millis) {
    let fin = Finish {
        id: &e.id,
        owner: e.lease_owner.as_deref().unwrap(),
        status: ExecutionStatus::Succeeded,
        result: None,
        error: None,
        state: &Value::Null,
        steps: &[],
        logs: &[],
        response: None,
        now,
    };
    t.db.finish_execution(&fin).await.unwrap();
}

/// A fifo flow fired by its schedule (and polled records of a throttled one) keep their queue
/// mode: the claim hands out one fifo execution at a time, the oldest first, while earlier
/// firings are still running.
async fn fired_executions_carry_the_queue_policy(t: &TestDb) {
    const FIFO: QueuePolicy = QueuePolicy { limit: None, fifo: true };
    let fx = fixture(&t.db).await;
    let s = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "a", T0)], T0).await.unwrap().remove(0);
    let mut fired = Vec::new();
    for n in 0..3 {
        let due = T0 + n * 60_000;
        let new = execution(&fx, &Schedule { next_fire_at: due, ..s.clone() });
        let exe = t.db.fire_schedule(&s.id, due, due + 60_000, &new, FIFO, due).await.unwrap().expect("fired");
        assert_eq!(stored_policy(t, &exe.id).await, (Some(1), 1));
        fired.push(exe);
    }

    // The schedule kept firing while nothing finished; only the oldest is handed out.
    let now = T0 + 180_000;
    let first = t.db.claim_executions("runner", 10, 30_000, now).await.unwrap();
    assert_eq!(first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [fired[0].id.as_str()]);
    assert!(t.db.claim_executions("other", 10, 30_000, now + 1).await.unwrap().is_empty());
    finish(t, &first[0], now + 2).await;
    let second = t.db.claim_executions("other", 10, 30_000, now + 3).await.unwrap();
    assert_eq!(second.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [fired[1].id.as_str()]);
    assert!(t.db.claim_executions("runner", 10, 30_000, now + 4).await.unwrap().is_empty());
    finish(t, &second[0], now + 5).await;
    let third = t.db.claim_executions("runner", 10, 30_000, now + 6).await.unwrap();
    assert_eq!(third.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), [fired[2].id.as_str()]);

    // A poll stores the policy on each of its executions too (and the default stays unlimited).
    let p = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "p", T0)], T0).await.unwrap().remove(0);
    let news = vec![execution(&fx, &p), execution(&fx, &p)];
    let throttled = QueuePolicy { limit: Some(2), fifo: false };
    let polled = t.db.fire_poll(&p.id, T0, T0 + 60_000, Some(&json!({})), &news, throttled, T0).await.unwrap();
    for e in polled.expect("fired") {
        assert_eq!(stored_policy(t, &e.id).await, (Some(2), 0));
    }
    let plain = t.db.fire_poll(&p.id, T0 + 60_000, T0 + 120_000, None, &news[..1], QueuePolicy::PARALLEL, T0).await;
    assert_eq!(stored_policy(t, &plain.unwrap().expect("fired")[0].id).await, (None, 0));
}
