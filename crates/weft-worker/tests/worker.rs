//! The worker end to end: real SQLite (a temporary directory), the real flow engine, and a fake
//! `test` component (see `support`) whose actions count, sleep, fail on purpose or wait for the
//! test to open a gate. Time is real but kept short; nothing asserts on elapsed time.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Harness, config, now_ms};
use tokio::sync::oneshot;
use weft_db::{ExecutionStatus, StepRow};
use weft_worker::{LoadError, SyncOutcome, Worker};

/// Starts `worker.run_loop` on a task; the returned sender stops it.
fn start_loop(worker: &Worker) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let w = worker.clone();
    let handle = tokio::spawn(async move {
        w.run_loop(async move {
            let _ = rx.await;
        })
        .await
    });
    (tx, handle)
}

async fn outcome(rx: oneshot::Receiver<SyncOutcome>) -> SyncOutcome {
    tokio::time::timeout(Duration::from_secs(10), rx).await.expect("an outcome within 10 s").expect("an outcome")
}

fn error_kind(v: &Option<Value>) -> &str {
    v.as_ref().and_then(|e| e["kind"].as_str()).unwrap_or("<none>")
}

fn error_message(v: &Option<Value>) -> &str {
    v.as_ref().and_then(|e| e["message"].as_str()).unwrap_or("<none>")
}

fn paths(steps: &[StepRow]) -> Vec<&str> {
    steps.iter().map(|s| s.path.as_str()).collect()
}

const BASICS: &str = r#"
key: basics
name: Basics
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: a
        action: test.count
        inputs: {key: a, value: "{{ trigger.body.n }}"}
      - key: double
        transform: "{{ steps.a.output.value * 2 }}"
    result: {doubled: "{{ steps.double.output }}"}
"#;

#[tokio::test]
async fn dispatch_answers_with_the_flow_result() {
    let h = Harness::new().await;
    let p = h.publish(BASICS, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "main", json!({"n": 21}), Some("node-1"), 300).await;

    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    assert_eq!(
        out,
        SyncOutcome::Finished { status: ExecutionStatus::Succeeded, result: Some(json!({"doubled": 42})), error: None }
    );
    let stored = h.wait_finished(&exe.id).await;
    assert_eq!(stored.status, ExecutionStatus::Succeeded);
    assert_eq!(stored.result, Some(json!({"doubled": 42})));
    assert_eq!(stored.lease_owner, None);
    let steps = h.steps(&exe.id).await;
    assert_eq!(paths(&steps), ["a", "double"]);
    assert_eq!(steps[0].status, "succeeded");
    assert_eq!(steps[0].output, Some(json!({"key": "a", "value": 21})));
    assert_eq!(steps[1].output, Some(json!(42)));
}

#[tokio::test]
async fn respond_answers_the_webhook_while_the_flow_goes_on() {
    let h = Harness::new().await;
    let yaml = r#"
key: hooks
name: Hooks
flows:
  - key: hook
    trigger: {webhook: {mode: sync}}
    steps:
      - key: answer
        respond: {status: 202, headers: {x-weft: "1"}, body: {accepted: "{{ trigger.body.id }}"}}
      - key: wait
        action: test.gate
      - key: after
        action: test.count
        inputs: {key: after}
    result: done
"#;
    let p = h.publish(yaml, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "hook", json!({"id": 7}), Some("node-1"), 300).await;

    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let mut headers = serde_json::Map::new();
    headers.insert("x-weft".into(), json!("1"));
    assert_eq!(out, SyncOutcome::Responded { status: 202, headers, body: json!({"accepted": 7}) });
    // The answer went out while the flow still waits at the gate.
    assert_eq!(h.get(&exe.id).await.status, ExecutionStatus::Running);
    assert_eq!(h.probes.count("after"), 0);

    h.probes.open_gate();
    let done = h.wait_finished(&exe.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.result, Some(json!("done")));
    assert_eq!(done.response, Some(json!({"status": 202, "headers": {"x-weft": "1"}, "body": {"accepted": 7}})));
    assert_eq!(h.probes.count("after"), 1);
}

const RECOVERY: &str = r#"
key: recovery
name: Recovery
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: a
        action: test.count
        inputs: {key: a}
      - key: wait
        action: test.gate
      - key: b
        action: test.count
        inputs: {key: b}
    result: "{{ execution.attempt }}"
"#;

/// Runs `exe` on a worker of node `node-1` until step `a` is checkpointed, then aborts that
/// worker's task: the process "crashed" with the gate step in flight.
async fn crash_after_step_a(h: &Harness, exe: weft_db::Execution) {
    let w1 = h.worker(config("node-1"));
    let id = exe.id.clone();
    let task = tokio::spawn(async move { w1.execute(exe, None).await });
    // `a`'s result is checkpointed before the next step starts; wait for that checkpoint.
    loop {
        if h.steps(&id).await.iter().any(|s| s.path == "a") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
}

#[tokio::test]
async fn a_crashed_execution_resumes_on_another_node_after_its_last_checkpoint() {
    let h = Harness::new().await;
    let p = h.publish(RECOVERY, json!({})).await;
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    crash_after_step_a(&h, exe.clone()).await;
    assert_eq!(h.probes.count("a"), 1);
    h.probes.open_gate();

    // Node 2 claims the execution once node 1's lease (300 ms, no longer renewed) expires.
    let w2 = h.worker(config("node-2"));
    let (stop, handle) = start_loop(&w2);
    let done = h.wait_finished(&exe.id).await;
    stop.send(()).unwrap();
    handle.await.unwrap();

    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.result, Some(json!(2)));
    assert_eq!(h.probes.count("a"), 1, "step a ran again after the crash");
    assert_eq!(h.probes.count("b"), 1);
    assert_eq!(paths(&h.steps(&exe.id).await), ["a", "wait", "b"]);
}

#[tokio::test]
async fn checkpoints_hold_no_secret_and_resuming_from_them_works() {
    const SECRET: &str = "s3cr3t-t0ken-value";
    let h = Harness::new().await;
    let yaml = r#"
key: secrets
name: Secrets
config:
  - page: Auth
    vars:
      - key: token
        type: secret
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: a
        action: test.count
        inputs: {key: a, value: "Bearer {{ config.token }}"}
      - key: wait
        action: test.gate
        inputs: {value: "{{ config.token }}"}
      - key: b
        action: test.count
        inputs: {key: b, value: ["{{ config.token }}", "{{ trigger.body.sig }}"]}
      - key: c
        action: test.count
        inputs: {key: c, value: "{{ steps.a.output.value }}"}
    result: {a: "{{ steps.a.output.value }}", b: "{{ steps.b.output.value }}"}
"#;
    let p = h.publish(yaml, json!({"token": SECRET})).await;
    // The caller's trigger carries the secret too (a shared verification token, say).
    let exe = h.execution(&p, "main", json!({"sig": SECRET}), Some("node-1"), 300).await;
    crash_after_step_a(&h, exe.clone()).await;

    let checkpointed = h.get(&exe.id).await;
    let state = checkpointed.state.expect("a checkpoint");
    // The trigger is not stored twice: the execution row has it.
    assert_eq!(state.get("trigger"), None, "{state}");
    let state = state.to_string();
    assert!(!state.contains(SECRET), "the checkpoint holds the secret: {state}");
    assert!(state.contains("Bearer [redacted]"), "{state}");

    h.probes.open_gate();
    let w2 = h.worker(config("node-2"));
    let (stop, handle) = start_loop(&w2);
    let done = h.wait_finished(&exe.id).await;
    stop.send(()).unwrap();
    handle.await.unwrap();

    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert_eq!((h.probes.count("a"), h.probes.count("b")), (1, 1));
    // The gate call was in flight at the crash: it was issued again with its input evaluated
    // again, so with the secret itself, not the redacted copy in the checkpoint.
    let gate_inputs = h.probes.gate_inputs.lock().unwrap().clone();
    assert_eq!(gate_inputs, [json!({"value": SECRET}), json!({"value": SECRET})]);
    // Steps after the resumption see the real config and the execution's own trigger (not the
    // redacted copy in the checkpoint): b got the secret itself, twice.
    let inputs = h.probes.inputs.lock().unwrap().clone();
    assert_eq!(inputs[1], json!({"key": "b", "value": [SECRET, SECRET]}));
    // But a step's output comes from the checkpoint, redacted: c reads the secret out of a's.
    assert_eq!(inputs[2], json!({"key": "c", "value": "Bearer [redacted]"}));
    // a's output comes from the checkpoint, redacted; the result is redacted anyway.
    assert_eq!(done.result, Some(json!({"a": "Bearer [redacted]", "b": ["[redacted]", "[redacted]"]})));

    let steps = h.steps(&exe.id).await;
    let logs = h.logs(&exe.id).await;
    // The trigger is stored as the caller sent it (by whoever created the execution); everything
    // the worker writes is redacted.
    let worker_wrote = weft_db::Execution { trigger: Value::Null, ..done.clone() };
    let stored = serde_json::to_string(&(&worker_wrote, &steps, &logs)).unwrap();
    assert!(!stored.contains(SECRET), "a secret was stored: {stored}");
    // c's input holds a redacted value, and the log says so; the re-issued gate call's does not.
    let warned: Vec<_> = logs.iter().filter(|l| l.message.contains("after a restart")).collect();
    assert_eq!(warned.len(), 1, "{logs:#?}");
    assert_eq!(warned[0].step_path.as_deref(), Some("c"));
    assert_eq!(warned[0].level, "warn");
}

#[tokio::test]
async fn a_runner_that_lost_its_lease_stops_at_its_next_checkpoint() {
    let h = Harness::new().await;
    let yaml = r#"
key: takeover
name: Takeover
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: a
        action: test.count
        inputs: {key: a}
      - key: nap
        action: test.sleep
        inputs: {ms: 300}
      - key: b
        action: test.count
        inputs: {key: b}
    result: "{{ execution.attempt }}"
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg1 = config("node-1");
    cfg1.lease = Duration::from_secs(30); // its heartbeat stays quiet during the test
    let w1 = h.worker(cfg1);
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 30_000).await;
    let rx = w1.dispatch(exe.clone(), None);
    while !h.steps(&exe.id).await.iter().any(|s| s.path == "a") {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Node 2 takes the execution over (claiming "in the future", when node 1's lease is over).
    let claimed = h.db.claim_executions("node-2", 10, 30_000, now_ms() + 60_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let w2 = h.worker(config("node-2"));
    let second = tokio::spawn({
        let w2 = w2.clone();
        let exe = claimed[0].clone();
        async move { w2.execute(exe, None).await }
    });

    // Node 1's nap ends first; its checkpoint is refused and it stops without running b.
    let out = outcome(rx).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!(status, ExecutionStatus::Failed);
    assert!(error_message(&error).contains("stopped before it finished"), "{error:?}");

    second.await.unwrap();
    let done = h.get(&exe.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert_eq!(done.result, Some(json!(2)), "the second runner's outcome stands");
    assert_eq!((h.probes.count("a"), h.probes.count("b")), (1, 1));
    assert_eq!(paths(&h.steps(&exe.id).await), ["a", "nap", "b"]);
}

#[tokio::test]
async fn a_runner_that_lost_its_lease_cannot_overwrite_the_outcome() {
    let h = Harness::new().await;
    let yaml = r#"
key: takeover
name: Takeover
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: nap
        action: test.sleep
        inputs: {ms: 300}
    result: "{{ execution.attempt }}"
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg1 = config("node-1");
    cfg1.lease = Duration::from_secs(30);
    let w1 = h.worker(cfg1);
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 30_000).await;
    let rx = w1.dispatch(exe.clone(), None);
    while h.probes.max_sleeping.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let claimed = h.db.claim_executions("node-2", 10, 30_000, now_ms() + 60_000).await.unwrap();
    let w2 = h.worker(config("node-2"));
    let second = tokio::spawn(async move { w2.execute(claimed[0].clone(), None).await });

    // Node 1 finishes its nap first; finishing is refused (LeaseLost).
    let out = outcome(rx).await;
    assert!(matches!(out, SyncOutcome::Finished { status: ExecutionStatus::Failed, .. }), "{out:?}");
    second.await.unwrap();
    let done = h.get(&exe.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.result, Some(json!(2)));
    assert_eq!(h.steps(&exe.id).await.len(), 1, "only the second runner's step is stored");
}

#[tokio::test]
async fn a_dispatching_process_renews_its_leases_without_a_claim_loop() {
    let h = Harness::new().await;
    let yaml = r#"
key: long
name: Long
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: a
        action: test.count
        inputs: {key: a}
      - key: nap
        action: test.sleep
        inputs: {ms: 1200}
"#;
    let p = h.publish(yaml, json!({})).await;
    // An API-only node: dispatches, runs no claim loop. Its 600 ms lease must be renewed (every
    // 200 ms) through the 1.2 s nap, or the runner node takes the execution over.
    let mut cfg = config("api-node");
    cfg.lease = Duration::from_millis(600);
    let api = h.worker(cfg);
    let exe = h.execution(&p, "main", json!({}), Some("api-node"), 600).await;
    let rx = api.dispatch(exe.clone(), None);
    let runner = h.worker(config("runner-node"));
    let (stop, handle) = start_loop(&runner);

    let out = outcome(rx).await;
    stop.send(()).unwrap();
    handle.await.unwrap();
    assert!(matches!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, .. }), "{out:?}");
    let done = h.get(&exe.id).await;
    assert_eq!(done.attempts, 1, "the runner node took the execution over");
    assert_eq!(h.probes.count("a"), 1);
}

#[tokio::test]
async fn an_execution_reclaimed_by_its_own_process_is_not_run_twice() {
    let h = Harness::new().await;
    let p = h.publish(RECOVERY, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let rx = worker.dispatch(exe.clone(), None);
    while h.probes.gate_entered.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The same node claims it again (as if a renewal had come too late)…
    let again = h.db.claim_executions("node-1", 10, 300, now_ms() + 60_000).await.unwrap();
    assert_eq!(again.len(), 1);
    // …and the second drive returns at once, leaving the first to carry on.
    tokio::time::timeout(Duration::from_secs(5), worker.execute(again[0].clone(), None)).await.unwrap();
    h.probes.open_gate();
    let out = outcome(rx).await;
    assert!(matches!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, .. }), "{out:?}");
    assert_eq!((h.probes.count("a"), h.probes.count("b")), (1, 1));
    assert_eq!(h.probes.gate_entered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_back_off_and_are_counted_in_the_step() {
    let h = Harness::new().await;
    let yaml = r#"
key: retries
name: Retries
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: flaky
        action: test.fail
        inputs: {key: flaky, failures: 2, kind: server_error}
        retry: {attempts: 4, backoff: 50ms, factor: 1}
      - key: hopeless
        action: test.fail
        inputs: {key: hopeless, failures: 100, kind: connection}
        retry: {attempts: 3, backoff: 20ms}
        on_error: continue
  - key: strict
    trigger: {manual: {}}
    steps:
      - key: wrong
        action: test.fail
        inputs: {key: wrong, failures: 1, kind: input}
        retry: {attempts: 3, backoff: 20ms}
"#;
    let p = h.publish(yaml, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    assert!(matches!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, .. }), "{out:?}");

    let flaky = h.step(&exe.id, "flaky").await;
    assert_eq!((flaky.status.as_str(), flaky.attempts), ("succeeded", 3));
    assert_eq!(flaky.output, Some(json!({"attempt": 3})));
    let hopeless = h.step(&exe.id, "hopeless").await;
    assert_eq!((hopeless.status.as_str(), hopeless.attempts), ("continued", 3));
    assert_eq!(error_kind(&hopeless.error), "connection");
    let retry_logs: Vec<_> =
        h.logs(&exe.id).await.into_iter().filter(|l| l.message.contains("retrying in")).map(|l| l.step_path).collect();
    assert_eq!(
        retry_logs,
        [Some("flaky".into()), Some("flaky".into()), Some("hopeless".into()), Some("hopeless".into())]
    );

    // An error kind the policy does not retry fails at once.
    let exe = h.execution(&p, "strict", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "input"));
    assert_eq!(h.step(&exe.id, "wrong").await.attempts, 1);
}

#[tokio::test]
async fn a_slow_action_times_out() {
    let h = Harness::new().await;
    let yaml = r#"
key: slow
name: Slow
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: slow
        action: test.sleep
        inputs: {ms: 5000}
        timeout: 100ms
"#;
    let p = h.publish(yaml, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "timeout"));
    assert!(error_message(&error).contains("100ms"), "{error:?}");
    let step = h.step(&exe.id, "slow").await;
    assert_eq!((step.status.as_str(), error_kind(&step.error)), ("failed", "timeout"));
}

#[tokio::test]
async fn a_loop_deadline_fires_after_a_retry_inside_it() {
    // The loop's deadline timer is set first; a retry backoff inside fires before it. The
    // deadline must still fire although nothing announces it again.
    let h = Harness::new().await;
    let yaml = r#"
key: deadline
name: Deadline
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: loop
        for_each: "{{ trigger.body.items }}"
        timeout: 300ms
        steps:
          - key: flaky
            action: test.fail
            inputs: {key: flaky, failures: 1, kind: server_error}
            retry: {attempts: 2, backoff: 20ms}
          - key: stuck
            action: test.gate
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg = config("node-1");
    cfg.max_duration = Duration::from_secs(5);
    let worker = h.worker(cfg);
    let exe = h.execution(&p, "main", json!({"items": [1]}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "timeout"), "{error:?}");
    assert_eq!(h.step(&exe.id, "loop[0].flaky").await.attempts, 2);
}

#[tokio::test]
async fn step_output_over_the_limit_fails_with_limit() {
    let h = Harness::new().await;
    let yaml = r#"
key: big
name: Big
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: big
        action: test.big
        inputs: {bytes: 200}
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg = config("node-1");
    cfg.max_step_output_bytes = 100;
    let worker = h.worker(cfg);
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "limit"));
    assert!(error_message(&error).contains("step output limit of 100 bytes"), "{error:?}");
    assert_eq!(error_kind(&h.step(&exe.id, "big").await.error), "limit");
}

/// A called flow's result is a step output like any other: held to the same limit.
#[tokio::test]
async fn call_flow_output_over_the_limit_fails_with_limit() {
    let h = Harness::new().await;
    let yaml = r#"
key: big-child
name: Big child
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: call
        call_flow: child
        input: {n: 200}
  - key: child
    trigger: {manual: {}}
    steps: []
    result: "{{ 'x' * trigger.body.n }}"
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg = config("node-1");
    cfg.max_step_output_bytes = 100;
    let worker = h.worker(cfg);
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "limit"));
    assert!(error_message(&error).contains("output of flow `child` is 202 bytes"), "{error:?}");
}

#[tokio::test]
async fn log_lines_are_capped_with_one_notice() {
    let h = Harness::new().await;
    let yaml = r#"
key: chatty
name: Chatty
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: lines
        for_each: "{{ trigger.body.items }}"
        concurrency: 1
        steps:
          - key: say
            action: log.write
            inputs: {message: "line {{ item }}"}
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg = config("node-1");
    cfg.max_log_lines = 3;
    let worker = h.worker(cfg);
    let exe = h.execution(&p, "main", json!({"items": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    assert!(matches!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, .. }), "{out:?}");
    let logs = h.logs(&exe.id).await;
    let lines: Vec<(&str, &str)> = logs.iter().map(|l| (l.level.as_str(), l.message.as_str())).collect();
    assert_eq!(
        lines,
        [
            ("info", "line 0"),
            ("info", "line 1"),
            ("info", "line 2"),
            ("warn", "log limit of 3 lines per execution reached; further lines are dropped")
        ]
    );
    assert_eq!(logs[0].step_path.as_deref(), Some("lines[0].say"));
}

/// The log-line limit is per execution: a run resumed after a crash counts the lines stored
/// before it.
#[tokio::test]
async fn the_log_limit_counts_lines_from_before_a_crash() {
    let h = Harness::new().await;
    let yaml = r#"
key: chatty-recovery
name: Chatty recovery
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: before
        for_each: "{{ [1, 2] }}"
        concurrency: 1
        steps:
          - key: say
            action: log.write
            inputs: {message: "before {{ item }}"}
      - key: a
        action: test.count
        inputs: {key: a}
      - key: wait
        action: test.gate
      - key: after
        for_each: "{{ [1, 2, 3, 4] }}"
        concurrency: 1
        steps:
          - key: say_more
            action: log.write
            inputs: {message: "after {{ item }}"}
"#;
    let p = h.publish(yaml, json!({})).await;
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    crash_after_step_a(&h, exe.clone()).await;
    h.probes.open_gate();

    let mut cfg = config("node-2");
    cfg.max_log_lines = 3;
    let w2 = h.worker(cfg);
    let (stop, handle) = start_loop(&w2);
    let done = h.wait_finished(&exe.id).await;
    stop.send(()).unwrap();
    handle.await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    let logs = h.logs(&exe.id).await;
    let lines: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        lines,
        ["before 1", "before 2", "after 1", "log limit of 3 lines per execution reached; further lines are dropped"]
    );
}

#[tokio::test]
async fn an_execution_over_its_time_limit_fails_with_limit() {
    let h = Harness::new().await;
    let yaml = r#"
key: forever
name: Forever
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: wait
        action: test.gate
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg = config("node-1");
    cfg.max_duration = Duration::from_millis(200);
    let worker = h.worker(cfg);
    let exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "limit"));
    assert!(error_message(&error).contains("time limit of 200ms"), "{error:?}");
    let done = h.get(&exe.id).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(error_kind(&done.error), "limit");
}

#[tokio::test]
async fn call_flow_returns_the_child_result_and_records_its_steps() {
    let h = Harness::new().await;
    let yaml = r#"
key: calls
name: Calls
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: call
        call_flow: child
        input: {x: "{{ trigger.body.x }}"}
    result: "{{ steps.call.output }}"
  - key: child
    trigger: {manual: {}}
    steps:
      - key: double
        action: test.count
        inputs: {key: double, value: "{{ trigger.body.x * 2 }}"}
    result: "{{ steps.double.output.value }}"
"#;
    let p = h.publish(yaml, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "main", json!({"x": 3}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    assert_eq!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, result: Some(json!(6)), error: None });
    let steps = h.steps(&exe.id).await;
    assert_eq!(paths(&steps), ["call>double", "call"]);
    assert_eq!(steps[0].output, Some(json!({"key": "double", "value": 6})));
    assert_eq!(steps[1].kind, "call_flow");
    assert_eq!(steps[1].output, Some(json!(6)));
}

#[tokio::test]
async fn call_flow_nesting_is_limited() {
    let h = Harness::new().await;
    let yaml = r#"
key: deep
name: Deep
flows:
  - key: l0
    trigger: {manual: {}}
    steps:
      - {key: c1, call_flow: l1}
  - key: l1
    trigger: {manual: {}}
    steps:
      - {key: c2, call_flow: l2}
  - key: l2
    trigger: {manual: {}}
    steps:
      - {key: c3, call_flow: l3}
  - key: l3
    trigger: {manual: {}}
    steps:
      - {key: leaf, action: test.count, inputs: {key: leaf}}
"#;
    let p = h.publish(yaml, json!({})).await;
    let mut cfg = config("node-1");
    cfg.max_call_depth = 2;
    let worker = h.worker(cfg.clone());
    let exe = h.execution(&p, "l0", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!((status, error_kind(&error)), (ExecutionStatus::Failed, "limit"));
    assert!(error_message(&error).contains("limit of 2"), "{error:?}");
    assert_eq!(h.probes.count("leaf"), 0);
    let deepest = h.step(&exe.id, "c1>c2>c3").await;
    assert_eq!((deepest.status.as_str(), error_kind(&deepest.error)), ("failed", "limit"));

    // Two levels are within the limit.
    let exe = h.execution(&p, "l1", json!({}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    assert!(matches!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, .. }), "{out:?}");
    assert_eq!(h.probes.count("leaf"), 1);
    assert_eq!(h.step(&exe.id, "c2>c3>leaf").await.status, "succeeded");
}

#[tokio::test]
async fn for_each_runs_at_most_its_concurrency_at_once() {
    let h = Harness::new().await;
    let yaml = r#"
key: fanout
name: Fan-out
flows:
  - key: main
    trigger: {manual: {}}
    steps:
      - key: each
        for_each: "{{ trigger.body.items }}"
        concurrency: 3
        steps:
          - key: nap
            action: test.sleep
            inputs: {ms: 50}
    result: "{{ steps.each.output | length }}"
"#;
    let p = h.publish(yaml, json!({})).await;
    let worker = h.worker(config("node-1"));
    let exe = h.execution(&p, "main", json!({"items": [1, 2, 3, 4, 5, 6, 7, 8, 9]}), Some("node-1"), 300).await;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    assert_eq!(out, SyncOutcome::Finished { status: ExecutionStatus::Succeeded, result: Some(json!(9)), error: None });
    assert_eq!(h.probes.max_sleeping.load(Ordering::SeqCst), 3);
    let steps = h.steps(&exe.id).await;
    assert_eq!(steps.iter().filter(|s| s.key == "nap").count(), 9);
}

#[tokio::test]
async fn the_claim_loop_runs_queued_executions_and_drains_on_shutdown() {
    let h = Harness::new().await;
    let p = h.publish(BASICS, json!({})).await;
    let mut queued = Vec::new();
    for n in 1..=3 {
        queued.push(h.execution(&p, "main", json!({"n": n}), None, 0).await);
    }
    let worker = h.worker(config("node-1"));
    let (stop, handle) = start_loop(&worker);
    for (exe, n) in queued.iter().zip(1..) {
        let done = h.wait_finished(&exe.id).await;
        assert_eq!(done.status, ExecutionStatus::Succeeded);
        assert_eq!(done.result, Some(json!({"doubled": n * 2})));
        assert_eq!(done.attempts, 1);
    }

    // Shutdown waits for the execution in flight.
    let gated = h.publish(RECOVERY, json!({})).await;
    let exe = h.execution(&gated, "main", json!({}), None, 0).await;
    worker.notify();
    while h.probes.gate_entered.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    let probes = h.probes.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        probes.open_gate();
    });
    tokio::time::timeout(Duration::from_secs(10), handle).await.expect("the loop drains").unwrap();
    assert_eq!(h.get(&exe.id).await.status, ExecutionStatus::Succeeded);
}

#[tokio::test]
async fn unknown_versions_do_not_load() {
    let h = Harness::new().await;
    let p = h.publish(BASICS, json!({})).await;
    let worker = h.worker(config("node-1"));
    let err = worker.load_version(&h.org, &p.integration_id, 2).await.err().expect("version 2 does not exist");
    assert!(matches!(&err, LoadError::Missing { version: 2, .. }), "{err:?}");
    let err = worker.load_version(&h.org, "int_unknown", 1).await.err().expect("no such integration");
    assert!(matches!(&err, LoadError::Missing { .. }), "{err:?}");
    let loaded = worker.load_version(&h.org, &p.integration_id, 1).await.unwrap();
    assert!(loaded.flows.contains_key("main"));

    // An execution of a version that does not exist fails with a message saying so.
    let mut exe = h.execution(&p, "main", json!({}), Some("node-1"), 300).await;
    exe.version = 9;
    let out = outcome(worker.dispatch(exe.clone(), None)).await;
    let SyncOutcome::Finished { status, error, .. } = out else { panic!("{out:?}") };
    assert_eq!(status, ExecutionStatus::Failed);
    assert!(error_message(&error).contains("version 9 does not exist"), "{error:?}");
}

#[tokio::test]
async fn shutdown_waits_for_executions_it_just_claimed() {
    // Shutdown is already due when the loop claims: the claimed execution's task has not even
    // started (this runtime has one thread) when the loop begins to drain; it must wait anyway.
    let h = Harness::new().await;
    let p = h.publish(BASICS, json!({})).await;
    let exe = h.execution(&p, "main", json!({"n": 1}), None, 0).await;
    let worker = h.worker(config("node-1"));
    tokio::time::timeout(Duration::from_secs(10), worker.run_loop(std::future::ready(())))
        .await
        .expect("the loop drains");
    let done = h.get(&exe.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
}
