//! The HTTP side of the client: one [`Api`] that sends requests to a Weft server with the bearer
//! token, and [`CliError`], which sorts every way a command can fail into the documented exit
//! codes (see [`super::EXIT_CODES_HELP`]).

use super::ClientOpts;
use crate::output;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// How long to wait for a TCP/TLS connection. Requests themselves have no deadline, because
/// `instance run --wait` legitimately waits for a whole flow.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client command failed; each variant maps to one exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad input found after argument parsing (unreadable file, invalid JSON, bad URL): exit 2,
    /// the same as clap's own usage errors.
    Usage(String),
    /// A component crate cannot be built (`weft component build|publish`): no Cargo.toml, the
    /// `wasm32-wasip2` target missing and not installable, cargo failing. Exit 2, like a usage
    /// error: nothing was sent, and retrying will not help until the user fixes something.
    Build(String),
    /// A component's unit tests failed (`weft component test`): exit 2, like a build error.
    Tests(String),
    /// The server refused the request (4xx other than 401/403): exit 1.
    Refused(Box<ApiError>),
    /// The server could not be reached at all: exit 3.
    Unreachable { url: String, cause: String },
    /// No token was given, so no request was made: exit 4.
    MissingToken,
    /// The server rejected the token (401) or its role (403): exit 4.
    Auth(Box<ApiError>),
    /// The server failed (5xx): exit 5.
    Server(Box<ApiError>),
    /// The server answered something that is not the API's JSON: exit 5.
    BadResponse(String),
}

/// An error response from the API: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    /// Reads an error body. A body that is not the API's error shape (a proxy's HTML page, a
    /// server from another product on that port) still gives an error naming the status.
    pub fn from_body(status: StatusCode, body: &[u8]) -> ApiError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error")).filter(|e| e.is_object());
        match error {
            Some(e) => ApiError {
                status: status.as_u16(),
                code: e.get("code").and_then(Value::as_str).unwrap_or("unknown").to_string(),
                message: e.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_string(),
                details: e.get("details").filter(|d| !d.is_null()).cloned(),
            },
            None => {
                let text = String::from_utf8_lossy(body);
                let text = output::truncate(&output::one_line(text.trim()), 200);
                let reason = status.canonical_reason().unwrap_or("error");
                ApiError {
                    status: status.as_u16(),
                    code: format!("http.{}", status.as_u16()),
                    message: if text.is_empty() {
                        format!("the server answered {} {reason}", status.as_u16())
                    } else {
                        format!("the server answered {} {reason}: {text}", status.as_u16())
                    },
                    details: None,
                }
            }
        }
    }
}

impl CliError {
    /// Sorts an error response by status into refused (1), auth (4) or server (5).
    pub fn from_status(status: StatusCode, body: &[u8]) -> CliError {
        let error = Box::new(ApiError::from_body(status, body));
        match status.as_u16() {
            401 | 403 => CliError::Auth(error),
            400..=499 => CliError::Refused(error),
            _ => CliError::Server(error),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Refused(_) => 1,
            CliError::Usage(_) | CliError::Build(_) | CliError::Tests(_) => 2,
            CliError::Unreachable { .. } => 3,
            CliError::MissingToken | CliError::Auth(_) => 4,
            CliError::Server(_) | CliError::BadResponse(_) => 5,
        }
    }
}

/// The text printed on stderr; every line ends in `\n`.
impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => writeln!(f, "error: {message}"),
            CliError::Build(message) => writeln!(f, "error: cannot build the component: {message}"),
            CliError::Tests(message) => writeln!(f, "error: {message}"),
            CliError::Refused(e) | CliError::Server(e) => {
                f.write_str(&output::api_error(&e.code, &e.message, e.details.as_ref()))
            }
            CliError::Auth(e) => {
                f.write_str(&output::api_error(&e.code, &e.message, e.details.as_ref()))?;
                if e.status == 403 {
                    writeln!(
                        f,
                        "hint: this token's role does not allow that; use a token with a stronger role \
                         (create one with `weft token create --role ROLE`) and set WEFT_TOKEN"
                    )
                } else {
                    writeln!(f, "hint: set WEFT_TOKEN to a valid API token (create one with `weft token create`)")
                }
            }
            CliError::MissingToken => writeln!(
                f,
                "error: no API token given\n\
                 hint: set WEFT_TOKEN (or pass --token); create one with `weft token create`"
            ),
            CliError::Unreachable { url, cause } => writeln!(
                f,
                "error: cannot reach the server at {url}: {cause}\n\
                 hint: is `weft serve` running at {url}? set WEFT_URL (or --url) to where it listens"
            ),
            CliError::BadResponse(message) => writeln!(f, "error: {message}"),
        }
    }
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    /// Raw bytes with their content type (an integration definition as YAML or JSON, a
    /// component's WebAssembly as `application/wasm`).
    Raw {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

/// A successful response: its status and its JSON body (`None` for an empty body, e.g. 204).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    /// The body, or `null` for an empty one, for code that renders fields.
    pub fn json(&self) -> &Value {
        self.body.as_ref().unwrap_or(&Value::Null)
    }
}

/// A connection to one Weft server.
pub struct Api {
    /// The server's base URL as given (for messages).
    shown_url: String,
    /// Parsed base URL; API paths are appended as segments so ids are always escaped.
    base: Url,
    token: String,
    http: reqwest::Client,
}

impl Api {
    /// Checks the options (token present, URL valid) and builds the HTTP client. Makes no request.
    pub fn new(opts: &ClientOpts) -> Result<Api, CliError> {
        let token = match opts.token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => return Err(CliError::MissingToken),
        };
        let base = parse_base_url(&opts.url)?;
        // reqwest is built without a default crypto provider; install ring so https:// works.
        // An error only means a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("weft-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Usage(format!("cannot set up the HTTP client: {}", error_chain(&e))))?;
        Ok(Api { shown_url: opts.url.clone(), base, token, http })
    }

    /// The URL of `/api/v1/<segments…>?<query>`. Each segment is percent-escaped, so an id such
    /// as `ext:ACME/1` stays one path segment.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        build_url(&self.base, segments, query)
    }

    /// Sends a request and returns the reply, or the error sorted by exit code.
    pub async fn send(&self, method: Method, url: Url, body: Body) -> Result<Reply, CliError> {
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw { content_type, bytes } => {
                request.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes)
            }
        };
        let response = request.send().await.map_err(|e| {
            if e.is_builder() {
                CliError::Usage(format!("invalid request: {}", error_chain(&e)))
            } else {
                CliError::Unreachable { url: self.shown_url.clone(), cause: root_cause(&e) }
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| CliError::BadResponse(format!("reading the server's response failed: {}", error_chain(&e))))?;
        if !status.is_success() {
            return Err(CliError::from_status(status, &bytes));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Reply { status, body: None });
        }
        let body = serde_json::from_slice(&bytes).map_err(|e| {
            CliError::BadResponse(format!(
                "the server at {} answered {status} with a body that is not JSON ({e}); is WEFT_URL a Weft server?",
                self.shown_url
            ))
        })?;
        Ok(Reply { status, body: Some(body) })
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Reply, CliError> {
        self.send(Method::GET, self.url(segments, query), Body::None).await
    }
}

/// Parses `--url`/`WEFT_URL`; it must be an http(s) URL that can take a path.
pub fn parse_base_url(text: &str) -> Result<Url, CliError> {
    let url = Url::parse(text.trim())
        .map_err(|e| CliError::Usage(format!("invalid server URL {text:?} (--url / WEFT_URL): {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(CliError::Usage(format!(
            "invalid server URL {text:?} (--url / WEFT_URL): expected http://HOST:PORT or https://HOST"
        )));
    }
    Ok(url)
}

/// Joins `api/v1/<segments>` onto the base URL's path (keeping a path prefix such as a reverse
/// proxy's `/weft`) and sets the query pairs.
pub fn build_url(base: &Url, segments: &[&str], query: &[(&str, String)]) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(["api", "v1"]).extend(segments);
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    url
}

/// The innermost cause of an error: for a failed connection that is the useful part
/// ("Connection refused", "failed to lookup address", a TLS certificate problem), while the
/// outer layers only repeat the URL.
pub fn root_cause(error: &dyn std::error::Error) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// An error with its causes, `outer: inner: innermost`, skipping causes already in the text
/// (reqwest's messages are terse; the useful "Connection refused" is several levels down).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(url: &str, token: Option<&str>) -> ClientOpts {
        ClientOpts { url: url.to_string(), token: token.map(str::to_string), json: false }
    }

    #[test]
    fn missing_or_blank_token_is_exit_4_before_any_request() {
        for token in [None, Some(""), Some("  ")] {
            let err = Api::new(&opts("http://127.0.0.1:1", token)).err().expect("must fail");
            assert!(matches!(err, CliError::MissingToken));
            assert_eq!(err.exit_code(), 4);
            let text = err.to_string();
            assert!(text.contains("WEFT_TOKEN") && text.contains("weft token create"), "{text}");
        }
    }

    #[test]
    fn bad_url_is_a_usage_error() {
        for url in ["not a url", "ftp://example.com", "mailto:x@y"] {
            let err = Api::new(&opts(url, Some("t"))).err().expect("must fail");
            assert_eq!(err.exit_code(), 2, "{url}");
            assert!(err.to_string().contains("WEFT_URL"), "{err}");
        }
    }

    #[test]
    fn urls_escape_segments_and_keep_prefixes() {
        let base = parse_base_url("http://127.0.0.1:8080").unwrap();
        let url = build_url(&base, &["customers", "ext:ACME/1 x"], &[]);
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/api/v1/customers/ext:ACME%2F1%20x");
        let base = parse_base_url("https://example.com/weft/").unwrap();
        let url = build_url(&base, &["executions"], &[("status", "failed".into()), ("cursor", "a&b".into())]);
        assert_eq!(url.as_str(), "https://example.com/weft/api/v1/executions?status=failed&cursor=a%26b");
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let body = json!({"error": {"code": "customer.not_found", "message": "no customer 'x'", "details": null}});
        let bytes = serde_json::to_vec(&body).unwrap();
        let err = CliError::from_status(StatusCode::NOT_FOUND, &bytes);
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "error: no customer 'x' (customer.not_found)\n");

        let err = CliError::from_status(
            StatusCode::UNAUTHORIZED,
            br#"{"error":{"code":"auth.invalid_token","message":"bad token"}}"#,
        );
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("weft token create"));
        let err =
            CliError::from_status(StatusCode::FORBIDDEN, br#"{"error":{"code":"auth.forbidden","message":"no"}}"#);
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("--role"));

        let err = CliError::from_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"error":{"code":"internal","message":"oops"}}"#,
        );
        assert_eq!(err.exit_code(), 5);
        assert_eq!(err.to_string(), "error: oops (internal)\n");
    }

    #[test]
    fn non_api_error_bodies_still_name_the_status() {
        let err = CliError::from_status(StatusCode::BAD_GATEWAY, b"<html>\nBad gateway\n</html>");
        assert_eq!(err.exit_code(), 5);
        assert_eq!(
            err.to_string(),
            "error: the server answered 502 Bad Gateway: <html> Bad gateway </html> (http.502)\n"
        );
        let err = CliError::from_status(StatusCode::NOT_FOUND, b"");
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "error: the server answered 404 Not Found (http.404)\n");
    }

    #[test]
    fn validation_details_are_listed() {
        let body = json!({"error": {"code": "instance.invalid_config", "message": "the config is invalid",
            "details": [{"variable": "endpoint", "message": "is required"}]}});
        let err = CliError::from_status(StatusCode::UNPROCESSABLE_ENTITY, &serde_json::to_vec(&body).unwrap());
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            err.to_string(),
            "error: the config is invalid (instance.invalid_config)\n  config.endpoint: is required\n"
        );
    }

    #[tokio::test]
    async fn unreachable_server_is_exit_3_with_advice() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let api = Api::new(&opts(&format!("http://127.0.0.1:{port}"), Some("t"))).unwrap();
        let err = api.get(&["customers"], &[]).await.expect_err("nothing listens there");
        assert_eq!(err.exit_code(), 3);
        let text = err.to_string();
        assert!(text.contains("weft serve") && text.contains("WEFT_URL"), "{text}");
        assert!(text.contains(&format!("http://127.0.0.1:{port}")), "{text}");
        // Only the root cause is shown, not reqwest's wrapper that repeats the URL.
        assert!(text.contains("Connection refused") && !text.contains("error sending request"), "{text}");
    }
}
