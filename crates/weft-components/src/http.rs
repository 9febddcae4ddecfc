//! The built-in `http` component: `http.request`, an outbound HTTP call.
//!
//! Every hop goes through the [`EgressGuard`]: host names are resolved by the guard's resolver
//! (which drops refused addresses), IP-literal URLs are checked before sending, and redirects are
//! followed here rather than by reqwest so each `Location` is checked the same way. Credentials
//! (`Authorization`, cookies, the connection's API-key header) are dropped when a redirect leaves
//! the original origin, so a redirect cannot leak them to another host.
//!
//! Output: `{status, headers, body}`. Header names are lower case; repeated headers are joined
//! with `", "`. The body is parsed JSON when the response's content type says JSON
//! (`application/json`, `*/*+json`), else the text; a body that is not UTF-8 is given as base64
//! and the output then carries `body_encoding: "base64"`.
//!
//! Failures: a status >= 400 fails (429 → `rate_limited`, 5xx → `server_error`, others →
//! `http_status`) with details `{status, headers, body}` and, when the remote sent `Retry-After`,
//! `retry_after_ms` — unless `fail_on_status: false`. The optional `retry: {attempts, on_status}`
//! input retries 429/5xx answers inside the action, waiting as `Retry-After` asks.

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value, json};
use weft_model::{ActionSpec, ErrorKind, InputType, LogLevel, StepError};

use crate::egress::{EgressGuard, find_refusal};
use crate::input::{Inputs, action, as_str, duration, enum_of, input_error, spec, type_name};
use crate::{ActionContext, BoxFuture, Component};

/// Largest response body read into memory (DESIGN.md: request body size default 32 MiB).
pub const MAX_RESPONSE_BODY: usize = 32 * 1024 * 1024;
/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 10;
/// Time limit when neither the input nor the step sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts when the step gives no `retry` input.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Statuses retried when the step gives no `retry` input: rate limited, bad gateway,
/// unavailable, gateway timeout. (A plain 500 may have half-done the work: opt in for it.)
pub const DEFAULT_RETRY_ON: [u16; 4] = [429, 502, 503, 504];
/// Upper bound of the built-in `retry.attempts`.
pub const MAX_ATTEMPTS: u64 = 10;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The `http` component. Holds one connection-pooling client for all calls.
pub struct HttpComponent {
    guard: EgressGuard,
    /// Building can only fail on a broken TLS setup; that is reported by every call instead of
    /// refusing to build the registry.
    client: Result<reqwest::Client, String>,
}

impl HttpComponent {
    pub fn new(guard: EgressGuard) -> HttpComponent {
        // Redirects are followed by hand so that every hop is checked by the guard.
        let client = guard.http_client(concat!("weft/", env!("CARGO_PKG_VERSION")));
        HttpComponent { guard, client }
    }

    fn spec() -> ActionSpec {
        action(
            "http.request",
            "Sends an HTTP request and returns {status, headers, body}; a status >= 400 fails unless fail_on_status is false.",
            vec![
                spec("method", enum_of(METHODS), false, "HTTP method (default GET)."),
                spec("url", InputType::String, true, "Absolute http:// or https:// URL."),
                spec("headers", InputType::Object, false, "Request headers (string values)."),
                spec(
                    "query",
                    InputType::Object,
                    false,
                    "Query parameters added to the URL; a list value repeats the parameter.",
                ),
                spec("json", InputType::Any, false, "Body sent as JSON (sets Content-Type: application/json)."),
                spec("body", InputType::String, false, "Raw body text; not together with json."),
                spec(
                    "timeout",
                    InputType::Any,
                    false,
                    "Time limit for the whole request: \"30s\", \"500ms\" or seconds (default: the step timeout, else 30s).",
                ),
                spec(
                    "connection",
                    InputType::Any,
                    false,
                    "Credentials: {type: bearer, token} | {type: basic, username, password} | {type: api_key, header | query, value} | {type: oauth2, access_token}.",
                ),
                spec("fail_on_status", InputType::Boolean, false, "Fail the step on a status >= 400 (default true)."),
                spec("follow_redirects", InputType::Boolean, false, "Follow redirects, at most 10 (default true)."),
                spec(
                    "retry",
                    InputType::Any,
                    false,
                    "Built-in retry honouring Retry-After: {attempts: N, on_status: [...]}; default 3 attempts on 429, 502, 503, 504 (given on_status default: 429 and 5xx).",
                ),
            ],
        )
    }
}

impl Component for HttpComponent {
    fn key(&self) -> &'static str {
        "http"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![HttpComponent::spec()]
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            if action != "http.request" {
                return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
            }
            let client = self.client.as_ref().map_err(|e| StepError::new(ErrorKind::Component, e.clone()))?;
            let req = Request::from_input(input, cx)?;
            Call { client, guard: &self.guard, req: &req, cx }.execute().await
        })
    }
}

/// A validated `http.request` input.
struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    /// Headers carrying credentials: dropped when a redirect changes origin.
    sensitive: Vec<HeaderName>,
    timeout: Duration,
    fail_on_status: bool,
    follow_redirects: bool,
    attempts: u32,
    retry_on: Vec<u16>,
}

impl Request {
    fn from_input(input: Value, cx: &ActionContext) -> Result<Request, StepError> {
        let mut inputs = Inputs::new(input, &HttpComponent::spec())?;
        let method_name = match inputs.get("method") {
            Some(Value::String(s)) => s.to_ascii_uppercase(),
            Some(other) => {
                return Err(input_error(
                    "method",
                    format!("expected one of {}, got {}", METHODS.join(", "), type_name(other)),
                ));
            }
            None => "GET".to_string(),
        };
        if !METHODS.contains(&method_name.as_str()) {
            return Err(input_error("method", format!("expected one of {}, got '{method_name}'", METHODS.join(", "))));
        }
        let method = Method::from_bytes(method_name.as_bytes()).expect("listed methods are valid");

        let mut url = parse_url(inputs.str("url")?).map_err(|m| input_error("url", m))?;
        if let Some(q) = inputs.get("query") {
            add_query(&mut url, q)?;
        }

        let mut headers = HeaderMap::new();
        if let Some(h) = inputs.get("headers") {
            let Value::Object(h) = h else {
                return Err(input_error(
                    "headers",
                    format!("expected an object of header names to values, got {}", type_name(h)),
                ));
            };
            for (name, value) in h {
                let key = format!("headers.{name}");
                let hname = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| input_error(&key, "not a valid header name"))?;
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    other => {
                        return Err(input_error(&key, format!("expected a string, got {}", type_name(other))));
                    }
                };
                let hvalue = HeaderValue::from_str(&text).map_err(|_| {
                    input_error(&key, "not a valid header value (control characters or non-ASCII text)")
                })?;
                headers.insert(hname, hvalue);
            }
        }

        let mut sensitive = vec![header::AUTHORIZATION, header::COOKIE, header::PROXY_AUTHORIZATION];
        if let Some(conn) = inputs.get("connection") {
            apply_connection(conn, &mut url, &mut headers, &mut sensitive)?;
        }

        let body = match (inputs.take("json"), inputs.get("body")) {
            (Some(_), Some(_)) => {
                return Err(input_error("json", "cannot be combined with body (send one of them)"));
            }
            (Some(j), None) => {
                if !headers.contains_key(header::CONTENT_TYPE) {
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Some(serde_json::to_vec(&j).expect("JSON values serialize"))
            }
            (None, Some(b)) => Some(as_str("body", b)?.as_bytes().to_vec()),
            (None, None) => None,
        };

        let safe = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe
            && !headers.contains_key("idempotency-key")
            && let Ok(v) = HeaderValue::from_str(&cx.idempotency_key)
            && !v.is_empty()
        {
            headers.insert(HeaderName::from_static("idempotency-key"), v);
        }

        let timeout = match inputs.get("timeout") {
            Some(t) => duration("timeout", t)?,
            None => cx.timeout.unwrap_or(DEFAULT_TIMEOUT),
        };
        let (attempts, retry_on) = parse_retry(inputs.get("retry"))?;
        Ok(Request {
            method,
            url,
            headers,
            body,
            sensitive,
            timeout,
            fail_on_status: inputs.opt_bool("fail_on_status")?.unwrap_or(true),
            follow_redirects: inputs.opt_bool("follow_redirects")?.unwrap_or(true),
            attempts,
            retry_on,
        })
    }
}

fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("not a valid URL: {e} ('{s}')"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("not a valid URL: scheme must be http or https, got '{}'", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("not a valid URL: no host in '{s}'"));
    }
    Ok(url)
}

fn add_query(url: &mut Url, q: &Value) -> Result<(), StepError> {
    let Value::Object(q) = q else {
        return Err(input_error(
            "query",
            format!("expected an object of parameter names to values, got {}", type_name(q)),
        ));
    };
    let scalar = |key: &str, v: &Value| -> Result<Option<String>, StepError> {
        match v {
            Value::String(s) => Ok(Some(s.clone())),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            Value::Null => Ok(None),
            other => Err(input_error(
                key,
                format!("expected a string, number, boolean or a list of them, got {}", type_name(other)),
            )),
        }
    };
    let mut pairs = Vec::new();
    for (name, value) in q {
        let key = format!("query.{name}");
        match value {
            Value::Array(items) => {
                for item in items {
                    if let Some(s) = scalar(&key, item)? {
                        pairs.push((name.clone(), s));
                    }
                }
            }
            v => {
                if let Some(s) = scalar(&key, v)? {
                    pairs.push((name.clone(), s));
                }
            }
        }
    }
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    Ok(())
}

/// Adds the connection's credentials as a header (or, for an `api_key` with `query`, a query
/// parameter). Errors never echo credential values.
fn apply_connection(
    conn: &Value,
    url: &mut Url,
    headers: &mut HeaderMap,
    sensitive: &mut Vec<HeaderName>,
) -> Result<(), StepError> {
    let Value::Object(c) = conn else {
        return Err(input_error("connection", format!("expected an object with a type, got {}", type_name(conn))));
    };
    let field = |name: &str| -> Result<&str, StepError> {
        let key = format!("connection.{name}");
        match c.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            None | Some(Value::Null) => Err(input_error(&key, "is required for this connection type")),
            Some(other) => Err(input_error(&key, format!("expected a string, got {}", type_name(other)))),
        }
    };
    let secret_value = |name: &str, text: &str| {
        let mut v = HeaderValue::from_str(text).map_err(|_| {
            input_error(&format!("connection.{name}"), "contains characters not allowed in an HTTP header")
        })?;
        v.set_sensitive(true);
        Ok::<_, StepError>(v)
    };
    let kind = field("type")?;
    let (name, value) = match kind {
        "bearer" => (header::AUTHORIZATION, secret_value("token", &format!("Bearer {}", field("token")?))?),
        "oauth2" => {
            (header::AUTHORIZATION, secret_value("access_token", &format!("Bearer {}", field("access_token")?))?)
        }
        "basic" => {
            let raw = format!("{}:{}", field("username")?, c.get("password").and_then(Value::as_str).unwrap_or(""));
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            (header::AUTHORIZATION, secret_value("password", &format!("Basic {encoded}"))?)
        }
        "api_key" if c.get("query").is_some_and(|q| !q.is_null()) => {
            if c.get("header").is_some_and(|h| !h.is_null()) {
                return Err(input_error("connection.query", "an api_key goes in a `header` or the `query`, not both"));
            }
            let param = field("query")?;
            if param.is_empty() {
                return Err(input_error("connection.query", "the query parameter's name is empty"));
            }
            // An explicit query parameter of that name wins, as an explicit header does.
            if !url.query_pairs().any(|(k, _)| k == param) {
                url.query_pairs_mut().append_pair(param, field("value")?);
            }
            return Ok(());
        }
        "api_key" => {
            let header_name = match c.get("header") {
                None | Some(Value::Null) => "X-API-Key",
                Some(_) => field("header")?,
            };
            let name = HeaderName::from_bytes(header_name.as_bytes())
                .map_err(|_| input_error("connection.header", format!("'{header_name}' is not a valid header name")))?;
            (name, secret_value("value", field("value")?)?)
        }
        "custom" => {
            return Err(input_error(
                "connection.type",
                "a custom connection's fields are not applied by http.request: put them where the API wants them \
                 (e.g. headers: {X-Token: \"{{ config.<variable>.token }}\"})",
            ));
        }
        other => {
            return Err(input_error(
                "connection.type",
                format!("expected one of bearer, basic, api_key, oauth2, got '{other}'"),
            ));
        }
    };
    // An explicit header in `headers` wins over the connection.
    if !headers.contains_key(&name) {
        headers.insert(name.clone(), value);
    }
    if !sensitive.contains(&name) {
        sensitive.push(name);
    }
    Ok(())
}

/// `retry`: `{attempts, on_status}` or just a number of attempts.
fn parse_retry(v: Option<&Value>) -> Result<(u32, Vec<u16>), StepError> {
    let default_on: Vec<u16> = std::iter::once(429).chain(500..=599).collect();
    let attempts_of = |key: &str, v: &Value| -> Result<u32, StepError> {
        match v.as_u64() {
            Some(n) if (1..=MAX_ATTEMPTS).contains(&n) => Ok(n as u32),
            _ => Err(input_error(key, format!("expected an integer from 1 to {MAX_ATTEMPTS}, got {v}"))),
        }
    };
    match v {
        // Without a `retry` input: answers that say "not processed, try again later" are retried
        // (with the Idempotency-Key header on writes, a repeat is safe for APIs that honour it).
        None => Ok((DEFAULT_ATTEMPTS, DEFAULT_RETRY_ON.to_vec())),
        Some(n @ Value::Number(_)) => Ok((attempts_of("retry", n)?, default_on)),
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "attempts" | "on_status")) {
                return Err(input_error(&format!("retry.{k}"), "unknown option (retry takes attempts, on_status)"));
            }
            let attempts = match o.get("attempts") {
                Some(a) => attempts_of("retry.attempts", a)?,
                None => return Err(input_error("retry.attempts", "is required")),
            };
            let on = match o.get("on_status") {
                None | Some(Value::Null) => default_on,
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|s| match s.as_u64() {
                        Some(n @ 400..=599) => Ok(n as u16),
                        _ => Err(input_error(
                            "retry.on_status",
                            format!("expected HTTP statuses from 400 to 599, got {s}"),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(input_error(
                        "retry.on_status",
                        format!("expected a list of statuses, got {}", type_name(other)),
                    ));
                }
            };
            Ok((attempts, on))
        }
        Some(other) => Err(input_error("retry", format!("expected {{attempts, on_status}}, got {}", type_name(other)))),
    }
}

/// A received response, body read and decoded.
struct Response {
    status: StatusCode,
    headers: Map<String, Value>,
    retry_after: Option<Duration>,
    body: Value,
    binary: bool,
}

impl Response {
    fn output(self) -> Value {
        let mut out = json!({"status": self.status.as_u16(), "headers": self.headers, "body": self.body});
        if self.binary {
            out["body_encoding"] = json!("base64");
        }
        out
    }
}

/// One `http.request` call in progress.
struct Call<'a> {
    client: &'a reqwest::Client,
    guard: &'a EgressGuard,
    req: &'a Request,
    cx: &'a ActionContext,
}

impl Call<'_> {
    async fn execute(&self) -> Result<Value, StepError> {
        let req = self.req;
        let deadline = Instant::now() + req.timeout;
        let mut attempt = 1;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let resp = match tokio::time::timeout(remaining, self.send_following_redirects()).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(StepError::new(
                        ErrorKind::Timeout,
                        format!(
                            "no complete response from {} {} within {}",
                            req.method,
                            display_url(&req.url),
                            show_duration(req.timeout)
                        ),
                    ));
                }
            };
            let status = resp.status.as_u16();
            if status < 400 {
                return Ok(resp.output());
            }
            if req.retry_on.contains(&status) && attempt < req.attempts {
                let wait = resp.retry_after.unwrap_or_else(|| backoff(attempt));
                if Instant::now() + wait < deadline {
                    self.cx.log.write(
                        LogLevel::Warn,
                        format!(
                            "http.request: {} {} answered {status}; retrying in {} (attempt {} of {})",
                            req.method,
                            display_url(&req.url),
                            show_duration(wait),
                            attempt + 1,
                            req.attempts
                        ),
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    continue;
                }
            }
            if !req.fail_on_status {
                return Ok(resp.output());
            }
            return Err(status_error(req, resp));
        }
    }

    /// Sends the request, following redirects by hand (each hop re-checked by the guard).
    async fn send_following_redirects(&self) -> Result<Response, StepError> {
        let req = self.req;
        let mut method = req.method.clone();
        let mut url = req.url.clone();
        let mut headers = req.headers.clone();
        let mut body = req.body.clone();
        let mut hops = 0;
        loop {
            self.guard.check_url_host(&url)?;
            let mut rb = self.client.request(method.clone(), url.clone()).headers(headers.clone());
            if let Some(b) = &body {
                rb = rb.body(b.clone());
            }
            let started = Instant::now();
            let resp = rb.send().await.map_err(|e| send_error(&e, &method, &url))?;
            let status = resp.status();
            self.cx.log.write(
                LogLevel::Debug,
                format!(
                    "http.request: {method} {} → {} ({} ms)",
                    display_url(&url),
                    status.as_u16(),
                    started.elapsed().as_millis()
                ),
            );
            let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            let location = resp.headers().get(header::LOCATION).cloned();
            let (true, true, Some(location)) = (req.follow_redirects, is_redirect, location) else {
                return read_response(resp, &method, &url).await;
            };
            if hops == MAX_REDIRECTS {
                return Err(StepError::new(
                    ErrorKind::Limit,
                    format!("{} {} redirected more than {MAX_REDIRECTS} times", req.method, display_url(&req.url)),
                ));
            }
            hops += 1;
            let next = location
                .to_str()
                .ok()
                .and_then(|l| url.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    StepError::new(
                        ErrorKind::Component,
                        format!(
                            "{method} {} redirected ({}) to an invalid location {:?}",
                            display_url(&url),
                            status.as_u16(),
                            location
                        ),
                    )
                })?;
            // As browsers do: 303 turns anything but HEAD into GET; 301/302 turn POST into GET.
            let to_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                || (matches!(status.as_u16(), 301 | 302) && method == Method::POST);
            if to_get {
                method = Method::GET;
                body = None;
                for h in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::TRANSFER_ENCODING,
                    HeaderName::from_static("idempotency-key"),
                ] {
                    headers.remove(h);
                }
            }
            if next.origin() != url.origin() {
                for h in &req.sensitive {
                    headers.remove(h);
                }
            }
            url = next;
        }
    }
}

async fn read_response(mut resp: reqwest::Response, method: &Method, url: &Url) -> Result<Response, StepError> {
    let status = resp.status();
    let mut headers = Map::new();
    for (name, value) in resp.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let retry_after = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
    let is_json = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_json_type);
    let too_big = || {
        StepError::new(
            ErrorKind::Limit,
            format!(
                "the response body of {method} {} exceeds the {} MiB limit",
                display_url(url),
                MAX_RESPONSE_BODY / (1024 * 1024)
            ),
        )
    };
    if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BODY as u64) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        StepError::new(
            ErrorKind::Connection,
            format!("reading the response body of {method} {} failed: {}", display_url(url), error_chain(&e)),
        )
    })? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(too_big());
        }
        bytes.extend_from_slice(&chunk);
    }
    let (body, binary) = decode_body(bytes, is_json);
    Ok(Response { status, headers, retry_after, body, binary })
}

fn decode_body(bytes: Vec<u8>, is_json: bool) -> (Value, bool) {
    if is_json {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return (Value::Null, false);
        }
        if let Ok(v) = serde_json::from_slice(&bytes) {
            return (v, false);
        }
        // A body that claims JSON but is not: hand it over as text rather than failing.
    }
    match String::from_utf8(bytes) {
        Ok(s) => (Value::String(s), false),
        Err(e) => (Value::String(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())), true),
    }
}

fn is_json_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

/// `Retry-After`: delay in seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = (at.timestamp_millis() - chrono::Utc::now().timestamp_millis()).max(0);
    Some(Duration::from_millis(ms as u64))
}

/// Wait before built-in retry `attempt + 1` when the remote gave no `Retry-After`.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.saturating_sub(1).min(6)))
}

fn status_error(req: &Request, resp: Response) -> StepError {
    let status = resp.status.as_u16();
    let kind = match status {
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::HttpStatus,
    };
    let reason = resp.status.canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
    let retry_after_ms = match kind {
        ErrorKind::RateLimited | ErrorKind::ServerError => resp.retry_after.map(|d| d.as_millis() as u64),
        _ => None,
    };
    let mut e = StepError::new(kind, format!("{} {} answered {status}{reason}", req.method, display_url(&req.url)))
        .with_details(json!({"status": status, "headers": resp.headers, "body": resp.body}));
    e.retry_after_ms = retry_after_ms;
    e
}

fn send_error(e: &reqwest::Error, method: &Method, url: &Url) -> StepError {
    if let Some(refused) = find_refusal(e) {
        return refused.0.clone();
    }
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Connection };
    StepError::new(kind, format!("{method} {} failed: {}", display_url(url), error_chain(e)))
}

/// The error and its sources, most specific last, without the repetition reqwest's own
/// `Display` adds (it prints the URL, which may carry secrets in the query).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

/// The URL without its query and credentials, for messages (queries often carry API keys).
fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        // A date in the past means "now".
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        let future =
            (chrono::Utc::now() + chrono::Duration::seconds(120)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(110) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn json_content_types() {
        for t in ["application/json", "application/json; charset=utf-8", "application/problem+json", "Application/JSON"]
        {
            assert!(is_json_type(t), "{t}");
        }
        for t in ["text/plain", "text/html; charset=utf-8", "application/jsonl", ""] {
            assert!(!is_json_type(t), "{t}");
        }
    }

    #[test]
    fn body_decoding() {
        assert_eq!(decode_body(b"{\"a\":1}".to_vec(), true), (json!({"a": 1}), false));
        assert_eq!(decode_body(b"{\"a\":1}".to_vec(), false), (json!("{\"a\":1}"), false));
        assert_eq!(decode_body(b"not json".to_vec(), true), (json!("not json"), false));
        assert_eq!(decode_body(Vec::new(), true), (Value::Null, false));
        assert_eq!(decode_body(vec![0xff, 0x00, 0x80], false), (json!("/wCA"), true));
    }

    #[test]
    fn urls_in_messages_hide_query_and_credentials() {
        let u = Url::parse("https://user:pw@api.example.com/v1/x?api_key=secret#f").unwrap();
        assert_eq!(display_url(&u), "https://api.example.com/v1/x");
    }
}
