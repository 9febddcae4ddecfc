//! An api node that does not run executions itself (`run_locally: false`, as `weft serve
//! --role api`): deliveries are queued for the runners (here the claim loop of the same test
//! process, on SQLite, so the wait for the end falls back to polling), and sync webhooks and
//! manual runs with `wait=true` are still answered with the flow's result.

mod common;

use common::{Body, fulfilment, order};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_only_node_answers_sync_webhooks_run_elsewhere() {
    let s = common::start_with(|c| c.run_locally = false).await;
    let api = fulfilment().await;
    let inst = s.deploy_reference(&api.url).await;
    let hook = inst["webhooks"]["new-order"].as_str().unwrap();

    let (st, body) = s.call(None, "POST", hook, Body::Json(order("A-1", &[("x", 2, 60.0)]))).await;
    assert_eq!((st, body), (200, json!({"order": "A-1", "total": 120.0, "forwarded": true})));
    assert_eq!(api.orders.lock().unwrap().len(), 1);

    // The execution was queued and then claimed by the runner: one attempt, no lease left.
    let (_, page) = s.get("/api/v1/executions").await;
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let (_, e) = s.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!((e["status"].as_str(), e["attempts"].as_i64()), (Some("succeeded"), Some(1)), "{e}");

    // A manual run with wait=true waits for the end the same way.
    let path = format!("/api/v1/instances/{}/flows/new-order/run?wait=true", inst["id"].as_str().unwrap());
    let (st, e) = s.post(&path, order("A-2", &[("y", 1, 10.0)])).await;
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["status"], "succeeded", "{e}");
    assert_eq!(e["result"], json!({"order": "A-2", "total": 10.0, "forwarded": false}));
}
