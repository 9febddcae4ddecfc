//! Every limit of an invocation, obeyed and violated, against the hostile component: memory,
//! wall time, fuel, stack, output size, log volume, and a panic.

mod common;

use std::time::{Duration, Instant};

use common::{guests, host_with, hostile, run};
use serde_json::json;
use weft_model::{ErrorKind, LogLevel};
use weft_wasm::{Limits, WasmHostConfig};

fn limits() -> Limits {
    Limits { time: Duration::from_secs(10), ..Limits::default() }
}

#[tokio::test]
async fn memory_limit() {
    let c = hostile().await;
    let small = Limits { memory: 32 << 20, ..limits() };
    let (out, _) = run(&c, "alloc", json!({"mib": 8}), &small).await;
    assert_eq!(out.unwrap()["allocated_mib"], json!(8));

    let (out, _) = run(&c, "alloc", json!({"mib": 64}), &small).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e:?}");
    assert_eq!(e.message, "the component exceeded its memory limit of 32 MiB");

    // The default is 128 MiB.
    let (out, _) = run(&c, "alloc", json!({"mib": 200}), &limits()).await;
    assert_eq!(out.unwrap_err().message, "the component exceeded its memory limit of 128 MiB");
}

#[tokio::test]
async fn time_limit() {
    let c = hostile().await;
    let short = Limits { time: Duration::from_millis(300), ..limits() };
    let (out, _) = run(&c, "echo", json!({"ok": true}), &short).await;
    assert_eq!(out.unwrap(), json!({"ok": true}));

    let started = Instant::now();
    let (out, _) = run(&c, "spin", json!({}), &short).await;
    let took = started.elapsed();
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e:?}");
    assert_eq!(e.message, "the component exceeded its time limit of 300 ms");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "stopped after {took:?}");

    let two = Limits { time: Duration::from_secs(2), ..limits() };
    let (out, _) = run(&c, "spin", json!({}), &two).await;
    assert_eq!(out.unwrap_err().message, "the component exceeded its time limit of 2 s");
}

#[tokio::test]
async fn fuel_limit() {
    let host = host_with(WasmHostConfig { fuel: true, ..WasmHostConfig::default() });
    let c = host.load(&guests().hostile).await.unwrap();
    let fuel = Limits { fuel: Some(50_000_000), ..limits() };
    let (out, _) = run(&c, "echo", json!([1, 2, 3]), &fuel).await;
    assert_eq!(out.unwrap(), json!([1, 2, 3]));

    let (out, _) = run(&c, "spin", json!({}), &fuel).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e:?}");
    assert_eq!(e.message, "the component exceeded its fuel limit of 50000000");

    // Without fuel metering in the engine, asking for a fuel limit is an error, not ignored.
    let (out, _) = run(&hostile().await, "echo", json!({}), &fuel).await;
    assert!(out.unwrap_err().message.contains("built without fuel"));
}

#[tokio::test]
async fn deep_recursion_traps_cleanly() {
    let c = hostile().await;
    let (out, _) = run(&c, "recurse", json!({"depth": 1000}), &limits()).await;
    assert!(out.unwrap()["result"].is_number());

    let (out, _) = run(&c, "recurse", json!({}), &limits()).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Component, "{e:?}");
    assert!(e.message.starts_with("the component trapped: "), "{}", e.message);
    assert!(
        e.message.contains("out of bounds memory access") || e.message.contains("call stack exhausted"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn output_limit() {
    let c = hostile().await;
    let capped = Limits { max_output: 64 << 10, ..limits() };
    let (out, _) = run(&c, "big-output", json!({"bytes": 1000}), &capped).await;
    assert_eq!(out.unwrap().as_str().unwrap().len(), 1000);

    let (out, _) = run(&c, "big-output", json!({"bytes": 100_000}), &capped).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Limit, "{e:?}");
    assert_eq!(e.message, "the component's output (100002 bytes) exceeds its output limit of 64 KiB");
}

#[tokio::test]
async fn log_flood_is_cut_with_one_notice() {
    let c = hostile().await;
    let capped = Limits { max_log_lines: 100, ..limits() };
    let (out, services) = run(&c, "log-flood", json!({"lines": 10}), &capped).await;
    assert_eq!(out.unwrap(), json!({"written": 10}));
    assert_eq!(services.logs().len(), 10);
    assert_eq!(services.logs()[9], (LogLevel::Info, "line 9".to_string()));

    let (out, services) = run(&c, "log-flood", json!({"lines": 5000}), &capped).await;
    assert_eq!(out.unwrap(), json!({"written": 5000}), "dropping logs does not fail the call");
    let logs = services.logs();
    assert_eq!(logs.len(), 101, "100 lines and one notice");
    assert_eq!(logs[99].1, "line 99");
    assert_eq!(logs[100].0, LogLevel::Warn);
    assert!(logs[100].1.starts_with("log limit reached (100 lines or 1 MiB per call)"), "{}", logs[100].1);

    // The byte budget holds too.
    let bytes = Limits { max_log_bytes: 1000, ..limits() };
    let (_, services) = run(&c, "log-flood", json!({"lines": 500}), &bytes).await;
    let kept: usize = services.logs().iter().filter(|(l, _)| *l == LogLevel::Info).map(|(_, m)| m.len()).sum();
    assert!(kept <= 1000, "{kept} bytes kept");
    assert!(services.logs().last().unwrap().1.contains("1000 bytes per call"));
}

#[tokio::test]
async fn a_panic_is_a_clear_error() {
    let c = hostile().await;
    let (out, _) = run(&c, "panic", json!({}), &limits()).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Component, "{e:?}");
    assert!(e.message.starts_with("the component trapped: "), "{}", e.message);
    assert!(
        e.message.contains("the hostile component panicked on purpose"),
        "the panic message is kept: {}",
        e.message
    );
    // The component is not poisoned: the next call runs in a fresh store.
    let (out, _) = run(&c, "echo", json!("again"), &limits()).await;
    assert_eq!(out.unwrap(), json!("again"));
}

#[tokio::test]
async fn guest_errors_keep_their_kind() {
    let c = hostile().await;
    let (out, _) = run(&c, "alloc", json!({}), &limits()).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    assert_eq!(e.message, "input 'mib' is required and must be a non-negative integer");
    let (out, _) = run(&c, "nope", json!({}), &limits()).await;
    assert_eq!(out.unwrap_err().message, "component 'hostile' has no action 'nope'");
}
