//! Draining a queued backlog: N executions of the reference example (examples/order-sync.yaml)
//! are queued, then one `Worker::run_loop` drains them; prints completed executions/s. Runs on
//! SQLite (a temporary directory) and, with `--postgres URL`, on a scratch PostgreSQL database.
//! The fulfilment endpoint is a local axum sink (egress allows 127.0.0.1/32).
//!
//! `cargo bench -p weft-worker --bench drain -- [--executions N] [--postgres URL]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;
use weft_components::{EgressGuard, Registry};
use weft_db::{Db, NewCustomer, NewDraft, NewExecution, NewInstance};
use weft_model::SourceFormat;
use weft_worker::{Worker, WorkerConfig};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn sink() -> String {
    let app = axum::Router::new().route(
        "/orders",
        axum::routing::post(|axum::Json(o): axum::Json<Value>| async move { axum::Json(json!({"accepted": o["id"]})) }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

fn order(id: usize) -> Value {
    json!({"id": format!("A-{id}"), "lines": [{"sku": "ab-1", "qty": 2, "price": 30}, {"sku": "cd-2", "qty": 1, "price": 50}]})
}

/// Finished executions, read over a connection of the bench's own.
async fn finished(url: &str) -> (i64, i64) {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let q = "SELECT COUNT(*) FROM executions WHERE status = $1";
    let ok: i64 = sqlx::query_scalar(q).bind("succeeded").fetch_one(&mut conn).await.unwrap();
    let failed: i64 = sqlx::query_scalar(q).bind("failed").fetch_one(&mut conn).await.unwrap();
    let _ = conn.close().await;
    (ok, failed)
}

async fn drain(label: &str, db: Db, url: &str, n: usize, endpoint: &str) {
    let egress = EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let registry = Arc::new(Registry::builtin(egress));
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/order-sync.yaml")).unwrap();
    let (doc, def) = weft_model::load_definition(&yaml, SourceFormat::Yaml, &registry.action_specs()).unwrap();
    let (org, _) = db.ensure_organization("bench", now_ms()).await.unwrap();
    let customer = db
        .create_customer(
            &org.id,
            &NewCustomer { external_id: Some("c-1".into()), name: "Customer".into(), labels: Default::default() },
            now_ms(),
        )
        .await
        .unwrap();
    let draft = NewDraft {
        key: def.key.clone(),
        name: def.name.clone(),
        description: None,
        format: "yaml".into(),
        source: yaml.clone(),
        definition: doc.value.clone(),
    };
    let integration = db.save_draft(&org.id, &draft, now_ms()).await.unwrap();
    let version = db.publish_version(&org.id, &integration.id, now_ms()).await.unwrap();
    let instance = db
        .create_instance(
            &org.id,
            &NewInstance {
                customer_id: customer.id.clone(),
                integration_id: integration.id.clone(),
                version: version.version,
                name: "instance".into(),
                config: json!({"endpoint": endpoint, "min_total": 100, "tags": ["weft"]}),
                webhook_flows: Vec::new(),
                secret_keys: Vec::new(),
            },
            now_ms(),
        )
        .await
        .unwrap();
    // Queue the backlog (concurrently: creations share group commits).
    let mut tasks = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(n.div_ceil(16).max(1)) {
        let (db, chunk) = (db.clone(), chunk.to_vec());
        let new = NewExecution {
            org_id: org.id.clone(),
            instance_id: instance.id.clone(),
            customer_id: customer.id.clone(),
            integration_id: integration.id.clone(),
            version: version.version,
            flow_key: "new-order".into(),
            trigger: Value::Null,
            replay_of: None,
            claimed_by: None,
            lease_ms: 0,
            idempotency_key: None,
        };
        tasks.push(tokio::spawn(async move {
            for i in chunk {
                let mut new = new.clone();
                new.trigger = json!({"body": order(i), "headers": {}, "query": {}, "method": "POST"});
                db.create_execution(&new, now_ms()).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let worker = Worker::new(db.clone(), registry, WorkerConfig::new("drain-bench"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let run = tokio::spawn({
        let worker = worker.clone();
        async move {
            worker
                .run_loop(async move {
                    let _ = stop_rx.await;
                })
                .await
        }
    });
    loop {
        let (succeeded, failed) = finished(url).await;
        if (succeeded + failed) as usize >= n {
            let secs = started.elapsed().as_secs_f64();
            if failed > 0 {
                let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
                let e: Option<String> =
                    sqlx::query_scalar("SELECT error FROM executions WHERE status = 'failed' LIMIT 1")
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                println!("{label}: a failed execution: {e:?}");
            }
            println!("{label}: {n} executions drained in {secs:.2} s = {:.0}/s ({failed} failed)", n as f64 / secs);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    run.await.unwrap();
}

fn main() {
    let mut n = 4000;
    let mut postgres: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--executions" => n = args.next().unwrap().parse().unwrap(),
            "--postgres" => postgres = args.next(),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    sqlx::any::install_default_drivers();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let endpoint = sink().await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("weft.db").display());
        drain("sqlite", Db::open_dir(dir.path()).await.unwrap(), &url, n, &endpoint).await;
        if let Some(base) = postgres {
            let name = format!("weft_drain_bench_{}", std::process::id());
            let (path, query) = match base.split_once('?') {
                Some((p, q)) => (p, format!("?{q}")),
                None => (base.as_str(), String::new()),
            };
            let prefix = &path[..path.rfind('/').expect("the URL names a database")];
            let mut conn = sqlx::postgres::PgConnection::connect(&base).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            let url = format!("{prefix}/{name}{query}");
            let db = Db::open(&url).await.unwrap();
            drain("postgres", db.clone(), &url, n, &endpoint).await;
            drop(db);
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
        }
    });
}
