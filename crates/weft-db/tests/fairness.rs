//! Fair claiming: a burst from one customer does not delay another customer's executions, and
//! within one customer executions are still claimed oldest first.

mod common;

use futures::stream::{self, StreamExt};
use serde_json::json;
use weft_db::*;

use common::TestDb;

db_tests!(one_customers_backlog_does_not_delay_another, round_robin_keeps_each_customers_order);

const T0: Millis = 1_700_000_000_000;

fn new_execution(org: &str, customer: &str, n: i64) -> NewExecution {
    NewExecution {
        org_id: org.into(),
        instance_id: format!("ins_{customer}"),
        customer_id: customer.into(),
        integration_id: "int_x".into(),
        version: 1,
        flow_key: "hook".into(),
        trigger: json!({"body": {"n": n}}),
        replay_of: None,
        claimed_by: None,
        lease_ms: 0,
        idempotency_key: None,
    }
}

/// Creates `count` executions of `customer`, the n-th at `start + n` (concurrently, so SQLite
/// groups them into few transactions).
async fn enqueue(db: &Db, org: &str, customer: &str, count: i64, start: Millis) -> Vec<Execution> {
    let mut created: Vec<Execution> = stream::iter(0..count)
        .map(|n| async move { db.create_execution(&new_execution(org, customer, n), start + n).await.unwrap() })
        .buffer_unordered(64)
        .collect()
        .await;
    created.sort_by_key(|e| e.created_at);
    created
}

fn ids(list: &[Execution]) -> Vec<&str> {
    list.iter().map(|e| e.id.as_str()).collect()
}

/// The bound: while at most `limit` customers have due work, every one of them gets at least
/// one execution in each claim. So customer B's one execution, queued after 5,000 of customer
/// A's, is in the very first batch of 8 — not behind A's backlog — and the other 7 are A's
/// oldest.
async fn one_customers_backlog_does_not_delay_another(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let a = enqueue(db, &org.id, "cus_a", 5_000, T0).await;
    let b = db.create_execution(&new_execution(&org.id, "cus_b", 0), T0 + 5_000).await.unwrap();

    let first = db.claim_executions("r1", 8, 60_000, T0 + 10_000).await.unwrap();
    assert_eq!(first.len(), 8);
    let from_b: Vec<_> = first.iter().filter(|e| e.customer_id == "cus_b").collect();
    assert_eq!(from_b.len(), 1, "B's execution is in the first batch");
    assert_eq!(from_b[0].id, b.id);
    let from_a: Vec<_> = first.iter().filter(|e| e.customer_id == "cus_a").cloned().collect();
    assert_eq!(ids(&from_a), ids(&a[..7]), "A's part of the batch is A's 7 oldest");

    // The rest of A's backlog still drains, oldest first, nothing twice.
    let mut rest = Vec::new();
    loop {
        let batch = db.claim_executions("r1", 64, 60_000, T0 + 10_000).await.unwrap();
        if batch.is_empty() {
            break;
        }
        rest.extend(batch);
    }
    assert_eq!(ids(&rest), ids(&a[7..]));
}

/// Two customers with interleaved backlogs: every batch is split evenly while both have work,
/// and each customer's executions come out oldest first, none skipped or repeated.
async fn round_robin_keeps_each_customers_order(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    // A: 30 executions at T0, T0+1, …; B: 12 at T0+100, …: all of B is newer than all of A.
    let a = enqueue(db, &org.id, "cus_a", 30, T0).await;
    let b = enqueue(db, &org.id, "cus_b", 12, T0 + 100).await;
    // Not due yet: never claimed below.
    db.create_execution(&new_execution(&org.id, "cus_c", 0), T0 + 20_000).await.unwrap();

    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for round in 0.. {
        let batch = db.claim_executions("r1", 8, 60_000, T0 + 10_000).await.unwrap();
        if batch.is_empty() {
            break;
        }
        let na = batch.iter().filter(|e| e.customer_id == "cus_a").count();
        let nb = batch.iter().filter(|e| e.customer_id == "cus_b").count();
        assert_eq!(na + nb, batch.len());
        if round < 3 {
            assert_eq!((na, nb), (4, 4), "round {round}: both customers have work, so the batch is split evenly");
        }
        // Within a batch, claim order is creation order; across batches too (checked below).
        got_a.extend(batch.iter().filter(|e| e.customer_id == "cus_a").cloned());
        got_b.extend(batch.into_iter().filter(|e| e.customer_id == "cus_b"));
    }
    assert_eq!(ids(&got_a), ids(&a));
    assert_eq!(ids(&got_b), ids(&b));
}
