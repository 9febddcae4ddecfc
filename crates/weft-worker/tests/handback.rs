//! Graceful shutdown past its deadline: a runner that cannot finish an execution within its
//! drain timeout stops it and hands its lease back, so another runner resumes it at once (long
//! before the lease would have expired) after its last completed step.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use support::{Harness, config};
use weft_db::ExecutionStatus;

const GATED: &str = r#"
key: gated
name: Gated
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_runner_hands_back_what_it_cannot_finish() {
    let h = Harness::new().await;
    let p = h.publish(GATED, json!({})).await;
    let exe = h.execution(&p, "main", json!({}), None, 0).await;

    // A lease far longer than the test: only the hand-back can let node 2 in.
    let mut cfg = config("node-1");
    cfg.lease = Duration::from_secs(600);
    cfg.drain_timeout = Duration::from_millis(200);
    let w1 = h.worker(cfg);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let loop1 = tokio::spawn({
        let w1 = w1.clone();
        async move {
            w1.run_loop(async move {
                let _ = stopped.await;
            })
            .await
        }
    });
    while h.probes.gate_entered.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), loop1).await.expect("the drain is bounded").unwrap();

    let back = h.get(&exe.id).await;
    assert_eq!((back.status, back.lease_owner.as_deref()), (ExecutionStatus::Queued, None), "{back:#?}");
    assert_eq!(h.probes.count("a"), 1);

    h.probes.open_gate();
    let w2 = h.worker(config("node-2"));
    let (stop2, stopped2) = tokio::sync::oneshot::channel::<()>();
    let loop2 = tokio::spawn(async move {
        w2.run_loop(async move {
            let _ = stopped2.await;
        })
        .await
    });
    let done = h.wait_finished(&exe.id).await;
    stop2.send(()).unwrap();
    loop2.await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:#?}");
    assert_eq!((done.attempts, done.result), (2, Some(json!(2))));
    assert_eq!(h.probes.count("a"), 1, "step a, completed before the hand-back, ran again");
    assert_eq!(h.probes.count("b"), 1);
}
