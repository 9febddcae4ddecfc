//! The node keeps serving while guests spin: guests run on the host's own runtime and yield
//! every epoch tick, so neither the caller's runtime nor other components' calls stall.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, guests, host_with, run};
use serde_json::json;
use weft_model::ErrorKind;
use weft_wasm::{Limits, MemoryServices, WasmHostConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_runtime_and_other_calls_stay_responsive_while_guests_spin() {
    let host = host_with(WasmHostConfig { max_concurrent: 8, threads: 2, ..WasmHostConfig::default() });
    let c = host.load(&guests().hostile).await.unwrap();
    let spin_limits = Limits { time: Duration::from_millis(2500), ..Limits::default() };

    // Four spinning guests: more than the host's threads.
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            let limits = spin_limits.clone();
            tokio::spawn(async move {
                let services = Arc::new(MemoryServices::new("instance:attacker"));
                c.invoke_action("spin", call(json!({})), &limits, services).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A 1 ms ticker on the caller's runtime: its worst lateness while the guests spin.
    let ticker = tokio::spawn(async {
        let mut worst = Duration::ZERO;
        let end = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < end {
            let before = Instant::now();
            tokio::time::sleep(Duration::from_millis(1)).await;
            worst = worst.max(before.elapsed());
        }
        worst
    });
    // Another customer's trivial calls, on the same host, meanwhile.
    let mut slowest_echo = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        let (out, _) = run(&c, "echo", json!({"i": i}), &Limits::default()).await;
        assert_eq!(out.unwrap(), json!({"i": i}));
        slowest_echo = slowest_echo.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let worst_tick = ticker.await.unwrap();

    for s in spinners {
        let e = s.await.unwrap().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit);
        assert_eq!(e.message, "the component exceeded its time limit of 2500 ms");
    }
    eprintln!("worst 1 ms tick: {worst_tick:?}; slowest echo: {slowest_echo:?}");
    assert!(worst_tick < Duration::from_millis(250), "the caller's runtime stalled: {worst_tick:?}");
    assert!(slowest_echo < Duration::from_millis(250), "other calls stalled: {slowest_echo:?}");
}
