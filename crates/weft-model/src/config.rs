//! Config values: checking the values a deploy supplies against an integration's config
//! variables (deploy-time validation) and resolving the value every variable ends up with.
//!
//! Publish-time validation checks the definition; this module checks what a customer (or the
//! vendor's API call) fills in. It reports every problem at once, each naming the variable, so a
//! wizard can mark every faulty field in one round trip. Secret values are never echoed in
//! messages: an error message may end up in a log or an API response.

use crate::definition::{ConfigVar, ConnectionTypeRef, IntegrationDef, OAuth2Def, OAuth2Grant, VarType};
use serde::Serialize;
use serde_json::{Map, Value};

/// One problem with one config value.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("config.{variable}: {message}")]
pub struct ConfigError {
    /// The config variable's key (or the unknown key that was supplied).
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { variable: variable.to_string(), message: message.into() }
    }
}

/// Gives each config variable of `def` its value from `values`, else its default, else null;
/// returns the resolved config (in wizard order) or every problem found.
///
/// A null value counts as "not given" (the default applies). Defaults are checked like given
/// values, so a definition whose default does not fit its type cannot be deployed with it.
/// `key_value_list` values given as an object of strings are normalized to the list form.
pub fn resolve_config(
    def: &IntegrationDef,
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut resolved = Map::new();
    for var in def.config_vars() {
        let given = values.get(&var.key).filter(|v| !v.is_null());
        if let Some(oauth) = &var.oauth2 {
            match check_oauth_connection(var, oauth, given) {
                Ok(v) => resolved.insert(var.key.clone(), v),
                Err(messages) => {
                    errors.extend(messages.into_iter().map(|m| ConfigError::new(&var.key, m)));
                    resolved.insert(var.key.clone(), Value::Null)
                }
            };
            continue;
        }
        let value = match given.or(var.default.as_ref().filter(|v| !v.is_null())) {
            Some(v) => match check_value(var, v) {
                Ok(v) => v,
                Err(messages) => {
                    errors.extend(messages.into_iter().map(|m| ConfigError::new(&var.key, m)));
                    Value::Null
                }
            },
            None if var.required => {
                errors.push(ConfigError::new(&var.key, "a value is required"));
                Value::Null
            }
            None => Value::Null,
        };
        resolved.insert(var.key.clone(), value);
    }
    for key in values.keys() {
        if !def.config_vars().any(|v| &v.key == key) {
            let known: Vec<&str> = def.config_vars().map(|v| v.key.as_str()).collect();
            let known =
                if known.is_empty() { "it has none".to_string() } else { format!("known: {}", known.join(", ")) };
            errors.push(ConfigError::new(key, format!("not a config variable of {} ({known})", def.key)));
        }
    }
    if errors.is_empty() { Ok(resolved) } else { Err(errors) }
}

/// The field of a connection value that names one of the customer's own connections instead
/// of giving credentials: `{customer_connection: <name>}`, shared by the customer's instances.
pub const CUSTOMER_CONNECTION: &str = "customer_connection";

/// A reference to a customer connection: `customer_connection` (a name of lowercase letters,
/// digits, `-` and `_`) and at most a `type`. Returns the name.
fn check_customer_connection_ref(o: &Map<String, Value>) -> Result<String, Vec<String>> {
    let name = match o.get(CUSTOMER_CONNECTION) {
        Some(Value::String(n)) if is_connection_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(vec![format!(
                "`customer_connection` `{n}` is not a connection name (lowercase letters, digits, `-` and `_`)"
            )]);
        }
        Some(other) => {
            return Err(vec![format!(
                "`customer_connection` must be the name of one of the customer's connections, found {}",
                describe_type(other)
            )]);
        }
        None => unreachable!("checked by the caller"),
    };
    let extra: Vec<&str> = o.keys().map(String::as_str).filter(|k| *k != CUSTOMER_CONNECTION && *k != "type").collect();
    if !extra.is_empty() {
        return Err(vec![format!(
            "a reference to the customer's connection `{name}` takes no credentials of its own (found {})",
            extra.join(", ")
        )]);
    }
    Ok(name)
}

/// A value of a component's connection type: the type's fields (required ones present, each
/// of its type, no others) and a `type` that, when given, is the one the type implies. The
/// stored value gets that `type`: the kind for the kinds `http.request` applies (`api_key`,
/// `basic`, `bearer`), else the connection type's name.
fn check_typed_connection(ct: &ConnectionTypeRef, o: &Map<String, Value>) -> Result<Value, Vec<String>> {
    let want =
        if matches!(ct.kind.as_str(), "api_key" | "basic" | "bearer") { ct.kind.clone() } else { ct.name.clone() };
    let mut errors = Vec::new();
    for (k, v) in o {
        if k == "type" {
            if v.as_str() != Some(want.as_str()) {
                errors.push(format!("`type` of a `{}` connection is `{want}`, found {}", ct.name, shown_type(v)));
            }
            continue;
        }
        match ct.fields.iter().find(|f| &f.key == k) {
            None => {
                let known: Vec<&str> = ct.fields.iter().map(|f| f.key.as_str()).collect();
                errors.push(format!(
                    "unknown field `{k}` of a `{}` connection (fields: {})",
                    ct.name,
                    known.join(", ")
                ));
            }
            Some(f) if !v.is_null() && !f.input_type.accepts(v) => {
                errors.push(format!("`{k}`: expected {}, found {}", f.input_type.describe(), describe_type(v)))
            }
            Some(_) => {}
        }
    }
    for f in ct.fields.iter().filter(|f| f.required) {
        if o.get(&f.key).is_none_or(Value::is_null) {
            let what = if f.description.is_empty() { String::new() } else { format!(" ({})", f.description) };
            errors.push(format!("`{}` is required by a `{}` connection{what}", f.key, ct.name));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = o.clone();
    out.insert("type".into(), Value::String(want));
    Ok(Value::Object(out))
}

/// A value's type for a message, without showing the value (it may be a secret).
fn shown_type(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() <= 40 && !s.contains(char::is_whitespace) => format!("`{s}`"),
        other => describe_type(other).to_string(),
    }
}

/// A customer connection's name.
pub fn is_connection_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

/// The value of an OAuth 2.0 connection variable: `{type, connection: <variable>}` (the
/// variable names the connection whose tokens the worker puts in its place when a step uses
/// it), plus a client credentials connection's own `client_id`/`client_secret` when the
/// definition names no OAuth client. Tokens are never given: they come from the provider.
fn check_oauth_connection(var: &ConfigVar, oauth: &OAuth2Def, given: Option<&Value>) -> Result<Value, Vec<String>> {
    let want = oauth.grant.connection_type();
    let mut out = Map::new();
    out.insert("type".into(), Value::String(want.into()));
    let empty = Map::new();
    let fields = match given {
        None => &empty,
        Some(Value::Object(o)) => o,
        Some(other) => return Err(expected(&format!("a connection object of type `{want}`"), other)),
    };
    let mut errors = Vec::new();
    match fields.get("type") {
        None => {}
        Some(Value::String(t)) if t == want => {}
        Some(Value::String(t)) => errors.push(format!("this connection is of type `{want}`, not `{t}`")),
        Some(other) => errors.push(format!("the connection's `type` must be a string, found {}", describe_type(other))),
    }
    let own_client = oauth.grant == OAuth2Grant::ClientCredentials;
    if fields.contains_key(CUSTOMER_CONNECTION) {
        let name = check_customer_connection_ref(fields)?;
        out.insert(CUSTOMER_CONNECTION.into(), Value::String(name));
        out.insert("connection".into(), Value::String(var.key.clone()));
        return Ok(Value::Object(out));
    }
    for (k, v) in fields {
        match k.as_str() {
            // `connection` is what resolution adds (an upgrade carries the value over with it).
            "type" | "connection" => {}
            "client_id" | "client_secret" if own_client => match v {
                Value::String(s) if !s.is_empty() => {
                    out.insert(k.clone(), v.clone());
                }
                _ => errors.push(format!("`{k}` must be a non-empty string")),
            },
            "access_token" | "refresh_token" => errors.push(format!(
                "`{k}` cannot be given: Weft obtains the tokens from the provider ({})",
                if own_client { "with the client credentials" } else { "when the customer authorizes" }
            )),
            other => {
                let allowed = if own_client { "type, client_id, client_secret" } else { "type" };
                errors.push(format!("unknown field `{other}` of a `{want}` connection (allowed: {allowed})"))
            }
        }
    }
    if own_client && oauth.client.is_none() {
        for k in ["client_id", "client_secret"] {
            if !out.contains_key(k) && (var.required || given.is_some()) {
                errors.push(format!("`{k}` is required (the definition names no OAuth client)"));
            }
        }
        if given.is_none() && !var.required {
            return Ok(Value::Null);
        }
    }
    out.insert("connection".into(), Value::String(var.key.clone()));
    if errors.is_empty() { Ok(Value::Object(out)) } else { Err(errors) }
}

/// Keys of the variables whose values are secret: `secret` and `connection` variables. Their
/// values are encrypted at rest and redacted wherever they are shown (see [`crate::redact`]).
pub fn secret_keys(def: &IntegrationDef) -> Vec<String> {
    def.config_vars()
        .filter(|v| matches!(v.var_type, VarType::Secret | VarType::Connection))
        .map(|v| v.key.clone())
        .collect()
}

/// How a JSON value's type reads in a message ("found a string").
pub fn describe_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn expected(what: &str, v: &Value) -> Vec<String> {
    vec![format!("expected {what}, found {}", describe_type(v))]
}

/// Checks one (non-null) value against its variable; returns the value to store (normalized) or
/// the messages of every problem.
fn check_value(var: &ConfigVar, v: &Value) -> Result<Value, Vec<String>> {
    match var.var_type {
        VarType::String => {
            let Value::String(s) = v else {
                return Err(expected("a string", v));
            };
            check_pattern(var, s, true)?;
            Ok(v.clone())
        }
        VarType::Secret => {
            let Value::String(s) = v else {
                return Err(expected("a string", v));
            };
            check_pattern(var, s, false)?;
            Ok(v.clone())
        }
        VarType::Number => {
            let Some(n) = v.as_f64() else {
                return Err(expected("a number", v));
            };
            let mut errs = Vec::new();
            if let Some(min) = var.minimum.filter(|min| n < *min) {
                errs.push(format!("{v} is less than the minimum of {}", fmt_num(min)));
            }
            if let Some(max) = var.maximum.filter(|max| n > *max) {
                errs.push(format!("{v} is greater than the maximum of {}", fmt_num(max)));
            }
            if errs.is_empty() { Ok(v.clone()) } else { Err(errs) }
        }
        VarType::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            _ => Err(expected("a boolean", v)),
        },
        VarType::Picklist => check_picklist(var, v),
        VarType::Json => check_json(var, v),
        VarType::Schedule => {
            let Value::String(s) = v else {
                return Err(expected("a cron string", v));
            };
            check_cron(s).map_err(|m| vec![m])?;
            Ok(v.clone())
        }
        VarType::Connection => {
            let Value::Object(o) = v else {
                return Err(expected("a connection object with a string `type`", v));
            };
            if o.contains_key(CUSTOMER_CONNECTION) {
                return check_customer_connection_ref(o).map(|_| v.clone());
            }
            if let Some(ct) = &var.connection_type {
                return check_typed_connection(ct, o);
            }
            match o.get("type") {
                Some(Value::String(t)) if !t.is_empty() => Ok(v.clone()),
                Some(Value::String(_)) => Err(vec!["the connection's `type` must not be empty".into()]),
                Some(other) => {
                    Err(vec![format!("the connection's `type` must be a string, found {}", describe_type(other))])
                }
                None => Err(vec!["a connection needs a string `type` (e.g. bearer, basic, api_key)".into()]),
            }
        }
        VarType::KeyValueList => check_key_value_list(v),
        VarType::Date => {
            let Value::String(s) = v else {
                return Err(expected("a date (YYYY-MM-DD)", v));
            };
            check_date(s).map_err(|m| vec![m])?;
            Ok(v.clone())
        }
    }
}

/// Numbers as a person writes them: `100`, not `100.0`.
fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// Checks `s` against the variable's pattern (JSON Schema / ECMA 262 semantics: the pattern is
/// searched, not anchored, exactly as in a `json` variable's schema). `echo` says whether the
/// value may appear in the message (not for secrets).
fn check_pattern(var: &ConfigVar, s: &str, echo: bool) -> Result<(), Vec<String>> {
    let Some(pattern) = &var.pattern else {
        return Ok(());
    };
    let schema = serde_json::json!({"type": "string", "pattern": pattern});
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| vec![format!("the variable's pattern `{pattern}` is not a valid regular expression: {e}")])?;
    if validator.is_valid(&Value::String(s.to_string())) {
        Ok(())
    } else if echo {
        Err(vec![format!("{} does not match the pattern `{pattern}`", Value::String(s.to_string()))])
    } else {
        Err(vec![format!("the value does not match the pattern `{pattern}`")])
    }
}

fn check_picklist(var: &ConfigVar, v: &Value) -> Result<Value, Vec<String>> {
    if !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
        return Err(expected("one of the picklist's options", v));
    }
    // No static options: the options come from a data source, queried by the wizard.
    if var.options.is_empty() {
        return Ok(v.clone());
    }
    let same = |o: &Value| match (o, v) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => o == v,
    };
    if var.options.iter().any(same) {
        Ok(v.clone())
    } else {
        let options: Vec<String> = var.options.iter().map(|o| o.to_string()).collect();
        Err(vec![format!("{v} is not one of the options: {}", options.join(", "))])
    }
}

fn check_json(var: &ConfigVar, v: &Value) -> Result<Value, Vec<String>> {
    let Some(schema) = &var.schema else {
        return Ok(v.clone());
    };
    // Without the crate's resolve-http/resolve-file features a `$ref` cannot reach the network or
    // the disk: an external reference fails here instead.
    let validator =
        jsonschema::validator_for(schema).map_err(|e| vec![format!("the variable's JSON Schema is invalid: {e}")])?;
    let errs: Vec<String> = validator
        .iter_errors(v)
        .map(|e| {
            let at = e.instance_path().as_str();
            // The library's message quotes the offending value, which may be large.
            let what = truncate(&e.to_string(), 300);
            if at.is_empty() {
                format!("does not match its schema: {what}")
            } else {
                format!("does not match its schema at {at}: {what}")
            }
        })
        .collect();
    if errs.is_empty() { Ok(v.clone()) } else { Err(errs) }
}

/// `s` cut to at most `max` characters, marked with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn check_key_value_list(v: &Value) -> Result<Value, Vec<String>> {
    let mut errs = Vec::new();
    let mut pairs = Vec::new();
    match v {
        Value::Object(o) => {
            for (k, val) in o {
                match val {
                    Value::String(_) => pairs.push(pair(k, val.clone())),
                    other => errs.push(format!(
                        "the value of {} must be a string, found {}",
                        quoted(k),
                        describe_type(other)
                    )),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(o) = item else {
                    errs.push(format!(
                        "[{i}]: expected an object with string `key` and `value`, found {}",
                        describe_type(item)
                    ));
                    continue;
                };
                let mut ok = true;
                for field in ["key", "value"] {
                    match o.get(field) {
                        Some(Value::String(_)) => {}
                        Some(other) => {
                            ok = false;
                            errs.push(format!("[{i}].{field}: expected a string, found {}", describe_type(other)));
                        }
                        None => {
                            ok = false;
                            errs.push(format!("[{i}]: `{field}` is missing"));
                        }
                    }
                }
                for extra in o.keys().filter(|k| *k != "key" && *k != "value") {
                    ok = false;
                    errs.push(format!("[{i}]: unknown field {} (a pair has only `key` and `value`)", quoted(extra)));
                }
                if ok {
                    pairs.push(Value::Object(o.clone()));
                }
            }
        }
        other => {
            return Err(expected("a list of {key, value} pairs or an object of strings", other));
        }
    }
    if errs.is_empty() { Ok(Value::Array(pairs)) } else { Err(errs) }
}

fn pair(k: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert("key".into(), Value::String(k.to_string()));
    m.insert("value".into(), v);
    Value::Object(m)
}

fn quoted(s: &str) -> String {
    format!("`{s}`")
}

/// Checks a `YYYY-MM-DD` string that names a real calendar date.
pub fn check_date(s: &str) -> Result<(), String> {
    let bad_form = || format!("expected a date as YYYY-MM-DD, found {}", Value::String(s.to_string()));
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad_form());
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(bad_form());
    };
    if !(1..=12).contains(&month) {
        return Err(format!("{s} is not a calendar date (month {month} does not exist)"));
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days {
        return Err(format!("{s} is not a calendar date ({} has {days} days)", month_name(month, year)));
    }
    Ok(())
}

fn month_name(month: u32, year: u32) -> String {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = NAMES[(month - 1) as usize];
    if month == 2 { format!("{name} {year}") } else { name.to_string() }
}

/// One field of a cron expression: its name, its numeric range and its names (if any).
struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Day fields accept `?` and their own `L`/`W`/`#` forms.
    day: Option<DayField>,
}

#[derive(Clone, Copy, PartialEq)]
enum DayField {
    OfMonth,
    OfWeek,
}

const MONTHS: &[&str] = &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const SECOND: CronField = CronField { name: "second", min: 0, max: 59, names: &[], day: None };
const MINUTE: CronField = CronField { name: "minute", min: 0, max: 59, names: &[], day: None };
const HOUR: CronField = CronField { name: "hour", min: 0, max: 23, names: &[], day: None };
const DAY_OF_MONTH: CronField =
    CronField { name: "day-of-month", min: 1, max: 31, names: &[], day: Some(DayField::OfMonth) };
const MONTH: CronField = CronField { name: "month", min: 1, max: 12, names: MONTHS, day: None };
// 0 and 7 are both Sunday, as in most cron implementations.
const DAY_OF_WEEK: CronField =
    CronField { name: "day-of-week", min: 0, max: 7, names: WEEKDAYS, day: Some(DayField::OfWeek) };

/// Basic syntax check of a cron expression: 5 fields (minute hour day-of-month month
/// day-of-week) or 6 (with seconds first). Each field is a comma list of `*`, `?` (day fields),
/// numbers, names (JAN–DEC, SUN–SAT), ranges `a-b`, steps `x/n`, and the day forms `L`, `LW`,
/// `L-n`, `nW` (day of month), `nL`, `n#k` (day of week). Values are checked against the field's
/// range. This is what a deploy can check without knowing the scheduler's cron library.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let layout: &[&CronField] = match fields.len() {
        5 => &[&MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK],
        6 => &[&SECOND, &MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK],
        n => {
            return Err(format!(
                "expected a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), found {n} field{} in {}",
                if n == 1 { "" } else { "s" },
                Value::String(expr.to_string())
            ));
        }
    };
    for (text, field) in fields.iter().zip(layout) {
        for item in text.split(',') {
            check_cron_item(item, field).map_err(|m| {
                format!(
                    "invalid cron expression {}: {} field `{text}`: {m}",
                    Value::String(expr.to_string()),
                    field.name
                )
            })?;
        }
    }
    Ok(())
}

fn check_cron_item(item: &str, f: &CronField) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty list item".into());
    }
    let upper = item.to_ascii_uppercase();
    let (base, step) = match upper.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (upper.as_str(), None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n >= 1 && n <= f.max.max(1) => {}
            _ => {
                return Err(format!("step `{step}` must be a number from 1 to {}", f.max.max(1)));
            }
        }
    }
    if base == "*" {
        return Ok(());
    }
    if base == "?" {
        return match (f.day, step) {
            (Some(_), None) => Ok(()),
            (Some(_), Some(_)) => Err("`?` takes no step".into()),
            (None, _) => Err("`?` is only allowed in the day-of-month and day-of-week fields".into()),
        };
    }
    if step.is_none() {
        match f.day {
            Some(DayField::OfMonth) => {
                if base == "L" || base == "LW" {
                    return Ok(());
                }
                if let Some(offset) = base.strip_prefix("L-") {
                    return match offset.parse::<u32>() {
                        Ok(n) if (1..=30).contains(&n) => Ok(()),
                        _ => Err(format!("`L-{offset}` needs an offset from 1 to 30")),
                    };
                }
                if let Some(day) = base.strip_suffix('W') {
                    return cron_value(day, f).map(|_| ());
                }
            }
            Some(DayField::OfWeek) => {
                if base == "L" {
                    return Ok(());
                }
                if let Some(day) = base.strip_suffix('L') {
                    return cron_value(day, f).map(|_| ());
                }
                if let Some((day, nth)) = base.split_once('#') {
                    cron_value(day, f)?;
                    return match nth.parse::<u32>() {
                        Ok(n) if (1..=5).contains(&n) => Ok(()),
                        _ => Err(format!("`#{nth}` must be a week number from 1 to 5")),
                    };
                }
            }
            None => {}
        }
    }
    match base.split_once('-') {
        Some((a, b)) => {
            cron_value(a, f)?;
            cron_value(b, f)?;
            Ok(())
        }
        None => cron_value(base, f).map(|_| ()),
    }
}

fn cron_value(s: &str, f: &CronField) -> Result<u32, String> {
    if let Some(i) = f.names.iter().position(|n| *n == s) {
        // Month names count from 1, weekday names from 0 (SUN).
        return Ok(i as u32 + f.min);
    }
    match s.parse::<u32>() {
        Ok(n) if (f.min..=f.max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range {}-{}", f.min, f.max)),
        Err(_) if !f.names.is_empty() => {
            Err(format!("`{s}` is not a number from {} to {} nor a name ({})", f.min, f.max, f.names.join(", ")))
        }
        Err(_) => Err(format!("`{s}` is not a number from {} to {}", f.min, f.max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{ConfigPage, FlowDef, Trigger};
    use serde_json::json;

    fn var(key: &str, var_type: VarType) -> ConfigVar {
        ConfigVar::new(key, var_type)
    }

    fn def(vars: Vec<ConfigVar>) -> IntegrationDef {
        IntegrationDef {
            key: "order-sync".into(),
            name: "Order sync".into(),
            description: None,
            config: vec![ConfigPage { page: "Settings".into(), vars }],
            flows: vec![FlowDef {
                key: "f".into(),
                name: None,
                description: None,
                trigger: Trigger::Manual,
                steps: Vec::new(),
                result: None,
                queue: Default::default(),
                retry: None,
            }],
        }
    }

    /// Resolves one value of one variable: `Ok(resolved)` or the error lines.
    fn check(v: ConfigVar, value: Value) -> Result<Value, Vec<String>> {
        let key = v.key.clone();
        let mut values = Map::new();
        values.insert(key.clone(), value);
        resolve_config(&def(vec![v]), &values)
            .map(|mut m| m.remove(&key).unwrap())
            .map_err(|errs| errs.iter().map(|e| e.to_string()).collect())
    }

    fn ok(v: ConfigVar, value: Value) {
        let expect = value.clone();
        assert_eq!(check(v, value), Ok(expect));
    }

    fn err(v: ConfigVar, value: Value, messages: &[&str]) {
        assert_eq!(check(v, value), Err(messages.iter().map(|m| m.to_string()).collect::<Vec<_>>()));
    }

    #[test]
    fn reference_example_resolves_with_defaults() {
        let mut endpoint = var("endpoint", VarType::String);
        endpoint.required = true;
        let mut min_total = var("min_total", VarType::Number);
        min_total.default = Some(json!(100));
        let mut tags = var("tags", VarType::Json);
        tags.default = Some(json!(["weft"]));
        let d = def(vec![endpoint, min_total, tags]);

        let values = json!({"endpoint": "http://x"});
        let got = resolve_config(&d, values.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(got), json!({"endpoint": "http://x", "min_total": 100, "tags": ["weft"]}));

        let values = json!({"min_total": "big", "endpiont": "http://x"});
        let errs: Vec<String> =
            resolve_config(&d, values.as_object().unwrap()).unwrap_err().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            [
                "config.endpoint: a value is required",
                "config.min_total: expected a number, found a string",
                "config.endpiont: not a config variable of order-sync (known: endpoint, min_total, tags)",
            ]
        );
    }

    #[test]
    fn null_means_not_given() {
        let mut v = var("n", VarType::Number);
        v.default = Some(json!(3));
        assert_eq!(check(v.clone(), Value::Null), Ok(json!(3)));
        v.default = None;
        assert_eq!(check(v.clone(), Value::Null), Ok(Value::Null));
        v.required = true;
        assert_eq!(check(v, Value::Null), Err(vec!["config.n: a value is required".to_string()]));
    }

    #[test]
    fn required_with_default_takes_the_default() {
        let mut v = var("n", VarType::Number);
        v.required = true;
        v.default = Some(json!(5));
        let got = resolve_config(&def(vec![v]), &Map::new()).unwrap();
        assert_eq!(got["n"], json!(5));
    }

    #[test]
    fn bad_defaults_are_reported() {
        let mut v = var("n", VarType::Number);
        v.default = Some(json!("five"));
        let errs = resolve_config(&def(vec![v]), &Map::new()).unwrap_err();
        assert_eq!(errs, [ConfigError { variable: "n".into(), message: "expected a number, found a string".into() }]);
    }

    #[test]
    fn unknown_variable_without_any_vars() {
        let d = def(Vec::new());
        let errs = resolve_config(&d, json!({"x": 1}).as_object().unwrap()).unwrap_err();
        assert_eq!(errs[0].to_string(), "config.x: not a config variable of order-sync (it has none)");
    }

    #[test]
    fn string_values() {
        ok(var("s", VarType::String), json!("hello"));
        ok(var("s", VarType::String), json!(""));
        err(var("s", VarType::String), json!(5), &["config.s: expected a string, found a number"]);
        err(var("s", VarType::String), json!(["a"]), &["config.s: expected a string, found a list"]);
        let mut p = var("s", VarType::String);
        p.pattern = Some("^https://".into());
        ok(p.clone(), json!("https://x"));
        err(p, json!("http://x"), &["config.s: \"http://x\" does not match the pattern `^https://`"]);
        let mut bad = var("s", VarType::String);
        bad.pattern = Some("(".into());
        let got = check(bad, json!("x")).unwrap_err();
        assert!(
            got[0].starts_with("config.s: the variable's pattern `(` is not a valid regular expression"),
            "{got:?}"
        );
    }

    #[test]
    fn number_values() {
        let mut n = var("n", VarType::Number);
        n.minimum = Some(0.0);
        n.maximum = Some(100.0);
        ok(n.clone(), json!(0));
        ok(n.clone(), json!(99.5));
        ok(n.clone(), json!(100));
        err(n.clone(), json!(-1), &["config.n: -1 is less than the minimum of 0"]);
        err(n.clone(), json!(100.5), &["config.n: 100.5 is greater than the maximum of 100"]);
        err(n.clone(), json!("5"), &["config.n: expected a number, found a string"]);
        err(n, json!(true), &["config.n: expected a number, found a boolean"]);
        let mut frac = var("n", VarType::Number);
        frac.minimum = Some(0.5);
        err(frac, json!(0.25), &["config.n: 0.25 is less than the minimum of 0.5"]);
    }

    #[test]
    fn boolean_values() {
        ok(var("b", VarType::Boolean), json!(true));
        ok(var("b", VarType::Boolean), json!(false));
        err(var("b", VarType::Boolean), json!("true"), &["config.b: expected a boolean, found a string"]);
        err(var("b", VarType::Boolean), json!(1), &["config.b: expected a boolean, found a number"]);
    }

    #[test]
    fn picklist_values() {
        let mut p = var("region", VarType::Picklist);
        p.options = vec![json!("eu"), json!("us"), json!(3)];
        ok(p.clone(), json!("eu"));
        assert_eq!(check(p.clone(), json!(3.0)), Ok(json!(3.0)));
        err(p.clone(), json!("asia"), &["config.region: \"asia\" is not one of the options: \"eu\", \"us\", 3"]);
        err(p.clone(), json!({"a": 1}), &["config.region: expected one of the picklist's options, found an object"]);
        // Dynamic picklist (options from a data source): any scalar.
        ok(var("region", VarType::Picklist), json!("whatever"));
    }

    #[test]
    fn json_values() {
        ok(var("j", VarType::Json), json!({"any": ["thing"]}));
        ok(var("j", VarType::Json), json!(5));
        let mut j = var("tags", VarType::Json);
        j.schema = Some(json!({"type": "array", "items": {"type": "string"}, "maxItems": 2}));
        ok(j.clone(), json!(["a", "b"]));
        err(
            j.clone(),
            json!(["a", 5, "c"]),
            &[
                "config.tags: does not match its schema: [\"a\",5,\"c\"] has more than 2 items",
                "config.tags: does not match its schema at /1: 5 is not of type \"string\"",
            ],
        );
        err(j, json!("a"), &["config.tags: does not match its schema: \"a\" is not of type \"array\""]);
        let mut obj = var("o", VarType::Json);
        obj.schema = Some(json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}));
        ok(obj.clone(), json!({"id": 1}));
        err(obj.clone(), json!({}), &["config.o: does not match its schema: \"id\" is a required property"]);
        err(obj, json!({"id": "x"}), &["config.o: does not match its schema at /id: \"x\" is not of type \"integer\""]);
    }

    #[test]
    fn long_schema_messages_are_cut() {
        let mut j = var("j", VarType::Json);
        j.schema = Some(json!({"type": "string"}));
        let big: Vec<u32> = (0..1000).collect();
        let got = check(j, json!(big)).unwrap_err();
        assert!(got[0].starts_with("config.j: does not match its schema: [0,1,2,"), "{got:?}");
        assert!(got[0].ends_with('…') && got[0].chars().count() < 400, "{got:?}");
    }

    #[test]
    fn json_schema_refs_do_not_reach_out() {
        let mut j = var("j", VarType::Json);
        j.schema = Some(json!({"$ref": "https://example.com/schema.json"}));
        let got = check(j, json!(1)).unwrap_err();
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("config.j: the variable's JSON Schema is invalid"), "{got:?}");
    }

    #[test]
    fn schedule_values() {
        let s = || var("every", VarType::Schedule);
        for good in [
            "0 * * * *",
            "*/15 9-17 * * MON-FRI",
            "0 0 1,15 * *",
            "30 0 0 * * ?",
            "0 12 L * *",
            "0 12 LW * *",
            "0 12 15W * *",
            "0 12 L-3 * *",
            "0 12 ? * 5L",
            "0 12 ? * MON#2",
            "0 12 * jan,jul sun",
            "0 0 * * 7",
            "5/10 * * * *",
            "0-30/5 * * * *",
        ] {
            ok(s(), json!(good));
        }
        err(
            s(),
            json!("* * *"),
            &[
                "config.every: expected a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), found 3 fields in \"* * *\"",
            ],
        );
        err(
            s(),
            json!("0 25 * * *"),
            &["config.every: invalid cron expression \"0 25 * * *\": hour field `25`: 25 is out of range 0-23"],
        );
        err(
            s(),
            json!("0 0 * FOO *"),
            &[
                "config.every: invalid cron expression \"0 0 * FOO *\": month field `FOO`: `FOO` is not a number from 1 to 12 nor a name (JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC)",
            ],
        );
        err(
            s(),
            json!("*/0 * * * *"),
            &[
                "config.every: invalid cron expression \"*/0 * * * *\": minute field `*/0`: step `0` must be a number from 1 to 59",
            ],
        );
        err(
            s(),
            json!("? * * * *"),
            &[
                "config.every: invalid cron expression \"? * * * *\": minute field `?`: `?` is only allowed in the day-of-month and day-of-week fields",
            ],
        );
        err(
            s(),
            json!("0 0 1,,2 * *"),
            &["config.every: invalid cron expression \"0 0 1,,2 * *\": day-of-month field `1,,2`: empty list item"],
        );
        err(
            s(),
            json!("0 0 * * MON#6"),
            &[
                "config.every: invalid cron expression \"0 0 * * MON#6\": day-of-week field `MON#6`: `#6` must be a week number from 1 to 5",
            ],
        );
        err(s(), json!(60), &["config.every: expected a cron string, found a number"]);
    }

    #[test]
    fn connection_values() {
        let c = || var("api", VarType::Connection);
        ok(c(), json!({"type": "bearer", "token": "abc"}));
        err(c(), json!("abc"), &["config.api: expected a connection object with a string `type`, found a string"]);
        err(
            c(),
            json!({"token": "abc"}),
            &["config.api: a connection needs a string `type` (e.g. bearer, basic, api_key)"],
        );
        err(c(), json!({"type": 1}), &["config.api: the connection's `type` must be a string, found a number"]);
        err(c(), json!({"type": ""}), &["config.api: the connection's `type` must not be empty"]);
        // A reference to one of the customer's connections.
        ok(c(), json!({"customer_connection": "erp-prod"}));
        err(
            c(),
            json!({"customer_connection": "ERP"}),
            &[
                "config.api: `customer_connection` `ERP` is not a connection name (lowercase letters, digits, `-` and `_`)",
            ],
        );
        err(
            c(),
            json!({"customer_connection": "erp", "token": "abc"}),
            &[
                "config.api: a reference to the customer's connection `erp` takes no credentials of its own (found token)",
            ],
        );
    }

    #[test]
    fn secret_values_are_never_echoed() {
        ok(var("token", VarType::Secret), json!("s3cr3t"));
        err(var("token", VarType::Secret), json!(1234), &["config.token: expected a string, found a number"]);
        let mut p = var("token", VarType::Secret);
        p.pattern = Some("^sk_".into());
        ok(p.clone(), json!("sk_live"));
        err(p, json!("pk_live_hunter2"), &["config.token: the value does not match the pattern `^sk_`"]);
    }

    #[test]
    fn key_value_list_values() {
        let kv = || var("headers", VarType::KeyValueList);
        ok(kv(), json!([{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]));
        ok(kv(), json!([]));
        assert_eq!(
            check(kv(), json!({"a": "1", "b": "2"})),
            Ok(json!([{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]))
        );
        err(kv(), json!({"a": 1}), &["config.headers: the value of `a` must be a string, found a number"]);
        err(
            kv(),
            json!([{"key": "a"}, "x", {"key": 1, "value": "v", "extra": true}]),
            &[
                "config.headers: [0]: `value` is missing",
                "config.headers: [1]: expected an object with string `key` and `value`, found a string",
                "config.headers: [2].key: expected a string, found a number",
                "config.headers: [2]: unknown field `extra` (a pair has only `key` and `value`)",
            ],
        );
        err(
            kv(),
            json!("a=1"),
            &["config.headers: expected a list of {key, value} pairs or an object of strings, found a string"],
        );
    }

    #[test]
    fn date_values() {
        let d = || var("since", VarType::Date);
        ok(d(), json!("2024-02-29"));
        ok(d(), json!("2000-02-29"));
        ok(d(), json!("1999-12-31"));
        err(d(), json!("2023-02-29"), &["config.since: 2023-02-29 is not a calendar date (February 2023 has 28 days)"]);
        err(d(), json!("1900-02-29"), &["config.since: 1900-02-29 is not a calendar date (February 1900 has 28 days)"]);
        err(d(), json!("2024-04-31"), &["config.since: 2024-04-31 is not a calendar date (April has 30 days)"]);
        err(d(), json!("2024-13-01"), &["config.since: 2024-13-01 is not a calendar date (month 13 does not exist)"]);
        err(d(), json!("2024-00-10"), &["config.since: 2024-00-10 is not a calendar date (month 0 does not exist)"]);
        err(d(), json!("2024-1-5"), &["config.since: expected a date as YYYY-MM-DD, found \"2024-1-5\""]);
        err(
            d(),
            json!("2024-01-05T00:00:00Z"),
            &["config.since: expected a date as YYYY-MM-DD, found \"2024-01-05T00:00:00Z\""],
        );
        err(d(), json!("+024-01-05"), &["config.since: expected a date as YYYY-MM-DD, found \"+024-01-05\""]);
        err(d(), json!(20240105), &["config.since: expected a date (YYYY-MM-DD), found a number"]);
    }

    #[test]
    fn secret_keys_lists_secrets_and_connections() {
        let d =
            def(vec![var("endpoint", VarType::String), var("token", VarType::Secret), var("api", VarType::Connection)]);
        assert_eq!(secret_keys(&d), ["token", "api"]);
    }
}
