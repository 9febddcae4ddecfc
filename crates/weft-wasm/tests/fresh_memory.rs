//! Every invocation starts from the component's pristine memory, however the host resets its
//! pooled memory between invocations: nothing one call (one customer's step) leaves in linear
//! memory — statics or heap — is visible to the next, including when the slot is reset in
//! place (`keep_resident`, pages found dirty by `PAGEMAP_SCAN`) rather than returned to the
//! kernel.

mod common;

use common::{guests, host_with, run};
use serde_json::{Value, json};
use weft_wasm::{Limits, WasmHostConfig};

async fn check(config: WasmHostConfig) {
    let what = format!("keep_resident = {} bytes", config.keep_resident);
    let host = host_with(config);
    let c = host.load(&guests().hostile).await.expect("hostile loads");
    let limits = Limits::default();
    for i in 0..40 {
        let secret = format!("customer-{i}-secret");
        let (out, _) = run(&c, "remember", json!({"value": secret}), &limits).await;
        assert_eq!(out.unwrap(), json!({"old": Value::Null}), "{what}: call {i} saw an earlier call's memory");
        // Dirty much more memory in between, some calls: the reset must cover it all.
        if i % 10 == 3 {
            let (out, _) = run(&c, "alloc", json!({"mib": 24}), &limits).await;
            assert!(out.is_ok(), "{what}: {out:?}");
        }
    }
}

#[tokio::test]
async fn memory_is_fresh_when_pages_are_reset_in_place() {
    check(WasmHostConfig { keep_resident: 4 << 20, ..WasmHostConfig::default() }).await;
}

#[tokio::test]
async fn memory_is_fresh_when_pages_are_returned_to_the_kernel() {
    check(WasmHostConfig { keep_resident: 0, ..WasmHostConfig::default() }).await;
}
