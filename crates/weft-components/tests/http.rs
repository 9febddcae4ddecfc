//! `http.request` against a real local HTTP server (axum on 127.0.0.1:0) acting as the remote
//! API: round trips, status handling, built-in retries, redirects, timeouts and the egress guard.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{Value, json};
use weft_components::{ActionContext, EgressGuard, LogSink, Registry};
use weft_model::{ErrorKind, LogLevel, StepError};

#[derive(Default)]
struct Remote {
    flaky_calls: AtomicUsize,
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let headers: serde_json::Map<String, Value> =
        headers.iter().map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap()))).collect();
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": headers,
        "body": String::from_utf8(body.to_vec()).unwrap(),
    }))
}

async fn status(Path(code): Path<u16>) -> Response {
    let mut r = (StatusCode::from_u16(code).unwrap(), Json(json!({"error": "nope"}))).into_response();
    r.headers_mut().insert("x-test", "a".parse().unwrap());
    r
}

async fn flaky(State(remote): State<Arc<Remote>>) -> Response {
    if remote.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], "slow down").into_response()
    } else {
        Json(json!({"ok": true})).into_response()
    }
}

async fn redirect(Path(code): Path<u16>, Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    (StatusCode::from_u16(code).unwrap(), [(header::LOCATION, q["to"].clone())]).into_response()
}

fn app() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/status/{code}", any(status))
        .route("/flaky", any(flaky))
        .route(
            "/unavailable",
            any(|| async { (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "7")], "down") }),
        )
        .route("/redirect/{code}", any(redirect))
        .route("/loop", any(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }))
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route("/text", any(|| async { ([(header::CONTENT_TYPE, "text/plain")], "hello") }))
        .route("/json-text", any(|| async { ([(header::CONTENT_TYPE, "text/plain")], "{\"a\":1}") }))
        .route(
            "/binary",
            any(|| async { ([(header::CONTENT_TYPE, "application/octet-stream")], vec![0xffu8, 0x00, 0x80]) }),
        )
        .route(
            "/multi",
            any(|| async {
                let mut h = HeaderMap::new();
                h.append("x-multi", "one".parse().unwrap());
                h.append("x-multi", "two".parse().unwrap());
                (h, "ok")
            }),
        )
        .route("/huge", any(|| async { vec![b'x'; 33 * 1024 * 1024] }))
        .route(
            "/huge-stream",
            any(|| async {
                // No Content-Length: the cap must hold while reading.
                let chunks = (0..40).map(|_| Ok::<_, std::convert::Infallible>(Bytes::from(vec![b'x'; 1024 * 1024])));
                axum::body::Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .with_state(Arc::new(Remote::default()))
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    addr
}

fn allow_loopback() -> Registry {
    Registry::builtin(EgressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]))
}

fn cx() -> ActionContext {
    let mut cx = ActionContext::new("exec-1", "forward");
    cx.idempotency_key = "exec-1:forward".into();
    cx
}

async fn request(registry: &Registry, input: Value) -> Result<Value, StepError> {
    registry.run("http.request", input, &cx()).await
}

#[tokio::test]
async fn round_trip_sends_method_headers_query_json_and_idempotency_key() {
    let addr = serve().await;
    let out = request(
        &allow_loopback(),
        json!({
            "method": "POST",
            "url": format!("http://{addr}/echo?fixed=1"),
            "headers": {"X-Custom": "v", "X-Number": 5},
            "query": {"a": "b c", "tags": ["x", "y"], "n": 2, "skip": null},
            "json": {"id": 7, "lines": [1, 2]},
        }),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["headers"]["content-type"], "application/json");
    let echoed = &out["body"];
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["query"], "fixed=1&a=b+c&tags=x&tags=y&n=2");
    assert_eq!(echoed["headers"]["x-custom"], "v");
    assert_eq!(echoed["headers"]["x-number"], "5");
    assert_eq!(echoed["headers"]["content-type"], "application/json");
    assert_eq!(echoed["headers"]["idempotency-key"], "exec-1:forward");
    assert!(echoed["headers"]["user-agent"].as_str().unwrap().starts_with("weft/"));
    assert_eq!(echoed["body"], r#"{"id":7,"lines":[1,2]}"#);

    // GET carries no idempotency key; a key the user set is kept as is.
    let get = request(&allow_loopback(), json!({"url": format!("http://{addr}/echo")})).await.unwrap();
    assert_eq!(get["body"]["method"], "GET");
    assert!(get["body"]["headers"].get("idempotency-key").is_none());
    let own = request(
        &allow_loopback(),
        json!({"method": "PUT", "url": format!("http://{addr}/echo"), "headers": {"Idempotency-Key": "mine"}, "body": "raw text"}),
    )
    .await
    .unwrap();
    assert_eq!(own["body"]["headers"]["idempotency-key"], "mine");
    assert_eq!(own["body"]["body"], "raw text");
    assert_eq!(own["body"]["method"], "PUT");
}

#[tokio::test]
async fn connections_inject_credentials() {
    let addr = serve().await;
    let url = format!("http://{addr}/echo");
    let cases = [
        (json!({"type": "bearer", "token": "t0k"}), "authorization", "Bearer t0k"),
        (json!({"type": "basic", "username": "ada", "password": "pw"}), "authorization", "Basic YWRhOnB3"),
        (json!({"type": "api_key", "header": "X-Api-Key", "value": "k1"}), "x-api-key", "k1"),
        (json!({"type": "oauth2", "access_token": "at"}), "authorization", "Bearer at"),
    ];
    for (conn, name, want) in cases {
        let out = request(&allow_loopback(), json!({"url": url, "connection": conn})).await.unwrap();
        assert_eq!(out["body"]["headers"][name], want, "{conn}");
    }
    let e = request(&allow_loopback(), json!({"url": url, "connection": {"type": "bearer"}})).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Input, "connection.token: is required for this connection type")
    );
    // An API key in the query (percent-encoded); an explicit parameter of that name wins.
    let conn = json!({"type": "api_key", "query": "api_key", "value": "k 1&2"});
    let out = request(&allow_loopback(), json!({"url": url, "connection": conn})).await.unwrap();
    assert_eq!(out["body"]["query"], "api_key=k+1%262");
    assert!(out["body"]["headers"].get("x-api-key").is_none());
    let out =
        request(&allow_loopback(), json!({"url": format!("{url}?api_key=mine"), "connection": conn})).await.unwrap();
    assert_eq!(out["body"]["query"], "api_key=mine");
    let both = json!({"type": "api_key", "query": "k", "header": "X-K", "value": "v"});
    let e = request(&allow_loopback(), json!({"url": url, "connection": both})).await.unwrap_err();
    assert_eq!(e.message, "connection.query: an api_key goes in a `header` or the `query`, not both");
    let e = request(&allow_loopback(), json!({"url": url, "connection": {"type": "custom", "token": "t"}}))
        .await
        .unwrap_err();
    assert!(e.message.contains("custom connection's fields are not applied"), "{}", e.message);
    let e = request(&allow_loopback(), json!({"url": url, "connection": {"type": "magic"}})).await.unwrap_err();
    assert!(e.message.starts_with("connection.type: expected one of bearer"), "{}", e.message);
}

#[tokio::test]
async fn response_bodies_and_headers() {
    let addr = serve().await;
    let get = |path: &str| request_owned(format!("http://{addr}{path}"));
    let text = get("/text").await.unwrap();
    assert_eq!(text["body"], "hello");
    assert!(text.get("body_encoding").is_none());
    // Only a JSON content type makes the body parsed.
    assert_eq!(get("/json-text").await.unwrap()["body"], "{\"a\":1}");
    let bin = get("/binary").await.unwrap();
    assert_eq!((bin["body"].clone(), bin["body_encoding"].clone()), (json!("/wCA"), json!("base64")));
    assert_eq!(get("/multi").await.unwrap()["headers"]["x-multi"], "one, two");
    let e = get("/huge-stream").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("exceeds the 32 MiB limit"), "{}", e.message);
    let e = get("/huge").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("exceeds the 32 MiB limit"), "{}", e.message);
}

async fn request_owned(url: String) -> Result<Value, StepError> {
    request(&allow_loopback(), json!({"url": url})).await
}

#[tokio::test]
async fn status_at_or_over_400_fails_with_details_unless_disabled() {
    let addr = serve().await;
    let e = request_owned(format!("http://{addr}/status/404")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::HttpStatus);
    assert_eq!(e.message, format!("GET http://{addr}/status/404 answered 404 Not Found"));
    let details = e.details.unwrap();
    assert_eq!(details["status"], 404);
    assert_eq!(details["headers"]["x-test"], "a");
    assert_eq!(details["body"], json!({"error": "nope"}));
    assert_eq!(e.retry_after_ms, None);

    let kinds = [
        (400, ErrorKind::HttpStatus),
        (422, ErrorKind::HttpStatus),
        (429, ErrorKind::RateLimited),
        (500, ErrorKind::ServerError),
        (502, ErrorKind::ServerError),
    ];
    for (code, kind) in kinds {
        let e = request_owned(format!("http://{addr}/status/{code}")).await.unwrap_err();
        assert_eq!(e.kind, kind, "{code}");
    }

    let out = request(&allow_loopback(), json!({"url": format!("http://{addr}/status/404"), "fail_on_status": false}))
        .await
        .unwrap();
    assert_eq!(out["status"], 404);
    assert_eq!(out["body"], json!({"error": "nope"}));
}

#[tokio::test]
async fn rate_limit_is_retried_by_the_builtin_retry_honouring_retry_after() {
    let addr = serve().await;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink_lines = lines.clone();
    let mut cx = cx();
    cx.log = LogSink::new(move |level, msg| sink_lines.lock().unwrap().push((level, msg)));
    let registry = allow_loopback();
    let started = Instant::now();
    let out = registry
        .run("http.request", json!({"url": format!("http://{addr}/flaky"), "retry": {"attempts": 2}}), &cx)
        .await
        .unwrap();
    assert_eq!(out["body"], json!({"ok": true}));
    assert!(started.elapsed() >= Duration::from_millis(950), "waited {:?}", started.elapsed());
    let lines = lines.lock().unwrap().clone();
    let warn: Vec<_> = lines.iter().filter(|(l, _)| *l == LogLevel::Warn).collect();
    assert_eq!(warn.len(), 1, "{lines:?}");
    assert!(warn[0].1.contains("answered 429; retrying in 1s (attempt 2 of 2)"), "{}", warn[0].1);

    // With the built-in retry turned off the 429 fails at once, telling the engine how long to wait.
    let addr = serve().await;
    let e = request(&allow_loopback(), json!({"url": format!("http://{addr}/flaky"), "retry": 1})).await.unwrap_err();
    assert_eq!((e.kind, e.retry_after_ms), (ErrorKind::RateLimited, Some(1000)));

    // Without a `retry` input, a 429 is retried by default (3 attempts on 429/502/503/504).
    let addr = serve().await;
    let out = registry.run("http.request", json!({"url": format!("http://{addr}/flaky")}), &cx).await.unwrap();
    assert_eq!(out["body"], json!({"ok": true}));
}

#[tokio::test]
async fn server_error_carries_retry_after() {
    let addr = serve().await;
    let e =
        request(&allow_loopback(), json!({"url": format!("http://{addr}/unavailable"), "retry": 1})).await.unwrap_err();
    assert_eq!((e.kind, e.retry_after_ms), (ErrorKind::ServerError, Some(7000)));
    assert_eq!(e.details.unwrap()["body"], "down");
    // A Retry-After longer than the time left is not waited for: the step fails and the engine
    // can schedule the retry.
    let started = Instant::now();
    let e = request(
        &allow_loopback(),
        json!({"url": format!("http://{addr}/unavailable"), "retry": {"attempts": 3}, "timeout": "2s"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ServerError);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn redirects_are_followed_like_browsers() {
    let addr = serve().await;
    let base = format!("http://{addr}");
    let run = |method: &str, code: u16| {
        let input = json!({"method": method, "url": format!("{base}/redirect/{code}?to=/echo"), "json": {"a": 1}});
        async move { request(&allow_loopback(), input).await.unwrap() }
    };
    // 303 → GET without body; 301/302 turn POST into GET; 307/308 keep method and body.
    for (method, code, want_method, want_body) in [
        ("POST", 303, "GET", ""),
        ("PUT", 303, "GET", ""),
        ("POST", 301, "GET", ""),
        ("POST", 302, "GET", ""),
        ("PUT", 302, "PUT", "{\"a\":1}"),
        ("POST", 307, "POST", "{\"a\":1}"),
        ("POST", 308, "POST", "{\"a\":1}"),
    ] {
        let out = run(method, code).await;
        assert_eq!(out["status"], 200);
        let echoed = &out["body"];
        assert_eq!(
            (echoed["method"].as_str().unwrap(), echoed["body"].as_str().unwrap()),
            (want_method, want_body),
            "{method} {code}"
        );
        if want_method == "GET" {
            assert!(echoed["headers"].get("content-type").is_none());
            assert!(echoed["headers"].get("idempotency-key").is_none());
        }
    }

    // Not followed when disabled.
    let out =
        request(&allow_loopback(), json!({"url": format!("{base}/redirect/302?to=/echo"), "follow_redirects": false}))
            .await
            .unwrap();
    assert_eq!((out["status"].clone(), out["headers"]["location"].clone()), (json!(302), json!("/echo")));

    // A loop stops after 10 hops.
    let e = request_owned(format!("{base}/loop")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit);
    assert!(e.message.contains("redirected more than 10 times"), "{}", e.message);

    // Credentials do not follow a redirect to another origin (localhost ≠ 127.0.0.1).
    let other_origin = format!("http://localhost:{}/echo", addr.port());
    let out = request(
        &allow_loopback(),
        json!({"url": format!("{base}/redirect/302?to={other_origin}"), "connection": {"type": "bearer", "token": "secret"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["path"], "/echo");
    assert!(out["body"]["headers"].get("authorization").is_none());
    // ... but do within the same origin.
    let out = request(
        &allow_loopback(),
        json!({"url": format!("{base}/redirect/302?to=/echo"), "connection": {"type": "bearer", "token": "secret"}}),
    )
    .await
    .unwrap();
    assert_eq!(out["body"]["headers"]["authorization"], "Bearer secret");
}

#[tokio::test]
async fn redirect_to_a_refused_address_is_refused() {
    let addr = serve().await;
    for target in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:80/"] {
        let e = request_owned(format!("http://{addr}/redirect/302?to={target}")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::EgressDenied, "{target}: {e}");
    }
    let e = request_owned(format!("http://{addr}/redirect/302?to=http://169.254.169.254/")).await.unwrap_err();
    assert!(e.message.starts_with("169.254.169.254 is a cloud metadata address"), "{}", e.message);
}

#[tokio::test]
async fn timeouts() {
    let addr = serve().await;
    let started = Instant::now();
    let e = request(&allow_loopback(), json!({"url": format!("http://{addr}/slow"), "timeout": "300ms"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.message, format!("no complete response from GET http://{addr}/slow within 300ms"));
    assert!(started.elapsed() < Duration::from_secs(2));

    // The step's timeout applies when the input sets none.
    let mut cx = cx();
    cx.timeout = Some(Duration::from_millis(200));
    let e = allow_loopback().run("http.request", json!({"url": format!("http://{addr}/slow")}), &cx).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout);
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = request_owned(format!("http://{addr}/")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    assert!(e.message.to_lowercase().contains("refused"), "{}", e.message);

    // A name that cannot resolve (.invalid never does) is a connection error too.
    let e =
        request(&allow_loopback(), json!({"url": "http://weft-test.invalid/", "timeout": "10s"})).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    assert!(e.message.contains("could not resolve weft-test.invalid"), "{}", e.message);
}

#[tokio::test]
async fn egress_guard_refuses_internal_addresses() {
    let addr = serve().await;
    let closed = Registry::builtin(EgressGuard::new(vec![]));
    let url = format!("http://{addr}/echo");

    let e = request(&closed, json!({"url": url})).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::EgressDenied);
    assert_eq!(
        e.message,
        "127.0.0.1 is a loopback address (in 127.0.0.0/8); outbound connections to it are refused; allow it with --egress-allow 127.0.0.1/32"
    );
    assert_eq!(request(&allow_loopback(), json!({"url": url})).await.unwrap()["status"], 200);

    // IP literals are refused without any connection attempt.
    let e = request(&closed, json!({"url": "http://169.254.169.254/latest/meta-data/"})).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::EgressDenied);
    assert!(e.message.starts_with("169.254.169.254 is a cloud metadata address"), "{}", e.message);

    // A name resolving to loopback is refused after resolution.
    let e = request(&closed, json!({"url": format!("http://localhost:{}/echo", addr.port())})).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::EgressDenied, "{e}");
    assert!(e.message.starts_with("localhost resolves to "), "{}", e.message);
    assert!(e.message.contains(", which is a loopback address"), "{}", e.message);
    // ... and allowed with the allow-list.
    let out =
        request(&allow_loopback(), json!({"url": format!("http://localhost:{}/echo", addr.port())})).await.unwrap();
    assert_eq!(out["status"], 200);

    for url in [
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:8080/",
        "http://10.1.2.3/",
        "http://2130706433/",
    ] {
        let e = request(&closed, json!({"url": url})).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::EgressDenied, "{url}: {e}");
    }
    let e = request(&closed, json!({"url": "http://[::1]:8080/"})).await.unwrap_err();
    assert!(e.message.starts_with("::1 is a loopback address"), "{}", e.message);
}

#[tokio::test]
async fn bad_inputs_name_the_input() {
    let r = allow_loopback();
    let cases = [
        (json!({"url": "not a url"}), "url: not a valid URL: relative URL without a base ('not a url')"),
        (json!({"url": "ftp://example.com/x"}), "url: not a valid URL: scheme must be http or https, got 'ftp'"),
        (
            json!({"url": "http://example.com", "method": "FETCH"}),
            "method: expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, got 'FETCH'",
        ),
        (
            json!({"url": "http://example.com", "json": {}, "body": "x"}),
            "json: cannot be combined with body (send one of them)",
        ),
        (
            json!({"url": "http://example.com", "timeout": "soon"}),
            "timeout: expected a duration like \"30s\", \"500ms\", \"5m\" or a number of seconds, got \"soon\"",
        ),
        (
            json!({"url": "http://example.com", "headers": {"bad name": "x"}}),
            "headers.bad name: not a valid header name",
        ),
        (
            json!({"url": "http://example.com", "query": {"q": {"nested": 1}}}),
            "query.q: expected a string, number, boolean or a list of them, got an object",
        ),
        (
            json!({"url": "http://example.com", "retry": {"attempts": 0}}),
            "retry.attempts: expected an integer from 1 to 10, got 0",
        ),
        (
            json!({"url": "http://example.com", "fail_on_status": "no"}),
            "fail_on_status: expected true or false, got a string",
        ),
        (json!({}), "url: is required"),
    ];
    for (input, want) in cases {
        let e = request(&r, input.clone()).await.unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Input, want), "{input}");
    }
    let e = request(&r, json!({"url": "http://example.com", "hedaers": {}})).await.unwrap_err();
    assert!(
        e.message.starts_with("hedaers: unknown input of http.request (it takes method, url, headers"),
        "{}",
        e.message
    );
}
