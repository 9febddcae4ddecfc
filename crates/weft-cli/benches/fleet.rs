//! Fleet benchmark on PostgreSQL: one api-only `weft serve --role api` process and N
//! `--role runner` processes (the release `weft` binary) on a fresh database, the reference
//! example deployed with its webhook switched to async, its fulfilment endpoint a local axum
//! sink in this harness.
//!
//! `cargo bench -p weft-cli --bench fleet -- --database-url postgres://… [--runners 1,2] [--executions 6000] [--senders 16]
//! [--sink-delay-ms 0] [--runner-concurrency 256]`
//!
//! For each runner count: a fresh database, then
//! - **throughput**: `--executions` async webhooks sent by `--senders` concurrent clients as
//!   fast as the api node accepts them; the figure is completed (succeeded) executions per
//!   second, from the first send until the database counts them all succeeded;
//! - **claim latency** (first runner count only): 300 async webhooks one every 20 ms (light
//!   load), then `started_at - created_at` of each execution (the claim, milliseconds as stored),
//!   p50 / p99. Runners wake on `LISTEN/NOTIFY`.
//!
//! `--sink-delay-ms` makes the fulfilment API answer after that long, like a third-party API
//! does; with `--runner-concurrency` (each runner's `weft serve --runner-concurrency`) that
//! measures a fleet whose runners wait on I/O rather than on the cores.

/// The fleet tests' `weft` command (only `WEFT_*` given here, shared master keys), process
/// guard and free ports.
#[allow(dead_code)]
#[path = "../tests/common/fleet.rs"]
mod fleet_support;

use fleet_support::{Proc, free_port, weft};
use serde_json::{Value, json};
use sqlx::Connection;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const REFERENCE: &str = include_str!("../../../examples/order-sync.yaml");

struct Args {
    database_url: String,
    runners: Vec<usize>,
    executions: usize,
    senders: usize,
    sink_delay: Duration,
    runner_concurrency: u32,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let get = |name: &str| argv.iter().position(|a| a == name).and_then(|i| argv.get(i + 1)).cloned();
    Args {
        database_url: get("--database-url")
            .or_else(|| std::env::var("WEFT_TEST_POSTGRES_URL").ok())
            .expect("--database-url postgres://… (or WEFT_TEST_POSTGRES_URL)"),
        runners: get("--runners")
            .unwrap_or_else(|| "1,2".into())
            .split(',')
            .map(|n| n.parse().expect("--runners 1,2"))
            .collect(),
        executions: get("--executions").map_or(6000, |n| n.parse().expect("--executions N")),
        senders: get("--senders").map_or(16, |n| n.parse().expect("--senders N")),
        sink_delay: Duration::from_millis(get("--sink-delay-ms").map_or(0, |n| n.parse().expect("--sink-delay-ms N"))),
        runner_concurrency: get("--runner-concurrency").map_or(256, |n| n.parse().expect("--runner-concurrency N")),
    }
}

/// A scratch database next to the given one, dropped at the end.
struct ScratchDb {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDb {
    async fn create(base: &str, n: usize) -> ScratchDb {
        let name = format!("weft_fleet_bench_{}_{n}", std::process::id());
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, format!("?{q}")),
            None => (base, String::new()),
        };
        let prefix = &path[..path.rfind('/').expect("the URL names a database")];
        let mut conn = sqlx::postgres::PgConnection::connect(base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        ScratchDb { admin_url: base.to_string(), url: format!("{prefix}/{name}{query}"), name }
    }

    async fn drop_now(self) {
        let mut conn = sqlx::postgres::PgConnection::connect(&self.admin_url).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
    }
}

fn serve(role: &str, db_url: &str, port: u16, runner_concurrency: u32) -> Proc {
    let child = weft()
        .args(["serve", "--role", role, "--database-url", db_url])
        .args(["--runner-concurrency", &runner_concurrency.to_string()])
        .args(["--egress-allow", "127.0.0.1/32", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Proc { child }
}

/// The customer's fulfilment API, answering after `delay`.
async fn sink(delay: Duration) -> String {
    let app = axum::Router::new().route(
        "/orders",
        axum::routing::post(move |axum::Json(o): axum::Json<Value>| async move {
            tokio::time::sleep(delay).await;
            axum::Json(json!({"accepted": o["id"]}))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

async fn call(client: &reqwest::Client, token: &str, url: String, ctype: &str, body: String) -> Value {
    let r = client.post(url).bearer_auth(token).header("content-type", ctype).body(body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

async fn count(pool: &sqlx::PgPool, status: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE status = $1").bind(status).fetch_one(pool).await.unwrap()
}

fn order(id: usize) -> Value {
    json!({"id": format!("A-{id}"), "lines": [{"sku": "ab-1", "qty": 2, "price": 30}, {"sku": "cd-2", "qty": 1, "price": 50}]})
}

/// One fleet of `runners` runner processes; prints its figures.
async fn fleet(a: &Args, runners: usize, latency: bool, endpoint: &str) {
    let db = ScratchDb::create(&a.database_url, runners).await;
    let out = weft().args(["migrate", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "weft migrate failed");
    let out = weft().args(["token", "create", "--role", "admin", "--database-url", &db.url]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let api_port = free_port();
    let procs: Vec<Proc> = std::iter::once(serve("api", &db.url, api_port, a.runner_concurrency))
        .chain((0..runners).map(|_| serve("runner", &db.url, free_port(), a.runner_concurrency)))
        .collect();
    let base = format!("http://127.0.0.1:{api_port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(a.senders).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the api node did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let yaml = REFERENCE.replace("mode: sync", "mode: async");
    call(&client, &token, format!("{base}/api/v1/integrations"), "application/yaml", yaml).await;
    call(&client, &token, format!("{base}/api/v1/integrations/order-sync/versions"), "application/json", "{}".into())
        .await;
    let c = json!({"external_id": "bench", "name": "Bench"});
    call(&client, &token, format!("{base}/api/v1/customers"), "application/json", c.to_string()).await;
    let i = json!({"integration": "order-sync", "customer": "ext:bench", "config": {"endpoint": endpoint}});
    let inst = call(&client, &token, format!("{base}/api/v1/instances"), "application/json", i.to_string()).await;
    let hook = inst["webhooks"]["new-order"].as_str().expect("webhook url").to_string();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();

    // Throughput: everything sent as fast as accepted; done when all succeeded.
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.senders {
        let (client, hook, next, total) = (client.clone(), hook.clone(), next.clone(), a.executions);
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return;
                }
                let r = client.post(&hook).json(&order(n)).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 202);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while count(&pool, "succeeded").await < a.executions as i64 {
        assert!(Instant::now() < deadline, "executions did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = start.elapsed();
    let failed = count(&pool, "failed").await;
    println!(
        "{runners} runner(s): {} executions completed in {:.2} s = {:.0} executions/s (accepted in {:.2} s = {:.0}/s; failed: {failed})",
        a.executions,
        done.as_secs_f64(),
        a.executions as f64 / done.as_secs_f64(),
        accepted.as_secs_f64(),
        a.executions as f64 / accepted.as_secs_f64(),
    );

    if latency {
        sqlx::query("DELETE FROM executions").execute(&pool).await.unwrap();
        let n = 300;
        for k in 0..n {
            let r = client.post(&hook).json(&order(k)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 202);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while count(&pool, "succeeded").await < n as i64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut lat: Vec<i64> = sqlx::query_scalar("SELECT started_at - created_at FROM executions ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
        lat.sort();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "claim latency ({runners} runner(s), {n} async webhooks at 50/s): p50 {} ms, p99 {} ms, max {} ms",
            pct(0.50),
            pct(0.99),
            lat[lat.len() - 1]
        );
    }
    pool.close().await;
    drop(procs);
    db.drop_now().await;
}

fn main() {
    weft_components::install_crypto_provider();
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let endpoint = sink(a.sink_delay).await;
        println!(
            "{} cores; 1 api process + N runner processes, {} async webhooks, {} senders; \
             fulfilment API answers after {} ms; {} executions at once per runner",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            a.executions,
            a.senders,
            a.sink_delay.as_millis(),
            a.runner_concurrency
        );
        for (k, &n) in a.runners.iter().enumerate() {
            fleet(&a, n, k == 0, &endpoint).await;
        }
    });
}
