//! Outbound HTTP through the host: `weft_sdk::http::get(url).bearer(token).send()?`.
//!
//! The host sends every request through its egress guard (addresses inside the host's network
//! are refused unless the operator allows them) and caps its time and size. Redirects are not
//! followed: a 3xx comes back as a response. Any status is a [`Response`]; turn 4xx/5xx into an
//! [`Error`] of the right kind with [`Response::error_for_status`].

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{Error, ErrorKind};

/// An outbound request, built with the functions of this module and sent with [`Request::send`].
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The absolute URL, query included.
    pub url: String,
    /// Headers in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Time limit for the exchange (the host caps it by the step's remaining time).
    pub timeout_ms: Option<u32>,
}

pub fn get(url: impl Into<String>) -> Request {
    Request::new("GET", url)
}

pub fn post(url: impl Into<String>) -> Request {
    Request::new("POST", url)
}

pub fn put(url: impl Into<String>) -> Request {
    Request::new("PUT", url)
}

pub fn patch(url: impl Into<String>) -> Request {
    Request::new("PATCH", url)
}

pub fn delete(url: impl Into<String>) -> Request {
    Request::new("DELETE", url)
}

impl Request {
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Request {
        Request { method: method.into(), url: url.into(), headers: Vec::new(), body: None, timeout_ms: None }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Request {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Appends a query parameter, percent-encoded.
    pub fn query(mut self, name: &str, value: impl ToString) -> Request {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!("{}{sep}{}={}", self.url, encode(name), encode(&value.to_string()));
        self
    }

    /// Sends `value` as a JSON body (sets `content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Request {
        self.body = Some(serde_json::to_vec(value).expect("JSON values serialize"));
        if self.header_value("content-type").is_none() {
            self.headers.push(("content-type".into(), "application/json".into()));
        }
        self
    }

    /// Sends raw bytes as the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout_ms = Some(timeout.as_millis().min(u32::MAX as u128) as u32);
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (for fake responders in tests).
    pub fn json_body(&self) -> Option<Value> {
        serde_json::from_slice(self.body.as_deref()?).ok()
    }

    /// Sends the request through the host. Errors: the egress guard refused the destination
    /// (`EgressDenied`), DNS/connect/TLS failed (`Connection`), time ran out (`Timeout`), or the
    /// request was malformed (`Input`).
    pub fn send(&self) -> Result<Response, Error> {
        crate::sys::http_send(self)
    }
}

/// A response: any status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub status: u16,
    /// Headers in order, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status` and no body (for fake responders in tests).
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A 200 response with a JSON body (for fake responders in tests).
    pub fn json_ok(value: &Value) -> Response {
        Response::new(200).with_json(value)
    }

    /// The same response with a JSON body and its content type.
    pub fn with_json(mut self, value: &Value) -> Response {
        self.body = serde_json::to_vec(value).expect("JSON values serialize");
        self.headers.push(("content-type".into(), "application/json".into()));
        self
    }

    /// The same response with another header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::internal(format!("the response body is not the expected JSON: {e}")))
    }

    /// `Ok(self)` for a status below 400; otherwise an error of the matching kind (401/403
    /// `Auth`, 404 `NotFound`, 429 `RateLimited` with `Retry-After`, 5xx `ServerError`, else
    /// `HttpStatus`) whose details carry the status and body.
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.status < 400 {
            return Ok(self);
        }
        let kind = match self.status {
            401 | 403 => ErrorKind::Auth,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::ServerError,
            _ => ErrorKind::HttpStatus,
        };
        let body = serde_json::from_slice::<Value>(&self.body).unwrap_or_else(|_| Value::String(self.text()));
        let mut e = Error::new(kind, format!("the remote answered {}", self.status))
            .with_details(serde_json::json!({"status": self.status, "body": body}));
        if let Some(secs) = self.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            e = e.with_retry_after_ms(secs.saturating_mul(1000));
        }
        Err(e)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_encoded_and_appended() {
        let r = get("https://api.example.com/contacts").query("q", "a b&c").query("page", 2);
        assert_eq!(r.url, "https://api.example.com/contacts?q=a%20b%26c&page=2");
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        assert!(Response::new(204).error_for_status().is_ok());
        let kind = |s| Response::new(s).error_for_status().unwrap_err().kind;
        assert_eq!(kind(401), ErrorKind::Auth);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(422), ErrorKind::HttpStatus);
        assert_eq!(kind(503), ErrorKind::ServerError);
        let e = Response::new(429).with_header("Retry-After", "3").error_for_status().unwrap_err();
        assert_eq!((e.kind, e.retry_after_ms), (ErrorKind::RateLimited, Some(3000)));
    }
}
