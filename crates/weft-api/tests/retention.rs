//! Retention settings over HTTP, and an instance that stores no payloads: its flows run as
//! before, but the stored executions keep no trigger body, result or step inputs/outputs.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_retention_round_trip() {
    let s = start().await;
    let (st, r) = s.get("/api/v1/organization/retention").await;
    assert_eq!((st, r), (200, json!({"retention_days": 30})));
    let put = |v: Value| s.call(Some(&s.owner), "PUT", "/api/v1/organization/retention", Body::Json(v));
    assert_eq!(put(json!({"retention_days": 7})).await, (200, json!({"retention_days": 7})));
    assert_eq!(s.get("/api/v1/organization/retention").await.1, json!({"retention_days": 7}));
    assert_error(&put(json!({"retention_days": 0})).await, 422, "request.invalid");
    let (st, _) = put(json!({"days": 7})).await;
    assert!(st == 400 || st == 422, "{st}");
    assert_eq!(s.get("/api/v1/organization/retention").await.1, json!({"retention_days": 7}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_payloads_off_runs_flows_but_keeps_no_payloads() {
    let s = start().await;
    let api = fulfilment().await;
    let inst = s.deploy_reference(&api.url).await;
    assert_eq!((inst["retention_days"].clone(), inst["store_payloads"].clone()), (Value::Null, json!(true)));
    let id = inst["id"].as_str().unwrap().to_string();
    let hook = inst["webhooks"]["new-order"].as_str().unwrap().to_string();
    let settings = format!("/api/v1/instances/{id}/settings");

    // Fields left out keep their values; null returns to the organization's default.
    let (st, v) = s.post(&settings, json!({"retention_days": 3})).await;
    assert_eq!((st, v["retention_days"].clone(), v["store_payloads"].clone()), (200, json!(3), json!(true)), "{v}");
    let (st, v) = s.post(&settings, json!({"store_payloads": false})).await;
    assert_eq!((st, v["retention_days"].clone(), v["store_payloads"].clone()), (200, json!(3), json!(false)), "{v}");
    let (st, v) = s.post(&settings, json!({"retention_days": null})).await;
    assert_eq!((st, v["retention_days"].clone(), v["store_payloads"].clone()), (200, Value::Null, json!(false)));
    assert_error(&s.post(&settings, json!({"retention_days": -1})).await, 422, "request.invalid");
    assert_error(&s.post("/api/v1/instances/ins_missing/settings", json!({})).await, 404, "instance.not_found");
    assert_eq!(s.get(&format!("/api/v1/instances/{id}")).await.1["store_payloads"], false);

    // The flow runs with the real trigger and the caller gets the real answer.
    let (st, res) =
        s.call(None, "POST", &hook, Body::Json(order("A-1", &[("ab-1", 2, 30.0), ("cd-2", 1, 50.0)]))).await;
    assert_eq!((st, res), (200, json!({"order": "A-1", "total": 110.0, "forwarded": true})));
    assert_eq!(api.orders.lock().unwrap().len(), 1);
    assert_eq!(api.orders.lock().unwrap()[0]["id"], "A-1");

    // What is stored: status, timings, step keys and statuses, logs; no payloads.
    let (_, list) = s.get(&format!("/api/v1/executions?instance={id}")).await;
    let exe = list["items"][0]["id"].as_str().unwrap().to_string();
    let e = s.finished(&exe).await;
    assert_eq!(e["status"], "succeeded");
    assert_eq!(e["trigger"], json!({"omitted": true}), "{e}");
    assert_eq!(e["result"], Value::Null, "{e}");
    assert!(e["finished_at"].is_string(), "{e}");
    let steps = e["steps"].as_array().unwrap();
    assert!(!steps.is_empty(), "{e}");
    for step in steps {
        assert!(step["key"].is_string() && step["status"] == "succeeded", "{step}");
        assert_eq!((step["input"].clone(), step["output"].clone()), (Value::Null, Value::Null), "{step}");
    }
    let text = e.to_string();
    // (Not a bare "110": random ids may contain it.)
    assert!(!text.contains("AB-1") && !text.contains("110.0"), "a payload was stored: {text}");
    let (st, logs) = s.get(&format!("/api/v1/executions/{exe}/logs")).await;
    assert_eq!(st, 200);
    assert!(!logs["items"].as_array().unwrap().is_empty(), "{logs}");
    // Nothing to replay: the payload is gone.
    assert_error(
        &s.post(&format!("/api/v1/executions/{exe}/replay"), Value::Null).await,
        409,
        "execution.not_replayable",
    );

    // Turned back on, payloads are stored again.
    s.post(&settings, json!({"store_payloads": true})).await;
    let (st, _) = s.call(None, "POST", &hook, Body::Json(order("A-2", &[("x", 1, 5.0)]))).await;
    assert_eq!(st, 200);
    let (_, list) = s.get(&format!("/api/v1/executions?instance={id}")).await;
    let e = s.finished(list["items"][0]["id"].as_str().unwrap()).await;
    assert_eq!(e["trigger"]["body"]["id"], "A-2");
    assert_eq!(e["result"]["forwarded"], false);
}
