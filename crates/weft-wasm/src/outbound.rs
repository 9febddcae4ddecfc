//! `host.http-send`: outbound HTTP for guests, through the egress guard.
//!
//! The same rules as the built-in `http.request`: host names are resolved by the guard's
//! resolver (refused addresses are dropped, all refused → an `egress-denied` error naming the
//! address), IP-literal URLs are checked before sending (reqwest does not resolve them), no
//! proxy (it would resolve names out of the guard's sight), and redirects are not followed (the
//! guest sees the 3xx; following it would be a new `http-send`, checked again).

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use weft_components::EgressGuard;
use weft_components::egress::EgressRefused;

use crate::bindings::{HttpError, HttpErrorKind, HttpRequest, HttpResponse};
use crate::config::{show_bytes, show_duration};

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The guarded HTTP client shared by every invocation of a host.
pub(crate) struct Outbound {
    guard: EgressGuard,
    client: Result<reqwest::Client, String>,
}

fn error(kind: HttpErrorKind, message: impl Into<String>) -> HttpError {
    HttpError { kind, message: message.into() }
}

impl Outbound {
    pub(crate) fn new(guard: EgressGuard) -> Outbound {
        let client = guard.http_client(concat!("weft-component/", env!("CARGO_PKG_VERSION")));
        Outbound { guard, client }
    }

    /// Sends `req`, bounded by `timeout` and `max_body` (request and response each).
    pub(crate) async fn send(
        &self,
        req: HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> Result<HttpResponse, HttpError> {
        let client = self.client.as_ref().map_err(|e| error(HttpErrorKind::Connection, e.clone()))?;
        let method_name = req.method.to_ascii_uppercase();
        if !METHODS.contains(&method_name.as_str()) {
            return Err(error(
                HttpErrorKind::InvalidRequest,
                format!("method '{}' is not one of {}", req.method, METHODS.join(", ")),
            ));
        }
        let method = Method::from_bytes(method_name.as_bytes()).expect("listed methods are valid");
        let url = Url::parse(req.url.trim())
            .map_err(|e| error(HttpErrorKind::InvalidRequest, format!("'{}' is not a valid URL: {e}", req.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(error(
                HttpErrorKind::InvalidRequest,
                format!("'{}' is not an absolute http:// or https:// URL", display_url(&url)),
            ));
        }
        // reqwest connects to IP-literal hosts without asking the resolver: check them here.
        let host = url.host_str().unwrap_or("");
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            self.guard.check_ip(ip).map_err(|e| error(HttpErrorKind::EgressDenied, e.message))?;
        }
        let mut rb = client.request(method.clone(), url.clone());
        for (name, value) in &req.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| error(HttpErrorKind::InvalidRequest, format!("'{name}' is not a valid header name")))?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                error(
                    HttpErrorKind::InvalidRequest,
                    format!("the value of header '{name}' is not a valid header value"),
                )
            })?;
            rb = rb.header(n, v);
        }
        if let Some(body) = req.body {
            if body.len() > max_body {
                return Err(error(
                    HttpErrorKind::TooLarge,
                    format!("the request body ({} bytes) exceeds the limit of {}", body.len(), show_bytes(max_body)),
                ));
            }
            rb = rb.body(body);
        }
        let what = format!("{method} {}", display_url(&url));
        let exchange = async {
            let mut resp = rb.send().await.map_err(|e| send_error(&e, &what))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let too_big = || {
                error(
                    HttpErrorKind::TooLarge,
                    format!("the response body of {what} exceeds the limit of {}", show_bytes(max_body)),
                )
            };
            if resp.content_length().is_some_and(|n| n > max_body as u64) {
                return Err(too_big());
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| send_error(&e, &what))? {
                if body.len() + chunk.len() > max_body {
                    return Err(too_big());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, headers, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(error(
                HttpErrorKind::Timeout,
                format!("no complete response from {what} within {}", show_duration(timeout)),
            )),
        }
    }
}

fn send_error(e: &reqwest::Error, what: &str) -> HttpError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(refused) = err.downcast_ref::<EgressRefused>() {
            return error(HttpErrorKind::EgressDenied, refused.0.message.clone());
        }
        cur = err.source();
    }
    let kind = if e.is_timeout() { HttpErrorKind::Timeout } else { HttpErrorKind::Connection };
    let mut chain = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        let text = s.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        cur = s.source();
    }
    if chain.is_empty() {
        chain.push(e.to_string());
    }
    error(kind, format!("{what} failed: {}", chain.join(": ")))
}

/// The URL without query and credentials, for messages (queries often carry API keys).
fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}
