//! Load benchmark of the hot path: the reference example's sync webhook on loopback, against a
//! minimal raw axum handler doing the same work (the same transform and the same forward call)
//! without durability or the engine, measured in the same run.
//!
//! `cargo bench -p weft-api --bench webhook [-- --seconds 10 --connections 32 --database-url postgres://… --wasm-step]`
//!
//! `--wasm-step` also runs the reference flow with one more step first, done once by a built-in
//! action and once by a custom WebAssembly component (the SDK's `transform` example, built
//! from source), so the difference between the two is what the sandbox costs.
//!
//! Without `--database-url` Weft runs on SQLite in a temp dir. With a PostgreSQL URL, the bench
//! creates a fresh schema there and drops it afterwards.
//!
//! Every figure is requests answered per second and latency percentiles seen by the client.

use axum::routing::post;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft_api::{ApiConfig, AppState};
use weft_components::{EgressGuard, Registry};
use weft_db::{CustomerRef, Db, NewCustomer, NewDraft, NewInstance};
use weft_model::Trigger;
use weft_worker::{Worker, WorkerConfig};

#[path = "../../weft-wasm/tests/common/guests.rs"]
mod guests;

/// The allocator of the `weft` binary (see `crates/weft-cli/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REFERENCE: &str = include_str!("../../../examples/order-sync.yaml");

struct Args {
    seconds: u64,
    connections: usize,
    database_url: Option<String>,
    /// Also run the reference flow with one more step in a WebAssembly component.
    wasm_step: bool,
}

fn args() -> Args {
    let mut a = Args { seconds: 10, connections: 32, database_url: None, wasm_step: false };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        match argv[i].as_str() {
            "--seconds" => a.seconds = argv[i + 1].parse().expect("--seconds N"),
            "--connections" => a.connections = argv[i + 1].parse().expect("--connections N"),
            "--database-url" => a.database_url = Some(argv[i + 1].clone()),
            "--wasm-step" => a.wasm_step = true,
            _ => {}
        }
        i += if argv[i].starts_with("--") && i + 1 < argv.len() && !argv[i + 1].starts_with("--") { 2 } else { 1 };
    }
    a
}

/// The customer's API: accepts an order.
async fn fulfilment() -> String {
    let app = axum::Router::new().route(
        "/orders",
        post(|axum::Json(o): axum::Json<Value>| async move { axum::Json(json!({"accepted": o["id"]})) }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

/// The reference example with one more step first: `action` with `inputs` (YAML, indented for
/// the step), under another integration key.
fn reference_plus_step(key: &str, action: &str, inputs: &str) -> String {
    let step = format!("    steps:\n      - key: extra\n        action: {action}\n        inputs:\n{inputs}");
    REFERENCE.replacen("key: order-sync\n", &format!("key: {key}\n"), 1).replacen("    steps:\n", &step, 1)
}

/// Weft serving the reference example (and, with `wasm`, its variant with a WebAssembly step,
/// the component published to the organization first); returns the webhook URLs.
async fn weft(endpoint: &str, db: Db, wasm: bool) -> (String, Option<(String, String)>, Db) {
    let (org, _) = db.ensure_organization("bench", 0).await.unwrap();
    let egress = EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let registry = Arc::new(Registry::builtin(egress.clone()));
    let mut cfg = WorkerConfig::new("bench");
    cfg.wasm.egress = egress;
    let worker = Worker::new(db.clone(), registry, cfg);
    let c = db
        .create_customer(
            &org.id,
            &NewCustomer { external_id: Some("b".into()), name: "B".into(), labels: Default::default() },
            0,
        )
        .await
        .unwrap();
    assert!(db.get_customer(&org.id, &CustomerRef::Id(c.id.clone())).await.unwrap().is_some());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hook = deploy(&db, &worker, &org.id, &c.id, endpoint, REFERENCE, &Default::default()).await;
    let wasm_hook = if wasm {
        let bytes = &guests::guests().transform;
        let loaded = worker.custom_components().load_bytes(bytes).await.unwrap();
        let d = weft_wasm::Description::from_info(loaded.info());
        let new = weft_db::NewComponentVersion {
            key: d.key.clone(),
            name: d.name.clone(),
            description: None,
            version: d.version.clone(),
            info: serde_json::to_value(&d).unwrap(),
            sha256: "bench".into(),
            wasm: bytes.clone(),
        };
        db.publish_component_version(&org.id, &new, 0).await.unwrap();
        let pins = [(d.key.clone(), d.version.clone())].into_iter().collect();
        // The same extra step twice: by a built-in action, and by the WebAssembly component
        // (`pick` of the SDK's transform example), so the difference is the sandbox's.
        let builtin = reference_plus_step(
            "order-sync-builtin-step",
            "data.format",
            "          format: json\n          value: \"{{ trigger.body }}\"\n",
        );
        let wasm = reference_plus_step(
            "order-sync-wasm-step",
            "transform.pick",
            "          records: \"{{ trigger.body }}\"\n          fields: [\"id\", \"lines\"]\n",
        );
        let none = Default::default();
        Some((
            deploy(&db, &worker, &org.id, &c.id, endpoint, &builtin, &none).await,
            deploy(&db, &worker, &org.id, &c.id, endpoint, &wasm, &pins).await,
        ))
    } else {
        None
    };
    let state = AppState::new(db.clone(), worker.clone(), ApiConfig::new(url.clone()));
    tokio::spawn(weft_api::serve(l, state, std::future::pending()));
    tokio::spawn(async move { worker.run_loop(std::future::pending()).await });
    let at = |token: String| format!("{url}/hooks/{token}");
    (at(hook), wasm_hook.map(|(b, w)| (at(b), at(w))), db)
}

/// Imports, publishes (pinning `pins`) and deploys `yaml` for the customer; returns the
/// webhook token.
async fn deploy(
    db: &Db,
    worker: &Worker,
    org: &str,
    customer: &str,
    endpoint: &str,
    yaml: &str,
    pins: &std::collections::BTreeMap<String, String>,
) -> String {
    let actions = worker.operations_of(org).await.unwrap();
    let (doc, def) =
        weft_model::validate::load_definition(yaml, weft_model::parse::SourceFormat::Yaml, &actions).unwrap();
    let draft = NewDraft {
        key: def.key.clone(),
        name: def.name.clone(),
        description: def.description.clone(),
        format: "yaml".into(),
        source: yaml.into(),
        definition: doc.value,
    };
    let i = db.save_draft(org, &draft, 0).await.unwrap();
    db.publish_version_pinned(org, &i.id, pins, 0).await.unwrap();
    let mut values = serde_json::Map::new();
    values.insert("endpoint".into(), Value::String(endpoint.into()));
    let config = weft_model::config::resolve_config(&def, &values).unwrap();
    let new = NewInstance {
        customer_id: customer.into(),
        integration_id: i.id,
        version: 1,
        name: def.key.clone(),
        config: Value::Object(config),
        webhook_flows: def
            .flows
            .iter()
            .filter(|f| matches!(f.trigger, Trigger::Webhook(_)))
            .map(|f| f.key.clone())
            .collect(),
        secret_keys: Vec::new(),
    };
    let inst = db.create_instance(org, &new, 0).await.unwrap();
    inst.webhooks[0].token.clone()
}

/// The baseline: the reference flow's work written by hand in one axum handler.
async fn raw(endpoint: String) -> String {
    let client = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(body): axum::Json<Value>| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            async move {
                let lines: Vec<Value> = body["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| {
                        json!({"sku": l["sku"].as_str().unwrap().to_uppercase(),
                               "subtotal": l["qty"].as_f64().unwrap() * l["price"].as_f64().unwrap()})
                    })
                    .collect();
                let total: f64 = lines.iter().map(|l| l["subtotal"].as_f64().unwrap()).sum();
                let forwarded = total >= 100.0;
                if forwarded {
                    let order = json!({"id": body["id"], "total": total, "lines": lines, "tags": ["weft"]});
                    let r = client.post(format!("{endpoint}/orders")).json(&order).send().await.unwrap();
                    assert!(r.status().is_success());
                    let _: Value = r.json().await.unwrap();
                }
                axum::Json(json!({"order": body["id"], "total": total, "forwarded": forwarded}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

struct Figures {
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// `connections` clients POST the order in a loop for `seconds`; every answer must be 200 with
/// the expected result.
async fn load(url: &str, a: &Args) -> Figures {
    let client = reqwest::Client::builder().pool_max_idle_per_host(a.connections).build().unwrap();
    let body =
        json!({"id": "A-1", "lines": [{"sku": "ab-1", "qty": 2, "price": 30}, {"sku": "cd-2", "qty": 1, "price": 50}]});
    let expected_total = 110.0;
    // Warm-up (connections, caches).
    for _ in 0..50 {
        client.post(url).json(&body).send().await.unwrap().bytes().await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.connections {
        let (client, url, body, stop, lat) = (client.clone(), url.to_string(), body.clone(), stop.clone(), lat.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = client.post(&url).json(&body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["total"].as_f64(), Some(expected_total), "{v}");
                mine.push(t.elapsed());
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let mut lat = lat.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Figures {
        requests: lat.len(),
        per_second: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

fn main() {
    weft_components::install_crypto_provider();
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = fulfilment().await;
        let (db, schema) = match &a.database_url {
            None => (Db::open_dir(dir.path()).await.unwrap(), None),
            Some(url) => {
                let schema = format!("weft_bench_{}", std::process::id());
                let admin = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.unwrap();
                let sep = if url.contains('?') { '&' } else { '?' };
                let db = Db::open(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await.unwrap();
                (db, Some((admin, schema)))
            }
        };
        println!("database: {}", if schema.is_some() { "PostgreSQL" } else { "SQLite (WAL)" });
        let (hook, wasm_hook, db) = weft(&endpoint, db, a.wasm_step).await;
        let baseline = raw(endpoint.clone()).await;
        println!(
            "{} s per run, {} connections, loopback, 2-core machine shared by client and servers",
            a.seconds, a.connections
        );
        let b = load(&baseline, &a).await;
        let w = load(&hook, &a).await;
        let extra = match &wasm_hook {
            Some((builtin, wasm)) => Some((load(builtin, &a).await, load(wasm, &a).await)),
            None => None,
        };
        let row = |name: &str, f: &Figures| {
            println!(
                "{name:<34} {:>8} req {:>9.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms",
                f.requests,
                f.per_second,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3
            )
        };
        row("raw axum handler (baseline)", &b);
        row("weft sync webhook (durable)", &w);
        println!("ratio weft / baseline: {:.2} of the throughput", w.per_second / b.per_second);
        if let Some((bs, ws)) = &extra {
            row("weft, plus one built-in step", bs);
            row("weft, plus one WebAssembly step", ws);
            println!(
                "ratio WebAssembly step / built-in step: {:.2} of the throughput, p50 {:+.2} ms",
                ws.per_second / bs.per_second,
                (ws.p50.as_secs_f64() - bs.p50.as_secs_f64()) * 1e3
            );
        }
        // Every answered webhook is a stored, succeeded execution.
        let org = db.ensure_organization("bench", 0).await.unwrap().0.id;
        let mut stored = 0;
        let mut page = weft_db::Page { cursor: None, limit: 500 };
        loop {
            let filter =
                weft_db::ExecutionFilter { status: Some(weft_db::ExecutionStatus::Succeeded), ..Default::default() };
            let p = db.list_executions(&org, &filter, &page).await.unwrap();
            stored += p.items.len();
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        println!(
            "succeeded executions stored: {stored} (answered during the timed runs: {}, plus 50 warm-up per run)",
            w.requests + extra.as_ref().map_or(0, |(b, ws)| b.requests + ws.requests)
        );
        // Left behind, the rows would cost the next runs autovacuum work.
        if let Some((admin, schema)) = schema {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await.unwrap();
        }
    });
}
