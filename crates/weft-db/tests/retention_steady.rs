//! Retention under a steady load (a small version of `benches/retention.rs`): with the same
//! number of executions finishing every simulated day and pruning at the end of each day, the
//! execution tables hold a constant number of days' worth of rows and the SQLite database stops
//! growing, because the pages of pruned rows are reused for new ones.

mod common;

use futures::StreamExt;
use serde_json::json;
use weft_db::*;

use common::TestDb;

db_tests!(steady_load_plateaus);

use common::T0;
const DAY: Millis = 86_400_000;
const DAYS: i64 = 15;
const PER_DAY: i64 = 200;
const RETENTION: i64 = 3;

/// One execution, created claimed and finished at `at` with 2 steps and 3 log lines.
async fn run_one(db: &Db, template: &NewExecution, n: i64, at: Millis) {
    let mut new = template.clone();
    new.trigger = json!({"body": {"id": format!("ord-{n}"), "total": 129.5, "lines": [{"sku": "A-1", "qty": 2}]}});
    let exe = db.create_execution(&new, at - 500).await.unwrap();
    let steps: Vec<StepRow> = (0..2)
        .map(|s| StepRow {
            seq: 0,
            path: format!("step{s}"),
            key: format!("step{s}"),
            kind: "action".into(),
            action: Some("http.request".into()),
            status: "succeeded".into(),
            input: Some(json!({"order": format!("ord-{n}")})),
            output: Some(json!({"status": 200, "body": {"accepted": format!("ord-{n}")}})),
            error: None,
            attempts: 1,
            started_at: at - 400,
            finished_at: at - 300,
        })
        .collect();
    let logs: Vec<LogRow> = (0..3)
        .map(|l| LogRow {
            seq: 0,
            at: at - 200,
            level: "info".into(),
            step_path: None,
            message: format!("order ord-{n}: line {l}"),
        })
        .collect();
    db.finish_execution(&Finish {
        id: &exe.id,
        owner: "r1",
        status: ExecutionStatus::Succeeded,
        result: Some(&json!({"ok": true})),
        error: None,
        state: &json!({}),
        steps: &steps,
        logs: &logs,
        response: None,
        now: at,
    })
    .await
    .unwrap();
}

async fn count(raw: &sqlx::AnyPool, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(raw).await.unwrap()
}

/// The SQLite database's logical size in bytes (`page_count × page_size`: pages still only in
/// the WAL count too, so the figure does not depend on when a checkpoint ran; the `-wal` file
/// itself grows to its auto-checkpoint size, about 4 MB, at a moment that depends on the load
/// and so is not asserted here). `None` on PostgreSQL: there dead tuples become reusable only
/// after (auto)vacuum, whose timing against seconds-long simulated days is not deterministic;
/// `benches/retention.rs` shows PostgreSQL's table sizes with a vacuum per simulated day.
async fn sqlite_bytes(t: &TestDb, raw: &sqlx::AnyPool) -> Option<i64> {
    if t.db.backend() != Backend::Sqlite {
        return None;
    }
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(raw).await.unwrap();
    let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(raw).await.unwrap();
    Some(pages * size)
}

async fn steady_load_plateaus(t: &TestDb) {
    let db = &t.db;
    let raw = t.raw().await;
    let template = common::execution_template(db, RETENTION).await;
    let mut sizes = Vec::new();
    for day in 1..=DAYS {
        let start = T0 + day * DAY;
        futures::stream::iter(0..PER_DAY)
            .map(|i| run_one(db, &template, day * PER_DAY + i, start + 1_000 + i * (DAY / PER_DAY)))
            .buffer_unordered(32)
            .collect::<()>()
            .await;
        // The end of the day: prune in batches until one comes back short (a scheduler pass).
        loop {
            if db.prune(start + DAY, 50).await.unwrap().executions < 50 {
                break;
            }
        }
        let (executions, steps, logs) = (
            count(&raw, "executions").await,
            count(&raw, "execution_steps").await,
            count(&raw, "execution_logs").await,
        );
        let bytes = sqlite_bytes(t, &raw).await;
        sizes.push(bytes);
        eprintln!("day {day}: {executions} executions, {steps} steps, {logs} logs, {bytes:?} bytes");
        if day > 5 {
            // Pruned at the end of day d (now = start of day d+1) with 3 days' retention, what
            // finished before the start of day d-2 is due: days d-2, d-1 and d stay, exactly 3
            // days' worth. [3, 4] days leaves room for a pass that would run mid-day (then up
            // to 4 days' worth are kept), not for any growth.
            assert!((3 * PER_DAY..=4 * PER_DAY).contains(&executions), "day {day}: {executions} executions");
            // Every execution keeps its own steps and log lines, no orphans.
            assert_eq!((steps, logs), (2 * executions, 3 * executions), "day {day}");
        }
    }
    if let (Some(day8), Some(day15)) = (sizes[7], sizes[14]) {
        // From day 4 on each day frees what it adds; SQLite reuses the freed pages (it never
        // shrinks the file without VACUUM), so the size stops growing. 10 % leaves room for
        // b-tree pages splitting differently from one day to the next.
        assert!(day15 as f64 <= day8 as f64 * 1.1, "database grew from {day8} bytes (day 8) to {day15} (day 15)");
    }
}
