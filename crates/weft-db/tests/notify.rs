//! Cross-process wake-ups (`LISTEN/NOTIFY` on PostgreSQL, no-ops on SQLite) and handing a lease
//! back on graceful shutdown.

mod common;

use std::time::Duration;

use serde_json::{Map, json};
use weft_db::*;

use common::TestDb;

db_tests!(notifications_reach_listeners, released_lease_is_claimed_again_at_once);

const T0: Millis = 1_700_000_000_000;

/// The next notification, bounded. Other tests on the same database may notify too (channels
/// are per database, not per schema), so callers skip what is not theirs.
async fn next(l: &mut Listener) -> Notification {
    tokio::time::timeout(Duration::from_secs(10), l.recv()).await.expect("a notification within 10 s")
}

async fn notifications_reach_listeners(t: &TestDb) {
    let db = &t.db;
    let Some(mut listener) = db.listen().await.unwrap() else {
        // SQLite: nothing to listen to, and notifying is a harmless no-op.
        assert_eq!(db.backend(), Backend::Sqlite);
        db.notify_queued().await.unwrap();
        db.notify_finished("exe_x").await.unwrap();
        return;
    };
    // Two listeners (say an api node and a runner) both hear every notification.
    let mut other = db.listen().await.unwrap().unwrap();
    db.notify_queued().await.unwrap();
    for l in [&mut listener, &mut other] {
        while next(l).await != Notification::Queued {}
    }

    // Finished carries the id; ids are unique, so skip what other tests sent meanwhile.
    let id = format!("exe_{}", uuid::Uuid::now_v7().simple());
    db.notify_finished(&id).await.unwrap();
    for l in [&mut listener, &mut other] {
        loop {
            match next(l).await {
                Notification::Finished(got) if got == id => break,
                Notification::Finished(_) | Notification::Queued | Notification::Lagged => {}
            }
        }
    }
}

async fn released_lease_is_claimed_again_at_once(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let customer = db
        .create_customer(&org.id, &NewCustomer { external_id: None, name: "Acme".into(), labels: Map::new() }, T0)
        .await
        .unwrap();
    let draft = NewDraft {
        key: "k".into(),
        name: "K".into(),
        description: None,
        format: "yaml".into(),
        source: "key: k\n".into(),
        definition: json!({"key": "k"}),
    };
    let integration = db.save_draft(&org.id, &draft, T0).await.unwrap();
    db.publish_version(&org.id, &integration.id, T0).await.unwrap();
    let new = NewExecution {
        org_id: org.id.clone(),
        instance_id: "ins_x".into(),
        customer_id: customer.id.clone(),
        integration_id: integration.id.clone(),
        version: 1,
        flow_key: "hook".into(),
        trigger: json!({"body": {}}),
        replay_of: None,
        claimed_by: Some("runner-a".into()),
        lease_ms: 60_000,
        idempotency_key: None,
    };
    let e = db.create_execution(&new, T0).await.unwrap();
    let cp = Checkpoint {
        id: &e.id,
        owner: "runner-a",
        state: &json!({"at": "step a done"}),
        steps: &[],
        logs: &[],
        response: None,
    };
    db.checkpoint(&cp).await.unwrap();

    // Only the holder can hand it back.
    assert!(!db.release_lease(&e.id, "runner-b", T0 + 10).await.unwrap());
    assert!(db.claim_executions("runner-b", 10, 1_000, T0 + 10).await.unwrap().is_empty());
    assert!(db.release_lease(&e.id, "runner-a", T0 + 10).await.unwrap());
    let back = db.get_execution(&org.id, &e.id).await.unwrap().unwrap();
    assert_eq!((back.status, back.lease_owner.as_deref(), back.lease_until), (ExecutionStatus::Queued, None, None));
    // The releasing runner's late writes are refused.
    assert!(matches!(db.checkpoint(&cp).await, Err(DbError::LeaseLost(_))));
    assert!(!db.release_lease(&e.id, "runner-a", T0 + 10).await.unwrap());

    // Due at once (long before the 60 s lease would have expired), resumed from its checkpoint.
    let taken = db.claim_executions("runner-b", 10, 1_000, T0 + 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!((taken[0].attempts, taken[0].state.clone()), (2, Some(json!({"at": "step a done"}))));
    assert_eq!(taken[0].started_at, Some(T0));
}
