//! Execution-level retry: a flow with `retry` whose step fails twice is queued again after a
//! growing backoff (never claimable before it), resumes after its last completed step, and
//! succeeds on its third try with `attempts` 3.

mod support;

use serde_json::json;
use support::{Harness, config, now_ms};
use weft_db::ExecutionStatus;

const FLAKY: &str = r#"
key: flaky
name: Flaky
flows:
  - key: main
    trigger: {manual: {}}
    retry: {attempts: 3, backoff: 5s, factor: 2}
    steps:
      - key: before
        action: test.count
        inputs: {key: before}
      - key: flaky
        action: test.fail
        inputs: {key: flaky, failures: 2, kind: failed}
    result: "{{ steps.flaky.output.attempt }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_execution_is_retried_with_backoff_and_resumes() {
    let h = Harness::new().await;
    let p = h.publish(FLAKY, json!({})).await;
    let worker = h.worker(config("w1"));
    let exe = h.execution(&p, "main", json!({}), None, 0).await;

    // Tries 1 and 2 fail: each is requeued, due `backoff * factor^(n-1)` after it failed.
    let mut clock = now_ms();
    for (try_no, delay) in [(1, 5_000), (2, 10_000)] {
        let claimed = h.db.claim_executions("w1", 1, 60_000, clock).await.unwrap();
        assert_eq!(claimed.len(), 1, "try {try_no} is due");
        assert_eq!(claimed[0].attempts, try_no);
        let before = now_ms();
        worker.execute(claimed.into_iter().next().unwrap(), None).await;
        let after = now_ms();
        let queued = h.get(&exe.id).await;
        assert_eq!(queued.status, ExecutionStatus::Queued, "try {try_no} failed and was requeued");
        // Not due before the backoff has passed (measured from when the try ended).
        let early = h.db.claim_executions("w1", 1, 60_000, before + delay - 1).await.unwrap();
        assert!(early.is_empty(), "try {} must wait {delay} ms", try_no + 1);
        clock = after + delay;
    }

    let claimed = h.db.claim_executions("w1", 1, 60_000, clock).await.unwrap();
    assert_eq!(claimed.len(), 1);
    worker.execute(claimed.into_iter().next().unwrap(), None).await;
    let done = h.get(&exe.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.attempts, 3);
    assert_eq!(done.result, Some(json!(3)));
    assert_eq!(h.probes.count("before"), 1, "the completed step is not run again");
}
