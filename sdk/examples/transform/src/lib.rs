//! Example Weft component: pure data transformations, no host calls.
//!
//! - `flatten`: `{"a": {"b": 1}, "c": [2]}` → `{"a.b": 1, "c.0": 2}`.
//! - `pick`: keeps only the listed (dotted) fields of each record.
//! - `group_by`: groups records by the value at a (dotted) path, in first-seen order, with a
//!   count and optional per-group sums.

use weft_sdk::serde_json::Map;
use weft_sdk::{Action, Component, ComponentInfo, Context, Error, Input, Value, json};

pub struct Transform;

impl Component for Transform {
    fn describe() -> ComponentInfo {
        ComponentInfo::new("transform", "Transform", "0.1.0")
            .description("Reshape JSON: flatten nested objects, pick fields, group records.")
            .action(
                Action::new("flatten", "Flatten")
                    .description("Turns nested objects and lists into one object with dotted keys.")
                    .input(Input::json("value").required().help("The value to flatten."))
                    .input(Input::string("separator").default(json!(".")).help("Joins the keys (default \".\").")),
            )
            .action(
                Action::new("pick", "Pick fields")
                    .description("Keeps only the listed fields of each record; missing fields are left out.")
                    .input(Input::json("records").required().help("A record or a list of records."))
                    .input(Input::json("fields").required().help("Dotted paths, e.g. [\"id\", \"address.city\"].")),
            )
            .action(
                Action::new("group_by", "Group by")
                    .description("Groups records by the value at a path, in first-seen order.")
                    .input(Input::json("records").required().help("A list of records."))
                    .input(Input::string("key").required().help("Dotted path of the grouping value."))
                    .input(Input::json("sum").help("Dotted paths of numbers to total per group.")),
            )
    }

    fn run_action(action: &str, inputs: Value, _cx: &Context) -> Result<Value, Error> {
        match action {
            "flatten" => flatten_action(&inputs),
            "pick" => pick_action(&inputs),
            "group_by" => group_by_action(&inputs),
            other => Err(Error::unknown_action(other)),
        }
    }
}

weft_sdk::export_component!(Transform);

fn flatten_action(inputs: &Value) -> Result<Value, Error> {
    let value = inputs.get("value").ok_or_else(|| Error::missing_input("value", "any JSON value"))?;
    let sep = match inputs.get("separator") {
        None | Some(Value::Null) => ".",
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(_) => return Err(Error::input("input 'separator' must be a non-empty string")),
    };
    let mut out = Map::new();
    flatten_into(value, String::new(), sep, &mut out);
    Ok(Value::Object(out))
}

fn flatten_into(value: &Value, prefix: String, sep: &str, out: &mut Map<String, Value>) {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}{sep}{k}") };
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten_into(v, join(k), sep, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten_into(v, join(&i.to_string()), sep, out);
            }
        }
        leaf => {
            out.insert(prefix, leaf.clone());
        }
    }
}

/// The value at a dotted path (`address.city`, `lines.0.sku`).
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(m) => m.get(part),
        Value::Array(a) => a.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

fn paths(inputs: &Value, key: &str) -> Result<Vec<String>, Error> {
    match inputs.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(String::from).ok_or_else(|| Error::input(format!("input '{key}' must list strings")))
            })
            .collect(),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(Error::input(format!("input '{key}' must be a list of dotted paths"))),
    }
}

/// Sets `path` (dotted) in `out`, creating the objects on the way.
fn insert_path(out: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            out.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let child = out.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            insert_path(child.as_object_mut().expect("just made an object"), rest, value);
        }
    }
}

fn pick_action(inputs: &Value) -> Result<Value, Error> {
    let fields = paths(inputs, "fields")?;
    if fields.is_empty() {
        return Err(Error::missing_input("fields", "a non-empty list of dotted paths"));
    }
    let pick = |record: &Value| {
        let mut out = Map::new();
        for f in &fields {
            if let Some(v) = lookup(record, f) {
                insert_path(&mut out, f, v.clone());
            }
        }
        Value::Object(out)
    };
    match inputs.get("records") {
        Some(Value::Array(records)) => Ok(Value::Array(records.iter().map(pick).collect())),
        Some(record @ Value::Object(_)) => Ok(pick(record)),
        _ => Err(Error::missing_input("records", "a record or a list of records")),
    }
}

fn group_by_action(inputs: &Value) -> Result<Value, Error> {
    let Some(Value::Array(records)) = inputs.get("records") else {
        return Err(Error::missing_input("records", "a list of records"));
    };
    let key = inputs.get("key").and_then(Value::as_str).ok_or_else(|| Error::missing_input("key", "a dotted path"))?;
    let sums = paths(inputs, "sum")?;
    // (group value, records, totals), in first-seen order.
    let mut groups: Vec<(Value, Vec<Value>, Vec<f64>)> = Vec::new();
    for record in records {
        let k = lookup(record, key).cloned().unwrap_or(Value::Null);
        let idx = match groups.iter().position(|(g, _, _)| *g == k) {
            Some(i) => i,
            None => {
                groups.push((k, Vec::new(), vec![0.0; sums.len()]));
                groups.len() - 1
            }
        };
        let group = &mut groups[idx];
        for (total, path) in group.2.iter_mut().zip(&sums) {
            match lookup(record, path) {
                Some(Value::Number(n)) => *total += n.as_f64().unwrap_or(0.0),
                None | Some(Value::Null) => {}
                Some(other) => {
                    return Err(Error::input(format!("'{path}' of a record is not a number: {other}")));
                }
            }
        }
        group.1.push(record.clone());
    }
    Ok(Value::Array(
        groups
            .into_iter()
            .map(|(k, recs, totals)| {
                let mut g = json!({"key": k, "count": recs.len(), "records": recs});
                if !sums.is_empty() {
                    let mut s = Map::new();
                    for (path, t) in sums.iter().zip(totals) {
                        s.insert(path.clone(), number(t));
                    }
                    g["sums"] = Value::Object(s);
                }
                g
            })
            .collect(),
    ))
}

/// Whole totals stay integers in the output (`110`, not `110.0`).
fn number(t: f64) -> Value {
    if t.fract() == 0.0 && t.abs() < 9.0e15 { json!(t as i64) } else { json!(t) }
}

#[cfg(test)]
mod tests {
    use weft_sdk::testing::{FakeHost, run_action};
    use weft_sdk::{Component, ErrorKind, json};

    use super::Transform;

    #[test]
    fn flatten_nested_objects_and_lists() {
        let out = run_action::<Transform>("flatten", json!({"value": {"a": {"b": 1}, "c": [2, {"d": 3}], "e": {}}}));
        assert_eq!(out.unwrap(), json!({"a.b": 1, "c.0": 2, "c.1.d": 3, "e": {}}));
        let out = run_action::<Transform>("flatten", json!({"value": {"a": {"b": 1}}, "separator": "/"}));
        assert_eq!(out.unwrap(), json!({"a/b": 1}));
    }

    #[test]
    fn pick_keeps_listed_fields() {
        let records = json!([
            {"id": 1, "name": "Ada", "address": {"city": "London", "zip": "N1"}},
            {"id": 2, "name": "Grace"}
        ]);
        let out = run_action::<Transform>("pick", json!({"records": records, "fields": ["id", "address.city"]}));
        assert_eq!(out.unwrap(), json!([{"id": 1, "address": {"city": "London"}}, {"id": 2}]));
    }

    #[test]
    fn group_by_counts_and_sums_in_first_seen_order() {
        let records = json!([
            {"sku": "b", "qty": 1, "price": 2.5},
            {"sku": "a", "qty": 2, "price": 1},
            {"sku": "b", "qty": 3, "price": 2.5}
        ]);
        let out =
            run_action::<Transform>("group_by", json!({"records": records, "key": "sku", "sum": ["qty", "price"]}))
                .unwrap();
        assert_eq!(out[0]["key"], json!("b"));
        assert_eq!(out[0]["count"], json!(2));
        assert_eq!(out[0]["sums"], json!({"qty": 4, "price": 5}));
        assert_eq!(out[1]["sums"], json!({"qty": 2, "price": 1}));
    }

    #[test]
    fn bad_inputs_are_input_errors() {
        let e = run_action::<Transform>("pick", json!({"records": [], "fields": "id"})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
        let e = run_action::<Transform>("group_by", json!({"records": [{"n": "x"}], "key": "n", "sum": ["n"]}))
            .unwrap_err();
        assert!(e.message.contains("'n' of a record is not a number"), "{}", e.message);
        let e = run_action::<Transform>("nope", json!({})).unwrap_err();
        assert_eq!(e.message, "unknown action 'nope'");
    }

    #[test]
    fn pure_actions_make_no_host_calls() {
        // With a fake host installed, nothing is logged or requested.
        let host = FakeHost::new().install();
        run_action::<Transform>("flatten", json!({"value": {"a": 1}})).unwrap();
        assert!(host.logs().is_empty() && host.requests().is_empty());
        assert_eq!(Transform::describe().actions.len(), 3);
    }
}
