//! Golden transcripts of the flow engine: a flow and a script of events give a readable log of
//! every event and the commands the engine answered with, checked as an inline snapshot.
//!
//! Every test goes through [`check`]. Between events the run is checkpointed to JSON and
//! restored (and must round-trip exactly), so every transcript also proves that a run resumes
//! from its checkpoint at any point. [`Ev::Resume`] goes further and plays a worker that stored
//! a redacted checkpoint and resumes from it after a crash.

mod support;

use serde_json::{Value, json};
use weft_flow::{CallId, Command, CompiledFlow, Event, Millis, Run, RunContext, StepRecord, advance, resume};
use weft_model::{ErrorKind, StepError};

/// One line of a test script.
enum Ev {
    /// Feed an event at a time.
    At(Millis, Event),
    /// Print what a worker resuming from the checkpoint now would see.
    Checkpoint,
    /// A crash, and a resumption at a time: the checkpoint is stored as the worker stores it —
    /// every occurrence of a secret replaced by `[redacted]`, without the trigger — then restored
    /// ([`Run::with_trigger`] with the run's trigger) and [`resume`]d with the real config.
    Resume(Millis, &'static str),
}

fn start(t: Millis, body: Value) -> Ev {
    Ev::At(t, Event::Start { trigger: json!({"body": body, "headers": {}, "query": {}, "method": "POST"}) })
}
fn ok(t: Millis, call: CallId, output: Value) -> Ev {
    Ev::At(t, Event::ActionSucceeded { call, output })
}
fn err(t: Millis, call: CallId, kind: ErrorKind, message: &str) -> Ev {
    Ev::At(t, Event::ActionFailed { call, error: StepError::new(kind, message) })
}
fn err_retry_after(t: Millis, call: CallId, kind: ErrorKind, message: &str, retry_after_ms: u64) -> Ev {
    let error = StepError { retry_after_ms: Some(retry_after_ms), ..StepError::new(kind, message) };
    Ev::At(t, Event::ActionFailed { call, error })
}
fn wake(t: Millis) -> Ev {
    Ev::At(t, Event::Wake)
}
fn cancel(t: Millis) -> Ev {
    Ev::At(t, Event::Cancel)
}

fn j(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

fn render_record(r: &StepRecord) -> String {
    let mut s = format!("step {} [{}", r.path, r.kind);
    if let Some(a) = &r.action {
        s += &format!(" {a}");
    }
    s += &format!("] {} t={}..{}", r.status.name(), r.started_at, r.finished_at);
    if r.attempts != 1 {
        s += &format!(" attempts={}", r.attempts);
    }
    if r.key != r.path.rsplit('.').next().unwrap() {
        s += &format!(" KEY MISMATCH {}", r.key);
    }
    if let Some(i) = &r.input {
        s += &format!("\n       input:  {}", j(i));
    }
    if let Some(o) = &r.output {
        s += &format!("\n       output: {}", j(o));
    }
    if let Some(e) = &r.error {
        s += &format!("\n       error:  {}", render_error(e));
    }
    s
}

fn render_error(e: &StepError) -> String {
    let mut s = e.to_string();
    if let Some(d) = &e.details {
        s += &format!(" details={}", j(d));
    }
    s
}

fn render(c: &Command) -> String {
    match c {
        Command::RunAction { call, step_path, action, input, attempt, timeout_ms, idempotency_key } => {
            let timeout = timeout_ms.map(|t| format!(" timeout={t}ms")).unwrap_or_default();
            format!(
                "run #{call} {step_path} {action} attempt={attempt}{timeout} key={idempotency_key} input={}",
                j(input)
            )
        }
        Command::CallFlow { call, step_path, flow, input, attempt, timeout_ms } => {
            let timeout = timeout_ms.map(|t| format!(" timeout={t}ms")).unwrap_or_default();
            format!("call_flow #{call} {step_path} {flow} attempt={attempt}{timeout} input={}", j(input))
        }
        Command::WakeAt { at } => format!("wake_at {at}"),
        Command::Respond { status, headers, body } => {
            format!("respond {status} headers={} body={}", j(&Value::Object(headers.clone())), j(body))
        }
        Command::Log { level, step_path, message } => {
            format!("log {} [{}] {message}", level.name(), step_path.as_deref().unwrap_or("-"))
        }
        Command::StepFinished(r) => render_record(r),
        Command::Finish { status, result, error } => {
            let mut s = format!("FINISH {}", status.name());
            if let Some(r) = result {
                s += &format!(" result={}", j(r));
            }
            if let Some(e) = error {
                s += &format!(" error={}", render_error(e));
            }
            s
        }
    }
}

fn render_event(e: &Event) -> String {
    match e {
        Event::Start { trigger } => format!("start body={}", j(&trigger["body"])),
        Event::ActionSucceeded { call, output } => format!("ok #{call} {}", j(output)),
        Event::ActionFailed { call, error } => {
            let after = error.retry_after_ms.map(|ms| format!(" (retry after {ms}ms)")).unwrap_or_default();
            format!("failed #{call} {}{after}", render_error(error))
        }
        Event::Wake => "wake".into(),
        Event::Cancel => "cancel".into(),
    }
}

/// Runs `script` against the flow described by `flow` (surface syntax as JSON, plus `config`:
/// the config values) and returns the transcript.
fn check(flow: Value, script: &[Ev]) -> String {
    let def = support::flow(&flow);
    let compiled = CompiledFlow::new(&def).unwrap_or_else(|e| panic!("flow does not compile: {e:?}"));
    let ctx = RunContext {
        config: flow.get("config").cloned().unwrap_or(json!({})),
        instance: json!({"id": "in1"}),
        customer: json!({"id": "cu1", "external_id": "acme"}),
        execution: json!({"id": "ex1"}),
    };
    let mut run = Run::new();
    let mut trigger = Value::Null;
    let mut out = String::new();
    let mut finished = false;
    let mut print = |out: &mut String, commands: &[Command]| {
        for c in commands {
            assert!(!finished, "command after Finish: {c:?}");
            finished |= matches!(c, Command::Finish { .. });
            *out += &format!("  {}\n", render(c));
        }
    };
    for ev in script {
        match ev {
            Ev::At(now, event) => {
                out += &format!("@{now} {}\n", render_event(event));
                if let (Event::Start { trigger: t }, Value::Null) = (event, &trigger) {
                    trigger = t.clone();
                }
                let (next, commands) = advance(&compiled, run, &ctx, event.clone(), *now);
                print(&mut out, &commands);
                // Checkpoint and resume from the checkpoint before every event.
                let saved = serde_json::to_string(&next).unwrap();
                run = serde_json::from_str(&saved).unwrap();
                assert_eq!(run, next, "checkpoint does not round-trip: {saved}");
            }
            Ev::Checkpoint => {
                out += &format!("-- checkpoint: {}, next wake {:?}\n", run.status().name(), run.next_wake());
                for c in run.pending_calls() {
                    out += &format!("   pending {}\n", render(&c));
                }
            }
            Ev::Resume(now, secret) => {
                let mut stored = serde_json::to_value(&run).unwrap();
                stored.as_object_mut().unwrap().remove("trigger");
                let stored = serde_json::to_string(&stored).unwrap().replace(secret, "[redacted]");
                out += &format!("@{now} resume from a checkpoint without {secret:?}\n");
                for c in serde_json::from_str::<Run>(&stored).unwrap().pending_calls() {
                    out += &format!("   stored {}\n", render(&c));
                }
                let restored = serde_json::from_str::<Run>(&stored).unwrap().with_trigger(trigger.clone());
                let (next, commands) = resume(&compiled, restored, &ctx, *now);
                print(&mut out, &commands);
                let saved = serde_json::to_string(&next).unwrap();
                run = serde_json::from_str(&saved).unwrap();
                assert_eq!(run, next, "checkpoint does not round-trip: {saved}");
            }
        }
    }
    out += &format!("== {}", run.status().name());
    if let Some(r) = run.result() {
        out += &format!(" result={}", j(r));
    }
    if let Some(e) = run.error() {
        out += &format!(" error={}", render_error(e));
    }
    if !run.status().is_terminal() {
        let pending: Vec<String> = run
            .pending_calls()
            .iter()
            .map(|c| match c {
                Command::RunAction { call, .. } | Command::CallFlow { call, .. } => {
                    format!("#{call}")
                }
                other => panic!("pending_calls returned {other:?}"),
            })
            .collect();
        out += &format!(" pending=[{}] next_wake={:?}", pending.join(", "), run.next_wake());
    }
    out
}

// ----- the reference example (DESIGN.md §3) -----

#[test]
fn reference_example_forwards_a_large_order() {
    let body =
        json!({"id": "o-1", "lines": [{"sku": "ab", "qty": 2, "price": 40}, {"sku": "cd", "qty": 1, "price": 25.5}]});
    let t = check(
        support::reference_flow(),
        &[start(0, body), ok(120, 1, json!({"status": 201, "headers": {}, "body": {"accepted": true}}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"id":"o-1","lines":[{"sku":"ab","qty":2,"price":40},{"sku":"cd","qty":1,"price":25.5}]}
          step lines[0].line [transform] succeeded t=0..0
               output: {"sku":"AB","subtotal":80}
          step lines[1].line [transform] succeeded t=0..0
               output: {"sku":"CD","subtotal":25.5}
          step lines [for_each] succeeded t=0..0
               input:  [{"sku":"ab","qty":2,"price":40},{"sku":"cd","qty":1,"price":25.5}]
               output: [{"sku":"AB","subtotal":80},{"sku":"CD","subtotal":25.5}]
          step total [transform] succeeded t=0..0
               output: 105.5
          run #1 forward http.request attempt=1 key=ex1:forward input={"method":"POST","url":"https://fulfil.example/orders","json":{"id":"o-1","total":105.5,"lines":[{"sku":"AB","subtotal":80},{"sku":"CD","subtotal":25.5}],"tags":["weft"]}}
        @120 ok #1 {"status":201,"headers":{},"body":{"accepted":true}}
          step forward [action http.request] succeeded t=0..120
               input:  {"method":"POST","url":"https://fulfil.example/orders","json":{"id":"o-1","total":105.5,"lines":[{"sku":"AB","subtotal":80},{"sku":"CD","subtotal":25.5}],"tags":["weft"]}}
               output: {"status":201,"headers":{},"body":{"accepted":true}}
          step decide [branch] succeeded t=0..120
               output: {"status":201,"headers":{},"body":{"accepted":true}}
          FINISH succeeded result={"order":"o-1","total":105.5,"forwarded":true}
        == succeeded result={"order":"o-1","total":105.5,"forwarded":true}
        "#);
}

#[test]
fn reference_example_skips_a_small_order() {
    let body = json!({"id": "o-2", "lines": [{"sku": "ab", "qty": 1, "price": 10}]});
    let t = check(support::reference_flow(), &[start(0, body)]);
    insta::assert_snapshot!(t, @r#"
        @0 start body={"id":"o-2","lines":[{"sku":"ab","qty":1,"price":10}]}
          step lines[0].line [transform] succeeded t=0..0
               output: {"sku":"AB","subtotal":10}
          step lines [for_each] succeeded t=0..0
               input:  [{"sku":"ab","qty":1,"price":10}]
               output: [{"sku":"AB","subtotal":10}]
          step total [transform] succeeded t=0..0
               output: 10
          step skip [transform] succeeded t=0..0
               output: {"skipped":true}
          step decide [branch] succeeded t=0..0
               output: {"skipped":true}
          FINISH succeeded result={"order":"o-2","total":10,"forwarded":false}
        == succeeded result={"order":"o-2","total":10,"forwarded":false}
        "#);
}

#[test]
fn reference_example_fails_when_the_forward_fails() {
    let body = json!({"id": "o-3", "lines": [{"sku": "ab", "qty": 5, "price": 40}]});
    let t = check(
        support::reference_flow(),
        &[start(0, body), err(30, 1, ErrorKind::HttpStatus, "POST https://fulfil.example/orders answered 422")],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"id":"o-3","lines":[{"sku":"ab","qty":5,"price":40}]}
          step lines[0].line [transform] succeeded t=0..0
               output: {"sku":"AB","subtotal":200}
          step lines [for_each] succeeded t=0..0
               input:  [{"sku":"ab","qty":5,"price":40}]
               output: [{"sku":"AB","subtotal":200}]
          step total [transform] succeeded t=0..0
               output: 200
          run #1 forward http.request attempt=1 key=ex1:forward input={"method":"POST","url":"https://fulfil.example/orders","json":{"id":"o-3","total":200,"lines":[{"sku":"AB","subtotal":200}],"tags":["weft"]}}
        @30 failed #1 http_status: POST https://fulfil.example/orders answered 422
          step forward [action http.request] failed t=0..30
               input:  {"method":"POST","url":"https://fulfil.example/orders","json":{"id":"o-3","total":200,"lines":[{"sku":"AB","subtotal":200}],"tags":["weft"]}}
               error:  http_status: POST https://fulfil.example/orders answered 422
          step decide [branch] failed t=0..30
               error:  http_status: POST https://fulfil.example/orders answered 422
          FINISH failed error=http_status: POST https://fulfil.example/orders answered 422
        == failed error=http_status: POST https://fulfil.example/orders answered 422
        "#);
}

// ----- step kinds -----

#[test]
fn transform_templates_and_flow_result() {
    let t = check(
        json!({
            "config": {"greeting": "hello"},
            "steps": [
                {"key": "a", "transform": {"who": "{{ trigger.body.name }}", "n": "{{ 1 + 2 }}", "text": "{{ config.greeting }}, {{ trigger.body.name }}!", "lit": [1, true]}},
                {"key": "b", "transform": "{{ steps.a.output.n * 10 }}"},
                {"key": "c", "transform": "{{ execution.id }}/{{ instance.id }}/{{ customer.external_id }}"}
            ],
            "result": {"b": "{{ steps.b.output }}", "c": "{{ steps.c.output }}"}
        }),
        &[start(5, json!({"name": "Ada"}))],
    );
    insta::assert_snapshot!(t, @r#"
        @5 start body={"name":"Ada"}
          step a [transform] succeeded t=5..5
               output: {"who":"Ada","n":3,"text":"hello, Ada!","lit":[1,true]}
          step b [transform] succeeded t=5..5
               output: 30
          step c [transform] succeeded t=5..5
               output: "ex1/in1/acme"
          FINISH succeeded result={"b":30,"c":"ex1/in1/acme"}
        == succeeded result={"b":30,"c":"ex1/in1/acme"}
        "#);
}

#[test]
fn a_flow_without_steps_or_result_succeeds_with_null() {
    let t = check(json!({"steps": []}), &[start(0, json!({}))]);
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn branch_takes_the_first_truthy_arm_and_outputs_its_last_step() {
    let t = check(
        json!({
            "steps": [
                {"key": "pick", "branch": [
                    {"when": "{{ trigger.body.n > 10 }}", "steps": [{"key": "big", "transform": "big"}]},
                    {"when": "{{ trigger.body.n > 1 }}", "steps": [
                        {"key": "medium", "transform": "medium"},
                        {"key": "medium2", "transform": "{{ steps.medium.output }}!"}
                    ]},
                    {"when": "{{ trigger.body.n > 0 }}", "steps": [{"key": "small", "transform": "small"}]},
                    {"else": [{"key": "none", "transform": "none"}]}
                ]}
            ],
            "result": {
                "pick": "{{ steps.pick.output }}",
                "big": "{{ steps.big is defined }}",
                "medium": "{{ steps.medium.output }}",
                "small": "{{ steps.small is defined }}"
            }
        }),
        &[start(0, json!({"n": 5}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"n":5}
          step medium [transform] succeeded t=0..0
               output: "medium"
          step medium2 [transform] succeeded t=0..0
               output: "medium!"
          step pick [branch] succeeded t=0..0
               output: "medium!"
          FINISH succeeded result={"pick":"medium!","big":false,"medium":"medium","small":false}
        == succeeded result={"pick":"medium!","big":false,"medium":"medium","small":false}
        "#);
}

#[test]
fn branch_without_a_matching_arm_or_else_outputs_null() {
    let t = check(
        json!({
            "steps": [
                {"key": "pick", "branch": [
                    {"when": "{{ trigger.body.flag }}", "steps": [{"key": "yes", "transform": 1}]},
                    {"when": "{{ [] }}", "steps": [{"key": "never", "transform": 2}]}
                ]},
                {"key": "empty_arm", "branch": [{"when": "{{ true }}", "steps": []}]}
            ],
            "result": ["{{ steps.pick.output }}", "{{ steps.empty_arm.output }}", "{{ steps.yes is defined }}"]
        }),
        &[start(0, json!({"flag": ""}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"flag":""}
          step pick [branch] succeeded t=0..0
               output: null
          step empty_arm [branch] succeeded t=0..0
               output: null
          FINISH succeeded result=[null,null,false]
        == succeeded result=[null,null,false]
        "#);
}

#[test]
fn for_each_binds_item_and_index_and_scopes_its_steps() {
    let t = check(
        json!({
            "steps": [
                {"key": "loop", "for_each": "{{ trigger.body.xs }}", "steps": [
                    {"key": "double", "transform": "{{ item * 2 }}"},
                    {"key": "label", "transform": "{{ index }}:{{ steps.double.output }}"}
                ]},
                {"key": "after", "transform": "{{ steps.double is defined }}"}
            ],
            "result": {"loop": "{{ steps.loop.output }}", "inner_visible_after_loop": "{{ steps.after.output }}"}
        }),
        &[start(0, json!({"xs": [1, 2, 3]}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"xs":[1,2,3]}
          step loop[0].double [transform] succeeded t=0..0
               output: 2
          step loop[0].label [transform] succeeded t=0..0
               output: "0:2"
          step loop[1].double [transform] succeeded t=0..0
               output: 4
          step loop[1].label [transform] succeeded t=0..0
               output: "1:4"
          step loop[2].double [transform] succeeded t=0..0
               output: 6
          step loop[2].label [transform] succeeded t=0..0
               output: "2:6"
          step loop [for_each] succeeded t=0..0
               input:  [1,2,3]
               output: ["0:2","1:4","2:6"]
          step after [transform] succeeded t=0..0
               output: false
          FINISH succeeded result={"loop":["0:2","1:4","2:6"],"inner_visible_after_loop":false}
        == succeeded result={"loop":["0:2","1:4","2:6"],"inner_visible_after_loop":false}
        "#);
}

#[test]
fn for_each_over_an_empty_list_outputs_an_empty_list() {
    let t = check(
        json!({"steps": [{"key": "loop", "for_each": "{{ [] }}", "steps": [{"key": "x", "transform": 1}]}], "result": "{{ steps.loop.output }}"}),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step loop [for_each] succeeded t=0..0
               input:  []
               output: []
          FINISH succeeded result=[]
        == succeeded result=[]
        "#);
}

#[test]
fn for_each_over_a_non_list_fails_naming_the_type() {
    let t = check(
        json!({"steps": [{"key": "loop", "for_each": "{{ trigger.body }}", "steps": [{"key": "x", "transform": 1}]}]}),
        &[start(0, json!({"lines": 3}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"lines":3}
          step loop [for_each] failed t=0..0
               input:  {"lines":3}
               error:  input: for_each: expected a list of items, got object
          FINISH failed error=input: for_each: expected a list of items, got object
        == failed error=input: for_each: expected a list of items, got object
        "#);
}

#[test]
fn for_each_over_more_than_ten_thousand_items_hits_the_limit() {
    let t = check(
        json!({"steps": [{"key": "loop", "for_each": "{{ range(trigger.body.n) | list }}", "steps": [{"key": "x", "transform": 1}]}]}),
        &[start(0, json!({"n": 10_001}))],
    );
    // The 10_001 items are recorded as the step's input; only show the verdict.
    let t: String = t.lines().filter(|l| !l.contains("input:")).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!(t, @r#"
        @0 start body={"n":10001}
          step loop [for_each] failed t=0..0
               error:  limit: for_each: 10001 items exceed the limit of 10000 items per loop
          FINISH failed error=limit: for_each: 10001 items exceed the limit of 10000 items per loop
        == failed error=limit: for_each: 10001 items exceed the limit of 10000 items per loop
        "#);
}

#[test]
fn for_each_over_exactly_ten_thousand_items_is_allowed() {
    let t = check(
        json!({
            "steps": [{"key": "loop", "for_each": "{{ range(trigger.body.n) | list }}", "steps": [{"key": "x", "transform": "{{ item + 1 }}"}]}],
            "result": {"count": "{{ steps.loop.output | length }}", "last": "{{ steps.loop.output | last }}"}
        }),
        &[start(0, json!({"n": 10_000}))],
    );
    let t = t.lines().last().unwrap();
    insta::assert_snapshot!(t, @r#"
        == succeeded result={"count":10000,"last":10000}
        "#);
}

#[test]
fn for_each_with_concurrency_two_keeps_two_calls_in_flight_and_the_output_in_order() {
    let t = check(
        json!({
            "steps": [
                {"key": "fetch", "for_each": "{{ trigger.body.ids }}", "concurrency": 2, "steps": [
                    {"key": "get", "action": "http.request", "inputs": {"method": "GET", "url": "https://api.example/items/{{ item }}"}},
                    {"key": "name", "transform": "{{ steps.get.output.body.name }}"}
                ]}
            ],
            "result": "{{ steps.fetch.output }}"
        }),
        &[
            start(0, json!({"ids": [10, 11, 12, 13]})),
            ok(50, 2, json!({"status": 200, "body": {"name": "eleven"}})),
            ok(60, 3, json!({"status": 200, "body": {"name": "twelve"}})),
            Ev::Checkpoint,
            ok(70, 1, json!({"status": 200, "body": {"name": "ten"}})),
            ok(80, 4, json!({"status": 200, "body": {"name": "thirteen"}})),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"ids":[10,11,12,13]}
          run #1 fetch[0].get http.request attempt=1 key=ex1:fetch[0].get input={"method":"GET","url":"https://api.example/items/10"}
          run #2 fetch[1].get http.request attempt=1 key=ex1:fetch[1].get input={"method":"GET","url":"https://api.example/items/11"}
        @50 ok #2 {"status":200,"body":{"name":"eleven"}}
          step fetch[1].get [action http.request] succeeded t=0..50
               input:  {"method":"GET","url":"https://api.example/items/11"}
               output: {"status":200,"body":{"name":"eleven"}}
          step fetch[1].name [transform] succeeded t=50..50
               output: "eleven"
          run #3 fetch[2].get http.request attempt=1 key=ex1:fetch[2].get input={"method":"GET","url":"https://api.example/items/12"}
        @60 ok #3 {"status":200,"body":{"name":"twelve"}}
          step fetch[2].get [action http.request] succeeded t=50..60
               input:  {"method":"GET","url":"https://api.example/items/12"}
               output: {"status":200,"body":{"name":"twelve"}}
          step fetch[2].name [transform] succeeded t=60..60
               output: "twelve"
          run #4 fetch[3].get http.request attempt=1 key=ex1:fetch[3].get input={"method":"GET","url":"https://api.example/items/13"}
        -- checkpoint: running, next wake None
           pending run #1 fetch[0].get http.request attempt=1 key=ex1:fetch[0].get input={"method":"GET","url":"https://api.example/items/10"}
           pending run #4 fetch[3].get http.request attempt=1 key=ex1:fetch[3].get input={"method":"GET","url":"https://api.example/items/13"}
        @70 ok #1 {"status":200,"body":{"name":"ten"}}
          step fetch[0].get [action http.request] succeeded t=0..70
               input:  {"method":"GET","url":"https://api.example/items/10"}
               output: {"status":200,"body":{"name":"ten"}}
          step fetch[0].name [transform] succeeded t=70..70
               output: "ten"
        @80 ok #4 {"status":200,"body":{"name":"thirteen"}}
          step fetch[3].get [action http.request] succeeded t=60..80
               input:  {"method":"GET","url":"https://api.example/items/13"}
               output: {"status":200,"body":{"name":"thirteen"}}
          step fetch[3].name [transform] succeeded t=80..80
               output: "thirteen"
          step fetch [for_each] succeeded t=0..80
               input:  [10,11,12,13]
               output: ["ten","eleven","twelve","thirteen"]
          FINISH succeeded result=["ten","eleven","twelve","thirteen"]
        == succeeded result=["ten","eleven","twelve","thirteen"]
        "#);
}

#[test]
fn a_failed_iteration_fails_the_loop_and_abandons_the_others() {
    let t = check(
        json!({
            "steps": [
                {"key": "fetch", "for_each": "{{ [1, 2, 3] }}", "concurrency": 2, "steps": [
                    {"key": "get", "action": "http.request", "inputs": {"url": "https://api.example/{{ item }}"}}
                ]}
            ]
        }),
        &[
            start(0, json!({})),
            err(10, 2, ErrorKind::HttpStatus, "404 Not Found"),
            ok(20, 1, json!("late answer of an abandoned iteration")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 fetch[0].get http.request attempt=1 key=ex1:fetch[0].get input={"url":"https://api.example/1"}
          run #2 fetch[1].get http.request attempt=1 key=ex1:fetch[1].get input={"url":"https://api.example/2"}
        @10 failed #2 http_status: 404 Not Found
          step fetch[1].get [action http.request] failed t=0..10
               input:  {"url":"https://api.example/2"}
               error:  http_status: 404 Not Found
          step fetch [for_each] failed t=0..10
               input:  [1,2,3]
               error:  http_status: 404 Not Found
          FINISH failed error=http_status: 404 Not Found
        @20 ok #1 "late answer of an abandoned iteration"
        == failed error=http_status: 404 Not Found
        "#);
}

#[test]
fn nested_for_each_paths_and_outputs() {
    let t = check(
        json!({
            "steps": [
                {"key": "rows", "for_each": "{{ trigger.body.rows }}", "steps": [
                    {"key": "row_index", "transform": "{{ index }}"},
                    {"key": "cells", "for_each": "{{ item }}", "steps": [
                        {"key": "cell", "transform": "r{{ steps.row_index.output }}c{{ index }}={{ item }}"}
                    ]}
                ]}
            ],
            "result": "{{ steps.rows.output }}"
        }),
        &[start(0, json!({"rows": [["a", "b"], [], ["c"]]}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"rows":[["a","b"],[],["c"]]}
          step rows[0].row_index [transform] succeeded t=0..0
               output: 0
          step rows[0].cells[0].cell [transform] succeeded t=0..0
               output: "r0c0=a"
          step rows[0].cells[1].cell [transform] succeeded t=0..0
               output: "r0c1=b"
          step rows[0].cells [for_each] succeeded t=0..0
               input:  ["a","b"]
               output: ["r0c0=a","r0c1=b"]
          step rows[1].row_index [transform] succeeded t=0..0
               output: 1
          step rows[1].cells [for_each] succeeded t=0..0
               input:  []
               output: []
          step rows[2].row_index [transform] succeeded t=0..0
               output: 2
          step rows[2].cells[0].cell [transform] succeeded t=0..0
               output: "r2c0=c"
          step rows[2].cells [for_each] succeeded t=0..0
               input:  ["c"]
               output: ["r2c0=c"]
          step rows [for_each] succeeded t=0..0
               input:  [["a","b"],[],["c"]]
               output: [["r0c0=a","r0c1=b"],[],["r2c0=c"]]
          FINISH succeeded result=[["r0c0=a","r0c1=b"],[],["r2c0=c"]]
        == succeeded result=[["r0c0=a","r0c1=b"],[],["r2c0=c"]]
        "#);
}

#[test]
fn branch_inside_for_each_writes_into_the_iteration_scope() {
    let t = check(
        json!({
            "steps": [
                {"key": "orders", "for_each": "{{ trigger.body.orders }}", "steps": [
                    {"key": "route", "branch": [
                        {"when": "{{ item.total >= 100 }}", "steps": [
                            {"key": "post", "action": "http.request", "inputs": {"method": "POST", "json": "{{ item }}"}}
                        ]},
                        {"else": [{"key": "ignore", "transform": "small"}]}
                    ]},
                    {"key": "summary", "transform": {
                        "id": "{{ item.id }}",
                        "posted": "{{ steps.post is defined }}",
                        "route": "{{ steps.route.output }}"
                    }}
                ]}
            ],
            "result": "{{ steps.orders.output }}"
        }),
        &[
            start(0, json!({"orders": [{"id": 1, "total": 150}, {"id": 2, "total": 5}]})),
            ok(40, 1, json!({"status": 201})),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"orders":[{"id":1,"total":150},{"id":2,"total":5}]}
          run #1 orders[0].post http.request attempt=1 key=ex1:orders[0].post input={"method":"POST","json":{"id":1,"total":150}}
        @40 ok #1 {"status":201}
          step orders[0].post [action http.request] succeeded t=0..40
               input:  {"method":"POST","json":{"id":1,"total":150}}
               output: {"status":201}
          step orders[0].route [branch] succeeded t=0..40
               output: {"status":201}
          step orders[0].summary [transform] succeeded t=40..40
               output: {"id":1,"posted":true,"route":{"status":201}}
          step orders[1].ignore [transform] succeeded t=40..40
               output: "small"
          step orders[1].route [branch] succeeded t=40..40
               output: "small"
          step orders[1].summary [transform] succeeded t=40..40
               output: {"id":2,"posted":false,"route":"small"}
          step orders [for_each] succeeded t=0..40
               input:  [{"id":1,"total":150},{"id":2,"total":5}]
               output: [{"id":1,"posted":true,"route":{"status":201}},{"id":2,"posted":false,"route":"small"}]
          FINISH succeeded result=[{"id":1,"posted":true,"route":{"status":201}},{"id":2,"posted":false,"route":"small"}]
        == succeeded result=[{"id":1,"posted":true,"route":{"status":201}},{"id":2,"posted":false,"route":"small"}]
        "#);
}

#[test]
fn call_flow_issues_a_call_and_takes_its_result() {
    let t = check(
        json!({
            "steps": [
                {"key": "sub", "call_flow": "enrich", "input": {"id": "{{ trigger.body.id }}"}, "timeout": "30s"},
                {"key": "use", "transform": "{{ steps.sub.output.score + 1 }}"}
            ],
            "result": "{{ steps.use.output }}"
        }),
        &[start(0, json!({"id": 9})), ok(500, 1, json!({"score": 41}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"id":9}
          call_flow #1 sub enrich attempt=1 timeout=30000ms input={"id":9}
        @500 ok #1 {"score":41}
          step sub [call_flow] succeeded t=0..500
               input:  {"id":9}
               output: {"score":41}
          step use [transform] succeeded t=500..500
               output: 42
          FINISH succeeded result=42
        == succeeded result=42
        "#);
}

#[test]
fn call_flow_failure_is_retried_like_an_action() {
    let t = check(
        json!({
            "steps": [{"key": "sub", "call_flow": "enrich", "retry": {"attempts": 2, "backoff": "1s"}}]
        }),
        &[
            start(0, json!({})),
            err(100, 1, ErrorKind::Component, "called flow failed"),
            wake(1100),
            err(1200, 2, ErrorKind::Component, "called flow failed again"),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          call_flow #1 sub enrich attempt=1 input=null
        @100 failed #1 component: called flow failed
          log warn [sub] step `sub` failed (attempt 1 of 2): component: called flow failed; retrying in 1s
          wake_at 1100
        @1100 wake
          call_flow #2 sub enrich attempt=2 input=null
        @1200 failed #2 component: called flow failed again
          step sub [call_flow] failed t=0..1200 attempts=2
               input:  null
               error:  component: called flow failed again
          FINISH failed error=component: called flow failed again
        == failed error=component: called flow failed again
        "#);
}

#[test]
fn respond_sends_the_response_and_the_flow_goes_on() {
    let t = check(
        json!({
            "steps": [
                {"key": "ack", "respond": {"status": 202, "headers": {"x-order": "{{ trigger.body.id }}"}, "body": {"queued": "{{ trigger.body.id }}"}}},
                {"key": "work", "action": "slow.thing", "inputs": {"id": "{{ trigger.body.id }}"}},
                {"key": "plain", "respond": {}}
            ],
            "result": {"ack_status": "{{ steps.ack.output.status }}", "work": "{{ steps.work.output }}"}
        }),
        &[start(0, json!({"id": "o-7"})), ok(9000, 1, json!("done"))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"id":"o-7"}
          respond 202 headers={"x-order":"o-7"} body={"queued":"o-7"}
          step ack [respond] succeeded t=0..0
               output: {"status":202,"headers":{"x-order":"o-7"},"body":{"queued":"o-7"}}
          run #1 work slow.thing attempt=1 key=ex1:work input={"id":"o-7"}
        @9000 ok #1 "done"
          step work [action slow.thing] succeeded t=0..9000
               input:  {"id":"o-7"}
               output: "done"
          respond 200 headers={} body=null
          step plain [respond] succeeded t=9000..9000
               output: {"status":200,"headers":{},"body":null}
          FINISH succeeded result={"ack_status":202,"work":"done"}
        == succeeded result={"ack_status":202,"work":"done"}
        "#);
}

#[test]
fn respond_with_a_bad_status_fails_the_step() {
    let t = check(
        json!({"steps": [{"key": "ack", "respond": {"status": "{{ trigger.body.code }}"}}]}),
        &[start(0, json!({"code": 99}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"code":99}
          step ack [respond] failed t=0..0
               error:  input: respond.status: expected an HTTP status from 100 to 599, got 99
          FINISH failed error=input: respond.status: expected an HTTP status from 100 to 599, got 99
        == failed error=input: respond.status: expected an HTTP status from 100 to 599, got 99
        "#);
}

#[test]
fn stop_with_a_result_ends_the_run_early() {
    let t = check(
        json!({
            "steps": [
                {"key": "check", "branch": [
                    {"when": "{{ trigger.body.duplicate }}", "steps": [{"key": "halt", "stop": {"result": {"skipped": "{{ trigger.body.id }}"}}}]}
                ]},
                {"key": "never", "action": "http.request", "inputs": {}}
            ],
            "result": "normal result"
        }),
        &[start(0, json!({"duplicate": true, "id": 3})), ok(10, 1, json!("no such call"))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"duplicate":true,"id":3}
          step halt [stop] succeeded t=0..0
               output: {"skipped":3}
          FINISH succeeded result={"skipped":3}
        @10 ok #1 "no such call"
        == succeeded result={"skipped":3}
        "#);
}

#[test]
fn stop_without_a_result_uses_the_flow_result() {
    let t = check(
        json!({
            "steps": [
                {"key": "first", "transform": 1},
                {"key": "halt", "stop": {}},
                {"key": "second", "transform": 2}
            ],
            "result": {"first": "{{ steps.first.output }}", "second": "{{ steps.second is defined }}"}
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step first [transform] succeeded t=0..0
               output: 1
          step halt [stop] succeeded t=0..0
               output: null
          FINISH succeeded result={"first":1,"second":false}
        == succeeded result={"first":1,"second":false}
        "#);
}

#[test]
fn stop_inside_a_loop_ends_the_whole_run() {
    let t = check(
        json!({
            "steps": [
                {"key": "loop", "for_each": "{{ [1, 2, 3] }}", "steps": [
                    {"key": "maybe", "branch": [{"when": "{{ item == 2 }}", "steps": [{"key": "halt", "stop": {"result": "stopped at {{ index }}"}}]}]}
                ]}
            ]
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step loop[0].maybe [branch] succeeded t=0..0
               output: null
          step loop[1].halt [stop] succeeded t=0..0
               output: "stopped at 1"
          FINISH succeeded result="stopped at 1"
        == succeeded result="stopped at 1"
        "#);
}

#[test]
fn fail_step_fails_the_run_with_its_message() {
    let t = check(
        json!({
            "steps": [
                {"key": "guard", "branch": [{"when": "{{ trigger.body.total < 0 }}", "steps": [
                    {"key": "reject", "fail": "negative total {{ trigger.body.total }} in order {{ trigger.body.id }}"}
                ]}]},
                {"key": "never", "transform": 1}
            ]
        }),
        &[start(0, json!({"id": "o-9", "total": -5}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"id":"o-9","total":-5}
          step reject [fail] failed t=0..0
               error:  failed: negative total -5 in order o-9
          step guard [branch] failed t=0..0
               error:  failed: negative total -5 in order o-9
          FINISH failed error=failed: negative total -5 in order o-9
        == failed error=failed: negative total -5 in order o-9
        "#);
}

// ----- expression errors -----

#[test]
fn an_expression_error_fails_the_step_naming_the_input() {
    let t = check(
        json!({
            "steps": [{"key": "post", "action": "http.request", "inputs": {"method": "POST", "url": "{{ config.endpoint }}/orders"}}]
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step post [action http.request] failed t=0..0
               error:  expression: inputs.url: `config.endpoint` is undefined (in `config.endpoint`)
          FINISH failed error=expression: inputs.url: `config.endpoint` is undefined (in `config.endpoint`)
        == failed error=expression: inputs.url: `config.endpoint` is undefined (in `config.endpoint`)
        "#);
}

#[test]
fn expression_errors_in_other_step_kinds_name_their_field() {
    let t = check(
        json!({
            "steps": [
                {"key": "a", "transform": {"x": ["{{ nope.y }}"]}, "on_error": "continue"},
                {"key": "b", "branch": [{"when": "{{ 1 }}", "steps": []}, {"when": "{{ 1 / 0 }}", "steps": []}], "on_error": "continue"},
                {"key": "c", "branch": [{"when": "{{ trigger.body.nope.deeper }}", "steps": []}], "on_error": "continue"},
                {"key": "d", "for_each": "{{ trigger.body.missing }}", "steps": [], "on_error": "continue"},
                {"key": "e", "fail": "{{ trigger.body.missing.deeper }}", "on_error": "continue"}
            ]
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          log warn [a] step `a` failed: expression: transform.x[0]: `nope` is undefined (in `nope.y`); continuing (on_error: continue)
          step a [transform] continued t=0..0
               output: {"error":{"kind":"expression","message":"transform.x[0]: `nope` is undefined (in `nope.y`)","details":null}}
               error:  expression: transform.x[0]: `nope` is undefined (in `nope.y`)
          step b [branch] succeeded t=0..0
               output: null
          log warn [c] step `c` failed: expression: branch[0].when: `trigger.body.nope` is undefined (in `trigger.body.nope.deeper`); continuing (on_error: continue)
          step c [branch] continued t=0..0
               output: {"error":{"kind":"expression","message":"branch[0].when: `trigger.body.nope` is undefined (in `trigger.body.nope.deeper`)","details":null}}
               error:  expression: branch[0].when: `trigger.body.nope` is undefined (in `trigger.body.nope.deeper`)
          log warn [d] step `d` failed: expression: for_each: `trigger.body.missing` is undefined (in `trigger.body.missing`); continuing (on_error: continue)
          step d [for_each] continued t=0..0
               output: {"error":{"kind":"expression","message":"for_each: `trigger.body.missing` is undefined (in `trigger.body.missing`)","details":null}}
               error:  expression: for_each: `trigger.body.missing` is undefined (in `trigger.body.missing`)
          log warn [e] step `e` failed: expression: fail: `trigger.body.missing` is undefined (in `trigger.body.missing.deeper`); continuing (on_error: continue)
          step e [fail] continued t=0..0
               output: {"error":{"kind":"expression","message":"fail: `trigger.body.missing` is undefined (in `trigger.body.missing.deeper`)","details":null}}
               error:  expression: fail: `trigger.body.missing` is undefined (in `trigger.body.missing.deeper`)
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn a_failing_flow_result_fails_the_run() {
    let t = check(
        json!({"steps": [{"key": "a", "transform": 1}], "result": {"x": "{{ steps.a.output + trigger.body.nothing }}"}}),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step a [transform] succeeded t=0..0
               output: 1
          FINISH failed error=expression: result.x: cannot evaluate `steps.a.output + trigger.body.nothing`: tried to use + operator on unsupported types number and undefined
        == failed error=expression: result.x: cannot evaluate `steps.a.output + trigger.body.nothing`: tried to use + operator on unsupported types number and undefined
        "#);
}

// ----- retry -----

#[test]
fn retry_backs_off_exponentially_and_succeeds() {
    let t = check(
        json!({
            "steps": [{"key": "post", "action": "http.request", "inputs": {"url": "https://x.example"}, "timeout": "10s",
                       "retry": {"attempts": 4, "backoff": "2s", "factor": 2, "max_backoff": "5s"}}]
        }),
        &[
            start(0, json!({})),
            err(100, 1, ErrorKind::ServerError, "502 Bad Gateway"),
            wake(1000),
            wake(2100),
            err(2200, 2, ErrorKind::Timeout, "no answer within 10s"),
            Ev::Checkpoint,
            wake(6200),
            err(6300, 3, ErrorKind::Connection, "connection reset"),
            wake(11300),
            ok(11400, 4, json!({"status": 200})),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 timeout=10000ms key=ex1:post input={"url":"https://x.example"}
        @100 failed #1 server_error: 502 Bad Gateway
          log warn [post] step `post` failed (attempt 1 of 4): server_error: 502 Bad Gateway; retrying in 2s
          wake_at 2100
        @1000 wake
        @2100 wake
          run #2 post http.request attempt=2 timeout=10000ms key=ex1:post input={"url":"https://x.example"}
        @2200 failed #2 timeout: no answer within 10s
          log warn [post] step `post` failed (attempt 2 of 4): timeout: no answer within 10s; retrying in 4s
          wake_at 6200
        -- checkpoint: running, next wake Some(6200)
        @6200 wake
          run #3 post http.request attempt=3 timeout=10000ms key=ex1:post input={"url":"https://x.example"}
        @6300 failed #3 connection: connection reset
          log warn [post] step `post` failed (attempt 3 of 4): connection: connection reset; retrying in 5s
          wake_at 11300
        @11300 wake
          run #4 post http.request attempt=4 timeout=10000ms key=ex1:post input={"url":"https://x.example"}
        @11400 ok #4 {"status":200}
          step post [action http.request] succeeded t=0..11400 attempts=4
               input:  {"url":"https://x.example"}
               output: {"status":200}
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn retry_after_longer_than_the_backoff_wins() {
    let t = check(
        json!({"steps": [{"key": "post", "action": "http.request", "inputs": {}, "retry": {"attempts": 3, "backoff": "1s"}}]}),
        &[
            start(0, json!({})),
            err_retry_after(0, 1, ErrorKind::RateLimited, "429 Too Many Requests", 30_000),
            wake(30_000),
            err_retry_after(30_010, 2, ErrorKind::RateLimited, "429 Too Many Requests", 500),
            wake(32_010),
            ok(32_020, 3, json!("ok")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @0 failed #1 rate_limited: 429 Too Many Requests (retry after 30000ms)
          log warn [post] step `post` failed (attempt 1 of 3): rate_limited: 429 Too Many Requests; retrying in 30s
          wake_at 30000
        @30000 wake
          run #2 post http.request attempt=2 key=ex1:post input={}
        @30010 failed #2 rate_limited: 429 Too Many Requests (retry after 500ms)
          log warn [post] step `post` failed (attempt 2 of 3): rate_limited: 429 Too Many Requests; retrying in 2s
          wake_at 32010
        @32010 wake
          run #3 post http.request attempt=3 key=ex1:post input={}
        @32020 ok #3 "ok"
          step post [action http.request] succeeded t=0..32020 attempts=3
               input:  {}
               output: "ok"
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn retry_exhausted_fails_the_step() {
    let t = check(
        json!({"steps": [{"key": "post", "action": "http.request", "inputs": {}, "retry": {"attempts": 3, "backoff": "500ms", "factor": 1}}]}),
        &[
            start(0, json!({})),
            err(10, 1, ErrorKind::ServerError, "503"),
            wake(510),
            err(520, 2, ErrorKind::ServerError, "503"),
            wake(1020),
            err(1030, 3, ErrorKind::ServerError, "503 still"),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @10 failed #1 server_error: 503
          log warn [post] step `post` failed (attempt 1 of 3): server_error: 503; retrying in 500ms
          wake_at 510
        @510 wake
          run #2 post http.request attempt=2 key=ex1:post input={}
        @520 failed #2 server_error: 503
          log warn [post] step `post` failed (attempt 2 of 3): server_error: 503; retrying in 500ms
          wake_at 1020
        @1020 wake
          run #3 post http.request attempt=3 key=ex1:post input={}
        @1030 failed #3 server_error: 503 still
          step post [action http.request] failed t=0..1030 attempts=3
               input:  {}
               error:  server_error: 503 still
          FINISH failed error=server_error: 503 still
        == failed error=server_error: 503 still
        "#);
}

#[test]
fn retry_on_filters_the_error_kinds() {
    // `on` given: only those kinds are retried.
    let only_http = check(
        json!({"steps": [{"key": "post", "action": "http.request", "inputs": {}, "retry": {"attempts": 3, "on": ["http_status"]}}]}),
        &[
            start(0, json!({})),
            err(10, 1, ErrorKind::HttpStatus, "409 Conflict"),
            wake(1010),
            err(1020, 2, ErrorKind::ServerError, "500"),
        ],
    );
    insta::assert_snapshot!(only_http, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @10 failed #1 http_status: 409 Conflict
          log warn [post] step `post` failed (attempt 1 of 3): http_status: 409 Conflict; retrying in 1s
          wake_at 1010
        @1010 wake
          run #2 post http.request attempt=2 key=ex1:post input={}
        @1020 failed #2 server_error: 500
          step post [action http.request] failed t=0..1020 attempts=2
               input:  {}
               error:  server_error: 500
          FINISH failed error=server_error: 500
        == failed error=server_error: 500
        "#);
    // No `on`: only transient kinds are retried, so a 4xx fails at once.
    let default = check(
        json!({"steps": [{"key": "post", "action": "http.request", "inputs": {}, "retry": {"attempts": 3}}]}),
        &[start(0, json!({})), err(10, 1, ErrorKind::HttpStatus, "400 Bad Request")],
    );
    insta::assert_snapshot!(default, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @10 failed #1 http_status: 400 Bad Request
          step post [action http.request] failed t=0..10
               input:  {}
               error:  http_status: 400 Bad Request
          FINISH failed error=http_status: 400 Bad Request
        == failed error=http_status: 400 Bad Request
        "#);
}

#[test]
fn a_call_without_retry_fails_at_the_first_error() {
    let t = check(
        json!({"steps": [{"key": "post", "action": "http.request", "inputs": {}}]}),
        &[start(0, json!({})), err(10, 1, ErrorKind::ServerError, "500")],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @10 failed #1 server_error: 500
          step post [action http.request] failed t=0..10
               input:  {}
               error:  server_error: 500
          FINISH failed error=server_error: 500
        == failed error=server_error: 500
        "#);
}

// ----- timeouts -----

#[test]
fn a_for_each_past_its_timeout_fails_and_abandons_its_calls() {
    let t = check(
        json!({
            "steps": [
                {"key": "slow", "for_each": "{{ [1, 2, 3] }}", "concurrency": 2, "timeout": "5s", "on_error": "continue", "steps": [
                    {"key": "get", "action": "http.request", "inputs": {"n": "{{ item }}"}, "retry": {"attempts": 5}}
                ]},
                {"key": "next", "transform": "{{ steps.slow.output.error.kind }}"}
            ],
            "result": "{{ steps.next.output }}"
        }),
        &[
            start(1000, json!({})),
            ok(2000, 1, json!("one")),
            err(3000, 2, ErrorKind::ServerError, "500"),
            wake(4000),
            Ev::Checkpoint,
            wake(6000),
            ok(6100, 3, json!("too late")),
            ok(6200, 4, json!("too late")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @1000 start body={}
          wake_at 6000
          run #1 slow[0].get http.request attempt=1 key=ex1:slow[0].get input={"n":1}
          run #2 slow[1].get http.request attempt=1 key=ex1:slow[1].get input={"n":2}
        @2000 ok #1 "one"
          step slow[0].get [action http.request] succeeded t=1000..2000
               input:  {"n":1}
               output: "one"
          run #3 slow[2].get http.request attempt=1 key=ex1:slow[2].get input={"n":3}
        @3000 failed #2 server_error: 500
          log warn [slow[1].get] step `slow[1].get` failed (attempt 1 of 5): server_error: 500; retrying in 1s
          wake_at 4000
        @4000 wake
          run #4 slow[1].get http.request attempt=2 key=ex1:slow[1].get input={"n":2}
        -- checkpoint: running, next wake Some(6000)
           pending run #4 slow[1].get http.request attempt=2 key=ex1:slow[1].get input={"n":2}
           pending run #3 slow[2].get http.request attempt=1 key=ex1:slow[2].get input={"n":3}
        @6000 wake
          log warn [slow] step `slow` failed: timeout: step `slow` timed out after 5s; continuing (on_error: continue)
          step slow [for_each] continued t=1000..6000
               input:  [1,2,3]
               output: {"error":{"kind":"timeout","message":"step `slow` timed out after 5s","details":null}}
               error:  timeout: step `slow` timed out after 5s
          step next [transform] succeeded t=6000..6000
               output: "timeout"
          FINISH succeeded result="timeout"
        @6100 ok #3 "too late"
        @6200 ok #4 "too late"
        == succeeded result="timeout"
        "#);
}

#[test]
fn a_branch_past_its_timeout_fails_the_run() {
    let t = check(
        json!({
            "steps": [{"key": "maybe", "timeout": 2, "branch": [{"when": "{{ true }}", "steps": [
                {"key": "wait", "action": "slow.thing", "inputs": {}}
            ]}]}]
        }),
        &[start(0, json!({})), wake(1999), wake(2000), ok(2001, 1, json!("late"))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          wake_at 2000
          run #1 wait slow.thing attempt=1 key=ex1:wait input={}
        @1999 wake
        @2000 wake
          step maybe [branch] failed t=0..2000
               error:  timeout: step `maybe` timed out after 2s
          FINISH failed error=timeout: step `maybe` timed out after 2s
        @2001 ok #1 "late"
        == failed error=timeout: step `maybe` timed out after 2s
        "#);
}

// ----- on_error -----

#[test]
fn on_error_continue_records_the_error_as_output_and_goes_on() {
    let t = check(
        json!({
            "steps": [
                {"key": "post", "action": "http.request", "inputs": {}, "on_error": "continue"},
                {"key": "after", "transform": "{{ steps.post.output.error.message }}"}
            ],
            "result": "{{ steps.after.output }}"
        }),
        &[
            start(0, json!({})),
            Ev::At(
                10,
                Event::ActionFailed {
                    call: 1,
                    error: StepError::new(ErrorKind::HttpStatus, "404 Not Found").with_details(json!({"status": 404})),
                },
            ),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @10 failed #1 http_status: 404 Not Found details={"status":404}
          log warn [post] step `post` failed: http_status: 404 Not Found; continuing (on_error: continue)
          step post [action http.request] continued t=0..10
               input:  {}
               output: {"error":{"kind":"http_status","message":"404 Not Found","details":{"status":404}}}
               error:  http_status: 404 Not Found details={"status":404}
          step after [transform] succeeded t=10..10
               output: "404 Not Found"
          FINISH succeeded result="404 Not Found"
        == succeeded result="404 Not Found"
        "#);
}

#[test]
fn on_error_steps_run_with_the_error_bound() {
    let t = check(
        json!({
            "steps": [
                {"key": "post", "action": "http.request", "inputs": {"url": "https://a.example"}, "on_error": {"steps": [
                    {"key": "notify", "action": "slack.post", "inputs": {"text": "post failed: {{ error.kind }}: {{ error.message }}"}},
                    {"key": "fallback", "transform": {"fallback": true, "was": "{{ error.kind }}"}}
                ]}},
                {"key": "after", "transform": {"post": "{{ steps.post.output }}", "notified": "{{ steps.notify.output }}"}}
            ],
            "result": "{{ steps.after.output }}"
        }),
        &[start(0, json!({})), err(10, 1, ErrorKind::Connection, "refused"), ok(20, 2, json!({"ok": true}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={"url":"https://a.example"}
        @10 failed #1 connection: refused
          log warn [post] step `post` failed: connection: refused; running its on_error steps
          run #2 notify slack.post attempt=1 key=ex1:notify input={"text":"post failed: connection: refused"}
        @20 ok #2 {"ok":true}
          step notify [action slack.post] succeeded t=10..20
               input:  {"text":"post failed: connection: refused"}
               output: {"ok":true}
          step fallback [transform] succeeded t=20..20
               output: {"fallback":true,"was":"connection"}
          step post [action http.request] continued t=0..20
               input:  {"url":"https://a.example"}
               output: {"fallback":true,"was":"connection"}
               error:  connection: refused
          step after [transform] succeeded t=20..20
               output: {"post":{"fallback":true,"was":"connection"},"notified":{"ok":true}}
          FINISH succeeded result={"post":{"fallback":true,"was":"connection"},"notified":{"ok":true}}
        == succeeded result={"post":{"fallback":true,"was":"connection"},"notified":{"ok":true}}
        "#);
}

#[test]
fn on_error_steps_that_fail_fail_the_run() {
    let t = check(
        json!({
            "steps": [
                {"key": "post", "action": "http.request", "inputs": {}, "on_error": {"steps": [
                    {"key": "give_up", "fail": "could not post: {{ error.message }}"}
                ]}},
                {"key": "never", "transform": 1}
            ]
        }),
        &[start(0, json!({})), err(10, 1, ErrorKind::Connection, "refused")],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 post http.request attempt=1 key=ex1:post input={}
        @10 failed #1 connection: refused
          log warn [post] step `post` failed: connection: refused; running its on_error steps
          step give_up [fail] failed t=10..10
               error:  failed: could not post: refused
          step post [action http.request] failed t=0..10
               input:  {}
               error:  failed: could not post: refused
          FINISH failed error=failed: could not post: refused
        == failed error=failed: could not post: refused
        "#);
}

#[test]
fn on_error_fail_is_the_default_and_can_be_written() {
    let t = check(
        json!({"steps": [{"key": "boom", "fail": "explicit", "on_error": "fail"}, {"key": "never", "transform": 1}]}),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step boom [fail] failed t=0..0
               error:  failed: explicit
          FINISH failed error=failed: explicit
        == failed error=failed: explicit
        "#);
}

#[test]
fn on_error_inside_a_loop_sees_item_and_error() {
    let t = check(
        json!({
            "steps": [
                {"key": "loop", "for_each": "{{ ['a', 'b'] }}", "steps": [
                    {"key": "check", "fail": "bad {{ item }}", "on_error": {"steps": [
                        {"key": "handled", "transform": "{{ index }}/{{ item }}: {{ error.message }}"}
                    ]}}
                ]}
            ],
            "result": "{{ steps.loop.output }}"
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          log warn [loop[0].check] step `loop[0].check` failed: failed: bad a; running its on_error steps
          step loop[0].handled [transform] succeeded t=0..0
               output: "0/a: bad a"
          step loop[0].check [fail] continued t=0..0
               output: "0/a: bad a"
               error:  failed: bad a
          log warn [loop[1].check] step `loop[1].check` failed: failed: bad b; running its on_error steps
          step loop[1].handled [transform] succeeded t=0..0
               output: "1/b: bad b"
          step loop[1].check [fail] continued t=0..0
               output: "1/b: bad b"
               error:  failed: bad b
          step loop [for_each] succeeded t=0..0
               input:  ["a","b"]
               output: ["0/a: bad a","1/b: bad b"]
          FINISH succeeded result=["0/a: bad a","1/b: bad b"]
        == succeeded result=["0/a: bad a","1/b: bad b"]
        "#);
}

#[test]
fn a_failure_inside_a_branch_is_handled_by_the_branch_on_error() {
    let t = check(
        json!({
            "steps": [
                {"key": "route", "on_error": "continue", "branch": [{"when": "{{ true }}", "steps": [
                    {"key": "inner", "fail": "inner failure"}
                ]}]},
                {"key": "after", "transform": "{{ steps.route.output.error.message }}"}
            ],
            "result": "{{ steps.after.output }}"
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step inner [fail] failed t=0..0
               error:  failed: inner failure
          log warn [route] step `route` failed: failed: inner failure; continuing (on_error: continue)
          step route [branch] continued t=0..0
               output: {"error":{"kind":"failed","message":"inner failure","details":null}}
               error:  failed: inner failure
          step after [transform] succeeded t=0..0
               output: "inner failure"
          FINISH succeeded result="inner failure"
        == succeeded result="inner failure"
        "#);
}

// ----- event handling -----

#[test]
fn answers_to_unknown_or_already_answered_calls_are_ignored() {
    let t = check(
        json!({"steps": [
            {"key": "a", "action": "x.a", "inputs": {}},
            {"key": "b", "action": "x.b", "inputs": {}}
        ], "result": ["{{ steps.a.output }}", "{{ steps.b.output }}"]}),
        &[
            start(0, json!({})),
            ok(1, 99, json!("unknown call")),
            err(2, 0, ErrorKind::Component, "unknown call"),
            ok(3, 1, json!("A")),
            ok(4, 1, json!("A again")),
            err(5, 1, ErrorKind::Component, "A failed late"),
            wake(6),
            ok(7, 2, json!("B")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 a x.a attempt=1 key=ex1:a input={}
        @1 ok #99 "unknown call"
        @2 failed #0 component: unknown call
        @3 ok #1 "A"
          step a [action x.a] succeeded t=0..3
               input:  {}
               output: "A"
          run #2 b x.b attempt=1 key=ex1:b input={}
        @4 ok #1 "A again"
        @5 failed #1 component: A failed late
        @6 wake
        @7 ok #2 "B"
          step b [action x.b] succeeded t=3..7
               input:  {}
               output: "B"
          FINISH succeeded result=["A","B"]
        == succeeded result=["A","B"]
        "#);
}

#[test]
fn events_before_start_and_a_second_start_are_ignored() {
    let t = check(
        json!({"steps": [{"key": "a", "action": "x.a", "inputs": {"v": "{{ trigger.body.v }}"}}]}),
        &[
            ok(0, 1, json!("early")),
            wake(0),
            start(1, json!({"v": 1})),
            start(2, json!({"v": 2})),
            ok(3, 1, json!("done")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 ok #1 "early"
        @0 wake
        @1 start body={"v":1}
          run #1 a x.a attempt=1 key=ex1:a input={"v":1}
        @2 start body={"v":2}
        @3 ok #1 "done"
          step a [action x.a] succeeded t=1..3
               input:  {"v":1}
               output: "done"
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn cancel_ends_the_run_and_later_events_are_ignored() {
    let t = check(
        json!({"steps": [{"key": "a", "action": "x.a", "inputs": {}, "retry": {"attempts": 3}}]}),
        &[
            start(0, json!({})),
            err(10, 1, ErrorKind::Timeout, "slow"),
            cancel(20),
            wake(1010),
            ok(1020, 1, json!("late")),
            cancel(1030),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 a x.a attempt=1 key=ex1:a input={}
        @10 failed #1 timeout: slow
          log warn [a] step `a` failed (attempt 1 of 3): timeout: slow; retrying in 1s
          wake_at 1010
        @20 cancel
          FINISH canceled
        @1010 wake
        @1020 ok #1 "late"
        @1030 cancel
        == canceled
        "#);
}

#[test]
fn cancel_before_start_ends_the_run() {
    let t = check(json!({"steps": [{"key": "a", "transform": 1}]}), &[cancel(0), start(1, json!({}))]);
    insta::assert_snapshot!(t, @r#"
        @0 cancel
          FINISH canceled
        @1 start body={}
        == canceled
        "#);
}

#[test]
fn a_timeout_does_not_cut_short_the_on_error_steps() {
    // The loop times out at 5s; its handler's call (issued after the deadline) still finishes.
    let t = check(
        json!({
            "steps": [
                {"key": "loop", "for_each": "{{ [1] }}", "timeout": "5s", "steps": [{"key": "get", "action": "x.get", "inputs": {}}],
                 "on_error": {"steps": [{"key": "report", "action": "x.report", "inputs": {"why": "{{ error.message }}"}}]}}
            ],
            "result": "{{ steps.loop.output }}"
        }),
        &[start(0, json!({})), wake(5000), wake(20_000), ok(20_001, 2, json!("reported"))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          wake_at 5000
          run #1 loop[0].get x.get attempt=1 key=ex1:loop[0].get input={}
        @5000 wake
          log warn [loop] step `loop` failed: timeout: step `loop` timed out after 5s; running its on_error steps
          run #2 report x.report attempt=1 key=ex1:report input={"why":"step `loop` timed out after 5s"}
        @20000 wake
        @20001 ok #2 "reported"
          step report [action x.report] succeeded t=5000..20001
               input:  {"why":"step `loop` timed out after 5s"}
               output: "reported"
          step loop [for_each] continued t=0..20001
               input:  [1]
               output: "reported"
               error:  timeout: step `loop` timed out after 5s
          FINISH succeeded result="reported"
        == succeeded result="reported"
        "#);
}

#[test]
fn a_failing_handler_inside_a_loop_is_caught_by_the_loop_on_error() {
    let t = check(
        json!({
            "steps": [
                {"key": "loop", "for_each": "{{ [1, 2] }}", "on_error": "continue", "steps": [
                    {"key": "check", "fail": "bad {{ item }}", "on_error": {"steps": [{"key": "rethrow", "fail": "rethrown: {{ error.message }}"}]}}
                ]},
                {"key": "after", "transform": "{{ steps.loop.output.error.message }}"}
            ],
            "result": "{{ steps.after.output }}"
        }),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          log warn [loop[0].check] step `loop[0].check` failed: failed: bad 1; running its on_error steps
          step loop[0].rethrow [fail] failed t=0..0
               error:  failed: rethrown: bad 1
          step loop[0].check [fail] failed t=0..0
               error:  failed: rethrown: bad 1
          log warn [loop] step `loop` failed: failed: rethrown: bad 1; continuing (on_error: continue)
          step loop [for_each] continued t=0..0
               input:  [1,2]
               output: {"error":{"kind":"failed","message":"rethrown: bad 1","details":null}}
               error:  failed: rethrown: bad 1
          step after [transform] succeeded t=0..0
               output: "rethrown: bad 1"
          FINISH succeeded result="rethrown: bad 1"
        == succeeded result="rethrown: bad 1"
        "#);
}

#[test]
fn stop_whose_flow_result_fails_fails_the_run() {
    let t = check(
        json!({"steps": [{"key": "halt", "stop": null}], "result": "{{ trigger.body.missing }}"}),
        &[start(0, json!({}))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          step halt [stop] succeeded t=0..0
               output: null
          FINISH failed error=expression: result: `trigger.body.missing` is undefined (in `trigger.body.missing`)
        == failed error=expression: result: `trigger.body.missing` is undefined (in `trigger.body.missing`)
        "#);
}

#[test]
fn a_run_resumes_from_a_mid_flight_checkpoint() {
    // `check` restores every checkpoint already; this shows what a resuming worker re-issues.
    let t = check(
        json!({
            "steps": [
                {"key": "prep", "transform": "{{ trigger.body.n + 1 }}"},
                {"key": "fan", "for_each": "{{ [1, 2, 3] }}", "concurrency": 3, "steps": [
                    {"key": "call", "action": "x.call", "inputs": {"v": "{{ item * steps.prep.output }}"}, "timeout": "1m"}
                ]},
                {"key": "sub", "call_flow": "child", "input": "{{ steps.fan.output }}"}
            ],
            "result": "{{ steps.sub.output }}"
        }),
        &[
            Ev::Checkpoint,
            start(0, json!({"n": 1})),
            ok(10, 2, json!("b")),
            Ev::Checkpoint,
            ok(20, 1, json!("a")),
            ok(30, 3, json!("c")),
            Ev::Checkpoint,
            ok(40, 4, json!("child result")),
            Ev::Checkpoint,
        ],
    );
    insta::assert_snapshot!(t, @r#"
        -- checkpoint: pending, next wake None
        @0 start body={"n":1}
          step prep [transform] succeeded t=0..0
               output: 2
          run #1 fan[0].call x.call attempt=1 timeout=60000ms key=ex1:fan[0].call input={"v":2}
          run #2 fan[1].call x.call attempt=1 timeout=60000ms key=ex1:fan[1].call input={"v":4}
          run #3 fan[2].call x.call attempt=1 timeout=60000ms key=ex1:fan[2].call input={"v":6}
        @10 ok #2 "b"
          step fan[1].call [action x.call] succeeded t=0..10
               input:  {"v":4}
               output: "b"
        -- checkpoint: running, next wake None
           pending run #1 fan[0].call x.call attempt=1 timeout=60000ms key=ex1:fan[0].call input={"v":2}
           pending run #3 fan[2].call x.call attempt=1 timeout=60000ms key=ex1:fan[2].call input={"v":6}
        @20 ok #1 "a"
          step fan[0].call [action x.call] succeeded t=0..20
               input:  {"v":2}
               output: "a"
        @30 ok #3 "c"
          step fan[2].call [action x.call] succeeded t=0..30
               input:  {"v":6}
               output: "c"
          step fan [for_each] succeeded t=0..30
               input:  [1,2,3]
               output: ["a","b","c"]
          call_flow #4 sub child attempt=1 input=["a","b","c"]
        -- checkpoint: running, next wake None
           pending call_flow #4 sub child attempt=1 input=["a","b","c"]
        @40 ok #4 "child result"
          step sub [call_flow] succeeded t=30..40
               input:  ["a","b","c"]
               output: "child result"
          FINISH succeeded result="child result"
        -- checkpoint: succeeded, next wake None
        == succeeded result="child result"
        "#);
}

// ----- resuming from a redacted checkpoint -----

#[test]
fn resuming_re_evaluates_a_call_in_flight_with_the_real_secret() {
    let t = check(
        json!({
            "config": {"token": "tok-123"},
            "steps": [
                {"key": "me", "action": "http.request", "timeout": "30s", "inputs": {
                    "url": "https://api.example/me?site={{ trigger.body.site }}",
                    "headers": {"Authorization": "Bearer {{ config.token }}"}
                }},
                {"key": "name", "transform": "{{ steps.me.output.body.name }}"}
            ],
            "result": "{{ steps.name.output }}"
        }),
        &[
            start(0, json!({"site": "eu"})),
            Ev::Resume(500, "tok-123"),
            ok(600, 1, json!({"status": 200, "body": {"name": "Ann"}})),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"site":"eu"}
          run #1 me http.request attempt=1 timeout=30000ms key=ex1:me input={"url":"https://api.example/me?site=eu","headers":{"Authorization":"Bearer tok-123"}}
        @500 resume from a checkpoint without "tok-123"
           stored run #1 me http.request attempt=1 timeout=30000ms key=ex1:me input={"url":"https://api.example/me?site=eu","headers":{"Authorization":"Bearer [redacted]"}}
          run #1 me http.request attempt=1 timeout=30000ms key=ex1:me input={"url":"https://api.example/me?site=eu","headers":{"Authorization":"Bearer tok-123"}}
        @600 ok #1 {"status":200,"body":{"name":"Ann"}}
          step me [action http.request] succeeded t=0..600
               input:  {"url":"https://api.example/me?site=eu","headers":{"Authorization":"Bearer tok-123"}}
               output: {"status":200,"body":{"name":"Ann"}}
          step name [transform] succeeded t=600..600
               output: "Ann"
          FINISH succeeded result="Ann"
        == succeeded result="Ann"
        "#);
}

#[test]
fn resuming_rebuilds_item_dependent_inputs_and_the_inputs_of_retries_waiting() {
    let t = check(
        json!({
            "config": {"token": "tok-123"},
            "steps": [
                {"key": "fan", "for_each": "{{ trigger.body.accounts }}", "concurrency": 2, "steps": [
                    {"key": "get", "action": "x.fetch", "retry": {"attempts": 3, "backoff": "1s"},
                     "inputs": {"account": "{{ item.id }}", "n": "{{ index }}", "auth": "{{ config.token }}"}}
                ]}
            ],
            "result": "{{ steps.fan.output }}"
        }),
        &[
            start(0, json!({"accounts": [{"id": "A"}, {"id": "B"}, {"id": "C"}]})),
            err(100, 2, ErrorKind::ServerError, "503"),
            // fan[1].get waits out its backoff: its stored command (re-issued at the wake) holds
            // the redacted token too, and is rebuilt without being issued now.
            Ev::Resume(500, "tok-123"),
            Ev::Checkpoint,
            wake(1100),
            ok(1200, 1, json!("a")),
            ok(1300, 3, json!("b")),
            ok(1400, 4, json!("c")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"accounts":[{"id":"A"},{"id":"B"},{"id":"C"}]}
          run #1 fan[0].get x.fetch attempt=1 key=ex1:fan[0].get input={"account":"A","n":0,"auth":"tok-123"}
          run #2 fan[1].get x.fetch attempt=1 key=ex1:fan[1].get input={"account":"B","n":1,"auth":"tok-123"}
        @100 failed #2 server_error: 503
          log warn [fan[1].get] step `fan[1].get` failed (attempt 1 of 3): server_error: 503; retrying in 1s
          wake_at 1100
        @500 resume from a checkpoint without "tok-123"
           stored run #1 fan[0].get x.fetch attempt=1 key=ex1:fan[0].get input={"account":"A","n":0,"auth":"[redacted]"}
          run #1 fan[0].get x.fetch attempt=1 key=ex1:fan[0].get input={"account":"A","n":0,"auth":"tok-123"}
        -- checkpoint: running, next wake Some(1100)
           pending run #1 fan[0].get x.fetch attempt=1 key=ex1:fan[0].get input={"account":"A","n":0,"auth":"tok-123"}
        @1100 wake
          run #3 fan[1].get x.fetch attempt=2 key=ex1:fan[1].get input={"account":"B","n":1,"auth":"tok-123"}
        @1200 ok #1 "a"
          step fan[0].get [action x.fetch] succeeded t=0..1200
               input:  {"account":"A","n":0,"auth":"tok-123"}
               output: "a"
          run #4 fan[2].get x.fetch attempt=1 key=ex1:fan[2].get input={"account":"C","n":2,"auth":"tok-123"}
        @1300 ok #3 "b"
          step fan[1].get [action x.fetch] succeeded t=0..1300 attempts=2
               input:  {"account":"B","n":1,"auth":"tok-123"}
               output: "b"
        @1400 ok #4 "c"
          step fan[2].get [action x.fetch] succeeded t=1200..1400
               input:  {"account":"C","n":2,"auth":"tok-123"}
               output: "c"
          step fan [for_each] succeeded t=0..1400
               input:  [{"id":"A"},{"id":"B"},{"id":"C"}]
               output: ["a","b","c"]
          FINISH succeeded result=["a","b","c"]
        == succeeded result=["a","b","c"]
        "#);
}

#[test]
fn resuming_restores_loop_items_that_carried_a_secret() {
    // The items themselves hold the secret: the running iteration's `item` and the items of the
    // iterations not started yet were stored redacted.
    let t = check(
        json!({
            "config": {"token": "tok-123"},
            "steps": [
                {"key": "fan", "for_each": [{"id": "A", "key": "{{ config.token }}-a"}, {"id": "B", "key": "{{ config.token }}-b"}],
                 "steps": [{"key": "put", "action": "x.put", "inputs": {"id": "{{ item.id }}", "key": "{{ item.key }}"}}]}
            ]
        }),
        &[start(0, json!({})), Ev::Resume(500, "tok-123"), ok(600, 1, json!(1)), ok(700, 2, json!(2))],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 fan[0].put x.put attempt=1 key=ex1:fan[0].put input={"id":"A","key":"tok-123-a"}
        @500 resume from a checkpoint without "tok-123"
           stored run #1 fan[0].put x.put attempt=1 key=ex1:fan[0].put input={"id":"A","key":"[redacted]-a"}
          run #1 fan[0].put x.put attempt=1 key=ex1:fan[0].put input={"id":"A","key":"tok-123-a"}
        @600 ok #1 1
          step fan[0].put [action x.put] succeeded t=0..600
               input:  {"id":"A","key":"tok-123-a"}
               output: 1
          run #2 fan[1].put x.put attempt=1 key=ex1:fan[1].put input={"id":"B","key":"tok-123-b"}
        @700 ok #2 2
          step fan[1].put [action x.put] succeeded t=600..700
               input:  {"id":"B","key":"tok-123-b"}
               output: 2
          step fan [for_each] succeeded t=0..700
               input:  [{"id":"A","key":"tok-123-a"},{"id":"B","key":"tok-123-b"}]
               output: [1,2]
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn a_call_whose_input_no_longer_evaluates_fails_on_resume_and_on_error_applies() {
    // `login`'s output is keyed by the secret: stored redacted, the lookup finds nothing.
    let t = check(
        json!({
            "config": {"token": "tok-123"},
            "steps": [
                {"key": "login", "action": "auth.login", "inputs": {"token": "{{ config.token }}"}},
                {"key": "use", "action": "x.use", "on_error": "continue",
                 "inputs": {"session": "{{ steps.login.output.sessions[config.token] }}"}},
                {"key": "after", "action": "x.after", "inputs": {"token": "{{ config.token }}"}}
            ]
        }),
        &[
            start(0, json!({})),
            ok(100, 1, json!({"sessions": {"tok-123": "s-1"}})),
            Ev::Resume(500, "tok-123"),
            ok(600, 3, json!("done")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={}
          run #1 login auth.login attempt=1 key=ex1:login input={"token":"tok-123"}
        @100 ok #1 {"sessions":{"tok-123":"s-1"}}
          step login [action auth.login] succeeded t=0..100
               input:  {"token":"tok-123"}
               output: {"sessions":{"tok-123":"s-1"}}
          run #2 use x.use attempt=1 key=ex1:use input={"session":"s-1"}
        @500 resume from a checkpoint without "tok-123"
           stored run #2 use x.use attempt=1 key=ex1:use input={"session":"s-1"}
          log warn [use] step `use` failed: expression: inputs.session: `steps.login.output.sessions[config.token]` is undefined (in `steps.login.output.sessions[config.token]`); the input was evaluated again to resume the run from a checkpoint; continuing (on_error: continue)
          step use [action x.use] continued t=100..500
               input:  {"session":"s-1"}
               output: {"error":{"kind":"expression","message":"inputs.session: `steps.login.output.sessions[config.token]` is undefined (in `steps.login.output.sessions[config.token]`); the input was evaluated again to resume the run from a checkpoint","details":null}}
               error:  expression: inputs.session: `steps.login.output.sessions[config.token]` is undefined (in `steps.login.output.sessions[config.token]`); the input was evaluated again to resume the run from a checkpoint
          run #3 after x.after attempt=1 key=ex1:after input={"token":"tok-123"}
        @600 ok #3 "done"
          step after [action x.after] succeeded t=500..600
               input:  {"token":"tok-123"}
               output: "done"
          FINISH succeeded result=null
        == succeeded result=null
        "#);
}

#[test]
fn a_failure_on_resume_abandons_the_calls_it_cancels() {
    // Both iterations are in flight; rebuilding the second one's input fails, which fails the
    // loop and the run: the first one's call is not issued again.
    let t = check(
        json!({
            "config": {"token": "tok-123"},
            "steps": [
                {"key": "login", "action": "auth.login", "inputs": {"token": "{{ config.token }}"}},
                {"key": "fan", "for_each": "{{ trigger.body.users }}", "concurrency": 2, "steps": [
                    {"key": "get", "action": "x.get", "inputs": {"session": "{{ steps.login.output.sessions[item] }}"}}
                ]}
            ]
        }),
        &[
            start(0, json!({"users": ["ann", "tok-123"]})),
            ok(100, 1, json!({"sessions": {"ann": "s-ann", "tok-123": "s-tok"}})),
            Ev::Resume(500, "tok-123"),
            ok(600, 2, json!("late")),
        ],
    );
    insta::assert_snapshot!(t, @r#"
        @0 start body={"users":["ann","tok-123"]}
          run #1 login auth.login attempt=1 key=ex1:login input={"token":"tok-123"}
        @100 ok #1 {"sessions":{"ann":"s-ann","tok-123":"s-tok"}}
          step login [action auth.login] succeeded t=0..100
               input:  {"token":"tok-123"}
               output: {"sessions":{"ann":"s-ann","tok-123":"s-tok"}}
          run #2 fan[0].get x.get attempt=1 key=ex1:fan[0].get input={"session":"s-ann"}
          run #3 fan[1].get x.get attempt=1 key=ex1:fan[1].get input={"session":"s-tok"}
        @500 resume from a checkpoint without "tok-123"
           stored run #2 fan[0].get x.get attempt=1 key=ex1:fan[0].get input={"session":"s-ann"}
           stored run #3 fan[1].get x.get attempt=1 key=ex1:fan[1].get input={"session":"s-tok"}
          step fan[1].get [action x.get] failed t=100..500
               input:  {"session":"s-tok"}
               error:  expression: inputs.session: `steps.login.output.sessions[item]` is undefined (in `steps.login.output.sessions[item]`); the input was evaluated again to resume the run from a checkpoint
          step fan [for_each] failed t=100..500
               input:  ["ann","tok-123"]
               error:  expression: inputs.session: `steps.login.output.sessions[item]` is undefined (in `steps.login.output.sessions[item]`); the input was evaluated again to resume the run from a checkpoint
          FINISH failed error=expression: inputs.session: `steps.login.output.sessions[item]` is undefined (in `steps.login.output.sessions[item]`); the input was evaluated again to resume the run from a checkpoint
        @600 ok #2 "late"
        == failed error=expression: inputs.session: `steps.login.output.sessions[item]` is undefined (in `steps.login.output.sessions[item]`); the input was evaluated again to resume the run from a checkpoint
        "#);
}

#[test]
fn resuming_a_run_that_is_not_running_does_nothing() {
    let flow = json!({"steps": [{"key": "a", "action": "x.a"}]});
    let t =
        check(flow.clone(), &[Ev::Resume(0, "tok"), start(10, json!({})), ok(20, 1, json!(1)), Ev::Resume(30, "tok")]);
    insta::assert_snapshot!(t, @r#"
        @0 resume from a checkpoint without "tok"
        @10 start body={}
          run #1 a x.a attempt=1 key=ex1:a input={}
        @20 ok #1 1
          step a [action x.a] succeeded t=10..20
               input:  {}
               output: 1
          FINISH succeeded result=null
        @30 resume from a checkpoint without "tok"
        == succeeded result=null
        "#);
}
