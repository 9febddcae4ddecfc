//! A loaded component behind `weft_components::Component`, as the worker's registry runs it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::hostile;
use serde_json::json;
use weft_components::{ActionContext, Component, LogSink};
use weft_model::{ErrorKind, InputType, LogLevel};
use weft_wasm::{Limits, MemoryServices, WasmComponent};

#[tokio::test]
async fn the_adapter_runs_qualified_actions_with_the_step_context() {
    let state = Arc::new(MemoryServices::new("instance:ins_1"));
    let component = WasmComponent::new(hostile().await, Limits::default(), state.clone());
    assert_eq!(component.key(), "hostile");
    let specs = component.actions();
    let alloc = specs.iter().find(|s| s.name == "hostile.alloc").expect("qualified action names");
    assert_eq!(alloc.inputs[0].key, "mib");
    assert_eq!(alloc.inputs[0].input_type, InputType::Number);
    assert!(alloc.inputs[0].required);

    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut cx = ActionContext::new("exe_9", "flow.step");
    cx.log = LogSink::new({
        let lines = lines.clone();
        move |level, msg| lines.lock().unwrap().push((level, msg))
    });
    let out = component.run("hostile.log-flood", json!({"lines": 2}), &cx).await.unwrap();
    assert_eq!(out, json!({"written": 2}));
    assert_eq!(lines.lock().unwrap().clone(), [(LogLevel::Info, "line 0".into()), (LogLevel::Info, "line 1".into())]);

    // `connection` is taken out of the inputs (and passed as the connection values).
    let out = component.run("hostile.echo", json!({"a": 1, "connection": {"api_key": "k"}}), &cx).await.unwrap();
    assert_eq!(out, json!({"a": 1}));

    // State goes to the services the adapter was built with.
    component.run("hostile.state", json!({"key": "k", "value": 7}), &cx).await.unwrap();
    assert_eq!(state.state()["k"], json!(7));

    // The step's timeout caps the time limit.
    cx.timeout = Some(Duration::from_millis(200));
    let e = component.run("hostile.spin", json!({}), &cx).await.unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Limit, "the component exceeded its time limit of 200 ms"));

    let e = component.run("other.echo", json!({}), &cx).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
}
