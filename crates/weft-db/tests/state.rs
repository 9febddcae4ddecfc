//! Persisted step state: deferred writes committed with checkpoints (and only under the lease),
//! call-time increment and compare-and-set, their exactly-once replay, limits and races.

mod common;

use std::sync::Arc;

use serde_json::{Number, Value, json};
use weft_db::*;

use common::TestDb;

db_tests!(
    set_get_delete_through_checkpoints,
    increment_and_compare_and_set,
    replayed_operations_apply_once,
    key_count_limit,
    concurrent_increments_all_count,
    compare_and_set_race_has_one_winner
);

const T0: Millis = 1_700_000_000_000;

fn scope(kind: ScopeKind, id: &str) -> StateScope {
    StateScope { org_id: "org_a".into(), kind, id: id.into() }
}

fn write(s: &StateScope, key: &str, value: Option<Value>) -> StateWrite {
    StateWrite { scope: s.clone(), key: key.into(), value, at: T0 }
}

fn one() -> Number {
    Number::from(1)
}

async fn claimed(db: &Db, owner: &str) -> Execution {
    let new = NewExecution {
        org_id: "org_a".into(),
        instance_id: "ins_a".into(),
        customer_id: "cus_a".into(),
        integration_id: "int_x".into(),
        version: 1,
        flow_key: "hook".into(),
        trigger: json!({}),
        replay_of: None,
        claimed_by: Some(owner.into()),
        lease_ms: 60_000,
        idempotency_key: None,
    };
    db.create_execution(&new, T0).await.unwrap()
}

fn cp<'a>(id: &'a str, owner: &'a str, state: &'a Value) -> Checkpoint<'a> {
    Checkpoint { id, owner, state, steps: &[], logs: &[], response: None }
}

async fn set_get_delete_through_checkpoints(t: &TestDb) {
    let db = &t.db;
    let exe = claimed(db, "r1").await;
    let ins = scope(ScopeKind::Instance, "ins_a");
    let other = scope(ScopeKind::Customer, "ins_a");
    let st = json!({});
    assert_eq!(db.state_get(&ins, "k").await.unwrap(), None);

    db.checkpoint_with_state(
        &cp(&exe.id, "r1", &st),
        &[write(&ins, "k", Some(json!({"a": [1, 2]}))), write(&ins, "gone", Some(json!(1))), write(&ins, "gone", None)],
    )
    .await
    .unwrap();
    assert_eq!(db.state_get(&ins, "k").await.unwrap(), Some(json!({"a": [1, 2]})));
    assert_eq!(db.state_get(&ins, "gone").await.unwrap(), None);
    // Scopes are separate key spaces even with the same id.
    assert_eq!(db.state_get(&other, "k").await.unwrap(), None);
    assert_eq!(db.state_key_count(&ins).await.unwrap(), 1);

    // A runner that lost its lease writes no state.
    let lost = db.checkpoint_with_state(&cp(&exe.id, "r2", &st), &[write(&ins, "k", Some(json!("stale")))]).await;
    assert!(matches!(lost, Err(DbError::LeaseLost(_))), "{lost:?}");
    assert_eq!(db.state_get(&ins, "k").await.unwrap(), Some(json!({"a": [1, 2]})));

    let fin = Finish {
        id: &exe.id,
        owner: "r1",
        status: ExecutionStatus::Succeeded,
        result: None,
        error: None,
        state: &st,
        steps: &[],
        logs: &[],
        response: None,
        now: T0 + 1,
    };
    db.finish_execution_with_state(&fin, &[write(&ins, "k", None)]).await.unwrap();
    assert_eq!(db.state_get(&ins, "k").await.unwrap(), None);
}

async fn increment_and_compare_and_set(t: &TestDb) {
    let db = &t.db;
    let s = scope(ScopeKind::Flow, "ins_a:hook");
    assert_eq!(db.state_increment(&s, "n", &one(), None, 100, None, T0).await.unwrap(), json!(1));
    assert_eq!(db.state_increment(&s, "n", &Number::from(41), None, 100, None, T0).await.unwrap(), json!(42));
    let half = Number::from_f64(0.5).unwrap();
    assert_eq!(db.state_increment(&s, "f", &half, None, 100, None, T0).await.unwrap(), json!(0.5));
    db.state_write(&write(&s, "text", Some(json!("x")))).await.unwrap();
    let err = db.state_increment(&s, "text", &one(), None, 100, None, T0).await.unwrap_err();
    assert!(matches!(&err, StateError::Type(m) if m.contains("`text`") && m.contains("string")), "{err:?}");
    // A pending deferred write of the same key is applied first.
    let pending = write(&s, "p", Some(json!(10)));
    assert_eq!(db.state_increment(&s, "p", &one(), Some(&pending), 100, None, T0).await.unwrap(), json!(11));

    // CAS on a missing key with `expected: None` creates it; a wrong expectation changes nothing.
    let c = db.state_compare_and_set(&s, "c", None, &json!("a"), None, 100, None, T0).await.unwrap();
    assert_eq!(c, CasOutcome { swapped: true, value: Some(json!("a")) });
    let c = db.state_compare_and_set(&s, "c", None, &json!("b"), None, 100, None, T0).await.unwrap();
    assert_eq!(c, CasOutcome { swapped: false, value: Some(json!("a")) });
    let c = db.state_compare_and_set(&s, "c", Some(&json!("z")), &json!("b"), None, 100, None, T0).await.unwrap();
    assert_eq!(c, CasOutcome { swapped: false, value: Some(json!("a")) });
    let c = db.state_compare_and_set(&s, "c", Some(&json!("a")), &json!("b"), None, 100, None, T0).await.unwrap();
    assert_eq!(c, CasOutcome { swapped: true, value: Some(json!("b")) });
    let c = db.state_compare_and_set(&s, "none", Some(&json!(1)), &json!(2), None, 100, None, T0).await.unwrap();
    assert_eq!(c, CasOutcome { swapped: false, value: None });
    assert_eq!(db.state_get(&s, "c").await.unwrap(), Some(json!("b")));
}

async fn replayed_operations_apply_once(t: &TestDb) {
    let db = &t.db;
    let exe = claimed(db, "r1").await;
    let s = scope(ScopeKind::Instance, "ins_a");
    let op = StateOp { execution_id: &exe.id, key: "exe:count" };
    assert_eq!(db.state_increment(&s, "n", &one(), None, 100, Some(op), T0).await.unwrap(), json!(1));
    // The step runs again after a crash: same answer, applied once.
    assert_eq!(db.state_increment(&s, "n", &one(), None, 100, Some(op), T0).await.unwrap(), json!(1));
    assert_eq!(db.state_get(&s, "n").await.unwrap(), Some(json!(1)));
    let op2 = StateOp { execution_id: &exe.id, key: "exe:cas" };
    let first = db.state_compare_and_set(&s, "n", Some(&json!(1)), &json!(5), None, 100, Some(op2), T0).await;
    assert_eq!(first.unwrap(), CasOutcome { swapped: true, value: Some(json!(5)) });
    let again = db.state_compare_and_set(&s, "n", Some(&json!(1)), &json!(5), None, 100, Some(op2), T0).await;
    assert_eq!(again.unwrap(), CasOutcome { swapped: true, value: Some(json!(5)) });

    // Once finished, the worker forgets the answers (executions that used none skip this).
    let st = json!({});
    let fin = Finish {
        id: &exe.id,
        owner: "r1",
        status: ExecutionStatus::Succeeded,
        result: None,
        error: None,
        state: &st,
        steps: &[],
        logs: &[],
        response: None,
        now: T0 + 1,
    };
    db.finish_execution(&fin).await.unwrap();
    db.forget_state_ops(&exe.id).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM state_ops").fetch_one(&t.raw().await).await.unwrap();
    assert_eq!(left, 0);
}

async fn key_count_limit(t: &TestDb) {
    let db = &t.db;
    let s = scope(ScopeKind::Customer, "cus_a");
    for k in ["a", "b"] {
        db.state_increment(&s, k, &one(), None, 2, None, T0).await.unwrap();
    }
    // Existing keys still change; a third key does not fit.
    assert_eq!(db.state_increment(&s, "a", &one(), None, 2, None, T0).await.unwrap(), json!(2));
    let err = db.state_increment(&s, "c", &one(), None, 2, None, T0).await.unwrap_err();
    assert!(matches!(&err, StateError::Limit(m) if m.contains("`c`") && m.contains("limit of 2 keys")), "{err:?}");
    let err = db.state_compare_and_set(&s, "c", None, &json!(1), None, 2, None, T0).await.unwrap_err();
    assert!(matches!(err, StateError::Limit(_)), "{err:?}");
    assert_eq!(db.state_key_count(&s).await.unwrap(), 2);
}

async fn concurrent_increments_all_count(t: &TestDb) {
    let db = Arc::new(t.db.clone());
    let s = scope(ScopeKind::Instance, "ins_race");
    let (tasks, each) = (8, 25);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (db, s) = (db.clone(), s.clone());
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..each {
                seen.push(db.state_increment(&s, "n", &one(), None, 100, None, T0).await.unwrap().as_i64().unwrap());
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    // Every increment saw a distinct value: none was lost or doubled.
    assert_eq!(all, (1..=(tasks * each) as i64).collect::<Vec<_>>());
    assert_eq!(t.db.state_get(&s, "n").await.unwrap(), Some(json!(tasks * each)));
}

async fn compare_and_set_race_has_one_winner(t: &TestDb) {
    let db = Arc::new(t.db.clone());
    let s = scope(ScopeKind::Instance, "ins_cas");
    for round in 0..5 {
        // Round 0 races on creating the key, later rounds on replacing the previous value.
        let expected = if round == 0 { None } else { Some(json!(format!("r{}", round - 1))) };
        let mut handles = Vec::new();
        for contender in 0..8 {
            let (db, s, expected) = (db.clone(), s.clone(), expected.clone());
            handles.push(tokio::spawn(async move {
                let mine = json!(format!("r{round}"));
                let out =
                    db.state_compare_and_set(&s, "lock", expected.as_ref(), &mine, None, 100, None, T0).await.unwrap();
                (contender, out.swapped)
            }));
        }
        let mut winners = 0;
        for h in handles {
            winners += usize::from(h.await.unwrap().1);
        }
        assert_eq!(winners, 1, "round {round}");
        assert_eq!(t.db.state_get(&s, "lock").await.unwrap(), Some(json!(format!("r{round}"))));
    }
}
