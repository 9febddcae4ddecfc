//! "No execution lost when the server is killed right after answering": a real `weft` process
//! takes a burst of sync and async webhooks, is killed with SIGKILL right after the last answer,
//! and is started again; every answered delivery must be a stored execution, and the async ones
//! left in flight must be resumed to success by the restarted runner.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Weft {
    child: Child,
    token: String,
    hook: String,
    base: String,
}

/// A failing test must not leave a server running.
impl Drop for Weft {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free now (the restarted server must come back on the same address: the instances'
/// endpoints point at the demo route of the first one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `weft serve --demo` on `port` and reads the demo block it prints.
fn start(dir: &std::path::Path, port: u16) -> Weft {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--demo", "--lease-ms", "1000", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .env("WEFT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut token, mut hook) = (String::new(), String::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    while token.is_empty() || hook.is_empty() {
        assert!(Instant::now() < deadline, "weft serve --demo printed no demo block");
        let line = lines.next().expect("weft exited").unwrap();
        if let Some(t) = line.strip_prefix("API token (admin): ") {
            token = t.trim().to_string();
        }
        if let Some(h) = line.strip_prefix("Webhook URL:") {
            hook = h.trim().to_string();
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let base = hook.split("/hooks/").next().unwrap().to_string();
    Weft { child, token, hook, base }
}

async fn api(w: &Weft, method: reqwest::Method, path: &str, body: Option<(&str, String)>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", w.base)).bearer_auth(&w.token);
    if let Some((ctype, text)) = body {
        req = req.header("content-type", ctype).body(text);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_webhooks_survive_sigkill() {
    weft_components::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut w = start(dir.path(), port);

    // An async twin of the reference example, deployed for the demo customer.
    let async_def = include_str!("../../../examples/order-sync.yaml")
        .replace("key: order-sync", "key: order-sync-async")
        .replace("mode: sync", "mode: async");
    assert_eq!(
        api(&w, reqwest::Method::POST, "/api/v1/integrations", Some(("application/yaml", async_def))).await.0,
        201
    );
    assert_eq!(api(&w, reqwest::Method::POST, "/api/v1/integrations/order-sync-async/versions", None).await.0, 201);
    let deploy = json!({"integration": "order-sync-async", "customer": "ext:demo",
                        "config": {"endpoint": format!("{}/demo/fulfilment", w.base)}});
    let (st, inst) =
        api(&w, reqwest::Method::POST, "/api/v1/instances", Some(("application/json", deploy.to_string()))).await;
    assert_eq!(st, 201, "{inst}");
    let async_hook = inst["webhooks"]["new-order"].as_str().unwrap().to_string();

    // A burst of deliveries from 16 concurrent senders; remember what was answered.
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for sender in 0..16 {
        let (client, sync_hook, async_hook) = (client.clone(), w.hook.clone(), async_hook.clone());
        tasks.push(tokio::spawn(async move {
            let (mut sync_ok, mut async_ok) = (Vec::new(), Vec::new());
            for n in 0..25 {
                let id = format!("S{sender}-{n}");
                let order = json!({"id": id, "lines": [{"sku": "a", "qty": 2, "price": 60}]});
                let r = client.post(&sync_hook).json(&order).send().await.unwrap();
                if r.status().as_u16() == 200 {
                    let v: Value = r.json().await.unwrap();
                    assert_eq!(v, json!({"order": id, "total": 120, "forwarded": true}));
                    sync_ok.push(id);
                }
                let id = format!("A{sender}-{n}");
                let order = json!({"id": id, "lines": [{"sku": "a", "qty": 2, "price": 60}]});
                let r = client.post(&async_hook).json(&order).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 202);
                let v: Value = r.json().await.unwrap();
                async_ok.push(v["execution_id"].as_str().unwrap().to_string());
            }
            (sync_ok, async_ok)
        }));
    }
    let (mut sync_ok, mut async_ok) = (Vec::new(), Vec::new());
    for t in tasks {
        let (s, a) = t.await.unwrap();
        sync_ok.extend(s);
        async_ok.extend(a);
    }
    // Killed right after the last answer: no graceful shutdown, no flush.
    w.child.kill().unwrap();
    w.child.wait().unwrap();
    drop(w);
    assert_eq!(sync_ok.len(), 400);
    assert_eq!(async_ok.len(), 400);

    let w = start(dir.path(), port);
    // Every async delivery was stored, and the restarted runner brings all of them to success
    // once the dead process's leases (1 s here) have expired.
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in &async_ok {
        loop {
            let (st, e) = api(&w, reqwest::Method::GET, &format!("/api/v1/executions/{id}"), None).await;
            assert_eq!(st, 200, "accepted execution {id} was lost: {e}");
            match e["status"].as_str().unwrap() {
                "succeeded" => break,
                "failed" | "canceled" => panic!("execution {id} ended as {}", e["status"]),
                _ => {
                    assert!(Instant::now() < deadline, "execution {id} is stuck in {}", e["status"]);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    // Every answered sync delivery is exactly one stored, succeeded execution.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/executions?limit=500&status=succeeded".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (_, page) = api(&w, reqwest::Method::GET, &path, None).await;
        for e in page["items"].as_array().unwrap() {
            let (_, full) =
                api(&w, reqwest::Method::GET, &format!("/api/v1/executions/{}", e["id"].as_str().unwrap()), None).await;
            *seen.entry(full["trigger"]["body"]["id"].as_str().unwrap().to_string()).or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    for id in &sync_ok {
        assert_eq!(seen.get(id), Some(&1), "answered sync delivery {id} has {:?} executions", seen.get(id));
    }
}
