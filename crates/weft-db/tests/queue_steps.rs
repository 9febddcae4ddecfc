//! Deterministic queue tests: the runner protocol (claim, renew, checkpoint, finish, requeue,
//! release, cancel) played by hand with an injected clock, with failure points injected between
//! the calls — a crash after the claim, after a step, before the finishing commit, a lapsed
//! lease — and the whole queue rendered and compared after every step.
//!
//! The clock is a plain `now` advanced explicitly: the storage API takes the time as an
//! argument everywhere, so no sleep or wall clock is involved and every run sees the same
//! states. A "crash" is simply a runner that makes no further call.

mod common;

use serde_json::{Value, json};
use weft_db::*;

use common::TestDb;

db_tests!(
    crash_after_claim,
    crash_after_a_step,
    crash_before_finish_commit,
    renewal_keeps_the_lease,
    release_hands_back_at_once,
    requeue_waits_for_its_backoff,
    cancel_queued_and_running,
);

const T0: Millis = 1_700_000_000_000;
const LEASE: i64 = 30_000;
/// Steps of the simulated flow: `s1` … `s3`.
const STEPS: i64 = 3;

/// The queue as seen by the tests: the executions created through it, by alias (`e1`, `e2` …
/// in creation order), rendered one line each.
struct Queue<'a> {
    t: &'a TestDb,
    org: String,
    raw: sqlx::AnyPool,
    /// (alias, execution id)
    execs: Vec<(String, String)>,
}

impl<'a> Queue<'a> {
    async fn new(t: &'a TestDb) -> Queue<'a> {
        let (org, _) = t.db.ensure_organization("vendor", T0).await.unwrap();
        Queue { t, org: org.id, raw: t.raw().await, execs: Vec::new() }
    }

    fn db(&self) -> &Db {
        &self.t.db
    }

    /// Enqueues an execution at `now`; returns its id.
    async fn enqueue(&mut self, now: Millis) -> String {
        let new = NewExecution {
            org_id: self.org.clone(),
            instance_id: "ins_1".into(),
            customer_id: "cus_a".into(),
            integration_id: "int_x".into(),
            version: 1,
            flow_key: "hook".into(),
            trigger: json!({"body": {}}),
            replay_of: None,
            claimed_by: None,
            lease_ms: 0,
            idempotency_key: None,
        };
        let e = self.db().create_execution(&new, now).await.unwrap();
        self.execs.push((format!("e{}", self.execs.len() + 1), e.id.clone()));
        e.id
    }

    fn alias(&self, id: &str) -> &str {
        &self.execs.iter().find(|(_, i)| i == id).expect("execution created through the queue").0
    }

    /// `owner` claims (up to 10) at `now`; returns the aliases it got, in claim order.
    async fn claim(&self, owner: &str, now: Millis) -> Vec<(String, Execution)> {
        let got = self.db().claim_executions(owner, 10, LEASE, now).await.unwrap();
        got.into_iter().map(|e| (self.alias(&e.id).to_string(), e)).collect()
    }

    /// The queue, one line per execution:
    /// `alias status owner=… until=… due=… attempts=… steps=[…] logs=… state=… cancel=…`.
    /// Times are relative to `T0`; `due` (the `run_at` the claim looks at) only while the
    /// execution is in the queue; a failed step shows as `key!`.
    async fn state(&self) -> String {
        let mut out = String::new();
        for (alias, id) in &self.execs {
            let e = self.db().get_execution(&self.org, id).await.unwrap().unwrap();
            let run_at: i64 = sqlx::query_scalar("SELECT run_at FROM executions WHERE id = $1")
                .bind(id)
                .fetch_one(&self.raw)
                .await
                .unwrap();
            let due = if e.status.is_terminal() { "-".to_string() } else { rel(Some(run_at)) };
            let steps: Vec<String> = self
                .db()
                .list_steps(id)
                .await
                .unwrap()
                .into_iter()
                .map(|s| if s.status == "succeeded" { s.key } else { format!("{}!", s.key) })
                .collect();
            let logs = self.db().list_logs(id, &Page { cursor: None, limit: 1_000 }).await.unwrap().items.len();
            let state = e.state.as_ref().map_or("-".to_string(), Value::to_string);
            let cancel = if self.db().cancel_requested(id).await.unwrap() { "yes" } else { "no" };
            out.push_str(&format!(
                "{alias} {} owner={} until={} due={due} attempts={} steps=[{}] logs={logs} state={state} cancel={cancel}\n",
                e.status,
                e.lease_owner.as_deref().unwrap_or("-"),
                rel(e.lease_until),
                e.attempts,
                steps.join(","),
            ));
        }
        out
    }
}

/// A time relative to `T0` (`+1500`), or `-`.
fn rel(t: Option<Millis>) -> String {
    t.map_or("-".to_string(), |t| format!("{:+}", t - T0))
}

/// Compares the rendered queue with `expected` (indentation and blank lines ignored), showing
/// the step that failed.
async fn expect(q: &Queue<'_>, step: &str, expected: &str) {
    let want: String = expected.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect();
    let got = q.state().await;
    assert_eq!(got, want, "queue state after: {step}\n--- got ---\n{got}--- want ---\n{want}");
}

fn step(key: &str, now: Millis) -> StepRow {
    StepRow {
        seq: 0,
        path: format!("steps.{key}"),
        key: key.into(),
        kind: "http".into(),
        action: Some("post".into()),
        status: "succeeded".into(),
        input: Some(json!({"step": key})),
        output: Some(json!({"ok": key})),
        error: None,
        attempts: 1,
        started_at: now,
        finished_at: now,
    }
}

fn log(message: &str, now: Millis) -> LogRow {
    LogRow { seq: 0, at: now, level: "info".into(), step_path: None, message: message.into() }
}

/// The engine checkpoint after `done` completed steps.
fn progress(done: i64) -> Value {
    json!({"done": done})
}

/// Where a claimed execution resumes: the step after its checkpoint's last completed one.
fn next_step(e: &Execution) -> i64 {
    e.state.as_ref().and_then(|s| s["done"].as_i64()).unwrap_or(0) + 1
}

/// Step `n` completed: its row, a log line and the new checkpoint, in one commit. Returns
/// whether a cancel was asked.
async fn checkpoint(db: &Db, id: &str, owner: &str, n: i64, now: Millis) -> Result<bool, DbError> {
    let key = format!("s{n}");
    db.checkpoint(&Checkpoint {
        id,
        owner,
        state: &progress(n),
        steps: &[step(&key, now)],
        logs: &[log(&format!("{key} done"), now)],
        response: None,
    })
    .await
}

/// The last step (`n`) and the outcome in one commit, as the worker finishes.
async fn finish_with_last(db: &Db, id: &str, owner: &str, n: i64, now: Millis) -> Result<(), DbError> {
    let key = format!("s{n}");
    db.finish_execution(&Finish {
        id,
        owner,
        status: ExecutionStatus::Succeeded,
        result: Some(&json!({"ok": true})),
        error: None,
        state: &progress(n),
        steps: &[step(&key, now)],
        logs: &[log(&format!("{key} done"), now)],
        response: None,
        now,
    })
    .await
}

fn lease_lost<T: std::fmt::Debug>(r: Result<T, DbError>) {
    assert!(matches!(r, Err(DbError::LeaseLost(_))), "expected LeaseLost, got {r:?}");
}

fn aliases(claimed: &[(String, Execution)]) -> Vec<&str> {
    claimed.iter().map(|(a, _)| a.as_str()).collect()
}

/// A claims and dies before doing anything: the lease runs out to the millisecond, B takes the
/// execution over from the start, and A's late writes bounce off.
async fn crash_after_claim(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let mut now = T0;
    let id = q.enqueue(now).await;
    expect(&q, "enqueue", "e1 queued owner=- until=- due=+0 attempts=0 steps=[] logs=0 state=- cancel=no").await;

    now += 100;
    assert_eq!(aliases(&q.claim("A", now).await), ["e1"]);
    expect(&q, "A claims", "e1 running owner=A until=+30100 due=+30100 attempts=1 steps=[] logs=0 state=- cancel=no")
        .await;

    // A crashes here: no renewal, no checkpoint.
    now = T0 + 100 + LEASE - 1;
    assert!(q.claim("B", now).await.is_empty(), "the lease is live until its last millisecond");
    expect(
        &q,
        "B claims 1 ms early",
        "e1 running owner=A until=+30100 due=+30100 attempts=1 steps=[] logs=0 state=- cancel=no",
    )
    .await;

    now += 1;
    let got = q.claim("B", now).await;
    assert_eq!(aliases(&got), ["e1"]);
    assert_eq!(next_step(&got[0].1), 1, "nothing was checkpointed: B starts at the first step");
    expect(
        &q,
        "B claims at expiry",
        "e1 running owner=B until=+60100 due=+60100 attempts=2 steps=[] logs=0 state=- cancel=no",
    )
    .await;

    // A wakes up: every write it tries is refused and changes nothing.
    now += 10;
    lease_lost(checkpoint(&db, &id, "A", 1, now).await);
    lease_lost(finish_with_last(&db, &id, "A", 1, now).await);
    assert!(!db.renew_leases("A", LEASE, now).await.unwrap().contains(&id));
    assert!(!db.release_lease(&id, "A", now).await.unwrap());
    expect(
        &q,
        "A's late writes",
        "e1 running owner=B until=+60100 due=+60100 attempts=2 steps=[] logs=0 state=- cancel=no",
    )
    .await;

    for n in 1..STEPS {
        now += 10;
        checkpoint(&db, &id, "B", n, now).await.unwrap();
    }
    expect(
        &q,
        "B runs s1, s2",
        r#"e1 running owner=B until=+60100 due=+60100 attempts=2 steps=[s1,s2] logs=2 state={"done":2} cancel=no"#,
    )
    .await;
    now += 10;
    finish_with_last(&db, &id, "B", STEPS, now).await.unwrap();
    expect(
        &q,
        "B finishes",
        r#"e1 succeeded owner=- until=- due=- attempts=2 steps=[s1,s2,s3] logs=3 state={"done":3} cancel=no"#,
    )
    .await;

    now += LEASE * 10;
    assert!(q.claim("C", now).await.is_empty(), "a finished execution is never claimed again");
}

/// A completes step 1 and dies: B resumes at step 2 from A's checkpoint, so step 1 runs once.
async fn crash_after_a_step(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let mut now = T0;
    let id = q.enqueue(now).await;
    assert_eq!(aliases(&q.claim("A", now).await), ["e1"]);
    expect(&q, "A claims", "e1 running owner=A until=+30000 due=+30000 attempts=1 steps=[] logs=0 state=- cancel=no")
        .await;

    now += 1_000;
    checkpoint(&db, &id, "A", 1, now).await.unwrap();
    expect(
        &q,
        "A checkpoints s1",
        r#"e1 running owner=A until=+30000 due=+30000 attempts=1 steps=[s1] logs=1 state={"done":1} cancel=no"#,
    )
    .await;

    // A crashes while running s2 (its result never committed).
    now = T0 + LEASE - 1;
    assert!(q.claim("B", now).await.is_empty());
    now = T0 + LEASE;
    let got = q.claim("B", now).await;
    assert_eq!(aliases(&got), ["e1"]);
    assert_eq!(got[0].1.state, Some(progress(1)), "the claim hands B the checkpoint");
    assert_eq!(next_step(&got[0].1), 2);
    expect(
        &q,
        "B claims at expiry",
        r#"e1 running owner=B until=+60000 due=+60000 attempts=2 steps=[s1] logs=1 state={"done":1} cancel=no"#,
    )
    .await;

    for n in next_step(&got[0].1)..STEPS {
        now += 10;
        checkpoint(&db, &id, "B", n, now).await.unwrap();
        expect(
            &q,
            &format!("B checkpoints s{n}"),
            &format!(
                r#"e1 running owner=B until=+60000 due=+60000 attempts=2 steps=[s1,s2] logs=2 state={{"done":{n}}} cancel=no"#
            ),
        )
        .await;
    }
    now += 10;
    finish_with_last(&db, &id, "B", STEPS, now).await.unwrap();
    expect(
        &q,
        "B finishes",
        r#"e1 succeeded owner=- until=- due=- attempts=2 steps=[s1,s2,s3] logs=3 state={"done":3} cancel=no"#,
    )
    .await;

    let keys: Vec<String> = db.list_steps(&id).await.unwrap().into_iter().map(|s| s.key).collect();
    assert_eq!(keys, ["s1", "s2", "s3"], "each step stored once, in order");
}

/// A runs every step but dies before the finishing commit (which carries the last step and the
/// outcome): B re-runs only that last step from the checkpoint; no step row is duplicated, and
/// A's finish arriving late is refused.
async fn crash_before_finish_commit(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let mut now = T0;
    let id = q.enqueue(now).await;
    assert_eq!(aliases(&q.claim("A", now).await), ["e1"]);
    for n in 1..STEPS {
        now += 100;
        checkpoint(&db, &id, "A", n, now).await.unwrap();
    }
    expect(
        &q,
        "A checkpoints s1, s2",
        r#"e1 running owner=A until=+30000 due=+30000 attempts=1 steps=[s1,s2] logs=2 state={"done":2} cancel=no"#,
    )
    .await;

    // A ran s3 and is about to commit the finish: it never does.
    now = T0 + LEASE;
    let got = q.claim("B", now).await;
    assert_eq!(aliases(&got), ["e1"]);
    assert_eq!(next_step(&got[0].1), STEPS, "B resumes at the step whose commit was lost");
    expect(
        &q,
        "B claims at expiry",
        r#"e1 running owner=B until=+60000 due=+60000 attempts=2 steps=[s1,s2] logs=2 state={"done":2} cancel=no"#,
    )
    .await;

    now += 10;
    finish_with_last(&db, &id, "B", STEPS, now).await.unwrap();
    let done = r#"e1 succeeded owner=- until=- due=- attempts=2 steps=[s1,s2,s3] logs=3 state={"done":3} cancel=no"#;
    expect(&q, "B finishes", done).await;

    // A's finish finally arrives (a commit that was in flight): refused, nothing doubles.
    now += 10;
    lease_lost(finish_with_last(&db, &id, "A", STEPS, now).await);
    expect(&q, "A's late finish", done).await;
}

/// Renewing at every third of the lease keeps the execution from B however long A runs; once
/// A stops renewing, B gets it exactly one lease after the last renewal.
async fn renewal_keeps_the_lease(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let mut now = T0;
    let id = q.enqueue(now).await;
    assert_eq!(aliases(&q.claim("A", now).await), ["e1"]);

    let third = LEASE / 3;
    for beat in 1..=6 {
        now = T0 + beat * third;
        assert!(
            db.renew_leases("A", LEASE, now).await.unwrap().contains(&id),
            "A still holds the lease at beat {beat}"
        );
        // B polls right after every heartbeat, and just before the lease A had before it.
        assert!(q.claim("B", now).await.is_empty());
        assert!(q.claim("B", now + third * 2 - 1).await.is_empty());
        let until = beat * third + LEASE;
        expect(
            &q,
            &format!("heartbeat {beat}"),
            &format!("e1 running owner=A until=+{until} due=+{until} attempts=1 steps=[] logs=0 state=- cancel=no"),
        )
        .await;
    }
    now += 1;
    checkpoint(&db, &id, "A", 1, now).await.unwrap();

    // A stops renewing (hung); the last renewal was at 6 thirds = 60000.
    let expiry = T0 + 2 * LEASE + LEASE;
    assert!(q.claim("B", expiry - 1).await.is_empty());
    expect(
        &q,
        "A hangs",
        r#"e1 running owner=A until=+90000 due=+90000 attempts=1 steps=[s1] logs=1 state={"done":1} cancel=no"#,
    )
    .await;
    now = expiry;
    assert_eq!(aliases(&q.claim("B", now).await), ["e1"]);
    expect(
        &q,
        "B claims at expiry",
        r#"e1 running owner=B until=+120000 due=+120000 attempts=2 steps=[s1] logs=1 state={"done":1} cancel=no"#,
    )
    .await;
    assert!(
        !db.renew_leases("A", LEASE, now + 1).await.unwrap().contains(&id),
        "A's heartbeat now fails: it must stop"
    );
}

/// A shutting down gracefully hands its execution back: B claims it at the same millisecond
/// with its checkpoint, without waiting for the lease.
async fn release_hands_back_at_once(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let mut now = T0;
    let id = q.enqueue(now).await;
    let other = q.enqueue(now + 1).await;
    assert_eq!(aliases(&q.claim("A", now + 1).await), ["e1", "e2"]);
    now += 500;
    checkpoint(&db, &id, "A", 1, now).await.unwrap();
    expect(
        &q,
        "A claims both, checkpoints e1",
        r#"e1 running owner=A until=+30001 due=+30001 attempts=1 steps=[s1] logs=1 state={"done":1} cancel=no
           e2 running owner=A until=+30001 due=+30001 attempts=1 steps=[] logs=0 state=- cancel=no"#,
    )
    .await;

    // Draining: A finishes e2 within its deadline and hands e1 back.
    now += 100;
    finish_with_last(&db, &other, "A", 1, now).await.unwrap();
    assert!(!db.release_lease(&id, "B", now).await.unwrap(), "only the owner can hand back");
    assert!(db.release_lease(&id, "A", now).await.unwrap());
    expect(
        &q,
        "A finishes e2, releases e1",
        r#"e1 queued owner=- until=- due=+600 attempts=1 steps=[s1] logs=1 state={"done":1} cancel=no
           e2 succeeded owner=- until=- due=- attempts=1 steps=[s1] logs=1 state={"done":1} cancel=no"#,
    )
    .await;
    assert!(!db.release_lease(&id, "A", now).await.unwrap(), "a second release is a no-op");
    lease_lost(checkpoint(&db, &id, "A", 2, now).await);

    let got = q.claim("B", now).await;
    assert_eq!(aliases(&got), ["e1"]);
    assert_eq!(next_step(&got[0].1), 2);
    expect(
        &q,
        "B claims at once",
        r#"e1 running owner=B until=+30600 due=+30600 attempts=2 steps=[s1] logs=1 state={"done":1} cancel=no
           e2 succeeded owner=- until=- due=- attempts=1 steps=[s1] logs=1 state={"done":1} cancel=no"#,
    )
    .await;
}

/// A failed try goes back to the queue due after its backoff, keeping its checkpoint: nobody
/// claims it a millisecond early, B claims it at `run_at` and resumes after the last good step.
async fn requeue_waits_for_its_backoff(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let mut now = T0;
    let id = q.enqueue(now).await;
    assert_eq!(aliases(&q.claim("A", now).await), ["e1"]);
    now += 100;
    checkpoint(&db, &id, "A", 1, now).await.unwrap();

    // s2 fails; the retry policy says: again in 2 s.
    now += 100;
    let failed = StepRow { status: "failed".into(), error: Some(json!({"message": "503"})), ..step("s2", now) };
    let retry_at = now + 2_000;
    db.requeue_execution(&id, "A", retry_at, Some(&progress(1)), &[failed], &[log("retry in 2s", now)]).await.unwrap();
    let waiting = r#"e1 queued owner=- until=- due=+2200 attempts=1 steps=[s1,s2!] logs=2 state={"done":1} cancel=no"#;
    expect(&q, "A requeues after s2 failed", waiting).await;
    lease_lost(db.requeue_execution(&id, "A", retry_at, Some(&progress(1)), &[], &[]).await);
    lease_lost(checkpoint(&db, &id, "A", 2, now).await);
    expect(&q, "A's writes after the requeue", waiting).await;

    now = retry_at - 1;
    assert!(q.claim("B", now).await.is_empty(), "backoff respected");
    expect(&q, "B claims 1 ms early", waiting).await;

    now = retry_at;
    let got = q.claim("B", now).await;
    assert_eq!(aliases(&got), ["e1"]);
    assert_eq!(next_step(&got[0].1), 2);
    expect(
        &q,
        "B claims at run_at",
        r#"e1 running owner=B until=+32200 due=+32200 attempts=2 steps=[s1,s2!] logs=2 state={"done":1} cancel=no"#,
    )
    .await;
    now += 10;
    checkpoint(&db, &id, "B", 2, now).await.unwrap();
    now += 10;
    finish_with_last(&db, &id, "B", 3, now).await.unwrap();
    expect(
        &q,
        "B finishes",
        r#"e1 succeeded owner=- until=- due=- attempts=2 steps=[s1,s2!,s2,s3] logs=4 state={"done":3} cancel=no"#,
    )
    .await;
}

/// Cancel: a queued execution ends at once and is never claimed; a running one is flagged, and
/// whoever runs it — its runner, or the one that takes it over after a crash — sees the flag
/// and ends it as canceled.
async fn cancel_queued_and_running(t: &TestDb) {
    let mut q = Queue::new(t).await;
    let db = q.db().clone();
    let org = q.org.clone();
    let mut now = T0;
    let running = q.enqueue(now).await;
    let crashed = q.enqueue(now + 1).await;
    assert_eq!(aliases(&q.claim("A", now + 1).await), ["e1", "e2"]);
    now += 10;
    let queued = q.enqueue(now).await;
    expect(
        &q,
        "A claims e1, e2; e3 queued",
        "e1 running owner=A until=+30001 due=+30001 attempts=1 steps=[] logs=0 state=- cancel=no
         e2 running owner=A until=+30001 due=+30001 attempts=1 steps=[] logs=0 state=- cancel=no
         e3 queued owner=- until=- due=+10 attempts=0 steps=[] logs=0 state=- cancel=no",
    )
    .await;

    now += 10;
    assert_eq!(db.cancel_execution(&org, &queued, now).await.unwrap().status, ExecutionStatus::Canceled);
    assert_eq!(db.cancel_execution(&org, &running, now).await.unwrap().status, ExecutionStatus::Running);
    assert_eq!(db.cancel_execution(&org, &crashed, now).await.unwrap().status, ExecutionStatus::Running);
    let flagged = "e1 running owner=A until=+30001 due=+30001 attempts=1 steps=[] logs=0 state=- cancel=yes
                   e2 running owner=A until=+30001 due=+30001 attempts=1 steps=[] logs=0 state=- cancel=yes
                   e3 canceled owner=- until=- due=- attempts=0 steps=[] logs=0 state=- cancel=no";
    expect(&q, "cancel all three", flagged).await;
    assert!(q.claim("B", now).await.is_empty(), "a canceled execution is never claimed");
    expect(&q, "B claims nothing", flagged).await;

    // A completes its current call of e1, checks the flag and ends it; it crashes on e2.
    now += 10;
    assert!(checkpoint(&db, &running, "A", 1, now).await.unwrap(), "the checkpoint reports the cancel");
    assert!(db.cancel_requested(&running).await.unwrap());
    db.finish_execution(&Finish {
        id: &running,
        owner: "A",
        status: ExecutionStatus::Canceled,
        result: None,
        error: Some(&json!({"message": "canceled"})),
        state: &progress(1),
        steps: &[],
        logs: &[],
        response: None,
        now,
    })
    .await
    .unwrap();
    expect(
        &q,
        "A ends e1 as canceled",
        r#"e1 canceled owner=- until=- due=- attempts=1 steps=[s1] logs=1 state={"done":1} cancel=yes
           e2 running owner=A until=+30001 due=+30001 attempts=1 steps=[] logs=0 state=- cancel=yes
           e3 canceled owner=- until=- due=- attempts=0 steps=[] logs=0 state=- cancel=no"#,
    )
    .await;
    assert_eq!(db.cancel_execution(&org, &running, now).await.unwrap().status, ExecutionStatus::Canceled);

    // e2's lease lapses; B takes it over, sees the flag before running anything, ends it.
    now = T0 + 1 + LEASE;
    assert_eq!(aliases(&q.claim("B", now).await), ["e2"]);
    assert!(db.cancel_requested(&crashed).await.unwrap(), "the flag survives the takeover");
    expect(
        &q,
        "B takes e2 over",
        r#"e1 canceled owner=- until=- due=- attempts=1 steps=[s1] logs=1 state={"done":1} cancel=yes
           e2 running owner=B until=+60001 due=+60001 attempts=2 steps=[] logs=0 state=- cancel=yes
           e3 canceled owner=- until=- due=- attempts=0 steps=[] logs=0 state=- cancel=no"#,
    )
    .await;
    db.finish_execution(&Finish {
        id: &crashed,
        owner: "B",
        status: ExecutionStatus::Canceled,
        result: None,
        error: Some(&json!({"message": "canceled"})),
        state: &Value::Null,
        steps: &[],
        logs: &[],
        response: None,
        now,
    })
    .await
    .unwrap();
    expect(
        &q,
        "B ends e2 as canceled",
        r#"e1 canceled owner=- until=- due=- attempts=1 steps=[s1] logs=1 state={"done":1} cancel=yes
           e2 canceled owner=- until=- due=- attempts=2 steps=[] logs=0 state=null cancel=yes
           e3 canceled owner=- until=- due=- attempts=0 steps=[] logs=0 state=- cancel=no"#,
    )
    .await;
}
