//! Redaction: keeping secret config values (secret variables, connection credentials) out of
//! everything Weft shows or stores in the clear: API responses, step inputs and outputs, log
//! lines, error messages.
//!
//! A [`Redactor`] is built once per execution (or API response) from the instance's resolved
//! config. It knows the secret strings and replaces every occurrence of them, wherever a
//! component or an expression may have copied them (a header value, a URL, an error body).
//! Strings shorter than [`MIN_SECRET_LEN`] are not treated as secrets: replacing every `a` or
//! `on` in a log would destroy it while protecting nothing.

use crate::definition::{IntegrationDef, VarType};
use serde_json::{Map, Value};

/// What a redacted value or occurrence reads as.
pub const REDACTED: &str = "[redacted]";

/// Secret strings shorter than this are not searched for (see the module docs).
pub const MIN_SECRET_LEN: usize = 4;

/// Replaces the secret values of one instance's config wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Keys of `secret` variables: their whole value is redacted in a config.
    secret_vars: Vec<String>,
    /// Keys of `connection` variables: every field but `type` is redacted in a config.
    connection_vars: Vec<String>,
    /// The secret strings, longest first so a secret that contains another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Collects the secrets of `config` (a config resolved by [`crate::config::resolve_config`]):
    /// the values of secret variables and every string leaf of connection values except their
    /// `type`, plus derived forms that commonly carry them on the wire (the `user:password`
    /// Basic credentials in base64, and the percent-encoded form of each secret).
    pub fn new(def: &IntegrationDef, config: &Map<String, Value>) -> Redactor {
        let mut r = Redactor::default();
        for var in def.config_vars() {
            match var.var_type {
                VarType::Secret => {
                    r.secret_vars.push(var.key.clone());
                    if let Some(Value::String(s)) = config.get(&var.key) {
                        r.add_secret(s);
                    }
                }
                VarType::Connection => {
                    r.connection_vars.push(var.key.clone());
                    if let Some(Value::Object(conn)) = config.get(&var.key) {
                        // An OAuth connection's `connection` names its variable, and
                        // `customer_connection` a connection of the customer: not secrets.
                        let oauth = conn.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("oauth2_"));
                        let public = |k: &str| {
                            k == "type" || k == crate::config::CUSTOMER_CONNECTION || (oauth && k == "connection")
                        };
                        for v in conn.iter().filter(|(k, _)| !public(k)).map(|(_, v)| v) {
                            r.add_leaves(v);
                        }
                        if let (Some(Value::String(user)), Some(Value::String(pass))) =
                            (conn.get("username"), conn.get("password"))
                        {
                            r.add_secret(&base64(format!("{user}:{pass}").as_bytes()));
                        }
                    }
                }
                _ => {}
            }
        }
        r
    }

    /// Adds a secret known from elsewhere (an OAuth access token fetched at run time). Strings
    /// shorter than [`MIN_SECRET_LEN`] are ignored.
    pub fn add_secret(&mut self, secret: &str) {
        for form in [secret.to_string(), percent_encode(secret)] {
            if form.chars().count() >= MIN_SECRET_LEN && !self.secrets.contains(&form) {
                self.secrets.push(form);
            }
        }
        // Longest first: when one secret contains another, the longer one must go whole.
        self.secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    fn add_leaves(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.add_secret(s),
            Value::Array(items) => items.iter().for_each(|x| self.add_leaves(x)),
            Value::Object(map) => map.values().for_each(|x| self.add_leaves(x)),
            _ => {}
        }
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.secret_vars.is_empty() && self.connection_vars.is_empty()
    }

    /// A config as it may be shown: secret values become `"[redacted]"`, connections keep their
    /// `type` and have every other field redacted. Unset (null) values stay null, so a reader
    /// can tell "not set" from "set". Non-secret values pass through [`Redactor::redact_value`],
    /// since a secret may have been pasted into another field too.
    pub fn redact_config(&self, config: &Map<String, Value>) -> Map<String, Value> {
        config
            .iter()
            .map(|(k, v)| {
                let shown = if v.is_null() {
                    Value::Null
                } else if self.secret_vars.contains(k) {
                    Value::String(REDACTED.into())
                } else if self.connection_vars.contains(k) {
                    match v {
                        Value::Object(conn) => Value::Object(
                            conn.iter()
                                .map(|(f, x)| {
                                    let x =
                                        if f == "type" { self.redact_value(x) } else { Value::String(REDACTED.into()) };
                                    (f.clone(), x)
                                })
                                .collect(),
                        ),
                        _ => Value::String(REDACTED.into()),
                    }
                } else {
                    self.redact_value(v)
                };
                (k.clone(), shown)
            })
            .collect()
    }

    /// `v` with every occurrence of a secret, in any string and any object key, replaced by
    /// `"[redacted]"`.
    pub fn redact_value(&self, v: &Value) -> Value {
        if self.secrets.is_empty() {
            return v.clone();
        }
        match v {
            Value::String(s) => Value::String(self.redact_str(s)),
            Value::Array(items) => Value::Array(items.iter().map(|x| self.redact_value(x)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, x)| (self.redact_str(k), self.redact_value(x))).collect())
            }
            other => other.clone(),
        }
    }

    /// `s` with every occurrence of a secret replaced by `"[redacted]"` (for log lines and error
    /// messages).
    pub fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Standard base64 with padding (RFC 4648), as used by HTTP Basic credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encoding of everything but RFC 3986 unreserved characters: how a secret looks in a
/// query string or a form body.
fn percent_encode(s: &str) -> String {
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
    use crate::definition::{ConfigPage, ConfigVar};
    use serde_json::json;

    fn var(key: &str, var_type: VarType) -> ConfigVar {
        ConfigVar::new(key, var_type)
    }

    fn def() -> IntegrationDef {
        IntegrationDef {
            key: "i".into(),
            name: "I".into(),
            description: None,
            config: vec![ConfigPage {
                page: "p".into(),
                vars: vec![
                    var("endpoint", VarType::String),
                    var("token", VarType::Secret),
                    var("api", VarType::Connection),
                    var("pin", VarType::Secret),
                    var("unset", VarType::Secret),
                ],
            }],
            flows: Vec::new(),
        }
    }

    fn config() -> Map<String, Value> {
        json!({
            "endpoint": "https://api.example.com",
            "token": "tok_abcdef",
            "api": {"type": "basic", "username": "alice", "password": "p@ss word", "extra": {"nested": ["deep-secret"]}},
            "pin": "123",
            "unset": null
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn config_values_are_redacted() {
        let r = Redactor::new(&def(), &config());
        assert_eq!(
            Value::Object(r.redact_config(&config())),
            json!({
                "endpoint": "https://api.example.com",
                "token": "[redacted]",
                "api": {"type": "basic", "username": "[redacted]", "password": "[redacted]", "extra": "[redacted]"},
                "pin": "[redacted]",
                "unset": null
            })
        );
    }

    #[test]
    fn occurrences_are_redacted_everywhere() {
        let r = Redactor::new(&def(), &config());
        let out = r.redact_value(&json!({
            "headers": {"authorization": "Bearer tok_abcdef", "x-user": "alice"},
            "url": "https://x/?p=p%40ss%20word&q=1",
            "basic": "Basic YWxpY2U6cEBzcyB3b3Jk",
            "list": ["deep-secret!", 5, true, null],
            "tok_abcdef": "as a key",
            "short": "123 stays: too short to be searched for",
            "type": "basic"
        }));
        assert_eq!(
            out,
            json!({
                "headers": {"authorization": "Bearer [redacted]", "x-user": "[redacted]"},
                "url": "https://x/?p=[redacted]&q=1",
                "basic": "Basic [redacted]",
                "list": ["[redacted]!", 5, true, null],
                "[redacted]": "as a key",
                "short": "123 stays: too short to be searched for",
                "type": "basic"
            })
        );
    }

    #[test]
    fn longer_secrets_win_over_contained_ones() {
        let mut r = Redactor::default();
        r.add_secret("abcd");
        r.add_secret("xxabcdxx");
        assert_eq!(r.redact_str("1 xxabcdxx 2 abcd"), "1 [redacted] 2 [redacted]");
    }

    #[test]
    fn nothing_to_redact_is_identity() {
        let d = IntegrationDef { config: Vec::new(), ..def() };
        let r = Redactor::new(&d, &Map::new());
        assert!(r.is_empty());
        let v = json!({"a": ["b", {"c": "tok_abcdef"}]});
        assert_eq!(r.redact_value(&v), v);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
