//! A component whose actions misbehave on demand (within the limits when asked for small values,
//! past them for large ones), so the host's tests can check that every limit holds and names
//! itself. `echo` is the trivial action of the per-invocation benchmark.

use std::hint::black_box;
use std::sync::Mutex;

/// What `remember` keeps: in the data segment (the lock) and on the heap (the text).
static REMEMBERED: Mutex<Option<String>> = Mutex::new(None);

use weft_sdk::{
    Action, Component, ComponentInfo, Connection, ConnectionKind, Context, Error, Input, Value, http, json, log, state,
};

pub struct Hostile;

fn number(inputs: &Value, key: &str) -> Result<u64, Error> {
    inputs.get(key).and_then(Value::as_u64).ok_or_else(|| Error::missing_input(key, "a non-negative integer"))
}

/// Recurses `depth` times (forever when `depth` is `u64::MAX`), with a frame the optimizer
/// cannot remove.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    if depth == 0 {
        return frame[3];
    }
    black_box(recurse(depth - 1)).wrapping_add(frame[7])
}

impl Component for Hostile {
    fn describe() -> ComponentInfo {
        ComponentInfo::new("hostile", "Hostile", "0.1.0")
            .description("Misbehaves on demand: for the sandbox's limit tests.")
            .connection(
                Connection::new("token", "Token", ConnectionKind::Bearer).field(Input::secret("token").required()),
            )
            .action(Action::new("echo", "Echo").description("Returns its inputs.").input(Input::json("value")))
            .action(
                Action::new("alloc", "Allocate")
                    .description("Allocates and touches `mib` MiB.")
                    .input(Input::number("mib").required()),
            )
            .action(Action::new("spin", "Spin").description("Loops forever."))
            .action(
                Action::new("recurse", "Recurse")
                    .description("Recurses `depth` times; without `depth`, forever.")
                    .input(Input::number("depth")),
            )
            .action(
                Action::new("big-output", "Big output")
                    .description("Returns a string of `bytes` bytes.")
                    .input(Input::number("bytes").required()),
            )
            .action(
                Action::new("log-flood", "Log flood")
                    .description("Writes `lines` log lines.")
                    .input(Input::number("lines").required()),
            )
            .action(Action::new("panic", "Panic").description("Panics."))
            .action(
                Action::new("fetch", "Fetch")
                    .description("GETs `url` through the host and returns status and body.")
                    .input(Input::string("url").required()),
            )
            .action(
                Action::new("state", "State")
                    .description("Reads `key`, then writes `value` to it when given; returns the old value.")
                    .input(Input::string("key").required())
                    .input(Input::json("value")),
            )
            .action(Action::new("context", "Context").description("Returns the call's context, connection aside."))
            .action(
                Action::new("connection", "Connection")
                    .description(
                        "Returns the string fields of the step's connection, each reversed: a test can tell whose \
                         connection it got without the host redacting the answer.",
                    )
                    .input(Input::connection("connection")),
            )
            .action(
                Action::new("remember", "Remember in memory")
                    .description(
                        "Keeps `value` in the instance's memory (a static and the heap) and returns what an earlier \
                         call kept there: always null when every call gets fresh memory.",
                    )
                    .input(Input::json("value")),
            )
    }

    fn run_action(action: &str, inputs: Value, cx: &Context) -> Result<Value, Error> {
        match action {
            "echo" => Ok(inputs),
            "connection" => {
                let fields = cx.connection.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
                let reversed: weft_sdk::serde_json::Map<String, Value> = fields
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, Value::String(v.as_str()?.chars().rev().collect()))))
                    .collect();
                Ok(Value::Object(reversed))
            }
            "remember" => {
                let mut kept = REMEMBERED.lock().map_err(|_| Error::internal("poisoned"))?;
                let old = kept.replace(inputs["value"].to_string());
                Ok(json!({"old": old}))
            }
            "context" => Ok(json!({
                "execution_id": cx.execution_id,
                "instance_id": cx.instance_id,
                "customer_id": cx.customer_id,
                "flow_key": cx.flow_key,
                "step_path": cx.step_path,
                "idempotency_key": cx.idempotency_key,
                "attempt": cx.attempt,
                "webhook_urls": cx.webhook_urls,
            })),
            "alloc" => {
                let mib = number(&inputs, "mib")? as usize;
                // Non-zero bytes: every page is written, so the memory is really used.
                let v = black_box(vec![1u8; mib << 20]);
                Ok(json!({"allocated_mib": mib, "len": v.len()}))
            }
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "recurse" => {
                let depth = inputs.get("depth").and_then(Value::as_u64).unwrap_or(u64::MAX);
                Ok(json!({"result": recurse(depth)}))
            }
            "big-output" => Ok(Value::String("x".repeat(number(&inputs, "bytes")? as usize))),
            "log-flood" => {
                let lines = number(&inputs, "lines")?;
                for i in 0..lines {
                    log::info(format!("line {i}"));
                }
                Ok(json!({"written": lines}))
            }
            "panic" => panic!("the hostile component panicked on purpose"),
            "fetch" => {
                let url =
                    inputs.get("url").and_then(Value::as_str).ok_or_else(|| Error::missing_input("url", "a URL"))?;
                let resp = http::get(url).send()?;
                Ok(json!({"status": resp.status, "body": resp.text()}))
            }
            "state" => {
                let key =
                    inputs.get("key").and_then(Value::as_str).ok_or_else(|| Error::missing_input("key", "a string"))?;
                let old: Option<Value> = state::get(key)?;
                if let Some(v) = inputs.get("value") {
                    state::set(key, v)?;
                }
                Ok(json!({"old": old}))
            }
            other => Err(Error::unknown_action(other)),
        }
    }
}

weft_sdk::export_component!(Hostile);

#[cfg(test)]
mod tests {
    use weft_sdk::http::Response;
    use weft_sdk::log::Level;
    use weft_sdk::testing::{FakeHost, run_action};
    use weft_sdk::{Error, ErrorKind, json};

    use super::Hostile;

    #[test]
    fn echo_and_state_run_natively() {
        let host = FakeHost::new().with_state("k", json!(1)).install();
        assert_eq!(run_action::<Hostile>("echo", json!({"a": 1})).unwrap(), json!({"a": 1}));
        assert_eq!(run_action::<Hostile>("state", json!({"key": "k", "value": 2})).unwrap(), json!({"old": 1}));
        assert_eq!(host.state()["k"], json!(2));
        let e = run_action::<Hostile>("nope", json!({})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
    }

    #[test]
    fn fetch_and_logs_go_to_the_fake_host() {
        let host = FakeHost::new().respond(|req| Response::new(201).with_header("x", &req.method)).install();
        let out = run_action::<Hostile>("fetch", json!({"url": "https://api.example.com/x"})).unwrap();
        assert_eq!(out, json!({"status": 201, "body": ""}));
        assert_eq!(host.requests()[0].url, "https://api.example.com/x");
        run_action::<Hostile>("log-flood", json!({"lines": 2})).unwrap();
        assert_eq!(host.logs(), [(Level::Info, "line 0".to_string()), (Level::Info, "line 1".to_string())]);
    }

    #[test]
    fn host_refusals_come_back_as_errors() {
        let _host = FakeHost::new()
            .respond_result(|_| Err(Error::new(ErrorKind::EgressDenied, "127.0.0.1 is a loopback address")))
            .install();
        let e = run_action::<Hostile>("fetch", json!({"url": "http://127.0.0.1/"})).unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::EgressDenied, "127.0.0.1 is a loopback address"));
    }

    /// Within one process (one instance) `remember` does keep its value: the host's test that
    /// every invocation sees `old: null` depends on it.
    #[test]
    fn remember_keeps_its_value_within_one_instance() {
        let first = run_action::<Hostile>("remember", json!({"value": "a"})).unwrap();
        let second = run_action::<Hostile>("remember", json!({"value": "b"})).unwrap();
        assert_eq!((first, second), (json!({"old": null}), json!({"old": "\"a\""})));
    }
}
