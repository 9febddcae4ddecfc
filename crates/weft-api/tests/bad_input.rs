//! Bad requests through the HTTP API: each gets the documented status and error code, and leaves
//! the stored data exactly as it was (checked with a snapshot of every listing before and after).
//! Covers authentication, the role × route permission table, malformed bodies, unknown ids and
//! routes, size limits, deploy and config errors, paused instances, customer conflicts,
//! pagination and filters, and the probes.

mod common;

use common::*;
use serde_json::{Value, json};
use weft_model::Role;

/// The reference example deployed for customer `acme` with one finished execution, plus a
/// customer `idle` without instances.
struct Fixture {
    s: Server,
    _api: Fulfilment,
    instance: String,
    execution: String,
    hook: String,
}

async fn fixture() -> Fixture {
    fixture_on(start().await).await
}

async fn fixture_on(s: Server) -> Fixture {
    let api = fulfilment().await;
    let inst = s.deploy_reference(&api.url).await;
    let instance = inst["id"].as_str().unwrap().to_string();
    let hook = inst["webhooks"]["new-order"].as_str().unwrap().to_string();
    let (st, c) = s.post("/api/v1/customers", json!({"external_id": "idle", "name": "Idle"})).await;
    assert_eq!(st, 201, "{c}");
    let (st, e) = s
        .post(&format!("/api/v1/instances/{instance}/flows/new-order/run?wait=true"), order("R-1", &[("a", 1, 1.0)]))
        .await;
    assert_eq!((st, e["status"].as_str()), (200, Some("succeeded")), "{e}");
    let execution = e["id"].as_str().unwrap().to_string();
    Fixture { s, _api: api, instance, execution, hook }
}

fn raw(ctype: &'static str, text: &str) -> Body {
    Body::Raw(ctype, text.to_string())
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// Builds a request body afresh for each attempt ([`Body`] is consumed by a call).
type MakeBody = fn() -> Body;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_wrong_tokens_get_401() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    let routes: Vec<(&str, String, MakeBody)> = vec![
        ("GET", "/api/v1/customers".into(), || Body::None),
        ("POST", "/api/v1/customers".into(), || Body::Json(json!({"name": "Mallory"}))),
        ("DELETE", "/api/v1/customers/ext:idle".into(), || Body::None),
        ("POST", "/api/v1/integrations".into(), || raw("application/yaml", REFERENCE)),
        ("GET", format!("/api/v1/executions/{}", f.execution), || Body::None),
        ("POST", format!("/api/v1/instances/{}/pause", f.instance), || Body::None),
        ("POST", "/api/v1/tokens".into(), || Body::Json(json!({"role": "owner"}))),
        // The token is checked before the body: a bad body without a token is still a 401.
        ("POST", "/api/v1/customers".into(), || raw("application/json", "{not json")),
    ];
    for (method, path, body) in &routes {
        let got = s.call(None, method, path, body()).await;
        assert_error(&got, 401, "auth.missing_token");
        for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Token abc", &s.owner, "Bearer\tx"] {
            let req = s.request(method, path).header("authorization", header);
            let req = match body() {
                Body::None => req,
                Body::Json(v) => req.json(&v),
                Body::Raw(ctype, text) => req.header("content-type", ctype).body(text),
            };
            let got = s.send(req).await;
            assert_error(&got, 401, "auth.invalid_token");
        }
        for wrong in ["weft_0000000000000000000000000000000000000000", "nope", &format!("{}x", s.owner)] {
            let got = s.call(Some(wrong), method, path, body()).await;
            assert_error(&got, 401, "auth.invalid_token");
        }
    }
    // A header that is not even text.
    let req = s
        .request("GET", "/api/v1/customers")
        .header("authorization", reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap());
    assert_error(&s.send(req).await, 401, "auth.invalid_token");
    assert_eq!(s.snapshot().await, before, "a refused request changed stored data");
}

// ---------------------------------------------------------------------------------------------
// Roles

/// What a route needs, as the contract states it (independent of `Role::allows`).
#[derive(Clone, Copy, Debug)]
enum Need {
    Read,
    /// Import and publish integrations.
    Build,
    /// Customers, deploys, pause/resume/upgrade/delete, run and replay.
    Operate,
    /// Create API tokens, store OAuth clients.
    Administer,
}

fn allowed(role: Role, need: Need) -> bool {
    matches!(
        (role, need),
        (Role::Owner | Role::Admin, _)
            | (Role::Builder, Need::Read | Need::Build)
            | (Role::Support, Need::Read | Need::Operate)
            | (Role::Viewer, Need::Read)
    )
}

struct Case {
    method: &'static str,
    path: String,
    body: Body,
    need: Need,
    /// The status of a permitted call.
    ok: u16,
}

/// Every `/api/v1` route, in an order where the permitted calls leave the next ones possible
/// (the instance is deleted last).
fn every_route(f: &Fixture) -> Vec<Case> {
    let (i, e) = (&f.instance, &f.execution);
    let c = |method, path: &str, body, need, ok| Case { method, path: path.to_string(), body, need, ok };
    vec![
        c("GET", "/api/v1/customers", Body::None, Need::Read, 200),
        c("POST", "/api/v1/customers", Body::Json(json!({"name": "New"})), Need::Operate, 201),
        c("GET", "/api/v1/customers/ext:acme", Body::None, Need::Read, 200),
        c("PATCH", "/api/v1/customers/ext:acme", Body::Json(json!({"name": "Acme Inc"})), Need::Operate, 200),
        c("DELETE", "/api/v1/customers/ext:idle", Body::None, Need::Operate, 204),
        c("GET", "/api/v1/integrations", Body::None, Need::Read, 200),
        c("POST", "/api/v1/integrations", raw("application/yaml", REFERENCE), Need::Build, 200),
        c("GET", "/api/v1/integrations/order-sync", Body::None, Need::Read, 200),
        c("POST", "/api/v1/integrations/order-sync/versions", Body::None, Need::Build, 201),
        c("GET", "/api/v1/integrations/order-sync/versions", Body::None, Need::Read, 200),
        // The reference example's `endpoint` is a string: a permitted call is told it has no data source.
        c(
            "POST",
            "/api/v1/integrations/order-sync/config/endpoint/options",
            Body::Json(json!({"customer": "ext:acme"})),
            Need::Operate,
            422,
        ),
        c(
            "POST",
            "/api/v1/instances",
            Body::Json(
                json!({"integration": "order-sync", "customer": "ext:acme", "config": {"endpoint": "http://127.0.0.1:9"}}),
            ),
            Need::Operate,
            201,
        ),
        c("GET", "/api/v1/instances", Body::None, Need::Read, 200),
        c("GET", &format!("/api/v1/instances/{i}"), Body::None, Need::Read, 200),
        c("POST", &format!("/api/v1/instances/{i}/pause"), Body::None, Need::Operate, 200),
        c("POST", &format!("/api/v1/instances/{i}/resume"), Body::None, Need::Operate, 200),
        c("POST", &format!("/api/v1/instances/{i}/upgrade"), Body::Json(json!({})), Need::Operate, 200),
        c(
            "POST",
            &format!("/api/v1/instances/{i}/flows/new-order/run"),
            Body::Json(order("P-1", &[("a", 1, 1.0)])),
            Need::Operate,
            202,
        ),
        c("GET", "/api/v1/executions", Body::None, Need::Read, 200),
        c("GET", &format!("/api/v1/executions/{e}"), Body::None, Need::Read, 200),
        c("GET", &format!("/api/v1/executions/{e}/logs"), Body::None, Need::Read, 200),
        c("POST", &format!("/api/v1/executions/{e}/replay"), Body::None, Need::Operate, 202),
        // The fixture's execution has finished: a permitted cancel is refused as such.
        c("POST", &format!("/api/v1/executions/{e}/cancel"), Body::None, Need::Operate, 409),
        c("POST", "/api/v1/tokens", Body::Json(json!({"role": "viewer"})), Need::Administer, 201),
        c("POST", "/api/v1/tokens", Body::Json(json!({"name": "ci", "role": "admin"})), Need::Administer, 201),
        c(
            "POST",
            &format!("/api/v1/instances/{i}/settings"),
            Body::Json(json!({"retention_days": 7, "store_payloads": true})),
            Need::Operate,
            200,
        ),
        c("GET", "/api/v1/organization/retention", Body::None, Need::Read, 200),
        c("PUT", "/api/v1/organization/retention", Body::Json(json!({"retention_days": 14})), Need::Administer, 200),
        // Bytes that are not a component: a permitted publish is refused for what it sent.
        c("POST", "/api/v1/components", Body::Raw("application/wasm", "not wasm".into()), Need::Build, 422),
        c("GET", "/api/v1/components", Body::None, Need::Read, 200),
        c("GET", "/api/v1/components/acme-crm", Body::None, Need::Read, 404),
        c(
            "PUT",
            "/api/v1/oauth-clients/crm-app",
            Body::Json(json!({"client_id": "id", "client_secret": "secret"})),
            Need::Administer,
            200,
        ),
        c("GET", "/api/v1/oauth-clients", Body::None, Need::Read, 200),
        c("DELETE", "/api/v1/oauth-clients/crm-app", Body::None, Need::Administer, 204),
        c("GET", &format!("/api/v1/instances/{i}/connections"), Body::None, Need::Read, 200),
        // The reference example has no connection: a permitted start is told so.
        c("POST", &format!("/api/v1/instances/{i}/connections/endpoint/authorize"), Body::None, Need::Operate, 404),
        c("POST", &format!("/api/v1/instances/{i}/connections/endpoint/test"), Body::None, Need::Operate, 404),
        c(
            "PUT",
            "/api/v1/customers/ext:acme/connections/erp",
            Body::Json(json!({"type": "bearer", "token": "t0ken-value"})),
            Need::Operate,
            200,
        ),
        c("GET", "/api/v1/customers/ext:acme/connections", Body::None, Need::Read, 200),
        c("DELETE", "/api/v1/customers/ext:acme/connections/none", Body::None, Need::Operate, 404),
        c("DELETE", &format!("/api/v1/instances/{i}"), Body::None, Need::Operate, 204),
    ]
}

/// Whether a concrete path is an instance of an OpenAPI path template (`{x}` is one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap();
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_table_covers_every_documented_route() {
    let f = fixture().await;
    let (st, doc) = f.s.call(None, "GET", "/api/v1/openapi.json", Body::None).await;
    assert_eq!(st, 200);
    let cases = every_route(&f);
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let covered =
                cases.iter().any(|c| c.method.eq_ignore_ascii_case(method) && matches_template(template, &c.path));
            assert!(covered, "{method} {template} is missing from the role table");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_the_role() {
    let mut problems = Vec::new();
    for role in Role::ALL {
        // A fresh server per role: the permitted calls change data.
        let f = fixture().await;
        let s = &f.s;
        let token = s.token(role).await;
        for case in every_route(&f) {
            let before = s.snapshot().await;
            let (st, body) = s.call(Some(&token), case.method, &case.path, case.body).await;
            let what = format!("{} {} as {}", case.method, case.path, role.name());
            if allowed(role, case.need) {
                if st != case.ok {
                    problems.push(format!("{what}: expected {}, got {st} {body}", case.ok));
                }
                // Let a started execution end so the next snapshots compare settled data.
                if let Some(id) = body["execution_id"].as_str() {
                    s.finished(id).await;
                }
            } else {
                if (st, body["error"]["code"].as_str()) != (403, Some("auth.forbidden")) {
                    problems.push(format!("{what}: expected 403 auth.forbidden, got {st} {body}"));
                }
                if s.snapshot().await != before {
                    problems.push(format!("{what}: refused, but stored data changed"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_create_owner_tokens() {
    let s = start().await;
    let admin = s.token(Role::Admin).await;
    let got = s.call(Some(&admin), "POST", "/api/v1/tokens", Body::Json(json!({"role": "owner"}))).await;
    assert_error(&got, 403, "auth.forbidden");
    let (st, t) = s.call(Some(&admin), "POST", "/api/v1/tokens", Body::Json(json!({"role": "admin"}))).await;
    assert_eq!((st, t["role"].as_str()), (201, Some("admin")), "{t}");
    let (st, t) = s.post("/api/v1/tokens", json!({"name": "second owner", "role": "owner"})).await;
    assert_eq!(st, 201, "{t}");
    assert_eq!((t["name"].as_str(), t["role"].as_str()), (Some("second owner"), Some("owner")));
    // The minted token works, with its role.
    let minted = t["token"].as_str().unwrap();
    let (st, _) = s.call(Some(minted), "GET", "/api/v1/customers", Body::None).await;
    assert_eq!(st, 200);
    let got = s.post("/api/v1/tokens", json!({"role": "superuser"})).await;
    assert_error(&got, 422, "request.invalid");
    assert!(got.1["error"]["message"].as_str().unwrap().contains("superuser"), "{}", got.1);
}

// ---------------------------------------------------------------------------------------------
// Malformed bodies

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    let i = &f.instance;
    let routes = [
        ("POST", "/api/v1/customers".to_string()),
        ("PATCH", "/api/v1/customers/ext:acme".to_string()),
        ("POST", "/api/v1/instances".to_string()),
        ("POST", format!("/api/v1/instances/{i}/upgrade")),
        ("POST", format!("/api/v1/instances/{i}/flows/new-order/run")),
        ("POST", "/api/v1/tokens".to_string()),
    ];
    for (method, path) in &routes {
        for text in [r#"{"name": "#, "{name: 'x'}", r#"{"name": "x"} trailing"#] {
            let got = s.call(Some(&s.owner), method, path, raw("application/json", text)).await;
            assert_error(&got, 400, "request.invalid_json");
        }
    }
    assert_eq!(s.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_the_wrong_shape_is_422() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    let i = &f.instance;
    let cases = [
        ("POST", "/api/v1/customers".to_string(), json!({"name": 5})),
        ("POST", "/api/v1/customers".to_string(), json!({})),
        ("POST", "/api/v1/customers".to_string(), json!(["Acme"])),
        ("POST", "/api/v1/customers".to_string(), json!({"name": "X", "labels": "vip"})),
        ("POST", "/api/v1/customers".to_string(), json!({"name": "X", "nmae": "typo"})),
        ("PATCH", "/api/v1/customers/ext:acme".to_string(), json!({"name": ["A"]})),
        ("PATCH", "/api/v1/customers/ext:acme".to_string(), json!({"external": "acme2"})),
        ("POST", "/api/v1/instances".to_string(), json!({"integration": 5, "customer": "ext:acme"})),
        ("POST", "/api/v1/instances".to_string(), json!({"integration": "order-sync"})),
        (
            "POST",
            "/api/v1/instances".to_string(),
            json!({"integration": "order-sync", "customer": "ext:acme", "config": {"endpoint": "http://x"}, "extra": 1}),
        ),
        ("POST", format!("/api/v1/instances/{i}/upgrade"), json!({"version": "two"})),
        ("POST", format!("/api/v1/instances/{i}/upgrade"), json!({"versoin": 1})),
        ("POST", "/api/v1/tokens".to_string(), json!({"role": 1})),
        ("POST", "/api/v1/tokens".to_string(), json!({"role": "viewer", "expires": "never"})),
    ];
    for (method, path, body) in cases {
        let got = s.call(Some(&s.owner), method, &path, Body::Json(body.clone())).await;
        assert_error(&got, 422, "request.invalid");
    }
    // Values of the right type that the API still refuses.
    for body in [json!({"name": "   "}), json!({"name": "X", "external_id": ""})] {
        let got = s.post("/api/v1/customers", body).await;
        assert_error(&got, 422, "request.invalid");
    }
    assert_eq!(s.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_need_a_json_content_type() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    let i = &f.instance;
    let routes = [
        ("POST", "/api/v1/customers".to_string(), r#"{"name": "X"}"#),
        ("PATCH", "/api/v1/customers/ext:acme".to_string(), r#"{"name": "X"}"#),
        (
            "POST",
            "/api/v1/instances".to_string(),
            r#"{"integration": "order-sync", "customer": "ext:acme", "config": {"endpoint": "http://x"}}"#,
        ),
        ("POST", format!("/api/v1/instances/{i}/upgrade"), "{}"),
        ("POST", "/api/v1/tokens".to_string(), r#"{"role": "viewer"}"#),
    ];
    for (method, path, text) in &routes {
        let got = s.send(s.request(method, path).bearer_auth(&s.owner).body(text.to_string())).await;
        assert_error(&got, 415, "request.unsupported_media_type");
        let got = s.call(Some(&s.owner), method, path, raw("text/plain", text)).await;
        assert_error(&got, 415, "request.unsupported_media_type");
    }
    // Import takes YAML or JSON, nothing else.
    for ctype in ["text/plain", "application/xml", "multipart/form-data; boundary=x"] {
        let got = s.call(Some(&s.owner), "POST", "/api/v1/integrations", raw(ctype, REFERENCE)).await;
        assert_error(&got, 415, "request.unsupported_media_type");
    }
    assert_eq!(s.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_yaml_names_line_and_column() {
    let s = start().await;
    let got = s.import("key: broken\nname: Broken\n  bad: indent\n").await;
    assert_error(&got, 422, "integration.invalid");
    assert_eq!(
        got.1["error"]["details"],
        json!([{"path": "", "line": 3, "column": 6, "message": "invalid YAML: mapping values are not allowed in this context"}])
    );
    // Malformed JSON sent to import is a definition problem too, with its position.
    let got = s
        .call(Some(&s.owner), "POST", "/api/v1/integrations", raw("application/json", "{\"key\": \"x\",\n  oops}"))
        .await;
    assert_error(&got, 422, "integration.invalid");
    let d = &got.1["error"]["details"][0];
    assert_eq!((d["line"].as_u64(), d["path"].as_str()), (Some(2), Some("")), "{d}");
    let (_, list) = s.get("/api/v1/integrations").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definition_lists_every_problem() {
    let s = start().await;
    let bad = REFERENCE.replace("action: http.request", "action: http.nope").replace("for_each:", "for_eachx:");
    let got = s.import(&bad).await;
    assert_error(&got, 422, "integration.invalid");
    let details = got.1["error"]["details"].as_array().unwrap();
    let found: Vec<(&str, u64, u64)> = details
        .iter()
        .map(|d| (d["path"].as_str().unwrap(), d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("flows[0].steps[0]", 24, 9),
            ("flows[0].steps[0].for_eachx", 25, 9),
            ("flows[0].steps[2].branch[0].steps[0].action", 38, 25)
        ],
        "{}",
        got.1
    );
    assert!(details[1]["message"].as_str().unwrap().contains("for_eachx"));
    assert!(details[2]["message"].as_str().unwrap().contains("unknown action `http.nope`"));
    assert!(got.1["error"]["message"].as_str().unwrap().contains("3 problem"), "{}", got.1);

    // An invalid import of an existing key leaves its draft alone.
    assert_eq!(s.import(REFERENCE).await.0, 201);
    let before = s.snapshot().await;
    assert_error(&s.import(&bad).await, 422, "integration.invalid");
    assert_eq!(s.snapshot().await, before);
}

// ---------------------------------------------------------------------------------------------
// Unknown ids and routes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_404_with_the_resource_code() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    let i = &f.instance;
    let deploy = |integration: &str, customer: &str, version: Option<i64>| {
        let mut b = json!({"integration": integration, "customer": customer, "config": {"endpoint": "http://x"}});
        if let Some(v) = version {
            b["version"] = json!(v);
        }
        Body::Json(b)
    };
    let cases: Vec<(&str, String, Body, &str)> = vec![
        ("GET", "/api/v1/customers/cus_nope".into(), Body::None, "customer.not_found"),
        ("GET", "/api/v1/customers/ext:nope".into(), Body::None, "customer.not_found"),
        ("PATCH", "/api/v1/customers/ext:nope".into(), Body::Json(json!({"name": "X"})), "customer.not_found"),
        ("DELETE", "/api/v1/customers/cus_nope".into(), Body::None, "customer.not_found"),
        ("GET", "/api/v1/instances?customer=ext:nope".into(), Body::None, "customer.not_found"),
        ("GET", "/api/v1/executions?customer=ext:nope".into(), Body::None, "customer.not_found"),
        ("POST", "/api/v1/instances".into(), deploy("order-sync", "ext:nope", None), "customer.not_found"),
        ("GET", "/api/v1/integrations/nope".into(), Body::None, "integration.not_found"),
        ("POST", "/api/v1/integrations/nope/versions".into(), Body::None, "integration.not_found"),
        ("GET", "/api/v1/integrations/nope/versions".into(), Body::None, "integration.not_found"),
        ("GET", "/api/v1/instances?integration=nope".into(), Body::None, "integration.not_found"),
        ("POST", "/api/v1/instances".into(), deploy("nope", "ext:acme", None), "integration.not_found"),
        ("POST", "/api/v1/instances".into(), deploy("order-sync", "ext:acme", Some(2)), "version.not_found"),
        ("POST", "/api/v1/instances".into(), deploy("order-sync", "ext:acme", Some(0)), "version.not_found"),
        ("POST", format!("/api/v1/instances/{i}/upgrade"), Body::Json(json!({"version": 7})), "version.not_found"),
        ("GET", "/api/v1/instances/ins_nope".into(), Body::None, "instance.not_found"),
        ("DELETE", "/api/v1/instances/ins_nope".into(), Body::None, "instance.not_found"),
        ("POST", "/api/v1/instances/ins_nope/pause".into(), Body::None, "instance.not_found"),
        ("POST", "/api/v1/instances/ins_nope/resume".into(), Body::None, "instance.not_found"),
        ("POST", "/api/v1/instances/ins_nope/upgrade".into(), Body::Json(json!({})), "instance.not_found"),
        ("POST", "/api/v1/instances/ins_nope/flows/new-order/run".into(), Body::None, "instance.not_found"),
        ("POST", format!("/api/v1/instances/{i}/flows/nope/run"), Body::None, "flow.not_found"),
        ("POST", format!("/api/v1/instances/{i}/flows/nope/run?wait=true"), Body::None, "flow.not_found"),
        ("GET", "/api/v1/executions/exe_nope".into(), Body::None, "execution.not_found"),
        ("GET", "/api/v1/executions/exe_nope/logs".into(), Body::None, "execution.not_found"),
        ("POST", "/api/v1/executions/exe_nope/replay".into(), Body::None, "execution.not_found"),
        ("POST", "/api/v1/executions/exe_nope/cancel".into(), Body::None, "execution.not_found"),
        ("GET", "/api/v1/nope".into(), Body::None, "route.not_found"),
        ("GET", "/api/v2/customers".into(), Body::None, "route.not_found"),
        ("GET", "/api/v1/customers/ext:acme/instances".into(), Body::None, "route.not_found"),
        ("GET", "/nope".into(), Body::None, "route.not_found"),
        ("POST", "/hooks/not-a-token".into(), Body::Json(json!({})), "webhook.not_found"),
    ];
    for (method, path, body, code) in cases {
        let got = s.call(Some(&s.owner), method, &path, body).await;
        assert_error(&got, 404, code);
    }
    // An unknown route needs no token to be told so.
    assert_error(&s.call(None, "GET", "/api/v1/nope", Body::None).await, 404, "route.not_found");
    // A known path with a method it does not serve: 405, as JSON, with Allow.
    let resp = s.request("PUT", "/api/v1/customers").bearer_auth(&s.owner).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let allow = resp.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "request.method_not_allowed", "{body}");
    assert_eq!(s.snapshot().await, before);
}

// ---------------------------------------------------------------------------------------------
// Size limit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_and_recorded_nowhere() {
    let f = fixture_on(start_with(|c| c.body_limit = 64 * 1024).await).await;
    let s = &f.s;
    let before = s.snapshot().await;
    let padding = |n: usize| "x".repeat(n);

    let mut big_order = order("BIG", &[("a", 1, 1.0)]);
    big_order["padding"] = json!(padding(100 * 1024));
    let got = s.call(None, "POST", &f.hook, Body::Json(big_order)).await;
    assert_error(&got, 413, "request.too_large");
    let big_yaml = format!("# {}\n{}", padding(100 * 1024), REFERENCE.replace("Order sync", "Renamed"));
    let got = s.call(Some(&s.owner), "POST", "/api/v1/integrations", raw("application/yaml", &big_yaml)).await;
    assert_error(&got, 413, "request.too_large");
    let got = s.post("/api/v1/customers", json!({"name": padding(100 * 1024)})).await;
    assert_error(&got, 413, "request.too_large");
    let got = s
        .post(&format!("/api/v1/instances/{}/flows/new-order/run", f.instance), json!({"pad": padding(100 * 1024)}))
        .await;
    assert_error(&got, 413, "request.too_large");
    assert_eq!(s.snapshot().await, before, "an oversized request left a trace");

    // Just under the limit is fine.
    let mut order_ok = order("OK-1", &[("a", 1, 1.0)]);
    order_ok["padding"] = json!(padding(60 * 1024));
    let (st, res) = s.call(None, "POST", &f.hook, Body::Json(order_ok)).await;
    assert_eq!((st, res["order"].as_str()), (200, Some("OK-1")), "{res}");
    let yaml_ok = format!("# {}\n{}", padding(60 * 1024), REFERENCE.replace("Order sync", "Renamed"));
    let (st, i) = s.call(Some(&s.owner), "POST", "/api/v1/integrations", raw("application/yaml", &yaml_ok)).await;
    assert_eq!((st, i["name"].as_str()), (200, Some("Renamed")), "{i}");
}

// ---------------------------------------------------------------------------------------------
// Deploy and config

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_an_unpublished_integration_is_409() {
    let s = start().await;
    assert_eq!(s.import(REFERENCE).await.0, 201);
    assert_eq!(s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await.0, 201);
    let before = s.snapshot().await;
    let got = s
        .post(
            "/api/v1/instances",
            json!({"integration": "order-sync", "customer": "ext:acme", "config": {"endpoint": "http://x"}}),
        )
        .await;
    assert_error(&got, 409, "integration.not_published");
    let got = s
        .post(
            "/api/v1/instances",
            json!({"integration": "order-sync", "version": 1, "customer": "ext:acme", "config": {"endpoint": "http://x"}}),
        )
        .await;
    assert_error(&got, 404, "version.not_found");
    assert_eq!(s.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_refused_naming_every_variable() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    let got = s
        .post(
            "/api/v1/instances",
            json!({"integration": "order-sync", "customer": "ext:idle", "config": {"min_total": "lots", "colour": "red"}}),
        )
        .await;
    assert_error(&got, 422, "instance.invalid_config");
    let details = got.1["error"]["details"].as_array().unwrap();
    let mut vars: Vec<&str> = details.iter().map(|d| d["variable"].as_str().unwrap()).collect();
    vars.sort();
    assert_eq!(vars, ["colour", "endpoint", "min_total"], "{}", got.1);
    let message = |var: &str| details.iter().find(|d| d["variable"] == var).unwrap()["message"].as_str().unwrap();
    assert_eq!(message("endpoint"), "a value is required");
    assert!(message("min_total").contains("expected a number, found a string"), "{}", message("min_total"));
    assert!(message("colour").contains("not a config variable"), "{}", message("colour"));

    // The same checks on upgrade: the instance stays as it was.
    let got = s.post(&format!("/api/v1/instances/{}/upgrade", f.instance), json!({"config": {"endpoint": 42}})).await;
    assert_error(&got, 422, "instance.invalid_config");
    assert_eq!(
        got.1["error"]["details"],
        json!([{"variable": "endpoint", "message": "expected a string, found a number"}])
    );
    assert_eq!(s.snapshot().await, before);
}

// ---------------------------------------------------------------------------------------------
// Paused instances

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_instance_runs_nothing() {
    let f = fixture().await;
    let s = &f.s;
    let (st, p) = s.post(&format!("/api/v1/instances/{}/pause", f.instance), Value::Null).await;
    assert_eq!((st, p["enabled"].clone()), (200, json!(false)), "{p}");
    let before = s.snapshot().await;
    let got = s.call(None, "POST", &f.hook, Body::Json(order("Z-1", &[("a", 1, 1.0)]))).await;
    assert_error(&got, 409, "instance.paused");
    let got = s.call(None, "GET", &format!("{}?x=1", f.hook), Body::None).await;
    assert_error(&got, 409, "instance.paused");
    for wait in ["", "?wait=true"] {
        let got = s.post(&format!("/api/v1/instances/{}/flows/new-order/run{wait}", f.instance), json!({})).await;
        assert_error(&got, 409, "instance.paused");
    }
    let got = s.post(&format!("/api/v1/executions/{}/replay", f.execution), Value::Null).await;
    assert_error(&got, 409, "instance.paused");
    assert_eq!(s.snapshot().await, before, "a paused instance recorded something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_an_execution_of_a_deleted_instance_is_409() {
    let f = fixture().await;
    let s = &f.s;
    let (st, _) = s.call(Some(&s.owner), "DELETE", &format!("/api/v1/instances/{}", f.instance), Body::None).await;
    assert_eq!(st, 204);
    let before = s.snapshot().await;
    let got = s.post(&format!("/api/v1/executions/{}/replay", f.execution), Value::Null).await;
    assert_error(&got, 409, "execution.not_replayable");
    assert_eq!(s.snapshot().await, before);
}

// ---------------------------------------------------------------------------------------------
// Customers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_conflicts_and_external_ids() {
    let f = fixture().await;
    let s = &f.s;
    let before = s.snapshot().await;
    // Duplicate external id, on create and on rename.
    let got = s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme again"})).await;
    assert_error(&got, 409, "customer.conflict");
    let got =
        s.call(Some(&s.owner), "PATCH", "/api/v1/customers/ext:idle", Body::Json(json!({"external_id": "acme"}))).await;
    assert_error(&got, 409, "customer.conflict");
    // A customer with instances cannot be deleted.
    let got = s.call(Some(&s.owner), "DELETE", "/api/v1/customers/ext:acme", Body::None).await;
    assert_error(&got, 409, "customer.conflict");
    assert_eq!(s.snapshot().await, before);

    // Lookup by ext: and by id agree.
    let (st, idle) = s.get("/api/v1/customers/ext:idle").await;
    assert_eq!(st, 200, "{idle}");
    let id = idle["id"].as_str().unwrap().to_string();
    assert_eq!(s.get(&format!("/api/v1/customers/{id}")).await.1, idle);

    // PATCH without external_id leaves it; with null clears it.
    let (st, c) = s
        .call(Some(&s.owner), "PATCH", "/api/v1/customers/ext:idle", Body::Json(json!({"labels": {"tier": "gold"}})))
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!((c["external_id"].as_str(), c["labels"].clone()), (Some("idle"), json!({"tier": "gold"})));
    let (st, c) =
        s.call(Some(&s.owner), "PATCH", "/api/v1/customers/ext:idle", Body::Json(json!({"external_id": null}))).await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["external_id"], Value::Null);
    assert_eq!(c["name"], "Idle");
    assert_error(&s.get("/api/v1/customers/ext:idle").await, 404, "customer.not_found");
    let (st, c) = s.get(&format!("/api/v1/customers/{id}")).await;
    assert_eq!((st, c["external_id"].clone()), (200, Value::Null));
    // The freed external id can be used again.
    let (st, c) = s.post("/api/v1/customers", json!({"external_id": "idle", "name": "New idle"})).await;
    assert_eq!(st, 201, "{c}");
    let (st, _) = s.call(Some(&s.owner), "DELETE", "/api/v1/customers/ext:idle", Body::None).await;
    assert_eq!(st, 204);
    assert_error(&s.get("/api/v1/customers/ext:idle").await, 404, "customer.not_found");
}

// ---------------------------------------------------------------------------------------------
// Listings

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_limits_and_cursors_are_checked() {
    let f = fixture().await;
    let s = &f.s;
    let listings = [
        "/api/v1/customers".to_string(),
        "/api/v1/integrations".to_string(),
        "/api/v1/integrations/order-sync/versions".to_string(),
        "/api/v1/instances".to_string(),
        "/api/v1/executions".to_string(),
        format!("/api/v1/executions/{}/logs", f.execution),
    ];
    for path in &listings {
        for limit in ["0", "501", "-1", "ten", ""] {
            let got = s.get(&format!("{path}?limit={limit}")).await;
            assert_error(&got, 400, "request.invalid");
        }
        for limit in ["1", "500"] {
            let (st, list) = s.get(&format!("{path}?limit={limit}")).await;
            assert_eq!(st, 200, "{path}?limit={limit}: {list}");
            assert!(list["items"].is_array() && list.get("next_cursor").is_some(), "{list}");
        }
        // A cursor that no listing handed out is refused, naming it (never a wrong page).
        for cursor in ["garbage", "%00", "99999999999999999999999", "cus_zz"] {
            let got = s.get(&format!("{path}?cursor={cursor}")).await;
            assert_error(&got, 422, "request.invalid");
            assert!(got.1["error"]["message"].as_str().unwrap().contains("cursor"), "{path}: {}", got.1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_filters_are_checked() {
    let f = fixture().await;
    let s = &f.s;
    for query in [
        "status=done",
        "status=SUCCEEDED",
        "since=yesterday",
        "since=2026-13-01T00:00:00Z",
        "until=2026-01-01",
        "until=1700000000",
    ] {
        let got = s.get(&format!("/api/v1/executions?{query}")).await;
        assert_error(&got, 400, "request.invalid");
    }
    let (st, list) = s.get("/api/v1/executions?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00%2B02:00").await;
    assert_eq!((st, list["items"].as_array().map(Vec::len)), (200, Some(1)), "{list}");
    let (st, list) = s.get("/api/v1/executions?until=2000-01-01T00:00:00Z").await;
    assert_eq!((st, list["items"].clone()), (200, json!([])), "{list}");
}

// ---------------------------------------------------------------------------------------------
// Probes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_probes() {
    let s = start().await;
    let (st, body) = s.call(None, "GET", "/healthz", Body::None).await;
    assert_eq!((st, body), (200, json!({"status": "ok"})));
    let (st, body) = s.call(None, "GET", "/readyz", Body::None).await;
    assert_eq!(st, 200, "{body}");
    s.state.set_ready(false);
    let (st, body) = s.call(None, "GET", "/readyz", Body::None).await;
    assert_eq!(st, 503, "{body}");
    // Draining does not mean dead.
    assert_eq!(s.call(None, "GET", "/healthz", Body::None).await.0, 200);
    s.state.set_ready(true);
    assert_eq!(s.call(None, "GET", "/readyz", Body::None).await.0, 200);
}
