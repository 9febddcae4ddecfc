//! Poll triggers: [`Db::fire_poll`] stores the executions and the poll state in one
//! transaction with the schedule's compare-and-set; a losing racer, a paused instance or a
//! replaced schedule store nothing; the state survives replacing the schedules — on SQLite and
//! PostgreSQL.

mod common;

use serde_json::{Map, Value, json};
use weft_db::*;

use common::TestDb;

db_tests!(fire_poll_stores_state_and_executions, racing_pollers_store_once, failed_poll_keeps_state);

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

fn execution(fx: &Fixture, s: &Schedule, record: Value) -> NewExecution {
    NewExecution {
        org_id: fx.org.clone(),
        instance_id: fx.instance.clone(),
        customer_id: fx.customer.clone(),
        integration_id: fx.integration.clone(),
        version: s.version,
        flow_key: s.flow_key.clone(),
        trigger: json!({"method": "POLL", "body": record}),
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

async fn fire_poll_stores_state_and_executions(t: &TestDb) {
    let fx = fixture(&t.db).await;
    let stored = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "poll", T0)], T0).await.unwrap();
    let s = &stored[0];
    assert_eq!(t.db.poll_state(&fx.instance, "poll").await.unwrap(), None);
    let state = json!({"cursor": 2, "seen": [1, 2]});
    let news = [execution(&fx, s, json!({"id": 1})), execution(&fx, s, json!({"id": 2}))];
    let exes =
        t.db.fire_poll(&s.id, T0, T0 + 60_000, Some(&state), &news, QueuePolicy::PARALLEL, T0)
            .await
            .unwrap()
            .expect("fired");
    assert_eq!(exes.len(), 2);
    assert!(exes.iter().all(|e| e.status == ExecutionStatus::Queued));
    assert_eq!(t.db.poll_state(&fx.instance, "poll").await.unwrap(), Some(state.clone()));
    let mut bodies: Vec<Value> = executions_of(t, &fx).await.into_iter().map(|e| e.trigger["body"].clone()).collect();
    bodies.sort_by_key(|b| b["id"].as_i64());
    assert_eq!(bodies, [json!({"id": 1}), json!({"id": 2})]);
    assert!(t.db.due_schedules(T0 + 59_999, 10).await.unwrap().is_empty());

    // Firing the same due time again (a stale read) stores nothing.
    let again =
        t.db.fire_poll(&s.id, T0, T0 + 60_000, Some(&json!({"cursor": 9})), &news, QueuePolicy::PARALLEL, T0)
            .await
            .unwrap();
    assert_eq!(again, None);
    assert_eq!(t.db.poll_state(&fx.instance, "poll").await.unwrap(), Some(state.clone()));
    assert_eq!(executions_of(t, &fx).await.len(), 2);

    // Redeploying replaces the schedule row but keeps the cursor; the old row's id fires nothing.
    let next = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "poll", T0 + 1)], T0).await.unwrap();
    assert_eq!(t.db.poll_state(&fx.instance, "poll").await.unwrap(), Some(state.clone()));
    assert_eq!(
        t.db.fire_poll(&s.id, T0 + 60_000, T0 + 120_000, None, &news, QueuePolicy::PARALLEL, T0).await.unwrap(),
        None
    );

    // A paused instance does not poll.
    t.db.set_instance_enabled(&fx.org, &fx.instance, false, T0).await.unwrap();
    let paused =
        t.db.fire_poll(&next[0].id, T0 + 1, T0 + 60_000, Some(&json!({})), &news, QueuePolicy::PARALLEL, T0)
            .await
            .unwrap();
    assert_eq!(paused, None);
    assert_eq!(t.db.poll_state(&fx.instance, "poll").await.unwrap(), Some(state));
    assert_eq!(executions_of(t, &fx).await.len(), 2);
}

async fn racing_pollers_store_once(t: &TestDb) {
    let fx = fixture(&t.db).await;
    let s = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "poll", T0)], T0).await.unwrap().remove(0);
    let mut tasks = Vec::new();
    for n in 0..8 {
        let db = t.db.clone();
        let news: Vec<NewExecution> = (0..3).map(|i| execution(&fx, &s, json!({"id": i, "by": n}))).collect();
        let id = s.id.clone();
        tasks.push(tokio::spawn(async move {
            let state = json!({"cursor": 3, "by": n});
            db.fire_poll(&id, T0, T0 + 60_000, Some(&state), &news, QueuePolicy::PARALLEL, T0).await.unwrap().map(|_| n)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one poller fires a due time");
    let exes = executions_of(t, &fx).await;
    assert_eq!(exes.len(), 3);
    assert!(exes.iter().all(|e| e.trigger["body"]["by"] == json!(winners[0])), "only the winner's executions");
    let state = t.db.poll_state(&fx.instance, "poll").await.unwrap().unwrap();
    assert_eq!(state["by"], json!(winners[0]), "only the winner's state");
}

async fn failed_poll_keeps_state(t: &TestDb) {
    let fx = fixture(&t.db).await;
    let s = t.db.replace_schedules(&fx.org, &fx.instance, &[schedule(&fx, "poll", T0)], T0).await.unwrap().remove(0);
    let state = json!({"cursor": "2024-01-01"});
    t.db.fire_poll(&s.id, T0, T0 + 10, Some(&state), &[], QueuePolicy::PARALLEL, T0).await.unwrap().expect("fired");
    assert!(executions_of(t, &fx).await.is_empty(), "a poll with no new records starts nothing");
    // A failed poll moves the schedule on and keeps the stored state.
    let fired = t.db.fire_poll(&s.id, T0 + 10, T0 + 20, None, &[], QueuePolicy::PARALLEL, T0).await.unwrap();
    assert_eq!(fired, Some(Vec::new()));
    assert_eq!(t.db.poll_state(&fx.instance, "poll").await.unwrap(), Some(state));
    assert_eq!(t.db.due_schedules(T0 + 19, 10).await.unwrap().len(), 0);
    let err = t.db.fire_poll(&s.id, T0 + 20, T0 + 20, None, &[], QueuePolicy::PARALLEL, T0).await.unwrap_err();
    assert!(matches!(err, DbError::Invalid(_)), "{err:?}");
}
