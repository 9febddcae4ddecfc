//! OAuth 2.0 across a fleet on PostgreSQL: 1 api + 2 runner `weft serve` processes. A customer
//! authorizes through the api node's real `/oauth2/callback`; then 20 executions whose step needs
//! the (expired) token run at once on the two runners, and exactly one refresh request reaches
//! the provider. Afterwards no known secret — the OAuth client's secret, every token the
//! provider issued, a `secret` config value, a static connection's key — appears in a dump of
//! the database (`pg_dump`), in any process's log output (at info level), in any API response or
//! in any stored step result.
//!
//! Needs `WEFT_TEST_POSTGRES_URL`; skipped, saying so, without it.

mod common;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use common::fleet::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENT_SECRET: &str = "fleet-client-secret-Qx93";
const SECRET_VAR: &str = "fleet-secret-config-value-77c1";
const STATIC_KEY: &str = "fleet-static-api-key-41aa";

/// The provider: codes, tokens (the first expires at once), token requests counted by grant.
#[derive(Default)]
struct Provider {
    codes: HashMap<String, String>,
    refresh: Vec<String>,
    access: Vec<String>,
    grants: Vec<String>,
    lifetime: i64,
    next: u32,
}

type Shared = Arc<Mutex<Provider>>;

fn issue(p: &mut Provider) -> Value {
    p.next += 1;
    let (access, refresh) = (format!("fleet-access-{}-9f3e1c", p.next), format!("fleet-refresh-{}-2b7d4a", p.next));
    p.access.push(access.clone());
    p.refresh.push(refresh.clone());
    json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": p.lifetime})
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let code = format!("code-{}", q["state"].len() + p.lock().unwrap().codes.len());
    p.lock().unwrap().codes.insert(code.clone(), q["redirect_uri"].clone());
    Redirect::to(&format!("{}?code={code}&state={}", q["redirect_uri"], q["state"])).into_response()
}

async fn token(State(p): State<Shared>, body: String) -> Response {
    // Slow, so the 20 steps all want the refresh while it is in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let f: HashMap<String, String> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let mut p = p.lock().unwrap();
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    p.grants.push(grant.clone());
    let ok = match grant.as_str() {
        "authorization_code" => p.codes.remove(&f["code"]).is_some_and(|r| Some(&r) == f.get("redirect_uri")),
        "refresh_token" => p.refresh.last() == f.get("refresh_token"),
        _ => false,
    };
    if !ok {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    }
    axum::Json(issue(&mut p)).into_response()
}

async fn contacts(State(p): State<Shared>, headers: HeaderMap) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let latest = p.lock().unwrap().access.last().cloned().unwrap_or_default();
    if auth != format!("Bearer {latest}") {
        return (StatusCode::UNAUTHORIZED, "stale token").into_response();
    }
    axum::Json(json!({"contacts": 1})).into_response()
}

/// Takes the static connection and secret header, and echoes them back (a careless API).
async fn audit(headers: HeaderMap) -> axum::Json<Value> {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    axum::Json(json!({"key": get("x-api-key"), "secret": get("x-secret")}))
}

fn definition(provider: &str) -> String {
    format!(
        r#"
key: crm-fleet
name: CRM across a fleet
config:
  - page: Connections
    vars:
      - key: crm
        type: connection
        oauth2:
          grant: authorization_code
          authorize_url: {provider}/authorize
          token_url: {provider}/token
          client: crm-app
      - key: audit
        type: connection
      - key: signing
        type: secret
flows:
  - key: pull
    trigger:
      webhook:
        mode: async
    steps:
      - key: contacts
        action: http.request
        inputs:
          method: GET
          url: {provider}/api/contacts
          connection: "{{{{ config.crm }}}}"
      - key: audit
        action: http.request
        inputs:
          method: GET
          url: {provider}/api/audit
          connection: "{{{{ config.audit }}}}"
          headers:
            x-secret: "{{{{ config.signing }}}}"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_steps_on_two_runners_refresh_once_and_no_secret_leaks() {
    let Ok(base) = std::env::var("WEFT_TEST_POSTGRES_URL") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED twenty_steps_on_two_runners_refresh_once_and_no_secret_leaks: set WEFT_TEST_POSTGRES_URL to run it"
        );
        return;
    };
    weft_components::install_crypto_provider();
    let db = ScratchDb::create(&base).await;
    let logs = tempfile::tempdir().unwrap();
    let out = weft().args(["migrate", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "weft migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    let out = weft().args(["token", "create", "--role", "admin", "--database-url", &db.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let api_token = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let p: Shared = Arc::new(Mutex::new(Provider::default()));
    let app = axum::Router::new()
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route("/api/contacts", axum::routing::get(contacts))
        .route("/api/audit", axum::routing::get(audit))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let api_port = free_port();
    let mut procs = vec![serve_with("api", "api", &db.url, api_port, logs.path(), &[], "info")];
    for name in ["runner-1", "runner-2"] {
        procs.push(serve_with(name, "runner", &db.url, free_port(), logs.path(), &[], "info"));
    }
    let api = Api { client: reqwest::Client::new(), base: format!("http://127.0.0.1:{api_port}"), token: api_token };
    api.wait_up(logs.path()).await;

    // The vendor's OAuth app, the integration, a customer and an instance.
    let put = |path: &str, body: Value| {
        api.client.put(format!("{}{path}", api.base)).bearer_auth(&api.token).json(&body).send()
    };
    let r = put("/api/v1/oauth-clients/crm-app", json!({"client_id": "fleet-app", "client_secret": CLIENT_SECRET}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (st, v) = api
        .call(reqwest::Method::POST, "/api/v1/integrations", Some(("application/yaml", definition(&provider))))
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api.call(reqwest::Method::POST, "/api/v1/integrations/crm-fleet/versions", None).await;
    assert_eq!(st, 201, "{v}");
    api.post_json("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await;
    let config =
        json!({"audit": {"type": "api_key", "header": "x-api-key", "value": STATIC_KEY}, "signing": SECRET_VAR});
    let inst = api
        .post_json("/api/v1/instances", json!({"integration": "crm-fleet", "customer": "ext:acme", "config": config}))
        .await;
    let id = inst["id"].as_str().unwrap();

    // The customer authorizes through the api node's callback; the first token expires at once.
    let (st, started) =
        api.call(reqwest::Method::POST, &format!("/api/v1/instances/{id}/connections/crm/authorize"), None).await;
    assert_eq!(st, 200, "{started}");
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = no_redirects.get(started["authorize_url"].as_str().unwrap()).send().await.unwrap();
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("{}/oauth2/callback?", api.base)), "{back}");
    let callback = no_redirects.get(&back).send().await.unwrap();
    assert_eq!(callback.status(), 200, "{}", callback.text().await.unwrap());
    p.lock().unwrap().lifetime = 3600;

    // 20 executions at once, on two runners, all needing the refresh.
    let hook = inst["webhooks"]["pull"].as_str().unwrap().to_string();
    let mut sends = Vec::new();
    for n in 0..20 {
        let (client, hook) = (api.client.clone(), hook.clone());
        sends.push(tokio::spawn(async move { client.post(&hook).json(&json!({"n": n})).send().await.unwrap() }));
    }
    for s in sends {
        assert_eq!(s.await.unwrap().status(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = api.executions(None).await;
        let done: Vec<&Value> = all.iter().filter(|e| e["status"] != "queued" && e["status"] != "running").collect();
        if all.len() == 20 && done.len() == 20 {
            for e in done {
                assert_eq!(e["status"], "succeeded", "{e}; logs in {}", logs.path().display());
            }
            break;
        }
        assert!(Instant::now() < deadline, "executions did not finish: {all:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grants = p.lock().unwrap().grants.clone();
    assert_eq!(grants, ["authorization_code", "refresh_token"], "exactly one refresh reached the provider");

    // What must never show: every token issued, the client secret, the secret and static key.
    let mut secrets: Vec<String> = {
        let p = p.lock().unwrap();
        p.access.iter().chain(&p.refresh).cloned().collect()
    };
    secrets.extend([CLIENT_SECRET, SECRET_VAR, STATIC_KEY].map(String::from));
    assert_eq!(secrets.len(), 7);

    // Every API response of the scenario's objects, with every execution's steps and logs.
    let mut shown = Vec::new();
    for path in [
        format!("/api/v1/instances/{id}"),
        format!("/api/v1/instances/{id}/connections"),
        "/api/v1/oauth-clients".to_string(),
        "/api/v1/executions?limit=500".to_string(),
    ] {
        shown.push(api.call(reqwest::Method::GET, &path, None).await.1);
    }
    for e in api.executions(None).await {
        let eid = e["id"].as_str().unwrap();
        let (_, full) = api.call(reqwest::Method::GET, &format!("/api/v1/executions/{eid}"), None).await;
        assert_eq!(full["steps"][1]["output"]["body"]["key"], "[redacted]", "{full}");
        shown.push(full);
        shown.push(api.call(reqwest::Method::GET, &format!("/api/v1/executions/{eid}/logs"), None).await.1);
    }
    let shown = Value::Array(shown).to_string();
    // The whole database, as pg_dump writes it.
    let dump = std::process::Command::new("pg_dump").args(["--data-only", &db.url]).output().unwrap();
    assert!(dump.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&dump.stderr));
    let dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    assert!(dump.contains("fleet-app") && dump.contains(&provider), "the dump holds the stored rows");
    // Every process's log output.
    drop(procs);
    let mut log_text = String::new();
    for entry in std::fs::read_dir(logs.path()).unwrap() {
        log_text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(log_text.contains("OAuth tokens refreshed"), "the logs are at info level: {log_text}");
    for secret in &secrets {
        assert!(!shown.contains(secret.as_str()), "an API response shows {secret}");
        assert!(!dump.contains(secret.as_str()), "the database dump holds {secret}");
        assert!(!log_text.contains(secret.as_str()), "the logs show {secret}");
    }
}
