//! The multi-process tests' fleet: a scratch PostgreSQL database, `weft serve --role …`
//! processes (killed when dropped) and an API client.

use serde_json::Value;
use sqlx::Connection;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch database, dropped (with anything still connected to it) when the test ends,
/// however it ends.
pub struct ScratchDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl ScratchDb {
    pub async fn create(base: &str) -> ScratchDb {
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).unwrap();
        let name = format!("weft_fleet_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, format!("?{q}")),
            None => (base, String::new()),
        };
        let prefix = &path[..path.rfind('/').expect("WEFT_TEST_POSTGRES_URL names a database")];
        let mut conn = sqlx::postgres::PgConnection::connect(base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        ScratchDb { admin_url: base.to_string(), url: format!("{prefix}/{name}{query}"), name }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A `weft` process; killed when dropped so a failing test leaves none behind.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `weft` with only the `WEFT_*` variables given here (a developer's own must not leak in).
pub fn weft() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WEFT_") {
            cmd.env_remove(key);
        }
    }
    // Every node of a fleet shares its master keys through the environment (as the README says);
    // a per-process key file would be refused by the nodes that come second.
    cmd.env("WEFT_LOG", "warn").env("WEFT_MASTER_KEY", "fleet:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    cmd.stdin(Stdio::null());
    cmd
}

/// Starts `weft serve --role <role>`; its stderr goes to `<logs>/<name>.log` (appended, so a
/// restarted runner's log follows the first one's).
pub fn serve(name: &str, role: &str, db_url: &str, port: u16, logs: &std::path::Path) -> Proc {
    serve_with(name, role, db_url, port, logs, &[], "warn")
}

/// [`serve`] with more arguments and another `WEFT_LOG` level.
pub fn serve_with(
    name: &str,
    role: &str,
    db_url: &str,
    port: u16,
    logs: &std::path::Path,
    extra: &[&str],
    log_level: &str,
) -> Proc {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(logs.join(format!("{name}.log"))).unwrap();
    let child = weft()
        .env("WEFT_LOG", log_level)
        .args(["serve", "--role", role, "--database-url", db_url, "--lease-ms", "1000"])
        .args(["--egress-allow", "127.0.0.1/32", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc { child }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<(&str, String)>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some((ctype, text)) = body {
            req = req.header("content-type", ctype).body(text);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Value {
        let (st, v) = self.call(reqwest::Method::POST, path, Some(("application/json", body.to_string()))).await;
        assert_eq!(st, 201, "POST {path}: {v}");
        v
    }

    /// Every execution with `status` (all when `None`), through the paged listing.
    pub async fn executions(&self, status: Option<&str>) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = "/api/v1/executions?limit=500".to_string();
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (st, page) = self.call(reqwest::Method::GET, &path, None).await;
            assert_eq!(st, 200, "{page}");
            all.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return all,
            }
        }
    }
}

impl Api {
    /// Waits until the node answers `/healthz`.
    pub async fn wait_up(&self, logs: &std::path::Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.client.get(format!("{}/healthz", self.base)).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the api node did not come up; see {}", logs.display());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
