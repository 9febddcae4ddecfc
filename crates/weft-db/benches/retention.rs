//! Retention under a steady load: shows that pruning keeps the execution tables (and the SQLite
//! file) from growing without bound.
//!
//! `cargo bench -p weft-db --bench retention [-- --days 60 --per-day 2000 --retention 7 --database-url postgres://…]`
//!
//! Time is simulated: [`Db::prune`] and every write take `now` explicitly, so a "day" is the
//! 86,400,000 ms of stored timestamps, run as fast as the database goes. Each simulated day
//! creates `--per-day` executions (already claimed, as the sync webhook path does), each
//! finished with 3 steps and 4 log lines at that day's timestamps, then prunes at the end of the
//! day in batches of 500 until a batch comes back short (what the scheduler's prune pass does
//! every 60 s; one pass per simulated day is enough, since nothing becomes due in between that
//! the next pass would not catch). After each day it records the row counts and the storage
//! size. Two databases run side by side in the same process: one with the organization's
//! retention at `--retention` days, and the baseline at 36,500 days (retention in effect off).
//!
//! Storage size: on SQLite the file `weft.db` plus its `-wal`, and the logical size
//! (`page_count × page_size`, which includes pages still only in the WAL) with the free-list
//! pages among them. SQLite puts the pages of deleted rows on its free list and reuses them for
//! new rows; it never gives them back to the file system without `VACUUM`, so the file plateaus
//! rather than shrinks. On PostgreSQL (`--database-url`, a fresh schema dropped afterwards) the
//! size is `pg_total_relation_size` of executions, execution_steps and execution_logs (tables,
//! indexes, TOAST). Dead tuples are made reusable by (auto)vacuum; autovacuum wakes every
//! minute of real time, i.e. about 1,440 times per real day, but a simulated day here lasts
//! seconds, so the bench runs a plain `VACUUM` (not `FULL`: no shrinking, no exclusive lock)
//! on those tables after each day's prune to stand in for it.

use std::time::Instant;

use futures::StreamExt;
use serde_json::json;
use sqlx::Connection;
use weft_db::{Backend, Db, ExecutionStatus, Finish, LogRow, Millis, NewExecution, StepRow};

#[path = "../tests/common/mod.rs"]
mod common;

use common::T0;
const DAY: Millis = 86_400_000;
/// Executions in flight at once (the group writer commits them together).
const IN_FLIGHT: usize = 64;
const PRUNE_BATCH: u32 = 500;
const TABLES: [&str; 3] = ["executions", "execution_steps", "execution_logs"];

struct Args {
    days: i64,
    per_day: i64,
    retention: i64,
    database_url: Option<String>,
}

fn args() -> Args {
    let mut a = Args { days: 60, per_day: 2000, retention: 7, database_url: None };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = || argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--days" => a.days = value().parse().expect("--days N"),
            "--per-day" => a.per_day = value().parse().expect("--per-day N"),
            "--retention" => a.retention = value().parse().expect("--retention DAYS"),
            "--database-url" => a.database_url = Some(value()),
            _ => {}
        }
        i += if argv[i].starts_with("--") && i + 1 < argv.len() && !argv[i + 1].starts_with("--") { 2 } else { 1 };
    }
    a
}

/// Where one simulated database lives; drops its PostgreSQL schema at the end.
struct Target {
    db: Db,
    raw: sqlx::AnyPool,
    /// SQLite: the `weft.db` path (the temp dir is kept alive by `_dir`).
    file: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

async fn open(pg_base: Option<&str>) -> Target {
    sqlx::any::install_default_drivers();
    match pg_base {
        None => {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("weft.db");
            let url = format!("sqlite://{}", file.display());
            let db = Db::open(&url).await.unwrap();
            let raw = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&format!("{url}?mode=rw")).await;
            Target { db, raw: raw.unwrap(), file: Some(file), _dir: Some(dir), pg_schema: None }
        }
        Some(base) => {
            let schema = format!("weft_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = sqlx::postgres::PgConnection::connect(base).await.unwrap();
            let sql = format!("CREATE SCHEMA {schema}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
            let db = Db::open(&url).await.unwrap();
            assert_eq!(db.backend(), Backend::Postgres);
            let raw = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
            Target { db, raw, file: None, _dir: None, pg_schema: Some((base.to_string(), schema)) }
        }
    }
}

impl Target {
    async fn close(self) {
        drop(self.db);
        self.raw.close().await;
        if let Some((base, schema)) = self.pg_schema {
            let mut conn = sqlx::postgres::PgConnection::connect(&base).await.unwrap();
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        }
    }
}

/// One execution of the reference shape: an order-sized trigger, 3 steps, 4 log lines,
/// finished at `at`.
async fn run_one(db: &Db, template: &NewExecution, n: i64, at: Millis) {
    let mut new = template.clone();
    new.trigger = json!({"body": {"id": format!("ord-{n}"), "customer": "c-42", "total": 129.5,
        "lines": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}]}});
    let exe = db.create_execution(&new, at - 500).await.unwrap();
    let steps: Vec<StepRow> = (0..3)
        .map(|s| StepRow {
            seq: 0,
            path: format!("step{s}"),
            key: format!("step{s}"),
            kind: "action".into(),
            action: Some("http.request".into()),
            status: "succeeded".into(),
            input: Some(json!({"order": format!("ord-{n}"), "step": s})),
            output: Some(json!({"status": 200, "body": {"accepted": format!("ord-{n}")}})),
            error: None,
            attempts: 1,
            started_at: at - 400 + s * 100,
            finished_at: at - 350 + s * 100,
        })
        .collect();
    let logs: Vec<LogRow> = (0..4)
        .map(|l| LogRow {
            seq: 0,
            at: at - 300 + l * 50,
            level: "info".into(),
            step_path: Some(format!("step{}", l % 3)),
            message: format!("order ord-{n}: line {l} of the run"),
        })
        .collect();
    db.finish_execution(&Finish {
        id: &exe.id,
        owner: "r1",
        status: ExecutionStatus::Succeeded,
        result: Some(&json!({"accepted": format!("ord-{n}")})),
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

/// What one simulated day left behind.
#[derive(Clone, Copy, Default)]
struct Sample {
    executions: i64,
    steps: i64,
    logs: i64,
    /// SQLite: `weft.db` + `-wal` bytes; PostgreSQL: the three tables' total relation size.
    bytes: i64,
    /// SQLite only: `page_count × page_size` and the free-list part of it.
    logical: i64,
    free: i64,
    pruned: u64,
}

async fn scalar(raw: &sqlx::AnyPool, sql: String) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(raw).await.unwrap()
}

async fn sample(t: &Target, pruned: u64) -> Sample {
    let mut s = Sample { pruned, ..Sample::default() };
    s.executions = scalar(&t.raw, "SELECT COUNT(*) FROM executions".into()).await;
    s.steps = scalar(&t.raw, "SELECT COUNT(*) FROM execution_steps".into()).await;
    s.logs = scalar(&t.raw, "SELECT COUNT(*) FROM execution_logs".into()).await;
    match &t.file {
        Some(file) => {
            let len = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len() as i64).unwrap_or(0);
            s.bytes = len(file.clone()) + len(file.with_extension("db-wal"));
            let page = scalar(&t.raw, "PRAGMA page_size".into()).await;
            s.logical = scalar(&t.raw, "PRAGMA page_count".into()).await * page;
            s.free = scalar(&t.raw, "PRAGMA freelist_count".into()).await * page;
        }
        None => {
            let parts: Vec<String> = TABLES.iter().map(|t| format!("pg_total_relation_size('{t}')")).collect();
            s.bytes = scalar(&t.raw, format!("SELECT ({})::BIGINT", parts.join(" + "))).await;
        }
    }
    s
}

/// Runs the whole simulation on one database; returns one sample per day.
async fn simulate(t: &Target, args: &Args, retention: i64) -> Vec<Sample> {
    let template = common::execution_template(&t.db, retention).await;
    let mut samples = Vec::new();
    for day in 0..args.days {
        let start = T0 + DAY + day * DAY;
        let spacing = DAY / args.per_day;
        futures::stream::iter(0..args.per_day)
            .map(|i| run_one(&t.db, &template, day * args.per_day + i, start + 1_000 + i * spacing))
            .buffer_unordered(IN_FLIGHT)
            .collect::<()>()
            .await;
        // The end of the day: prune in batches until one comes back short, as a pass does.
        let mut pruned = 0;
        loop {
            let report = t.db.prune(start + DAY, PRUNE_BATCH).await.unwrap();
            pruned += report.executions;
            if report.executions < u64::from(PRUNE_BATCH) {
                break;
            }
        }
        if t.file.is_none() {
            // Stand-in for autovacuum (see the module docs).
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM {}", TABLES.join(", ")))).execute(&t.raw).await.unwrap();
        }
        samples.push(sample(t, pruned).await);
    }
    samples
}

fn mb(bytes: i64) -> String {
    format!("{:.1}", bytes as f64 / 1_048_576.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = args();
    let backend = if args.database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "retention bench on {backend}: {} simulated days x {} executions/day (3 steps, 4 log lines each), \
         retention {} days vs 36,500 days",
        args.days, args.per_day, args.retention
    );
    let mut runs = Vec::new();
    for retention in [args.retention, 36_500] {
        let t = open(args.database_url.as_deref()).await;
        let started = Instant::now();
        let samples = simulate(&t, &args, retention).await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  retention {retention} d: {} executions in {secs:.1} s ({:.0}/s incl. pruning)",
            args.days * args.per_day,
            (args.days * args.per_day) as f64 / secs
        );
        t.close().await;
        runs.push((retention, samples));
    }
    let sqlite = args.database_url.is_none();
    println!();
    let size_cols = if sqlite { "file+wal MB | logical MB | free MB" } else { "tables MB" };
    println!("| day | retention | executions | steps | logs | pruned that day | {size_cols} |");
    println!("|---|---|---|---|---|---|{}", if sqlite { "---|---|---|" } else { "---|" });
    let days: Vec<usize> =
        (0..args.days as usize).filter(|d| (d + 1) % 5 == 0 || *d == 0 || *d + 1 == args.days as usize).collect();
    for d in days {
        for (retention, samples) in &runs {
            let s = samples[d];
            let size =
                if sqlite { format!("{} | {} | {}", mb(s.bytes), mb(s.logical), mb(s.free)) } else { mb(s.bytes) };
            println!(
                "| {} | {retention} d | {} | {} | {} | {} | {size} |",
                d + 1,
                s.executions,
                s.steps,
                s.logs,
                s.pruned
            );
        }
    }
}
