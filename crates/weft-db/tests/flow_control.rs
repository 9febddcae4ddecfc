//! Idempotency keys on execution creation, and canceling executions.

mod common;

use std::collections::HashSet;

use futures::stream::{self, StreamExt};
use serde_json::json;
use weft_db::*;

use common::TestDb;

db_tests!(
    idempotency_key_yields_one_execution,
    concurrent_deliveries_with_one_key_create_one_execution,
    cancel_queued_running_and_finished
);

const T0: Millis = 1_700_000_000_000;

fn new_execution(org: &str, instance: &str, key: Option<&str>) -> NewExecution {
    NewExecution {
        org_id: org.into(),
        instance_id: instance.into(),
        customer_id: "cus_a".into(),
        integration_id: "int_x".into(),
        version: 1,
        flow_key: "hook".into(),
        trigger: json!({"body": {}}),
        replay_of: None,
        claimed_by: None,
        lease_ms: 0,
        idempotency_key: key.map(String::from),
    }
}

async fn count(t: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM executions").fetch_one(&t.raw().await).await.unwrap()
}

async fn idempotency_key_yields_one_execution(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let (first, created) = db.create_execution_once(&new_execution(&org.id, "ins_1", Some("k1")), T0).await.unwrap();
    assert!(created);
    // The same key again, even claimed: the first execution, untouched, nothing written.
    let mut again = new_execution(&org.id, "ins_1", Some("k1"));
    again.claimed_by = Some("r1".into());
    again.lease_ms = 1_000;
    let (second, created) = db.create_execution_once(&again, T0 + 5).await.unwrap();
    assert!(!created);
    assert_eq!(second, first);
    assert_eq!(db.create_execution(&again, T0 + 6).await.unwrap().id, first.id);
    assert_eq!(count(t).await, 1);
    // Another instance, another key, or no key: new executions.
    let (other_instance, created) =
        db.create_execution_once(&new_execution(&org.id, "ins_2", Some("k1")), T0).await.unwrap();
    assert!(created && other_instance.id != first.id);
    let (other_key, created) =
        db.create_execution_once(&new_execution(&org.id, "ins_1", Some("k2")), T0).await.unwrap();
    assert!(created && other_key.id != first.id);
    for _ in 0..2 {
        assert!(db.create_execution_once(&new_execution(&org.id, "ins_1", None), T0).await.unwrap().1);
    }
    assert_eq!(count(t).await, 5);
    // A repeat sees the execution as it is now.
    let claimed = db.claim_executions("r1", 10, 1_000, T0 + 10).await.unwrap();
    assert_eq!(claimed.len(), 5);
    let (now, created) = db.create_execution_once(&new_execution(&org.id, "ins_1", Some("k1")), T0).await.unwrap();
    assert!(!created);
    assert_eq!((now.id.as_str(), now.status), (first.id.as_str(), ExecutionStatus::Running));
}

/// Deliveries racing with one key (on SQLite in one group transaction, on PostgreSQL in
/// concurrent ones): exactly one creates, all get its id, and no batch is spoiled.
async fn concurrent_deliveries_with_one_key_create_one_execution(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let results: Vec<(Execution, bool)> = stream::iter(0..40)
        .map(|n| {
            let key = if n % 2 == 0 { Some("same") } else { None };
            let new = new_execution(&org.id, "ins_1", key);
            async move { (db.create_execution_once(&new, T0 + n).await.unwrap(), key.is_some()) }
        })
        .buffer_unordered(40)
        .filter(|(_, keyed)| std::future::ready(*keyed))
        .map(|(r, _)| r)
        .collect()
        .await;
    assert_eq!(results.len(), 20);
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    let ids: HashSet<_> = results.iter().map(|(e, _)| e.id.clone()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(count(t).await, 21);
}

async fn cancel_queued_running_and_finished(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let (other, _) = db.ensure_organization("other", T0).await.unwrap();

    // queued: canceled at once, never claimed
    let queued = db.create_execution(&new_execution(&org.id, "ins_1", None), T0).await.unwrap();
    assert!(matches!(db.cancel_execution(&other.id, &queued.id, T0 + 1).await, Err(DbError::NotFound(_))));
    let c = db.cancel_execution(&org.id, &queued.id, T0 + 1).await.unwrap();
    assert_eq!((c.status, c.finished_at, c.started_at), (ExecutionStatus::Canceled, Some(T0 + 1), None));
    assert!(!db.cancel_requested(&queued.id).await.unwrap());
    // asking again is harmless
    assert_eq!(db.cancel_execution(&org.id, &queued.id, T0 + 2).await.unwrap().status, ExecutionStatus::Canceled);

    // running: flagged; the runner ends it
    let running = db.create_execution(&new_execution(&org.id, "ins_1", None), T0 + 10).await.unwrap();
    assert_eq!(db.claim_executions("r1", 10, 60_000, T0 + 20).await.unwrap().len(), 1);
    assert!(!db.cancel_requested(&running.id).await.unwrap());
    let c = db.cancel_execution(&org.id, &running.id, T0 + 30).await.unwrap();
    assert_eq!((c.status, c.lease_owner.as_deref(), c.finished_at), (ExecutionStatus::Running, Some("r1"), None));
    assert!(db.cancel_requested(&running.id).await.unwrap());
    db.finish_execution(&Finish {
        id: &running.id,
        owner: "r1",
        status: ExecutionStatus::Canceled,
        result: None,
        error: None,
        state: &json!({}),
        steps: &[],
        logs: &[],
        response: None,
        now: T0 + 40,
    })
    .await
    .unwrap();
    assert_eq!(db.cancel_execution(&org.id, &running.id, T0 + 50).await.unwrap().status, ExecutionStatus::Canceled);

    // finished otherwise: a conflict, and nothing changes
    let done = db.create_execution(&new_execution(&org.id, "ins_1", None), T0 + 100).await.unwrap();
    assert_eq!(db.claim_executions("r1", 10, 60_000, T0 + 110).await.unwrap().len(), 1);
    db.finish_execution(&Finish {
        id: &done.id,
        owner: "r1",
        status: ExecutionStatus::Succeeded,
        result: Some(&json!({"ok": true})),
        error: None,
        state: &json!({}),
        steps: &[],
        logs: &[],
        response: None,
        now: T0 + 120,
    })
    .await
    .unwrap();
    let err = db.cancel_execution(&org.id, &done.id, T0 + 130).await.unwrap_err();
    assert!(matches!(&err, DbError::Conflict(m) if m.contains("succeeded")), "{err:?}");
    assert_eq!(db.get_execution(&org.id, &done.id).await.unwrap().unwrap().status, ExecutionStatus::Succeeded);
    assert!(matches!(db.cancel_execution(&org.id, "exe_missing", T0).await, Err(DbError::NotFound(_))));
}
