//! The `code` step's cost: a small script (sum an order's lines, flag it, log one line) run by
//! `code.javascript`'s engine — a fresh QuickJS runtime per run, context bound, result back as
//! JSON — p50/p99 over many runs, against the same computation as a `transform` expression
//! (minijinja, compiled once) measured in the same run.
//!
//! `cargo bench -p weft-components --bench code [-- --runs N]`

use std::time::{Duration, Instant};

use serde_json::json;
use weft_components::LogSink;
use weft_components::code::run_javascript;
use weft_model::expr::Template;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.50);
    println!(
        "{name:<34} n={:<6} p50={:>8.1} µs  p99={:>8.1} µs  max={:>8.1} µs",
        samples.len(),
        p50.as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.last().unwrap().as_secs_f64() * 1e6,
    );
    p50
}

fn main() {
    let runs: usize =
        std::env::args().skip_while(|a| a != "--runs").nth(1).map(|n| n.parse().expect("--runs N")).unwrap_or(2_000);
    let lines: Vec<_> = (0..10).map(|i| json!({"sku": format!("sku-{i}"), "qty": i + 1, "price": 9.5})).collect();
    let context = json!({
        "trigger": {"body": {"id": "A-1001", "lines": lines}},
        "config": {"vip_total": 200},
        "steps": {},
    });
    let script = "const total = trigger.body.lines.reduce((sum, l) => sum + l.qty * l.price, 0);\n\
                  console.log(`order ${trigger.body.id}: ${total}`);\n\
                  return { order: trigger.body.id, total, vip: total >= config.vip_total };";
    let log = LogSink::discard();
    let expected = json!({"order": "A-1001", "total": 522.5, "vip": true});
    assert_eq!(run_javascript(script, &context, Duration::from_secs(5), &log).unwrap(), expected);

    let template = Template::compile(&json!({
        "order": "{{ trigger.body.id }}",
        "total": "{{ trigger.body.lines | map(attribute='qty') | sum * 9.5 }}",
        "vip": "{{ (trigger.body.lines | map(attribute='qty') | sum * 9.5) >= config.vip_total }}",
    }))
    .unwrap();
    assert_eq!(template.eval(&context).unwrap(), expected);

    let mut js = Vec::with_capacity(runs);
    let mut expr = Vec::with_capacity(runs);
    // Interleaved, so both see the same machine.
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(run_javascript(script, &context, Duration::from_secs(5), &log).unwrap());
        js.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(template.eval(&context).unwrap());
        expr.push(t.elapsed());
    }
    let js = report("code step (fresh QuickJS runtime)", js);
    let expr = report("transform expression (baseline)", expr);
    println!("ratio code/transform p50: {:.1}x", js.as_secs_f64() / expr.as_secs_f64());
}
