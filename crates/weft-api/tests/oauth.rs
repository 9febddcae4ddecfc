//! Managed OAuth 2.0 against a local authorization server written here: the authorization code
//! flow with PKCE through the real `/oauth2/callback`, refresh with rotating refresh tokens, an
//! expired refresh token marking the connection `error`, the client credentials grant,
//! concurrent steps on two runners sharing one refresh, revocation on delete, and no token or
//! client secret anywhere but sealed.

mod common;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_ID: &str = "weft-app-client";
const CLIENT_SECRET: &str = "client-secret-Zq81-do-not-leak";

/// The provider: issues codes, tokens and refresh tokens, counts every token request by grant.
#[derive(Default)]
struct Provider {
    /// code → (code_challenge, redirect_uri)
    codes: HashMap<String, (Option<String>, String)>,
    access: HashSet<String>,
    refresh: HashSet<String>,
    /// Every refresh token ever issued (the scan looks for all of them).
    issued: Vec<String>,
    grants: Vec<String>,
    revoked: Vec<String>,
    next: u32,
    /// `expires_in` of the access tokens issued.
    lifetime: i64,
    /// Answer token requests this much later (so concurrent refreshes would overlap).
    delay_ms: u64,
    /// Rotate refresh tokens (the old one stops working).
    rotate: bool,
    /// API keys `/api/keyed` received.
    keys: Vec<String>,
}

type Shared = Arc<Mutex<Provider>>;

impl Provider {
    fn issue(&mut self, with_refresh: bool) -> Value {
        self.next += 1;
        let n = self.next;
        let access = format!("access-{n}-{}", uuid_like(n));
        self.access.insert(access.clone());
        self.issued.push(access.clone());
        let mut out = json!({"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime});
        if with_refresh {
            let refresh = format!("refresh-{n}-{}", uuid_like(n + 1000));
            self.refresh.insert(refresh.clone());
            self.issued.push(refresh.clone());
            out["refresh_token"] = json!(refresh);
        }
        out
    }
}

fn uuid_like(n: u32) -> String {
    hex::encode(Sha256::digest(format!("token-{n}").as_bytes()))[..24].to_string()
}

fn form(body: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn authorize(State(p): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    if q.contains_key("code_challenge") {
        assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    }
    let redirect = q["redirect_uri"].clone();
    let code = format!("code-{}", p.lock().unwrap().codes.len() + 1);
    p.lock().unwrap().codes.insert(code.clone(), (q.get("code_challenge").cloned(), redirect.clone()));
    Redirect::to(&format!("{redirect}?code={code}&state={}", q["state"])).into_response()
}

async fn token(State(p): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let f = form(&body);
    let delay = p.lock().unwrap().delay_ms;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let want =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(want.as_str()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "bad client credentials");
    }
    let mut p = p.lock().unwrap();
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    p.grants.push(grant.clone());
    match grant.as_str() {
        "authorization_code" => {
            let Some((challenge, redirect)) = p.codes.remove(f.get("code").map(String::as_str).unwrap_or("")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
            };
            if f.get("redirect_uri") != Some(&redirect) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri mismatch");
            }
            if let Some(challenge) = challenge {
                let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
                if computed != challenge {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
                }
            }
            axum::Json(p.issue(true)).into_response()
        }
        "refresh_token" => {
            let old = f.get("refresh_token").cloned().unwrap_or_default();
            if !p.refresh.contains(&old) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the refresh token expired");
            }
            let rotate = p.rotate;
            if rotate {
                p.refresh.remove(&old);
            }
            axum::Json(p.issue(rotate)).into_response()
        }
        "client_credentials" => axum::Json(p.issue(false)).into_response(),
        other => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", other),
    }
}

async fn revoke(State(p): State<Shared>, body: String) -> StatusCode {
    let f = form(&body);
    p.lock().unwrap().revoked.push(f.get("token").cloned().unwrap_or_default());
    StatusCode::OK
}

/// The protected API: answers only a currently valid access token, and echoes it back (as a
/// careless API might), so the test sees that Weft redacts it from the step's output.
async fn contacts(State(p): State<Shared>, headers: HeaderMap) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let token = auth.strip_prefix("Bearer ").unwrap_or("");
    if !p.lock().unwrap().access.contains(token) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad token"}))).into_response();
    }
    axum::Json(json!({"contacts": [{"name": "Ada"}], "you_sent": auth})).into_response()
}

/// An API taking a key in `x-api-key`: records it, and echoes it back.
async fn keyed(State(p): State<Shared>, headers: HeaderMap) -> axum::Json<Value> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    p.lock().unwrap().keys.push(key.clone());
    axum::Json(json!({"key": key}))
}

/// Knows one API key; anything else is refused with the key quoted back (as some APIs do).
async fn whoami(headers: HeaderMap) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
    if key == "good-key-5ecr3t" {
        axum::Json(json!({"user": "ada"})).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, format!("unknown key {key}")).into_response()
    }
}

struct AuthServer {
    url: String,
    p: Shared,
}

async fn provider(lifetime: i64) -> AuthServer {
    let p: Shared = Arc::new(Mutex::new(Provider { lifetime, rotate: true, ..Provider::default() }));
    let app = axum::Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .route("/api/contacts", get(contacts))
        .route("/api/keyed", get(keyed))
        .route("/api/whoami", get(whoami))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    AuthServer { url, p }
}

fn definition(as_url: &str, grant: &str) -> String {
    let endpoints = if grant == "authorization_code" {
        format!("authorize_url: {as_url}/authorize\n          client: crm-app\n          revoke_url: {as_url}/revoke")
    } else {
        String::new()
    };
    format!(
        r#"
key: crm-sync
name: CRM sync
config:
  - page: Connection
    vars:
      - key: crm
        type: connection
        oauth2:
          grant: {grant}
          token_url: {as_url}/token
          scopes: [contacts.read, offline_access]
          {endpoints}
flows:
  - key: contacts
    trigger:
      webhook:
        mode: sync
    steps:
      - key: list
        action: http.request
        inputs:
          method: GET
          url: {as_url}/api/contacts
          connection: "{{{{ config.crm }}}}"
    result: "{{{{ steps.list.output.body }}}}"
  - key: contacts-async
    trigger:
      webhook:
        mode: async
    steps:
      - key: list
        action: http.request
        inputs:
          method: GET
          url: {as_url}/api/contacts
          connection: "{{{{ config.crm }}}}"
"#
    )
}

/// Stores the vendor's OAuth app as `crm-app`.
async fn put_client(s: &Server) {
    let (st, c) = s
        .call(
            Some(&s.owner),
            "PUT",
            "/api/v1/oauth-clients/crm-app",
            Body::Json(json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["client_secret"], "[redacted]");
}

async fn setup(s: &Server, as_url: &str, grant: &str, config: Value) -> Value {
    put_client(s).await;
    let (st, b) = s.import(&definition(as_url, grant)).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(s.post("/api/v1/integrations/crm-sync/versions", Value::Null).await.0, 201);
    let (st, _) = s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await;
    assert!(st == 201 || st == 409);
    let (st, inst) =
        s.post("/api/v1/instances", json!({"integration": "crm-sync", "customer": "ext:acme", "config": config})).await;
    assert_eq!(st, 201, "{inst}");
    inst
}

async fn connection(s: &Server, instance: &str) -> Value {
    let (st, list) = s.get(&format!("/api/v1/instances/{instance}/connections")).await;
    assert_eq!(st, 200, "{list}");
    list.as_array().unwrap().iter().find(|c| c["key"] == "crm").cloned().unwrap()
}

/// Runs the flow through its sync webhook; returns (status, body).
async fn run(s: &Server, inst: &Value) -> (u16, Value) {
    // The first flow's: `contacts` (sync), or `both` of the shared-connections definition.
    let url = inst["webhooks"].as_object().unwrap().values().next().unwrap().as_str().unwrap();
    s.call(None, "POST", url, Body::Json(json!({}))).await
}

/// Walks the customer through the provider: start, the provider's consent (which redirects to
/// Weft's callback), the callback. Returns the callback's status and page.
async fn authorize_instance(s: &Server, instance: &str, body: Value) -> (u16, String, Value) {
    let (st, started) = s.post(&format!("/api/v1/instances/{instance}/connections/crm/authorize"), body).await;
    assert_eq!(st, 200, "{started}");
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = no_redirects.get(started["authorize_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(consent.status(), 303, "the provider redirects back");
    let back = consent.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("{}/oauth2/callback?", s.url)), "{back}");
    let resp = no_redirects.get(&back).send().await.unwrap();
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
    let page = resp.text().await.unwrap();
    (status, location.unwrap_or(page), json!({"started": started, "callback": back}))
}

#[tokio::test]
async fn authorization_code_with_pkce_through_the_callback() {
    let s = start().await;
    let a = provider(3600).await;
    let inst = setup(&s, &a.url, "authorization_code", json!({})).await;
    let id = inst["id"].as_str().unwrap();

    // Deployed, not authorized yet: the status says so and a step says what to do.
    let c = connection(&s, id).await;
    assert_eq!(c["status"], "needs_authorization", "{c}");
    assert_eq!(c["type"], "oauth2_authorization_code");
    let (st, body) = run(&s, &inst).await;
    assert_eq!(st, 500, "{body}");
    let msg = body.to_string();
    assert!(msg.contains("needs authorization") && msg.contains("/connections/crm/authorize"), "{msg}");

    // The authorize URL carries the state, the PKCE challenge, scopes and the callback.
    let (st, page, trail) = authorize_instance(&s, id, json!({})).await;
    let url = trail["started"]["authorize_url"].as_str().unwrap();
    for part in ["code_challenge=", "code_challenge_method=S256", "state=", "scope=contacts.read+offline_access"] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    assert!(url.contains(&format!("redirect_uri={}", urlencode(&format!("{}/oauth2/callback", s.url)))), "{url}");
    assert_eq!(trail["started"]["redirect_uri"], format!("{}/oauth2/callback", s.url));
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("authorized"), "{page}");
    assert_eq!(a.p.lock().unwrap().grants, ["authorization_code"], "the provider verified the PKCE verifier");

    let c = connection(&s, id).await;
    assert_eq!(c["status"], "ok", "{c}");
    assert!(c["expires_at"].as_i64().unwrap() > chrono_now() + 3_000_000, "{c}");

    // The step gets the token; the API echoes it back and the step's output has it redacted.
    let (st, body) = run(&s, &inst).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["contacts"][0]["name"], "Ada");
    assert_eq!(body["you_sent"], "Bearer [redacted]", "{body}");

    // The state is used once: replaying the callback changes nothing.
    let replay = reqwest::get(trail["callback"].as_str().unwrap()).await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already used"));
    assert_eq!(a.p.lock().unwrap().grants.len(), 1);

    // A provider's refusal at consent comes back as an error page, naming the provider's words.
    let (st, started) = s.post(&format!("/api/v1/instances/{id}/connections/crm/authorize"), json!({})).await;
    assert_eq!(st, 200);
    let state = started["authorize_url"].as_str().unwrap().split("state=").nth(1).unwrap().split('&').next().unwrap();
    let denied = reqwest::get(format!(
        "{}/oauth2/callback?state={state}&error=access_denied&error_description=The+user+said+no",
        s.url
    ))
    .await
    .unwrap();
    assert_eq!(denied.status(), 400);
    let text = denied.text().await.unwrap();
    assert!(text.contains("access_denied") && text.contains("The user said no"), "{text}");
    let c = connection(&s, id).await;
    assert_eq!(c["status"], "needs_authorization");

    // Vendor pages: a success URL gets the outcome as query parameters.
    let (st, location, _) =
        authorize_instance(&s, id, json!({"success_url": "https://vendor.example/connected?x=1"})).await;
    assert_eq!(st, 303);
    assert!(
        location.starts_with("https://vendor.example/connected?x=1&status=ok&instance=")
            && location.ends_with("&connection=crm"),
        "{location}"
    );

    // Bad input to the start is refused by name.
    let (st, e) = s.post(&format!("/api/v1/instances/{id}/connections/nope/authorize"), json!({})).await;
    assert_error(&(st, e), 404, "connection.not_found");
    let (st, e) =
        s.post(&format!("/api/v1/instances/{id}/connections/crm/authorize"), json!({"success_url": "ftp://x"})).await;
    assert_eq!(st, 400, "{e}");
    assert!(e.to_string().contains("success_url"), "{e}");

    // Deleting the instance revokes the refresh token at the provider and deletes the tokens.
    let (st, _) = s.call(Some(&s.owner), "DELETE", &format!("/api/v1/instances/{id}"), Body::None).await;
    assert_eq!(st, 204);
    let revoked = a.p.lock().unwrap().revoked.clone();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert!(revoked[0].starts_with("refresh-"), "{revoked:?}");
    assert!(s.db.instance_connections(&s.org, id).await.unwrap().is_empty());
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn rotated_refresh_tokens_are_kept_and_a_refused_refresh_marks_the_connection() {
    let s = start().await;
    // Tokens that expire at once: every step needs a refresh.
    let a = provider(0).await;
    let inst = setup(&s, &a.url, "authorization_code", json!({})).await;
    let id = inst["id"].as_str().unwrap();
    assert_eq!(authorize_instance(&s, id, json!({})).await.0, 200);

    // Each run refreshes with the refresh token the previous refresh returned (the provider
    // rotates them: an old one would be refused).
    for round in 1..=3 {
        let (st, body) = run(&s, &inst).await;
        assert_eq!(st, 200, "round {round}: {body}");
    }
    assert_eq!(a.p.lock().unwrap().grants, ["authorization_code", "refresh_token", "refresh_token", "refresh_token"]);

    // The provider expires every refresh token: the next step fails naming the provider's
    // answer, and the connection turns `error` with it.
    a.p.lock().unwrap().refresh.clear();
    let (st, body) = run(&s, &inst).await;
    assert_eq!(st, 500, "{body}");
    assert!(body.to_string().contains("invalid_grant: the refresh token expired"), "{body}");
    let c = connection(&s, id).await;
    assert_eq!(c["status"], "error", "{c}");
    assert!(c["message"].as_str().unwrap().contains("invalid_grant: the refresh token expired"), "{c}");
    // A connection in error is not refreshed again by every step: the customer must act.
    let (st, body) = run(&s, &inst).await;
    assert_eq!(st, 500);
    assert!(body.to_string().contains("authorize again"), "{body}");
    assert_eq!(a.p.lock().unwrap().grants.len(), 5);

    // Authorizing again heals it.
    assert_eq!(authorize_instance(&s, id, json!({})).await.0, 200);
    assert_eq!(connection(&s, id).await["status"], "ok");
    assert_eq!(run(&s, &inst).await.0, 200);
}

#[tokio::test]
async fn client_credentials_fetch_once_and_reuse() {
    let s = start().await;
    let a = provider(3600).await;
    // The customer brings the client credentials (the definition names no OAuth client).
    let inst = setup(
        &s,
        &a.url,
        "client_credentials",
        json!({"crm": {"type": "oauth2_client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}}),
    )
    .await;
    assert_eq!(inst["config"]["crm"]["client_secret"], "[redacted]", "{inst}");
    let id = inst["id"].as_str().unwrap();
    for _ in 0..3 {
        let (st, body) = run(&s, &inst).await;
        assert_eq!(st, 200, "{body}");
    }
    assert_eq!(a.p.lock().unwrap().grants, ["client_credentials"], "one token, reused until it expires");
    let c = connection(&s, id).await;
    assert_eq!((c["status"].as_str(), c["type"].as_str()), (Some("ok"), Some("oauth2_client_credentials")));

    // Tokens cannot be smuggled in through the wizard.
    let (st, e) = s
        .post(
            "/api/v1/instances",
            json!({"integration": "crm-sync", "customer": "ext:acme",
                   "config": {"crm": {"type": "oauth2_client_credentials", "access_token": "forged"}}}),
        )
        .await;
    assert_eq!(st, 422, "{e}");
    let text = e.to_string();
    assert!(text.contains("access_token") && text.contains("cannot be given"), "{text}");
    assert!(text.contains("client_id") && text.contains("is required"), "{text}");
}

#[tokio::test]
async fn concurrent_steps_on_two_runners_share_one_refresh() {
    let s = start().await;
    // The first access token expires at once; the refreshed one lasts an hour.
    let a = provider(0).await;
    let inst = setup(&s, &a.url, "authorization_code", json!({})).await;
    let id = inst["id"].as_str().unwrap().to_string();
    assert_eq!(authorize_instance(&s, &id, json!({})).await.0, 200);
    a.p.lock().unwrap().lifetime = 3600;
    // A second runner on the same database: its own process state (OAuth locks, caches), as a
    // second node would have; the refresh is single-flight through the database.
    let second = weft_worker::Worker::new(
        s.db.clone(),
        Arc::new(weft_components::Registry::builtin(weft_components::EgressGuard::new(vec![
            "127.0.0.1/32".parse().unwrap(),
        ]))),
        {
            let mut cfg = weft_worker::WorkerConfig::new("second-node");
            cfg.wasm.egress = weft_components::EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
            cfg.poll_interval = Duration::from_millis(20);
            cfg
        },
    );
    tokio::spawn({
        let w = second.clone();
        async move { w.run_loop(std::future::pending()).await }
    });
    // The provider answers slowly, so the 20 steps all find the token expiring at once.
    a.p.lock().unwrap().delay_ms = 300;
    let url = inst["webhooks"]["contacts-async"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (st, b) = s.call(None, "POST", &url, Body::Json(json!({}))).await;
        assert_eq!(st, 202, "{b}");
        ids.push(b["execution_id"].as_str().unwrap().to_string());
    }
    for e in &ids {
        let done = s.finished(e).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    let grants = a.p.lock().unwrap().grants.clone();
    assert_eq!(grants, ["authorization_code", "refresh_token"], "exactly one refresh for 20 concurrent steps");

    // The same straight through both nodes' token APIs, 10 callers each, so both nodes are
    // sure to race (which runner claimed which execution above is up to them).
    a.p.lock().unwrap().lifetime = 0;
    assert_eq!(authorize_instance(&s, &id, json!({})).await.0, 200);
    a.p.lock().unwrap().lifetime = 3600;
    let instance = s.db.get_instance(&s.org, &id).await.unwrap().unwrap();
    let def = s.state.worker.load_version(&s.org, &instance.integration_id, instance.version).await.unwrap();
    let mut calls = Vec::new();
    for w in [s.state.worker.clone(), second.clone()] {
        for _ in 0..10 {
            let (w, instance, def) = (w.clone(), instance.clone(), def.clone());
            calls.push(tokio::spawn(async move {
                w.oauth().access_token(&instance, &def.def, "crm").await.map(|t| t.token.to_string())
            }));
        }
    }
    let mut tokens = HashSet::new();
    for c in calls {
        tokens.insert(c.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1, "every caller got the one refreshed token");
    let grants = a.p.lock().unwrap().grants.clone();
    assert_eq!(grants[2..], ["authorization_code", "refresh_token"], "one refresh for 20 callers on two nodes");
}

/// Every value the scenario made secret: the client secret, every token the provider issued.
#[tokio::test]
async fn no_token_or_client_secret_in_the_database_api_or_step_results() {
    let s = start().await;
    // Every step refreshes: more tokens to look for.
    let a = provider(0).await;
    let inst = setup(&s, &a.url, "authorization_code", json!({})).await;
    let id = inst["id"].as_str().unwrap();
    assert_eq!(authorize_instance(&s, id, json!({})).await.0, 200);
    let mut executions = Vec::new();
    for _ in 0..2 {
        let (st, body) = run(&s, &inst).await;
        assert_eq!(st, 200, "{body}");
    }
    let (st, list) = s.get("/api/v1/executions?limit=500").await;
    assert_eq!(st, 200);
    for e in list["items"].as_array().unwrap() {
        let eid = e["id"].as_str().unwrap();
        executions.push(s.get(&format!("/api/v1/executions/{eid}")).await.1);
        executions.push(s.get(&format!("/api/v1/executions/{eid}/logs")).await.1);
    }
    let mut secrets = a.p.lock().unwrap().issued.clone();
    secrets.push(CLIENT_SECRET.to_string());
    assert!(secrets.len() >= 5, "{secrets:?}");
    let shown = json!({
        "instance": s.get(&format!("/api/v1/instances/{id}")).await.1,
        "connections": s.get(&format!("/api/v1/instances/{id}/connections")).await.1,
        "clients": s.get("/api/v1/oauth-clients").await.1,
        "executions": executions,
    })
    .to_string();
    for secret in &secrets {
        assert!(!shown.contains(secret.as_str()), "the API showed {secret}");
    }
    // The database files (the write-ahead log too), read raw.
    let holds = |needle: &str| s.stored(needle);
    assert!(holds(CLIENT_ID), "the scan sees stored rows (the client id is not a secret)");
    for secret in &secrets {
        assert!(!holds(secret), "the database files hold {secret} in plaintext");
    }
}

const SHARED_DEF: &str = r#"
key: shared-conn
name: Shared connections
config:
  - page: Connections
    vars:
      - key: crm
        type: connection
        oauth2:
          grant: authorization_code
          authorize_url: AS/authorize
          token_url: AS/token
          client: crm-app
      - key: keyed
        type: connection
flows:
  - key: both
    trigger:
      webhook:
        mode: sync
    steps:
      - key: keyed
        action: http.request
        inputs:
          url: AS/api/keyed
          connection: "{{ config.keyed }}"
      - key: contacts
        action: http.request
        inputs:
          url: AS/api/contacts
          connection: "{{ config.crm }}"
    result: "{{ steps.keyed.output.body }}"
"#;

#[tokio::test]
async fn a_customers_connections_are_shared_by_its_instances_and_by_no_one_else() {
    let s = start().await;
    let a = provider(3600).await;
    put_client(&s).await;
    assert_eq!(s.import(&SHARED_DEF.replace("AS/", &format!("{}/", a.url))).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/shared-conn/versions", Value::Null).await.0, 201);
    for who in ["acme", "beta"] {
        assert_eq!(s.post("/api/v1/customers", json!({"external_id": who, "name": who})).await.0, 201);
    }
    let s = &s;
    let put = |who: &str, key: &str, body: Value| {
        let path = format!("/api/v1/customers/ext:{who}/connections/{key}");
        async move { s.call(Some(&s.owner), "PUT", &path, Body::Json(body)).await }
    };
    let (st, c) =
        put("acme", "keys", json!({"type": "api_key", "header": "x-api-key", "value": "key-one-5ecr3t"})).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["fields"], json!({"type": "api_key", "header": "[redacted]", "value": "[redacted]"}));
    assert_eq!((c["status"].as_str(), c["type"].as_str()), (Some("ok"), Some("api_key")));

    let shared = json!({"crm": {"customer_connection": "crm"}, "keyed": {"customer_connection": "keys"}});
    let deploy = |who: &str, config: Value| {
        let body = json!({"integration": "shared-conn", "customer": format!("ext:{who}"), "config": config});
        async move { s.post("/api/v1/instances", body).await }
    };
    let (st, one) = deploy("acme", shared.clone()).await;
    assert_eq!(st, 201, "{one}");
    let (st, two) = deploy("acme", shared.clone()).await;
    assert_eq!(st, 201, "{two}");
    let conns = s.get(&format!("/api/v1/instances/{}/connections", one["id"].as_str().unwrap())).await.1;
    assert_eq!(
        conns[1],
        json!({"key": "keyed", "type": "api_key", "customer_connection": "keys", "status": "ok",
                                "message": null, "checked_at": conns[1]["checked_at"], "expires_at": null})
    );
    assert_eq!(conns[0]["status"], "needs_authorization");

    // One authorization, through either instance, serves both.
    assert_eq!(authorize_instance(s, one["id"].as_str().unwrap(), json!({})).await.0, 200);
    for inst in [&one, &two] {
        let (st, body) = run(s, inst).await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["key"], "[redacted]", "the echoed key is redacted");
    }
    assert_eq!(a.p.lock().unwrap().grants, ["authorization_code"]);
    // Replacing the customer's key changes what every instance sends.
    let (st, _) =
        put("acme", "keys", json!({"type": "api_key", "header": "x-api-key", "value": "key-two-5ecr3t"})).await;
    assert_eq!(st, 200);
    for inst in [&one, &two] {
        assert_eq!(run(s, inst).await.0, 200);
    }
    assert_eq!(a.p.lock().unwrap().keys, ["key-one-5ecr3t", "key-one-5ecr3t", "key-two-5ecr3t", "key-two-5ecr3t"]);

    // Another customer naming acme's connections gets its own (none): a static one is refused at
    // deploy; an OAuth one is its own, never authorized, so its steps get nothing of acme's.
    let (st, e) = deploy("beta", shared.clone()).await;
    assert_eq!(st, 422, "{e}");
    assert!(e.to_string().contains("config.keyed") || e["error"]["details"][0]["variable"] == "keyed", "{e}");
    assert!(e.to_string().contains("the customer has no connection `keys`"), "{e}");
    assert_eq!(put("beta", "keys", json!({"type": "bearer", "token": "beta-token-5ecr3t"})).await.0, 200);
    let (st, beta) = deploy("beta", shared.clone()).await;
    assert_eq!(st, 201, "{beta}");
    let (st, body) = run(s, &beta).await;
    assert_eq!(st, 500, "{body}");
    assert!(body.to_string().contains("needs authorization"), "{body}");
    assert_eq!(a.p.lock().unwrap().grants, ["authorization_code"], "beta's step reached no token of acme's");

    // A connection in use is not deleted; once unused it is.
    let (st, e) = s.call(Some(&s.owner), "DELETE", "/api/v1/customers/ext:acme/connections/keys", Body::None).await;
    assert_error(&(st, e.clone()), 409, "connection.in_use");
    assert_eq!(e["error"]["details"]["instances"].as_array().unwrap().len(), 2, "{e}");
    for inst in [&one, &two] {
        let path = format!("/api/v1/instances/{}", inst["id"].as_str().unwrap());
        assert_eq!(s.call(Some(&s.owner), "DELETE", &path, Body::None).await.0, 204);
    }
    let (st, _) = s.call(Some(&s.owner), "DELETE", "/api/v1/customers/ext:acme/connections/keys", Body::None).await;
    assert_eq!(st, 204);
    let (_, left) = s.get("/api/v1/customers/ext:acme/connections").await;
    assert_eq!(left.as_array().unwrap().len(), 1, "the OAuth one stays: {left}");
    // Bad input, by name.
    let (st, e) = put("acme", "keys", json!({"type": "oauth2_authorization_code"})).await;
    assert_eq!(st, 422, "{e}");
    assert!(e.to_string().contains("is not given, it is authorized"), "{e}");
    let (st, e) = put("acme", "Bad Name", json!({"type": "bearer", "token": "x"})).await;
    assert_eq!(st, 400, "{e}");

    // None of the keys is shown by the API or stored in the clear.
    let shown = json!([
        s.get("/api/v1/customers/ext:beta/connections").await.1,
        s.get("/api/v1/instances").await.1,
        s.get("/api/v1/executions?limit=100").await.1
    ])
    .to_string();
    for secret in ["key-one-5ecr3t", "key-two-5ecr3t", "beta-token-5ecr3t"] {
        assert!(!shown.contains(secret), "the API shows {secret}");
        assert!(!s.stored(secret), "{secret} stored");
    }
}

#[tokio::test]
async fn a_connection_test_runs_on_save_and_on_demand() {
    let s = start().await;
    let a = provider(3600).await;
    let def = r#"
key: tested
name: Tested connection
config:
  - page: Connection
    vars:
      - key: api
        type: connection
        test:
          action: http.request
          inputs:
            url: AS/api/whoami
            connection: "{{ config.api }}"
flows:
  - key: f
    trigger: {manual: {}}
    steps:
      - key: s
        transform: 1
"#
    .replace("AS/", &format!("{}/", a.url));
    assert_eq!(s.import(&def).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/tested/versions", Value::Null).await.0, 201);
    assert_eq!(s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await.0, 201);
    let key = |k: &str| json!({"api": {"type": "api_key", "header": "x-api-key", "value": k}});
    let (st, inst) = s
        .post(
            "/api/v1/instances",
            json!({"integration": "tested", "customer": "ext:acme", "config": key("good-key-5ecr3t")}),
        )
        .await;
    assert_eq!(st, 201, "{inst}");
    let id = inst["id"].as_str().unwrap();
    let status = |c: &Value| (c[0]["status"].as_str().unwrap().to_string(), c[0]["message"].clone());
    let (_, c) = s.get(&format!("/api/v1/instances/{id}/connections")).await;
    assert_eq!(status(&c), ("ok".to_string(), Value::Null), "{c}");
    assert!(c[0]["checked_at"].as_i64().is_some(), "{c}");

    // Saving a key the API refuses: the upgrade is stored, the connection shows why it fails,
    // without the key the API quoted back.
    let (st, up) = s.post(&format!("/api/v1/instances/{id}/upgrade"), json!({"config": key("bad-key-5ecr3t")})).await;
    assert_eq!(st, 200, "{up}");
    let (_, c) = s.get(&format!("/api/v1/instances/{id}/connections")).await;
    let (st, message) = status(&c);
    assert_eq!(st, "error", "{c}");
    let message = message.as_str().unwrap().to_string();
    assert!(message.contains("`http.request` failed (http_status)") && message.contains("401"), "{message}");
    assert!(!c.to_string().contains("bad-key-5ecr3t"), "{c}");

    // On demand, after the customer fixed the key at the API's side.
    let (st, t) = s.post(&format!("/api/v1/instances/{id}/connections/api/test"), Value::Null).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["status"], "error");
    let (st, _) = s.post(&format!("/api/v1/instances/{id}/upgrade"), json!({"config": key("good-key-5ecr3t")})).await;
    assert_eq!(st, 200);
    let (st, t) = s.post(&format!("/api/v1/instances/{id}/connections/api/test"), Value::Null).await;
    assert_eq!((st, t["status"].as_str()), (200, Some("ok")), "{t}");
    let (st, e) = s.post(&format!("/api/v1/instances/{id}/connections/nope/test"), Value::Null).await;
    assert_error(&(st, e), 404, "connection.not_found");
}

#[tokio::test]
async fn the_scheduler_refreshes_tokens_ahead_of_expiry_including_a_customers() {
    let s = start().await;
    // Tokens that expire in two minutes: inside the scheduler's five-minute horizon.
    let a = provider(120).await;
    put_client(&s).await;
    assert_eq!(s.import(&SHARED_DEF.replace("AS/", &format!("{}/", a.url))).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/shared-conn/versions", Value::Null).await.0, 201);
    assert_eq!(s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await.0, 201);
    let (st, _) = s
        .call(
            Some(&s.owner),
            "PUT",
            "/api/v1/customers/ext:acme/connections/keys",
            Body::Json(json!({"type": "api_key", "header": "x-api-key", "value": "k"})),
        )
        .await;
    assert_eq!(st, 200);
    let mut ids = Vec::new();
    for crm in [json!({}), json!({"customer_connection": "crm"})] {
        let config = json!({"crm": crm, "keyed": {"customer_connection": "keys"}});
        let (st, inst) = s
            .post("/api/v1/instances", json!({"integration": "shared-conn", "customer": "ext:acme", "config": config}))
            .await;
        assert_eq!(st, 201, "{inst}");
        let id = inst["id"].as_str().unwrap().to_string();
        assert_eq!(authorize_instance(&s, &id, json!({})).await.0, 200);
        ids.push(id);
    }
    a.p.lock().unwrap().lifetime = 3600;
    let scheduler = weft_worker::Scheduler::new(s.db.clone(), s.state.worker.clone(), Default::default());
    assert_eq!(scheduler.refresh_oauth().await.unwrap(), 2, "the instance's and the customer's");
    assert_eq!(
        a.p.lock().unwrap().grants,
        ["authorization_code", "authorization_code", "refresh_token", "refresh_token"]
    );
    assert_eq!(scheduler.refresh_oauth().await.unwrap(), 0, "nothing due any more");
    for id in &ids {
        let (_, c) = s.get(&format!("/api/v1/instances/{id}/connections")).await;
        assert!(c[0]["expires_at"].as_i64().unwrap() > chrono_now() + 3_000_000, "{c}");
    }
}
