//! A real Weft server on 127.0.0.1:0 (SQLite in a temp dir, the built-in components, a runner)
//! and a local HTTP service standing in for a customer's API.

#![allow(dead_code)]

use axum::routing::post;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use weft_api::{ApiConfig, AppState};
use weft_components::{EgressGuard, Registry};
use weft_db::Db;
use weft_model::Role;
use weft_worker::{Worker, WorkerConfig};

pub const REFERENCE: &str = include_str!("../../../../examples/order-sync.yaml");

pub struct Server {
    pub url: String,
    pub owner: String,
    pub db: Db,
    pub org: String,
    pub http: reqwest::Client,
    /// The server's state, so tests can flip readiness as a draining node would.
    pub state: AppState,
    /// The data directory (database files, key file).
    pub dir: tempfile::TempDir,
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(tune: impl FnOnce(&mut ApiConfig)) -> Server {
    weft_components::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    // Secrets sealed as `weft serve` seals them: the data directory's key file.
    let keys = weft_vault::Keyring::load_or_create_file(dir.path().join("master.key")).unwrap();
    let db = Db::open_dir(dir.path()).await.unwrap().with_vault(weft_vault::Vault::new(keys));
    let (org, _) = db.ensure_organization("test", 0).await.unwrap();
    let (_, owner) = db.create_token(&org.id, "owner", Role::Owner, 0).await.unwrap();
    let egress = EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let registry = Arc::new(Registry::builtin(egress.clone()));
    let mut worker_cfg = WorkerConfig::new("test-node");
    // Custom components reach the local stand-ins too; compiled ones are cached with the data.
    worker_cfg.wasm.egress = egress;
    worker_cfg.wasm.cache_dir = Some(dir.path().join("component-cache"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    worker_cfg.public_url = Some(url.clone());
    let worker = Worker::new(db.clone(), registry, worker_cfg);
    let mut cfg = ApiConfig::new(url.clone());
    tune(&mut cfg);
    let state = AppState::new(db.clone(), worker.clone(), cfg);
    tokio::spawn(weft_api::serve(listener, state.clone(), std::future::pending()));
    tokio::spawn(async move { worker.run_loop(std::future::pending()).await });
    Server { url, owner, db, org: org.id, http: reqwest::Client::new(), state, dir }
}

impl Server {
    pub async fn token(&self, role: Role) -> String {
        self.db.create_token(&self.org, "test", role, 0).await.unwrap().1
    }

    /// Sends a request as `token` (None: no Authorization header); returns status and JSON body.
    pub async fn call(&self, token: Option<&str>, method: &str, path: &str, body: Body) -> (u16, Value) {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.url) };
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ctype, text) => req.header("content-type", ctype).body(text),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    /// A request builder for `path` with nothing set, for tests that need unusual headers.
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method.parse().unwrap(), format!("{}{path}", self.url))
    }

    /// Sends a request built with [`Server::request`]; returns status and JSON body.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    /// Everything the API can show of the organization's data, read as the owner: customers,
    /// integrations with their versions, instances and executions. Tests compare two snapshots
    /// to prove a refused request changed nothing.
    pub async fn snapshot(&self) -> Value {
        let mut snap = serde_json::Map::new();
        for what in ["customers", "integrations", "instances", "executions"] {
            let (st, list) = self.get(&format!("/api/v1/{what}?limit=500")).await;
            assert_eq!(st, 200, "{list}");
            snap.insert(what.to_string(), list["items"].clone());
        }
        let keys: Vec<String> =
            snap["integrations"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_string()).collect();
        for key in keys {
            let (st, list) = self.get(&format!("/api/v1/integrations/{key}/versions?limit=500")).await;
            assert_eq!(st, 200, "{list}");
            snap.insert(format!("versions of {key}"), list["items"].clone());
        }
        Value::Object(snap)
    }

    /// Whether the database files (the write-ahead log too), read raw, hold `needle`.
    pub fn stored(&self, needle: &str) -> bool {
        ["weft.db", "weft.db-wal"].iter().any(|f| {
            let bytes = std::fs::read(self.dir.path().join(f)).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Some(&self.owner), "GET", path, Body::None).await
    }

    pub async fn post(&self, path: &str, v: Value) -> (u16, Value) {
        self.call(Some(&self.owner), "POST", path, Body::Json(v)).await
    }

    pub async fn import(&self, yaml: &str) -> (u16, Value) {
        self.call(Some(&self.owner), "POST", "/api/v1/integrations", Body::Raw("application/yaml", yaml.to_string()))
            .await
    }

    /// Imports, publishes, creates customer `acme` and deploys with `endpoint`; returns the instance.
    pub async fn deploy_reference(&self, endpoint: &str) -> Value {
        self.deploy(REFERENCE, "order-sync", endpoint).await
    }

    /// Imports `yaml` (integration `key`), publishes it, creates customer `acme` and deploys it
    /// for that customer with config `endpoint`; returns the instance.
    pub async fn deploy(&self, yaml: &str, key: &str, endpoint: &str) -> Value {
        assert_eq!(self.import(yaml).await.0, 201);
        assert_eq!(self.post(&format!("/api/v1/integrations/{key}/versions"), Value::Null).await.0, 201);
        let (st, _) = self.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await;
        assert_eq!(st, 201);
        let (st, inst) = self
            .post(
                "/api/v1/instances",
                json!({"integration": key, "customer": "ext:acme", "config": {"endpoint": endpoint}}),
            )
            .await;
        assert_eq!(st, 201, "{inst}");
        inst
    }

    /// Polls until the execution has ended.
    pub async fn finished(&self, id: &str) -> Value {
        for _ in 0..200 {
            let (st, e) = self.get(&format!("/api/v1/executions/{id}")).await;
            assert_eq!(st, 200, "{e}");
            if ["succeeded", "failed", "canceled"].contains(&e["status"].as_str().unwrap()) {
                return e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("execution {id} did not finish");
    }
}

pub enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

/// The customer's fulfilment API: records every order it receives.
pub struct Fulfilment {
    pub url: String,
    pub orders: Arc<Mutex<Vec<Value>>>,
}

pub async fn fulfilment() -> Fulfilment {
    let orders = Arc::new(Mutex::new(Vec::new()));
    let seen = orders.clone();
    let app = axum::Router::new().route(
        "/orders",
        post(move |axum::Json(order): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(order.clone());
                axum::Json(json!({"accepted": order["id"]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Fulfilment { url, orders }
}

pub fn order(id: &str, lines: &[(&str, i64, f64)]) -> Value {
    let lines: Vec<Value> =
        lines.iter().map(|(sku, qty, price)| json!({"sku": sku, "qty": qty, "price": price})).collect();
    json!({"id": id, "lines": lines})
}

/// Asserts that a response is the API error `code` with HTTP `status`, printing the body if not.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!((got.0, got.1["error"]["code"].as_str()), (status, Some(code)), "unexpected answer: {}", got.1);
    assert!(got.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", got.1);
}
