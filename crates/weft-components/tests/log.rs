//! `log.write` and the registry: lines reach the sink, unknown actions are input errors, specs
//! are listed sorted.

use std::sync::{Arc, Mutex};

use serde_json::json;
use weft_components::{ActionContext, EgressGuard, LogSink, Registry};
use weft_model::{ErrorKind, LogLevel};

#[tokio::test]
async fn log_write_reaches_the_sink() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut cx = ActionContext::new("e", "s");
    cx.log = LogSink::new(move |level, msg| sink.lock().unwrap().push((level, msg)));
    let r = Registry::builtin(EgressGuard::default());
    let cases = [
        (json!({"message": "hello"}), LogLevel::Info, "hello"),
        (json!({"level": "warn", "message": "careful"}), LogLevel::Warn, "careful"),
        (json!({"level": "debug", "message": "d"}), LogLevel::Debug, "d"),
        (json!({"level": "error", "message": {"id": 7}}), LogLevel::Error, "{\"id\":7}"),
    ];
    for (input, _, _) in &cases {
        assert_eq!(r.run("log.write", input.clone(), &cx).await.unwrap(), json!({"logged": true}));
    }
    let got = lines.lock().unwrap().clone();
    let want: Vec<(LogLevel, String)> = cases.iter().map(|(_, l, m)| (*l, m.to_string())).collect();
    assert_eq!(got, want);

    let e = r.run("log.write", json!({"level": "loud", "message": "x"}), &cx).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Input, "level: expected one of debug, info, warn, error, got 'loud'")
    );
    let e = r.run("log.write", json!({"level": "info"}), &cx).await.unwrap_err();
    assert_eq!(e.message, "message: is required");
}

#[tokio::test]
async fn registry_lists_and_dispatches() {
    let r = Registry::builtin(EgressGuard::default());
    let names: Vec<String> = r.action_specs().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "code.javascript",
            "crypto.base64_decode",
            "crypto.base64_encode",
            "crypto.hash",
            "crypto.hmac",
            "crypto.uuid",
            "data.format",
            "data.parse",
            "datetime.add",
            "datetime.convert",
            "datetime.format",
            "datetime.now",
            "datetime.parse",
            "http.request",
            "log.write",
        ]
    );
    let http = r.action_spec("http.request").unwrap();
    let inputs: Vec<(&str, bool)> = http.inputs.iter().map(|i| (i.key.as_str(), i.required)).collect();
    assert_eq!(
        inputs,
        [
            ("method", false),
            ("url", true),
            ("headers", false),
            ("query", false),
            ("json", false),
            ("body", false),
            ("timeout", false),
            ("connection", false),
            ("fail_on_status", false),
            ("follow_redirects", false),
            ("retry", false)
        ]
    );
    let e = r.run("nope.action", json!({}), &ActionContext::new("e", "s")).await.unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Input, "unknown action 'nope.action'"));
    let e = r.run("log.write", json!([1]), &ActionContext::new("e", "s")).await.unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Input, "log.write: inputs must be an object, got a list"));
}
