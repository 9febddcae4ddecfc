//! The scheduler against a real database: due schedules fire exactly once even with several
//! schedulers on one database, missed runs are run once, and the queued execution is picked up
//! by a runner.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Harness, Published, config, now_ms};
use tokio::sync::oneshot;
use weft_db::{Execution, ExecutionFilter, NewSchedule, Page};
use weft_worker::{CronSchedule, Scheduler, SchedulerConfig};

const NIGHTLY: &str = r#"
key: nightly
name: Nightly
config:
  - page: Settings
    vars:
      - key: schedule
        type: schedule
        default: "0 3 * * *"
flows:
  - key: tick
    trigger: {schedule: {cron: "{{ config.schedule }}", timezone: Europe/Berlin}}
    steps:
      - key: count
        action: test.count
        inputs: {key: tick, value: "{{ trigger.body.scheduled_at }}"}
"#;

const HOUR_MS: i64 = 3_600_000;

async fn store_schedule(h: &Harness, p: &Published, cron: &str, next_fire_at: i64) {
    let new = NewSchedule {
        customer_id: h.customer.clone(),
        integration_id: p.integration_id.clone(),
        version: p.version,
        flow_key: "tick".into(),
        cron: cron.into(),
        timezone: "Europe/Berlin".into(),
        next_fire_at,
    };
    h.db.replace_schedules(&h.org, &p.instance_id, &[new], now_ms()).await.unwrap();
}

async fn executions(h: &Harness, p: &Published) -> Vec<Execution> {
    let filter = ExecutionFilter { instance_id: Some(p.instance_id.clone()), ..Default::default() };
    h.db.list_executions(&h.org, &filter, &Page::first(500)).await.unwrap().items
}

fn fast() -> SchedulerConfig {
    SchedulerConfig { tick: Duration::from_millis(20), batch: 10 }
}

/// Polls until `done` holds for the instance's executions (at most 10 s).
async fn wait_for(h: &Harness, p: &Published, what: &str, done: impl Fn(&[Execution]) -> bool) -> Vec<Execution> {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let exes = executions(h, p).await;
        if done(&exes) {
            return exes;
        }
        assert!(tokio::time::Instant::now() < give_up, "timed out waiting for {what}; executions: {exes:#?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_due_schedule_fires_once_with_two_schedulers_and_runs() {
    let h = Harness::new().await;
    let p = h.publish(NIGHTLY, json!({"schedule": "0 3 * * *"})).await;
    let due = now_ms() - 1_000;
    store_schedule(&h, &p, "0 3 * * *", due).await;

    let worker = h.worker(config("runner"));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let s = Scheduler::new(h.db.clone(), worker.clone(), fast());
        let rx = stop_rx.clone();
        tasks.push(tokio::spawn(async move { s.run(stopped(rx)).await }));
    }
    let w = worker.clone();
    let rx = stop_rx.clone();
    tasks.push(tokio::spawn(async move { w.run_loop(stopped(rx)).await }));

    let exes = wait_for(&h, &p, "the scheduled execution to finish", |e| {
        e.iter().any(|x| x.status == weft_db::ExecutionStatus::Succeeded)
    })
    .await;
    // Let both schedulers tick a few more times: the schedule is not due again before 03:00.
    let s = Scheduler::new(h.db.clone(), worker.clone(), fast());
    assert_eq!(s.fire_due(now_ms()).await.unwrap(), 0);
    stop_tx.send_replace(true);
    for t in tasks {
        t.await.unwrap();
    }
    let exes = if exes.len() == 1 { exes } else { executions(&h, &p).await };
    assert_eq!(exes.len(), 1, "{exes:#?}");
    let exe = &exes[0];
    assert_eq!(exe.trigger["method"], "SCHEDULE");
    assert_eq!(exe.trigger["body"]["due_at"], json!(due));
    let scheduled_at = exe.trigger["body"]["scheduled_at"].as_str().unwrap();
    assert_eq!(chrono::DateTime::parse_from_rfc3339(scheduled_at).unwrap().timestamp_millis(), due);
    assert_eq!(h.probes.count("tick"), 1);

    // The schedule moved to the next 03:00 in Berlin.
    let stored = h.db.list_schedules(&h.org, &p.instance_id).await.unwrap().remove(0);
    let expected = CronSchedule::parse("0 3 * * *", Some("Europe/Berlin")).unwrap().next_after(due).unwrap();
    assert!(stored.next_fire_at >= expected && stored.next_fire_at > due, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ticks_fire_each_due_time_once() {
    let h = Harness::new().await;
    let p = h.publish(NIGHTLY, json!({"schedule": "0 3 * * *"})).await;
    let worker = h.worker(config("runner"));
    // Many rounds of two schedulers ticking at the same instant on the same due row.
    for round in 0..20 {
        let due = now_ms() - 10;
        store_schedule(&h, &p, "0 3 * * *", due).await;
        let a = Scheduler::new(h.db.clone(), worker.clone(), fast());
        let b = Scheduler::new(h.db.clone(), worker.clone(), fast());
        let now = now_ms();
        let (x, y) = tokio::join!(a.fire_due(now), b.fire_due(now));
        assert_eq!(x.unwrap() + y.unwrap(), 1, "round {round}: exactly one scheduler fires");
    }
    assert_eq!(executions(&h, &p).await.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_second_schedule_never_double_fires() {
    let h = Harness::new().await;
    let p = h.publish(NIGHTLY, json!({"schedule": "* * * * * *"})).await;
    let first = CronSchedule::parse("* * * * * *", None).unwrap().next_after(now_ms()).unwrap();
    store_schedule(&h, &p, "* * * * * *", first).await;
    let worker = h.worker(config("runner"));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop = futures::FutureExt::shared(async move {
        let _ = stop_rx.await;
    });
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let s = Scheduler::new(h.db.clone(), worker.clone(), fast());
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move { s.run(stop).await }));
    }
    let exes = wait_for(&h, &p, "three scheduled executions", |e| e.len() >= 3).await;
    let _ = stop_tx.send(());
    for t in tasks {
        t.await.unwrap();
    }
    let exes = executions(&h, &p).await.into_iter().chain(exes).collect::<Vec<_>>();
    let mut due: Vec<i64> = exes.iter().map(|e| e.trigger["body"]["due_at"].as_i64().unwrap()).collect();
    due.sort();
    due.dedup();
    let ids: std::collections::HashSet<_> = exes.iter().map(|e| e.id.clone()).collect();
    assert_eq!(due.len(), ids.len(), "one execution per due second: {exes:#?}");
    assert!(due.iter().all(|d| d % 1000 == 0 && *d >= first), "{due:?}");
}

#[tokio::test]
async fn missed_runs_run_once_for_the_latest_then_continue() {
    let h = Harness::new().await;
    let p = h.publish(NIGHTLY, json!({"schedule": "0 * * * *"})).await;
    let now = now_ms();
    let hourly = CronSchedule::parse("0 * * * *", Some("Europe/Berlin")).unwrap();
    // Due five hours ago: the scheduler was down for five fire times.
    let due = hourly.next_after(now - 6 * HOUR_MS).unwrap();
    store_schedule(&h, &p, "0 * * * *", due).await;

    let s = Scheduler::new(h.db.clone(), h.worker(config("runner")), SchedulerConfig::default());
    assert_eq!(s.fire_due(now).await.unwrap(), 1);
    assert_eq!(s.fire_due(now).await.unwrap(), 0);
    let exes = executions(&h, &p).await;
    assert_eq!(exes.len(), 1, "{exes:#?}");
    let latest = now - now.rem_euclid(HOUR_MS); // Berlin's full hours are UTC's full hours
    assert_eq!(exes[0].trigger["body"]["due_at"], json!(latest));
    let stored = h.db.list_schedules(&h.org, &p.instance_id).await.unwrap().remove(0);
    assert_eq!(stored.next_fire_at, latest + HOUR_MS);
    // At the next hour it fires again, once.
    assert_eq!(s.fire_due(latest + HOUR_MS).await.unwrap(), 1);
    assert_eq!(executions(&h, &p).await.len(), 2);
}

#[tokio::test]
async fn paused_instances_do_not_fire() {
    let h = Harness::new().await;
    let p = h.publish(NIGHTLY, json!({"schedule": "0 3 * * *"})).await;
    store_schedule(&h, &p, "0 3 * * *", now_ms() - 1_000).await;
    h.db.set_instance_enabled(&h.org, &p.instance_id, false, now_ms()).await.unwrap();
    let s = Scheduler::new(h.db.clone(), h.worker(config("runner")), SchedulerConfig::default());
    assert_eq!(s.fire_due(now_ms()).await.unwrap(), 0);
    assert!(executions(&h, &p).await.is_empty());
}

#[tokio::test]
async fn a_fifo_flow_fired_by_its_schedule_is_claimed_one_at_a_time() {
    let h = Harness::new().await;
    let fifo = NIGHTLY.replace("  - key: tick\n", "  - key: tick\n    queue: {mode: fifo}\n");
    let p = h.publish(&fifo, json!({"schedule": "0 * * * *"})).await;
    let now = now_ms();
    let first = now - now.rem_euclid(HOUR_MS);
    store_schedule(&h, &p, "0 * * * *", first).await;
    let s = Scheduler::new(h.db.clone(), h.worker(config("runner")), SchedulerConfig::default());
    // Three hourly firings while no runner works the queue: all three wait, in order.
    for n in 0..3 {
        assert_eq!(s.fire_due(first + n * HOUR_MS).await.unwrap(), 1, "firing {n}");
    }
    assert_eq!(executions(&h, &p).await.len(), 3);

    // The claim (what every runner goes through) hands out only the oldest while it runs.
    let at = first + 3 * HOUR_MS;
    let claimed = h.db.claim_executions("a", 10, 60_000, at).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:#?}");
    assert_eq!(claimed[0].trigger["body"]["due_at"], json!(first));
    assert!(h.db.claim_executions("b", 10, 60_000, at + 1).await.unwrap().is_empty());
}
