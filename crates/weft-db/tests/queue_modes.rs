//! Queue modes and concurrency limits: `fifo` runs one execution per (instance, flow) at a
//! time in arrival order, `throttled(n)` at most n, instance and customer caps hold, a lapsed
//! lease frees its slot, fairness across customers still holds, and a requeued execution (the
//! execution-level retry) waits for its `run_at` and keeps its checkpoint.

mod common;

use serde_json::{Value, json};
use weft_db::*;

use common::TestDb;

db_tests!(
    fifo_claims_one_at_a_time_in_order,
    throttled_never_exceeds_its_limit,
    instance_limit_caps_running_executions,
    customer_limit_caps_running_executions,
    limits_keep_fairness_across_customers,
    requeue_waits_for_run_at_and_keeps_checkpoint,
    racing_claimers_never_exceed_limits,
);

const T0: Millis = 1_700_000_000_000;
const LEASE: i64 = 60_000;

struct Fixture {
    org: String,
    customers: Vec<String>,
    integration: String,
}

async fn fixture(db: &Db, customers: usize) -> Fixture {
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..customers {
        let new = NewCustomer { external_id: Some(format!("c{n}")), name: format!("C{n}"), labels: Default::default() };
        ids.push(db.create_customer(&org.id, &new, T0).await.unwrap().id);
    }
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
    Fixture { org: org.id, customers: ids, integration: integration.id }
}

async fn instance(db: &Db, fx: &Fixture, customer: usize) -> String {
    let new = NewInstance {
        customer_id: fx.customers[customer].clone(),
        integration_id: fx.integration.clone(),
        version: 1,
        name: "i".into(),
        config: json!({}),
        webhook_flows: vec!["hook".into()],
        secret_keys: Vec::new(),
    };
    db.create_instance(&fx.org, &new, T0).await.unwrap().id
}

/// Enqueues `count` executions of `flow` on `instance`, the n-th at `at + n`, one by one so
/// arrival order is creation order.
async fn enqueue(
    db: &Db,
    fx: &Fixture,
    (customer, instance): (usize, &str),
    flow: &str,
    policy: QueuePolicy,
    count: i64,
    at: Millis,
) -> Vec<Execution> {
    let mut out = Vec::new();
    for n in 0..count {
        let new = NewExecution {
            org_id: fx.org.clone(),
            instance_id: instance.into(),
            customer_id: fx.customers[customer].clone(),
            integration_id: fx.integration.clone(),
            version: 1,
            flow_key: flow.into(),
            trigger: json!({"n": n}),
            replay_of: None,
            claimed_by: None,
            lease_ms: 0,
            idempotency_key: None,
        };
        out.push(db.create_execution_with(&new, policy, at + n).await.unwrap().0);
    }
    out
}

async fn finish(db: &Db, e: &Execution, now: Millis) {
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
    db.finish_execution(&fin).await.unwrap();
}

fn ids(list: &[Execution]) -> Vec<&str> {
    list.iter().map(|e| e.id.as_str()).collect()
}

const FIFO: QueuePolicy = QueuePolicy { limit: None, fifo: true };

/// Each claim hands out only the oldest execution of a fifo flow, and only once the one before
/// it finished; another flow of the same instance is not held up by it.
async fn fifo_claims_one_at_a_time_in_order(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 1).await;
    let ins = instance(db, &fx, 0).await;
    let fifo = enqueue(db, &fx, (0, &ins), "hook", FIFO, 5, T0).await;
    let free = enqueue(db, &fx, (0, &ins), "other", QueuePolicy::PARALLEL, 2, T0 + 100).await;

    let now = T0 + 1_000;
    let first = db.claim_executions("r1", 10, LEASE, now).await.unwrap();
    assert_eq!(ids(&first), vec![fifo[0].id.as_str(), free[0].id.as_str(), free[1].id.as_str()]);
    let mut order = vec![first[0].clone()];
    for _ in 1..5 {
        assert!(db.claim_executions("r2", 10, LEASE, now).await.unwrap().is_empty(), "one at a time");
        finish(db, order.last().unwrap(), now).await;
        let next = db.claim_executions("r2", 10, LEASE, now).await.unwrap();
        assert_eq!(next.len(), 1);
        order.push(next[0].clone());
    }
    assert_eq!(ids(&order), ids(&fifo), "arrival order");

    // A lapsed lease frees the slot, but only for the same (oldest) execution.
    let more = enqueue(db, &fx, (0, &ins), "hook", FIFO, 2, T0 + 200).await;
    finish(db, &order[4], now).await;
    let a = db.claim_executions("r3", 10, LEASE, now).await.unwrap();
    assert_eq!(ids(&a), vec![more[0].id.as_str()]);
    let later = now + LEASE + 1;
    let again = db.claim_executions("r4", 10, LEASE, later).await.unwrap();
    // (The `other` flow's two lapsed too and are claimed again as well.)
    let again: Vec<_> = again.into_iter().filter(|e| e.flow_key == "hook").collect();
    assert_eq!(ids(&again), vec![more[0].id.as_str()], "the expired one is resumed, not overtaken");
}

/// A throttled(2) flow: however claims interleave with finishes, never more than 2 running.
async fn throttled_never_exceeds_its_limit(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 1).await;
    let ins = instance(db, &fx, 0).await;
    let other = instance(db, &fx, 0).await;
    let throttled = QueuePolicy { limit: Some(2), fifo: false };
    let all = enqueue(db, &fx, (0, &ins), "hook", throttled, 9, T0).await;
    // The limit is per instance: another instance of the same flow has its own two.
    enqueue(db, &fx, (0, &other), "hook", throttled, 3, T0 + 50).await;

    let now = T0 + 1_000;
    let first = db.claim_executions("r1", 10, LEASE, now).await.unwrap();
    let (mine, theirs): (Vec<_>, Vec<_>) = first.into_iter().partition(|e| e.instance_id == ins);
    assert_eq!(ids(&mine), ids(&all[..2]));
    // (How many of the other instance's come in this very batch depends on the candidate
    // depth; never more than its own two.)
    assert!(!theirs.is_empty() && theirs.len() <= 2, "{} of the other instance", theirs.len());
    let mut running = mine;
    let mut done = 0;
    while done < all.len() {
        assert!(running.len() <= 2, "{} running", running.len());
        let e = running.remove(0);
        finish(db, &e, now).await;
        done += 1;
        let batch = db.claim_executions("r1", 10, LEASE, now).await.unwrap();
        running.extend(batch.into_iter().filter(|e| e.instance_id == ins));
    }
    assert!(running.is_empty());
}

/// An instance cap counts every flow of the instance; lifting it frees the backlog.
async fn instance_limit_caps_running_executions(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 1).await;
    let ins = instance(db, &fx, 0).await;
    db.set_instance_max_concurrency(&fx.org, &ins, Some(3)).await.unwrap();
    assert_eq!(db.instance_max_concurrency(&fx.org, &ins).await.unwrap(), Some(3));
    assert!(matches!(db.set_instance_max_concurrency(&fx.org, &ins, Some(0)).await, Err(DbError::Invalid(_))));
    enqueue(db, &fx, (0, &ins), "hook", QueuePolicy::PARALLEL, 4, T0).await;
    enqueue(db, &fx, (0, &ins), "other", QueuePolicy::PARALLEL, 4, T0 + 10).await;

    let now = T0 + 1_000;
    let first = db.claim_executions("r1", 10, LEASE, now).await.unwrap();
    assert_eq!(first.len(), 3);
    assert!(db.claim_executions("r1", 10, LEASE, now).await.unwrap().is_empty());
    finish(db, &first[0], now).await;
    assert_eq!(db.claim_executions("r1", 10, LEASE, now).await.unwrap().len(), 1);

    db.set_instance_max_concurrency(&fx.org, &ins, None).await.unwrap();
    assert_eq!(db.claim_executions("r1", 10, LEASE, now).await.unwrap().len(), 4);
}

/// A customer cap counts all of its instances; other customers are not affected.
async fn customer_limit_caps_running_executions(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 2).await;
    let (a1, a2, b) = (instance(db, &fx, 0).await, instance(db, &fx, 0).await, instance(db, &fx, 1).await);
    db.set_customer_max_concurrency(&fx.org, &fx.customers[0], Some(2)).await.unwrap();
    assert_eq!(db.customer_max_concurrency(&fx.org, &fx.customers[0]).await.unwrap(), Some(2));
    assert_eq!(db.customer_max_concurrency(&fx.org, &fx.customers[1]).await.unwrap(), None);
    enqueue(db, &fx, (0, &a1), "hook", QueuePolicy::PARALLEL, 3, T0).await;
    enqueue(db, &fx, (0, &a2), "hook", QueuePolicy::PARALLEL, 3, T0 + 10).await;
    enqueue(db, &fx, (1, &b), "hook", QueuePolicy::PARALLEL, 3, T0 + 20).await;

    let now = T0 + 1_000;
    let first = db.claim_executions("r1", 20, LEASE, now).await.unwrap();
    let of_a = first.iter().filter(|e| e.customer_id == fx.customers[0]).count();
    assert_eq!(of_a, 2, "customer A capped at 2");
    assert_eq!(first.len() - of_a, 3, "customer B unaffected");
    assert!(db.claim_executions("r1", 20, LEASE, now).await.unwrap().is_empty());
    // An expired lease no longer counts: both of A's running ones lapse, two more start
    // (the lapsed ones themselves, oldest first).
    let later = now + LEASE + 1;
    let again = db.claim_executions("r2", 20, LEASE, later).await.unwrap();
    assert_eq!(again.iter().filter(|e| e.customer_id == fx.customers[0]).count(), 2);
}

/// Customer A's limited backlog (a fifo flow and a throttled one) does not delay customer B,
/// and A's unlimited executions behind its blocked ones are not starved by them.
async fn limits_keep_fairness_across_customers(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 2).await;
    let (a, b) = (instance(db, &fx, 0).await, instance(db, &fx, 1).await);
    let fifo = enqueue(db, &fx, (0, &a), "hook", FIFO, 50, T0).await;
    let free = enqueue(db, &fx, (0, &a), "other", QueuePolicy::PARALLEL, 3, T0 + 100).await;
    let mine = enqueue(db, &fx, (1, &b), "hook", QueuePolicy::PARALLEL, 1, T0 + 200).await;

    let first = db.claim_executions("r1", 4, LEASE, T0 + 1_000).await.unwrap();
    let got = ids(&first);
    assert!(got.contains(&mine[0].id.as_str()), "B's execution is in the first batch");
    assert!(got.contains(&fifo[0].id.as_str()));
    assert!(!got.contains(&fifo[1].id.as_str()));
    let second = db.claim_executions("r1", 4, LEASE, T0 + 1_000).await.unwrap();
    let all: Vec<&str> = got.into_iter().chain(ids(&second)).collect();
    for e in &free {
        assert!(all.contains(&e.id.as_str()), "A's unlimited work is not stuck behind its fifo backlog");
    }
}

/// A requeued execution is queued again with its checkpoint, not claimable before `run_at`,
/// and counts one more attempt when claimed again.
async fn requeue_waits_for_run_at_and_keeps_checkpoint(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 1).await;
    let ins = instance(db, &fx, 0).await;
    let e = enqueue(db, &fx, (0, &ins), "hook", QueuePolicy::PARALLEL, 1, T0).await.remove(0);
    let now = T0 + 1_000;
    let claimed = db.claim_executions("r1", 1, LEASE, now).await.unwrap().remove(0);
    assert_eq!(claimed.attempts, 1);
    let state = json!({"checkpoint": 1});
    let log = LogRow { seq: 0, at: now, level: "warn".into(), step_path: None, message: "retry in 2s".into() };
    db.requeue_execution(&e.id, "r1", now + 2_000, Some(&state), &[], std::slice::from_ref(&log)).await.unwrap();
    // The old owner lost its lease.
    assert!(matches!(db.requeue_execution(&e.id, "r1", now, Some(&state), &[], &[]).await, Err(DbError::LeaseLost(_))));
    let queued = db.get_execution(&fx.org, &e.id).await.unwrap().unwrap();
    assert_eq!(queued.status, ExecutionStatus::Queued);
    assert_eq!(queued.lease_owner, None);

    assert!(db.claim_executions("r2", 1, LEASE, now + 1_999).await.unwrap().is_empty(), "backoff respected");
    let again = db.claim_executions("r2", 1, LEASE, now + 2_000).await.unwrap().remove(0);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.state, Some(state));
    let logs = db.list_logs(&e.id, &Page { cursor: None, limit: 100 }).await.unwrap();
    assert_eq!(logs.items.len(), 1);
}

/// Eight claimers racing on one database (PostgreSQL: eight connections, each claim its own
/// transaction), with different batch sizes and with finishes committing among them, never push
/// a limited flow, instance or customer past its limit between them.
async fn racing_claimers_never_exceed_limits(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, 2).await;
    let throttled_ins = instance(db, &fx, 0).await;
    let fifo_ins = instance(db, &fx, 0).await;
    let capped_ins = instance(db, &fx, 1).await;
    db.set_instance_max_concurrency(&fx.org, &capped_ins, Some(3)).await.unwrap();
    let throttled = QueuePolicy { limit: Some(2), fifo: false };
    enqueue(db, &fx, (0, &throttled_ins), "hook", throttled, 24, T0).await;
    let fifo = enqueue(db, &fx, (0, &fifo_ins), "hook", FIFO, 12, T0 + 100).await;
    enqueue(db, &fx, (1, &capped_ins), "hook", QueuePolicy::PARALLEL, 24, T0 + 200).await;

    let now = T0 + 1_000;
    let (mut running, mut finished_fifo, mut done) = (Vec::<Execution>::new(), Vec::new(), 0);
    for round in 0..500 {
        // The oldest running execution of each instance finishes while the claimers claim.
        let mut finishing: Vec<Execution> = Vec::new();
        running.retain(|e| {
            let first = !finishing.iter().any(|f| f.instance_id == e.instance_id);
            if first {
                finishing.push(e.clone());
            }
            !first
        });
        done += finishing.len();
        finished_fifo.extend(finishing.iter().filter(|e| e.instance_id == fifo_ins).map(|e| e.id.clone()));
        let finishes = finishing.into_iter().map(|e| {
            let db = db.clone();
            tokio::spawn(async move { finish(&db, &e, now).await })
        });
        let claims = (0..8u32).map(|n| {
            let db = db.clone();
            tokio::spawn(async move { db.claim_executions(&format!("r{n}"), n + 1, LEASE, now).await.unwrap() })
        });
        let (claims, finishes) =
            futures::future::join(futures::future::join_all(claims), futures::future::join_all(finishes)).await;
        finishes.into_iter().for_each(|f| f.unwrap());
        for claim in claims {
            running.extend(claim.unwrap());
        }
        let count = |ins: &str| running.iter().filter(|e| e.instance_id == ins).count();
        assert!(count(&throttled_ins) <= 2, "round {round}: {} of throttled(2) running", count(&throttled_ins));
        assert!(count(&fifo_ins) <= 1, "round {round}: {} of a fifo flow running", count(&fifo_ins));
        assert!(count(&capped_ins) <= 3, "round {round}: {} of an instance capped at 3", count(&capped_ins));
        if running.is_empty() && done > 0 {
            break;
        }
    }
    assert_eq!(done, 60, "every execution ran once");
    assert_eq!(finished_fifo, fifo.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), "fifo in arrival order");
}
