//! Reading an action's JSON input: typed accessors that turn every mismatch into a
//! `StepError` of kind `input` naming the offending input (`url: expected a string`), plus the
//! small builders the components use to describe their inputs in [`ActionSpec`]s.

use std::time::Duration;

use serde_json::{Map, Value};
use weft_model::{ActionSpec, ErrorKind, InputSpec, InputType, StepError};

/// An input error naming the input (`key` may be a dotted path such as `amount.days`).
pub(crate) fn input_error(key: &str, msg: impl std::fmt::Display) -> StepError {
    StepError::new(ErrorKind::Input, format!("{key}: {msg}"))
}

/// Describes one input of an action.
pub(crate) fn spec(key: &str, input_type: InputType, required: bool, description: &str) -> InputSpec {
    InputSpec { key: key.to_string(), input_type, required, description: description.to_string() }
}

pub(crate) fn action(name: &str, description: &str, inputs: Vec<InputSpec>) -> ActionSpec {
    ActionSpec::new(name, description, inputs)
}

pub(crate) fn enum_of(options: &[&str]) -> InputType {
    InputType::Enum(options.iter().map(|s| s.to_string()).collect())
}

/// The input object of one call. `null` values count as absent, so mappings like
/// `"{{ config.x | default(none) }}"` behave like an omitted input.
pub(crate) struct Inputs {
    map: Map<String, Value>,
}

impl Inputs {
    /// Takes the raw input and checks that it only uses keys the action declares, so typos
    /// (`hedaers`) fail loudly instead of being ignored.
    pub(crate) fn new(input: Value, spec: &ActionSpec) -> Result<Inputs, StepError> {
        let map = match input {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(StepError::new(
                    ErrorKind::Input,
                    format!("{}: inputs must be an object, got {}", spec.name, type_name(&other)),
                ));
            }
        };
        if let Some(unknown) = map.keys().find(|k| spec.input(k).is_none()) {
            let known: Vec<&str> = spec.inputs.iter().map(|i| i.key.as_str()).collect();
            return Err(input_error(
                unknown,
                format!("unknown input of {} (it takes {})", spec.name, known.join(", ")),
            ));
        }
        for i in spec.inputs.iter().filter(|i| i.required) {
            if map.get(&i.key).is_none_or(Value::is_null) {
                return Err(input_error(&i.key, "is required"));
            }
        }
        Ok(Inputs { map })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub(crate) fn req(&self, key: &str) -> Result<&Value, StepError> {
        self.get(key).ok_or_else(|| input_error(key, "is required"))
    }

    pub(crate) fn str(&self, key: &str) -> Result<&str, StepError> {
        as_str(key, self.req(key)?)
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&str>, StepError> {
        self.get(key).map(|v| as_str(key, v)).transpose()
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, StepError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(input_error(key, format!("expected true or false, got {}", type_name(other)))),
        }
    }

    /// One of `options` (exact match), or `default` when absent.
    pub(crate) fn choice<'o>(
        &self,
        key: &str,
        options: &[&'o str],
        default: Option<&'o str>,
    ) -> Result<&'o str, StepError> {
        let v = match (self.get(key), default) {
            (None, Some(d)) => return Ok(d),
            (None, None) => return Err(input_error(key, "is required")),
            (Some(v), _) => v,
        };
        let s = match v {
            Value::String(s) => s.clone(),
            // Lets `version: 4` work as well as `version: "4"`.
            Value::Number(n) => n.to_string(),
            other => {
                return Err(input_error(
                    key,
                    format!("expected one of {}, got {}", options.join(", "), type_name(other)),
                ));
            }
        };
        options
            .iter()
            .find(|o| **o == s)
            .copied()
            .ok_or_else(|| input_error(key, format!("expected one of {}, got '{s}'", options.join(", "))))
    }
}

pub(crate) fn as_str<'v>(key: &str, v: &'v Value) -> Result<&'v str, StepError> {
    v.as_str().ok_or_else(|| input_error(key, format!("expected a string, got {}", type_name(v))))
}

/// How a JSON value's type reads in an error message.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A duration given as `"500ms"`, `"30s"`, `"5m"`, `"2h"` (also combined: `"1m30s"`) or as a
/// number of seconds (fractions allowed).
pub(crate) fn duration(key: &str, v: &Value) -> Result<Duration, StepError> {
    let bad = || {
        input_error(key, format!("expected a duration like \"30s\", \"500ms\", \"5m\" or a number of seconds, got {v}"))
    };
    let d = match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or_else(bad)?;
            if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
                return Err(bad());
            }
            Duration::from_secs_f64(secs)
        }
        Value::String(s) => parse_duration_str(s.trim()).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(input_error(key, "must be longer than zero"));
    }
    Ok(d)
}

fn parse_duration_str(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0 && secs <= 1e9).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            "d" => Duration::from_secs(n.checked_mul(86400)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        let ok = |v: Value| duration("timeout", &v).unwrap();
        assert_eq!(ok(json!("500ms")), Duration::from_millis(500));
        assert_eq!(ok(json!("30s")), Duration::from_secs(30));
        assert_eq!(ok(json!("5m")), Duration::from_secs(300));
        assert_eq!(ok(json!("2h")), Duration::from_secs(7200));
        assert_eq!(ok(json!("1m30s")), Duration::from_secs(90));
        assert_eq!(ok(json!(2)), Duration::from_secs(2));
        assert_eq!(ok(json!(0.25)), Duration::from_millis(250));
        assert_eq!(ok(json!("1.5")), Duration::from_millis(1500));
        for bad in [json!("soon"), json!("10x"), json!(0), json!(-1), json!(""), json!(true), json!("0s")] {
            let e = duration("timeout", &bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Input);
            assert!(e.message.starts_with("timeout: "), "{}", e.message);
        }
    }
}
