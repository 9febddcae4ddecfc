//! Test-only construction of [`FlowDef`] values from `serde_json::json!` descriptions written in
//! the definition's surface syntax (docs/format), so tests read like the YAML users write without
//! depending on the model crate's parser. Malformed descriptions panic: they are test bugs.

use serde_json::{Value, json};
use std::time::Duration;
use weft_model::{BranchArm, ErrorKind, FlowDef, OnError, RetryPolicy, Step, StepKind, Trigger};

/// `{"steps": [...], "result": ...}` (plus keys the caller uses itself, ignored here).
pub fn flow(v: &Value) -> FlowDef {
    FlowDef {
        key: v.get("key").and_then(Value::as_str).unwrap_or("test-flow").to_string(),
        name: None,
        description: None,
        trigger: Trigger::Manual,
        steps: steps(&v["steps"]),
        result: v.get("result").cloned(),
        queue: Default::default(),
        retry: None,
    }
}

fn steps(v: &Value) -> Vec<Step> {
    v.as_array().unwrap_or_else(|| panic!("steps must be a list: {v}")).iter().map(step).collect()
}

fn duration(v: &Value) -> Duration {
    if let Some(n) = v.as_u64() {
        return Duration::from_secs(n);
    }
    let s = v.as_str().unwrap_or_else(|| panic!("bad duration {v}"));
    let num = |t: &str| t.parse::<u64>().unwrap_or_else(|_| panic!("bad duration {s}"));
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(num(ms))
    } else if let Some(x) = s.strip_suffix('s') {
        Duration::from_secs(num(x))
    } else if let Some(x) = s.strip_suffix('m') {
        Duration::from_secs(60 * num(x))
    } else if let Some(x) = s.strip_suffix('h') {
        Duration::from_secs(3600 * num(x))
    } else {
        panic!("bad duration {s}")
    }
}

fn step(v: &Value) -> Step {
    let key = v["key"].as_str().unwrap_or_else(|| panic!("step without key: {v}")).to_string();
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let kind = if let Some(a) = v.get("action") {
        StepKind::Action {
            action: a.as_str().expect("action name").to_string(),
            inputs: v.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default(),
        }
    } else if let Some(t) = v.get("transform") {
        StepKind::Transform(t.clone())
    } else if let Some(b) = v.get("branch") {
        let mut arms = Vec::new();
        let mut otherwise = None;
        for arm in b.as_array().expect("branch list") {
            match arm.get("else") {
                Some(e) => otherwise = Some(steps(e)),
                None => arms.push(BranchArm { when: arm["when"].clone(), steps: steps(&arm["steps"]) }),
            }
        }
        StepKind::Branch { arms, otherwise }
    } else if let Some(items) = v.get("for_each") {
        StepKind::ForEach {
            items: items.clone(),
            steps: steps(&v["steps"]),
            concurrency: v.get("concurrency").map(|c| c.as_u64().expect("concurrency") as u32),
        }
    } else if let Some(f) = v.get("call_flow") {
        StepKind::CallFlow { flow: f.as_str().expect("flow key").to_string(), input: get("input") }
    } else if let Some(r) = v.get("respond") {
        let f = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
        StepKind::Respond { status: f("status"), headers: f("headers"), body: f("body") }
    } else if let Some(s) = v.get("stop") {
        StepKind::Stop { result: s.get("result").cloned() }
    } else if let Some(m) = v.get("fail") {
        StepKind::Fail { message: m.clone() }
    } else {
        panic!("step without a kind: {v}")
    };
    let retry = v.get("retry").map(|r| {
        let d = RetryPolicy::default();
        RetryPolicy {
            attempts: r["attempts"].as_u64().expect("retry.attempts") as u32,
            initial: r.get("backoff").map_or(d.initial, duration),
            factor: r.get("factor").map_or(d.factor, |f| f.as_f64().expect("factor")),
            max: r.get("max_backoff").map_or(d.max, duration),
            on: r.get("on").map_or_else(Vec::new, |on| {
                on.as_array()
                    .expect("retry.on list")
                    .iter()
                    .map(|k| ErrorKind::from_name(k.as_str().expect("kind")).expect("known kind"))
                    .collect()
            }),
        }
    });
    let on_error = match v.get("on_error") {
        None => OnError::Fail,
        Some(Value::String(s)) if s == "fail" => OnError::Fail,
        Some(Value::String(s)) if s == "continue" => OnError::Continue,
        Some(o) => OnError::Steps(steps(&o["steps"])),
    };
    Step { key, kind, retry, timeout: v.get("timeout").map(duration), on_error }
}

/// The reference example of DESIGN.md §3 (`examples/order-sync.yaml`'s flow), with the config
/// its instance is deployed with (read by the transcripts, ignored by [`flow`]).
pub fn reference_flow() -> Value {
    json!({
        "key": "new-order",
        "config": {"endpoint": "https://fulfil.example", "min_total": 100, "tags": ["weft"]},
        "steps": [
            {"key": "lines", "for_each": "{{ trigger.body.lines }}", "steps": [
                {"key": "line", "transform": {
                    "sku": "{{ item.sku | upper }}",
                    "subtotal": "{{ item.qty * item.price }}"
                }}
            ]},
            {"key": "total", "transform": "{{ steps.lines.output | map(attribute='subtotal') | sum }}"},
            {"key": "decide", "branch": [
                {"when": "{{ steps.total.output >= config.min_total }}", "steps": [
                    {"key": "forward", "action": "http.request", "inputs": {
                        "method": "POST",
                        "url": "{{ config.endpoint }}/orders",
                        "json": {
                            "id": "{{ trigger.body.id }}",
                            "total": "{{ steps.total.output }}",
                            "lines": "{{ steps.lines.output }}",
                            "tags": "{{ config.tags }}"
                        }
                    }}
                ]},
                {"else": [{"key": "skip", "transform": {"skipped": true}}]}
            ]}
        ],
        "result": {
            "order": "{{ trigger.body.id }}",
            "total": "{{ steps.total.output }}",
            "forwarded": "{{ steps.forward is defined }}"
        }
    })
}
