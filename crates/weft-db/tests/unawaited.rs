//! Executions created without awaiting the commit (`Db::create_execution_unawaited`, the sync
//! webhook's fast path): every later write about one lands after its row, a finish may ride in
//! the create's own transaction, and a creation that fails is reported to every writer and to
//! `Creation::committed`, never half-stored.

mod common;

use serde_json::json;
use weft_db::*;

use common::TestDb;

db_tests!(
    a_finish_right_after_the_create_stores_everything,
    a_finish_written_with_its_create_stores_what_two_writes_would,
    writes_wait_for_the_create_under_load,
    writes_wait_for_a_create_in_flight,
    a_failed_create_is_reported_and_stores_nothing,
    only_claimed_unkeyed_executions_go_unawaited,
);

const T0: Millis = common::T0;

fn step(key: &str) -> StepRow {
    StepRow {
        seq: 0,
        path: key.into(),
        key: key.into(),
        kind: "transform".into(),
        action: None,
        status: "succeeded".into(),
        input: Some(json!({"in": key})),
        output: Some(json!({"out": key})),
        error: None,
        attempts: 1,
        started_at: T0,
        finished_at: T0,
    }
}

fn log(message: &str) -> LogRow {
    LogRow { seq: 0, at: T0, level: "info".into(), step_path: None, message: message.into() }
}

async fn finish(db: &Db, id: &str, steps: &[StepRow], logs: &[LogRow]) -> Result<(), DbError> {
    db.finish_execution(&Finish {
        id,
        owner: "r1",
        status: ExecutionStatus::Succeeded,
        result: Some(&json!({"done": id})),
        error: None,
        state: &json!({"at": "end"}),
        steps,
        logs,
        response: None,
        now: T0 + 5,
    })
    .await
}

/// The stored execution, its step keys and its log messages.
async fn stored(db: &Db, org: &str, id: &str) -> (Execution, Vec<String>, Vec<String>) {
    let exe = db.get_execution(org, id).await.unwrap().unwrap_or_else(|| panic!("{id} is not stored"));
    let steps = db.list_steps(id).await.unwrap().into_iter().map(|s| s.key).collect();
    let logs = db.list_logs(id, &Page::default()).await.unwrap().items.into_iter().map(|l| l.message).collect();
    (exe, steps, logs)
}

async fn a_finish_right_after_the_create_stores_everything(t: &TestDb) {
    let template = common::execution_template(&t.db, 30).await;
    let new = NewExecution { trigger: json!({"body": {"n": 1}}), ..template };
    let (exe, creation) = t.db.create_execution_unawaited(&new, QueuePolicy::PARALLEL, T0).unwrap();
    assert_eq!(exe.status, ExecutionStatus::Running);
    assert_eq!(exe.lease_owner.as_deref(), Some("r1"));
    finish(&t.db, &exe.id, &[step("a"), step("b")], &[log("a done"), log("b done")]).await.unwrap();
    creation.committed().await.unwrap();
    let (stored, steps, logs) = stored(&t.db, &new.org_id, &exe.id).await;
    assert_eq!(stored.status, ExecutionStatus::Succeeded);
    assert_eq!(stored.result, Some(json!({"done": exe.id})));
    assert_eq!(stored.trigger, json!({"body": {"n": 1}}));
    assert_eq!((stored.lease_owner, stored.finished_at), (None, Some(T0 + 5)));
    assert_eq!(steps, ["a", "b"]);
    assert_eq!(logs, ["a done", "b done"]);
}

/// Holds the group writers: on SQLite a raw transaction holds the write lock, so the one
/// writer waits in `BEGIN IMMEDIATE` before starting its jobs; on PostgreSQL a table lock makes
/// each writer wait inside the insert of an unawaited "filler" create, sent one at a time so
/// that each writer takes one (4 fillers for the 3 writers). Jobs queued meanwhile have not
/// started. Returns the connection holding the lock (COMMIT to release).
async fn hold_writers(t: &TestDb, filler: &NewExecution) -> sqlx::pool::PoolConnection<sqlx::Any> {
    let mut conn = t.raw().await.acquire().await.unwrap();
    match t.db.backend() {
        Backend::Sqlite => {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await.unwrap();
        }
        Backend::Postgres => {
            sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
            sqlx::query("LOCK TABLE executions IN SHARE MODE").execute(&mut *conn).await.unwrap();
            for _ in 0..4 {
                t.db.create_execution_unawaited(filler, QueuePolicy::PARALLEL, T0).unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    conn
}

/// The finish of an execution whose create job has not started is written by that job, the
/// row inserted already ended. What it stores must be what the create and then the finish
/// store, for an instance that keeps payloads and for one that does not.
async fn a_finish_written_with_its_create_stores_what_two_writes_would(t: &TestDb) {
    let new = NewExecution { trigger: json!({"body": {"n": 7}}), ..common::execution_template(&t.db, 30).await };
    let mut seen = Vec::new();
    for store_payloads in [true, false] {
        t.db.set_instance_retention(&new.org_id, &new.instance_id, None, store_payloads).await.unwrap();
        for together in [true, false] {
            let held = if together { Some(hold_writers(t, &new).await) } else { None };
            let (exe, creation) = t.db.create_execution_unawaited(&new, QueuePolicy::PARALLEL, T0).unwrap();
            let run = {
                let db = t.db.clone();
                let id = exe.id.clone();
                tokio::spawn(async move {
                    if !together {
                        creation.committed().await.unwrap();
                    }
                    finish(&db, &id, &[step("a"), step("b")], &[log("a done")]).await
                })
            };
            if let Some(mut conn) = held {
                // The finish is handed to the create job while the writers are held.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
            }
            run.await.unwrap().unwrap();
            let (stored, steps, logs) = stored(&t.db, &new.org_id, &exe.id).await;
            let steps_full = t.db.list_steps(&exe.id).await.unwrap();
            let mut row = serde_json::to_value(&stored).unwrap();
            row.as_object_mut().unwrap().remove("id");
            if let Some(r) = row.get_mut("result").filter(|r| !r.is_null()) {
                *r = json!("<the execution's own id>");
            }
            let steps_json: Vec<_> = steps_full.iter().map(|s| (s.seq, s.key.clone(), s.input.clone())).collect();
            seen.push((store_payloads, together, row, steps, logs, format!("{steps_json:?}")));
        }
    }
    for pair in seen.chunks(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!((&a.2, &a.3, &a.4, &a.5), (&b.2, &b.3, &b.4, &b.5), "store_payloads = {}", a.0);
    }
    let kept = &seen[0].2;
    assert_eq!((kept["status"].clone(), kept["trigger"].clone()), (json!("succeeded"), json!({"body": {"n": 7}})));
    let omitted = &seen[2].2;
    assert_eq!(omitted["trigger"], json!({"omitted": true}), "{omitted}");
    assert!(omitted["result"].is_null() && omitted["state"].is_null(), "{omitted}");
}

/// Many executions at once, each checkpointed and finished as soon as it is created: with
/// several group writers on PostgreSQL a checkpoint sent before its create committed could run
/// in another transaction first and find no row (lease lost). None may.
async fn writes_wait_for_the_create_under_load(t: &TestDb) {
    let new = common::execution_template(&t.db, 30).await;
    let mut runs = Vec::new();
    for n in 0..60 {
        let (db, new) = (t.db.clone(), new.clone());
        runs.push(tokio::spawn(async move {
            let (exe, _) = db.create_execution_unawaited(&new, QueuePolicy::PARALLEL, T0 + n).unwrap();
            if n % 2 == 0 {
                let cp = Checkpoint {
                    id: &exe.id,
                    owner: "r1",
                    state: &json!({"at": "s1"}),
                    steps: &[step("s1")],
                    logs: &[log("s1 done")],
                    response: None,
                };
                assert!(!db.checkpoint(&cp).await.unwrap(), "no cancel was asked");
            }
            finish(&db, &exe.id, &[step("s2")], &[]).await.unwrap();
            (n, exe.id)
        }));
    }
    for run in runs {
        let (n, id) = run.await.unwrap();
        let (exe, steps, logs) = stored(&t.db, &new.org_id, &id).await;
        assert_eq!(exe.status, ExecutionStatus::Succeeded, "{id}");
        let (want_steps, want_logs): (&[&str], &[&str]) =
            if n % 2 == 0 { (&["s1", "s2"], &["s1 done"]) } else { (&["s2"], &[]) };
        assert_eq!(steps, want_steps, "{id}");
        assert_eq!(logs, want_logs, "{id}");
    }
}

/// A create still in its transaction (slowed by a trigger on PostgreSQL, whose other group
/// writers are idle meanwhile) when the checkpoint is sent: the checkpoint must not run beside
/// it, where it would find no row, but after its commit; the finish then ends the stored row.
async fn writes_wait_for_a_create_in_flight(t: &TestDb) {
    let new = common::execution_template(&t.db, 30).await;
    if t.db.backend() == Backend::Postgres {
        let raw = t.raw().await;
        sqlx::query(
            "CREATE FUNCTION slow_insert() RETURNS trigger AS $$
             BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$ LANGUAGE plpgsql",
        )
        .execute(&raw)
        .await
        .unwrap();
        sqlx::query("CREATE TRIGGER slow BEFORE INSERT ON executions FOR EACH ROW EXECUTE FUNCTION slow_insert()")
            .execute(&raw)
            .await
            .unwrap();
    }
    let (exe, creation) = t.db.create_execution_unawaited(&new, QueuePolicy::PARALLEL, T0).unwrap();
    // Long enough for a writer to take the create (it is idle), far shorter than the insert.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let cp = Checkpoint {
        id: &exe.id,
        owner: "r1",
        state: &json!({"at": "s1"}),
        steps: &[step("s1")],
        logs: &[],
        response: None,
    };
    assert!(!t.db.checkpoint(&cp).await.unwrap());
    finish(&t.db, &exe.id, &[step("s2")], &[]).await.unwrap();
    creation.committed().await.unwrap();
    let (stored, steps, _) = stored(&t.db, &new.org_id, &exe.id).await;
    assert_eq!((stored.status, steps), (ExecutionStatus::Succeeded, vec!["s1".to_string(), "s2".to_string()]));
}

/// A create the database refuses (a constraint added for the test): the finish riding on it
/// and `created` both say so, nothing of it is stored, and the executions written in the same
/// group transactions are stored all the same.
async fn a_failed_create_is_reported_and_stores_nothing(t: &TestDb) {
    let new = common::execution_template(&t.db, 30).await;
    let refuse = match t.db.backend() {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse BEFORE INSERT ON executions WHEN NEW.flow_key = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        }
        Backend::Postgres => "ALTER TABLE executions ADD CONSTRAINT refuse CHECK (flow_key <> 'refused')",
    };
    sqlx::query(refuse).execute(&t.raw().await).await.unwrap();
    let mut runs = Vec::new();
    for n in 0..20 {
        let (db, new) = (t.db.clone(), new.clone());
        runs.push(tokio::spawn(async move {
            let flow_key = if n % 5 == 0 { "refused" } else { "hook" }.to_string();
            let new = NewExecution { flow_key, ..new };
            let (exe, creation) = db.create_execution_unawaited(&new, QueuePolicy::PARALLEL, T0).unwrap();
            let finished = finish(&db, &exe.id, &[step("s")], &[]).await;
            (n, exe.id, finished, creation.committed().await)
        }));
    }
    for run in runs {
        let (n, id, finished, created) = run.await.unwrap();
        if n % 5 == 0 {
            for r in [&finished, &created] {
                let Err(DbError::NotCreated(msg)) = r else { panic!("{id}: expected NotCreated, got {r:?}") };
                assert!(msg.starts_with(&format!("execution {id} was not stored: ")), "{msg}");
            }
            assert!(t.db.get_execution(&new.org_id, &id).await.unwrap().is_none());
            assert!(t.db.list_steps(&id).await.unwrap().is_empty());
        } else {
            finished.unwrap();
            created.unwrap();
            let (exe, steps, _) = stored(&t.db, &new.org_id, &id).await;
            assert_eq!((exe.status, steps), (ExecutionStatus::Succeeded, vec!["s".to_string()]));
        }
    }
}

async fn only_claimed_unkeyed_executions_go_unawaited(t: &TestDb) {
    let new = common::execution_template(&t.db, 30).await;
    let queued = NewExecution { claimed_by: None, ..new.clone() };
    let keyed = NewExecution { idempotency_key: Some("k1".into()), ..new.clone() };
    for bad in [queued, keyed] {
        let r = t.db.create_execution_unawaited(&bad, QueuePolicy::PARALLEL, T0).map(|(exe, _)| exe);
        assert!(matches!(&r, Err(DbError::Invalid(m)) if m.contains("unawaited")), "{r:?}");
    }
    let listed = t.db.list_executions(&new.org_id, &ExecutionFilter::default(), &Page::default()).await.unwrap();
    assert!(listed.items.is_empty(), "a refused create wrote nothing");
}
