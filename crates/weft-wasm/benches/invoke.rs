//! Per-invocation overhead of a custom component: the trivial `echo` action of the hostile test
//! component (fresh store + instantiate + call + teardown, JSON in and out), p50/p99 over many
//! calls, against baselines measured in the same run:
//!
//! - `native`: a Rust closure doing the same JSON round trip (inputs to text, parsed, output to
//!   text, parsed) — what the call would cost with no sandbox at all;
//! - `hop`: the same closure run as a task on another runtime and awaited — what a call made
//!   from a current-thread runtime pays to run off it (from a worker thread of a multi-thread
//!   runtime, as in `weft serve`, the call runs in `block_in_place` instead).
//!
//! The echo is also measured with `keep_resident: 0` (every page an invocation touched is
//! returned to the kernel and faulted in again by the next one), the host's setting before.
//!
//! `cargo bench -p weft-wasm --bench invoke [-- --calls N] [--echo-of OTHER.wasm]`

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_wasm::{Limits, MemoryServices, WasmHost, WasmHostConfig};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<28} n={:<6} p50={:>8.1} µs  p99={:>8.1} µs  mean={:>8.1} µs  max={:>8.1} µs",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
    );
}

fn round_trip(inputs: &Value) -> Value {
    let wire = inputs.to_string();
    let parsed: Value = serde_json::from_str(&wire).unwrap();
    let out = parsed.to_string();
    serde_json::from_str(&out).unwrap()
}

fn main() {
    let calls: usize =
        std::env::args().skip_while(|a| a != "--calls").nth(1).map(|n| n.parse().expect("--calls N")).unwrap_or(5_000);
    // Another component whose `echo` action to measure too, e.g. the TypeScript example
    // (`weft component build sdk/typescript/examples/orders` builds it).
    let other_echo: Option<Vec<u8>> = std::env::args()
        .skip_while(|a| a != "--echo-of")
        .nth(1)
        .map(|path| std::fs::read(&path).unwrap_or_else(|e| panic!("--echo-of {path}: {e}")));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let guests = common::guests();
    let inputs = json!({"order": "A-1001", "lines": [{"sku": "ab-1", "qty": 2, "price": 30}]});

    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // A host over the shared disk cache, with `config` otherwise.
        let host_with = |config: WasmHostConfig| {
            WasmHost::new(WasmHostConfig { cache_dir: Some(dir.path().into()), ..config }).unwrap()
        };
        let host = host_with(WasmHostConfig::default());
        let started = Instant::now();
        let c = host.load(&guests.hostile).await.unwrap();
        let cold = started.elapsed();
        let started = Instant::now();
        let warm_host = host_with(WasmHostConfig::default());
        let _ = warm_host.load(&guests.hostile).await.unwrap();
        let warm = started.elapsed();
        println!(
            "load (compile + describe): {:.1} ms; load from the disk cache (new host): {:.1} ms; component {} bytes",
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3,
            guests.hostile.len()
        );

        let limits = Limits::default();
        let services = Arc::new(MemoryServices::new("bench"));
        let measure = |c: weft_wasm::LoadedComponent| {
            let inputs = inputs.clone();
            let services = services.clone();
            let limits = limits.clone();
            async move {
                for _ in 0..200 {
                    c.invoke_action("echo", common::call(inputs.clone()), &limits, services.clone()).await.unwrap();
                }
                let mut samples = Vec::with_capacity(calls);
                for _ in 0..calls {
                    let call = common::call(inputs.clone());
                    let t = Instant::now();
                    let out = c.invoke_action("echo", call, &limits, services.clone()).await.unwrap();
                    samples.push(t.elapsed());
                    assert_eq!(out, inputs);
                }
                samples
            }
        };
        // From a task on a worker thread of the caller's runtime, as the worker calls it: the
        // call runs on that thread, in `block_in_place`.
        let wasm = tokio::spawn(measure(c.clone())).await.unwrap();
        // From a current-thread runtime: the call is a task on the host's runtime, awaited
        // (two thread hand-offs; every call took this path before `block_in_place`).
        let from_current_thread = {
            let calls = measure(c.clone());
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(calls)
            })
            .join()
            .unwrap()
        };
        // The same calls made from a task on the host's own runtime.
        let on_host = host.runtime().spawn(measure(c)).await.unwrap();
        let one_thread = host_with(WasmHostConfig { threads: 1, ..WasmHostConfig::default() });
        let wasm_one = tokio::spawn(measure(one_thread.load(&guests.hostile).await.unwrap())).await.unwrap();
        // The reset of the pool before `keep_resident`: every page back to the kernel.
        let decommit = host_with(WasmHostConfig { keep_resident: 0, ..WasmHostConfig::default() });
        let wasm_decommit = tokio::spawn(measure(decommit.load(&guests.hostile).await.unwrap())).await.unwrap();

        let echo_of = match &other_echo {
            Some(bytes) => {
                let started = Instant::now();
                let loaded = host.load(bytes).await.unwrap();
                println!(
                    "--echo-of {}: load (compile + describe) {:.1} ms; component {} bytes",
                    loaded.info().key,
                    started.elapsed().as_secs_f64() * 1e3,
                    bytes.len()
                );
                Some(tokio::spawn(measure(loaded)).await.unwrap())
            }
            None => None,
        };

        let mut native = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            let out = round_trip(std::hint::black_box(&inputs));
            native.push(t.elapsed());
            assert_eq!(out, inputs);
        }

        let other = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut hop = Vec::with_capacity(calls);
        for _ in 0..calls {
            let i = inputs.clone();
            let t = Instant::now();
            let out = other.spawn(async move { round_trip(&i) }).await.unwrap();
            hop.push(t.elapsed());
            assert_eq!(out, inputs);
        }
        other.shutdown_background();

        report("wasm echo (fresh store)", wasm);
        report("  same, as a task on the host runtime", from_current_thread);
        report("  same, called on the host runtime", on_host);
        report("  same, host runtime 1 thread", wasm_one);
        report("  same, keep_resident 0", wasm_decommit);
        if let Some(samples) = echo_of {
            report("  --echo-of component's echo", samples);
        }
        report("baseline: native closure", native);
        report("baseline: runtime hop", hop);
    });
}
