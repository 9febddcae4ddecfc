//! The `state.*` actions: their specs, limits and input parsing. They are served by the worker,
//! not by a [`crate::Component`]: reading and writing persisted state needs the database and
//! the execution's checkpoint, which components never see. This module is the pure part: what
//! the actions accept ([`state_specs`]) and turning one call's input into a checked
//! [`StateCall`].

use serde_json::{Number, Value};
use weft_model::{ActionSpec, ErrorKind, InputType, StepError};

use crate::input::{action, enum_of, spec};

/// Longest key, in characters.
pub const MAX_KEY_CHARS: usize = 256;
/// Largest value, as serialized JSON.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most keys one scope may hold.
pub const MAX_KEYS_PER_SCOPE: i64 = 10_000;

/// Which key space a call addresses; the worker derives the scope's id from the execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Instance,
    Flow,
    Customer,
}

/// One checked `state.*` call.
#[derive(Debug, Clone, PartialEq)]
pub enum StateCall {
    Get { scope: Scope, key: String, default: Value },
    Set { scope: Scope, key: String, value: Value },
    Delete { scope: Scope, key: String },
    Increment { scope: Scope, key: String, by: Number },
    CompareAndSet { scope: Scope, key: String, expected: Option<Value>, value: Value },
}

/// Whether the worker serves this action (every `state.` action name).
pub fn is_state_action(action: &str) -> bool {
    action.starts_with("state.")
}

fn scope_spec() -> weft_model::InputSpec {
    spec(
        "scope",
        enum_of(&["instance", "flow", "customer"]),
        false,
        "Whose state: this instance (default), this flow of this instance, or every instance of this customer.",
    )
}

fn key_spec() -> weft_model::InputSpec {
    spec("key", InputType::String, true, "The key, at most 256 characters.")
}

/// The specs of the `state.*` actions, for the catalog definitions are validated against.
pub fn state_specs() -> Vec<ActionSpec> {
    vec![
        action(
            "state.get",
            "Reads a persisted value. Output: the value, or `default` (null) when the key is unset.",
            vec![key_spec(), scope_spec(), spec("default", InputType::Any, false, "Returned when the key is unset.")],
        ),
        action(
            "state.set",
            "Stores a JSON value (at most 64 KiB), committed with the step. Output: {value}.",
            vec![key_spec(), spec("value", InputType::Any, true, "The value to store."), scope_spec()],
        ),
        action(
            "state.delete",
            "Removes a key, committed with the step. Output: {deleted: true}.",
            vec![key_spec(), scope_spec()],
        ),
        action(
            "state.increment",
            "Adds `by` to a numeric value (unset counts as 0), atomically at once. Output: the new value.",
            vec![key_spec(), spec("by", InputType::Number, false, "The amount to add (default 1)."), scope_spec()],
        ),
        action(
            "state.compare_and_set",
            "Stores `value` only if the key holds `expected` now (null: unset), atomically at once. \
             Output: {swapped, value} with the value stored afterwards.",
            vec![
                key_spec(),
                spec("expected", InputType::Any, true, "The value the key must hold; null means unset."),
                spec("value", InputType::Any, true, "The new value."),
                scope_spec(),
            ],
        ),
    ]
}

fn input_err(msg: String) -> StepError {
    StepError::new(ErrorKind::Input, msg)
}

fn check_value(action: &str, key: &str, value: &Value) -> Result<(), StepError> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_VALUE_BYTES {
        return Err(StepError::new(
            ErrorKind::Limit,
            format!(
                "`{action}`: the value for state key `{key}` is {size} bytes, over the state value limit of {MAX_VALUE_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// Checks one call's input: a known action, a key within limits, a value within limits.
pub fn parse(action: &str, input: &Value) -> Result<StateCall, StepError> {
    let obj = input.as_object().ok_or_else(|| input_err(format!("`{action}` takes an object input")))?;
    let scope = match obj.get("scope") {
        None | Some(Value::Null) => Scope::Instance,
        Some(Value::String(s)) if s == "instance" => Scope::Instance,
        Some(Value::String(s)) if s == "flow" => Scope::Flow,
        Some(Value::String(s)) if s == "customer" => Scope::Customer,
        Some(other) => {
            return Err(input_err(format!("`{action}`: scope must be instance, flow or customer, got {other}")));
        }
    };
    let key = match obj.get("key") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => return Err(input_err(format!("`{action}` needs a non-empty string `key`"))),
    };
    let chars = key.chars().count();
    if chars > MAX_KEY_CHARS {
        return Err(StepError::new(
            ErrorKind::Limit,
            format!("`{action}`: the state key is {chars} characters, over the key limit of {MAX_KEY_CHARS}"),
        ));
    }
    let value = |name: &str| {
        obj.get(name).cloned().ok_or_else(|| input_err(format!("`{action}` needs `{name}` (state key `{key}`)")))
    };
    let call = match action {
        "state.get" => StateCall::Get { scope, default: obj.get("default").cloned().unwrap_or(Value::Null), key },
        "state.set" => {
            let v = value("value")?;
            check_value(action, &key, &v)?;
            StateCall::Set { scope, key, value: v }
        }
        "state.delete" => StateCall::Delete { scope, key },
        "state.increment" => {
            let by = match obj.get("by") {
                None | Some(Value::Null) => Number::from(1),
                Some(Value::Number(n)) => n.clone(),
                Some(other) => return Err(input_err(format!("`{action}`: `by` must be a number, got {other}"))),
            };
            StateCall::Increment { scope, key, by }
        }
        "state.compare_and_set" => {
            let (expected, v) = (value("expected")?, value("value")?);
            check_value(action, &key, &v)?;
            StateCall::CompareAndSet { scope, key, expected: Some(expected).filter(|e| !e.is_null()), value: v }
        }
        other => return Err(input_err(format!("unknown action '{other}'"))),
    };
    Ok(call)
}
