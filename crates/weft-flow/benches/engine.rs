//! CPU cost of the flow engine alone: the reference example (DESIGN.md §3, the flow of
//! `examples/order-sync.yaml`) run from start to finish — two loop iterations, the total, the
//! branch, the forward call answered, the result — with a webhook trigger as Weft builds it
//! (headers, query, method, body). No IO: this is the part of every execution that is pure
//! computation (expressions, frames, step records).
//!
//! `cargo bench -p weft-flow --bench engine [-- --runs 20000]`

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::time::Instant;
use weft_flow::{Command, CompiledFlow, Event, Run, RunContext, RunStatus, advance};

/// One execution: start, then the forward call's answer. Returns the result.
fn execute(flow: &CompiledFlow, ctx: &RunContext, trigger: &Value) -> Value {
    let (run, commands) = advance(flow, Run::new(), ctx, Event::Start { trigger: trigger.clone() }, 0);
    let call = commands
        .iter()
        .find_map(|c| match c {
            Command::RunAction { call, .. } => Some(*call),
            _ => None,
        })
        .expect("the order is forwarded");
    let output = json!({"status": 200, "headers": {"content-type": "application/json"}, "body": {"accepted": "A-1"}});
    let (run, _) = advance(flow, run, ctx, Event::ActionSucceeded { call, output }, 1);
    assert_eq!(run.status(), RunStatus::Succeeded);
    run.result().cloned().expect("a result")
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let runs: usize = argv
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| argv.get(i + 1))
        .map(|n| n.parse().expect("--runs N"))
        .unwrap_or(20_000);
    let flow = CompiledFlow::new(&support::flow(&support::reference_flow())).expect("the reference flow compiles");
    let ctx = RunContext {
        config: json!({"endpoint": "http://127.0.0.1:8080", "min_total": 100, "tags": ["weft"]}),
        instance: json!({"id": "ins_0193", "name": "order-sync", "labels": {}}),
        customer: json!({"id": "cus_0193", "external_id": "acme", "name": "Acme", "labels": {}}),
        execution: json!({"id": "exe_0193", "attempt": 1}),
    };
    // What the webhook bench's client sends, as `routes/hooks.rs` turns it into a trigger.
    let trigger = json!({
        "method": "POST",
        "headers": {"content-type": "application/json", "accept": "*/*", "host": "127.0.0.1:8080",
                    "content-length": "93", "user-agent": "bench/1"},
        "query": {},
        "body": {"id": "A-1", "lines": [{"sku": "ab-1", "qty": 2, "price": 30}, {"sku": "cd-2", "qty": 1, "price": 50}]}
    });
    assert_eq!(execute(&flow, &ctx, &trigger), json!({"order": "A-1", "total": 110, "forwarded": true}));
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(execute(&flow, &ctx, std::hint::black_box(&trigger)));
        }
        rounds.push(start.elapsed().as_secs_f64() * 1e6 / runs as f64);
    }
    rounds.sort_by(f64::total_cmp);
    println!(
        "reference flow, start to finish: median {:.1} µs per execution (5 rounds of {runs}: min {:.1}, max {:.1})",
        rounds[2], rounds[0], rounds[4]
    );
}
