//! The CRM connector example (`sdk/examples/crm`), built from source, run in the sandbox
//! against a local stand-in for the CRM's API: the connection's key reaches the API, pages are
//! followed, the data source feeds a picklist and the poll trigger never emits a contact twice.

mod common;

use std::sync::Arc;

use axum::extract::Query;
use axum::http::HeaderMap;
use common::{call, guests, host_with};
use serde_json::{Value, json};
use weft_components::EgressGuard;
use weft_model::ErrorKind;
use weft_wasm::{Invocation, Limits, MemoryServices, WasmHostConfig};

/// Acme CRM: 5 contacts, 2 per page, oldest first; answers 401 without the key `k-123`.
async fn crm() -> String {
    async fn contacts(
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> (axum::http::StatusCode, axum::Json<Value>) {
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k-123") {
            return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "bad key"})));
        }
        let since = q.get("updated_since").cloned().unwrap_or_default();
        let all: Vec<Value> = (1..=5)
            .map(|n| json!({"id": n, "name": format!("C{n}"), "updated_at": format!("2026-01-0{n}T00:00:00Z")}))
            .filter(|c| c["updated_at"].as_str().unwrap() >= since.as_str())
            .collect();
        let page: usize = q.get("page_token").map_or(0, |t| t.parse().unwrap());
        let items: Vec<Value> = all.iter().skip(page * 2).take(2).cloned().collect();
        let next = (all.len() > (page + 1) * 2).then(|| (page + 1).to_string());
        (axum::http::StatusCode::OK, axum::Json(json!({"items": items, "next_page_token": next})))
    }
    let app = axum::Router::new().route("/api/contacts", axum::routing::get(contacts)).route(
        "/api/lists",
        axum::routing::get(|| async { axum::Json(json!({"items": [{"id": "l1", "name": "Leads"}]})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api")
}

fn with_connection(inputs: Value, base_url: &str, key: &str) -> Invocation {
    Invocation { connection: Some(json!({"base_url": base_url, "api_key": key})), ..call(inputs) }
}

#[tokio::test]
async fn the_crm_example_runs_in_the_sandbox() {
    let base = crm().await;
    let guard = EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let host = host_with(WasmHostConfig { egress: guard, ..WasmHostConfig::default() });
    let c = host.load(&guests().crm).await.expect("the CRM example loads");
    let info = c.info();
    assert_eq!((info.key.as_str(), info.version.as_str()), ("acme-crm", "1.0.0"));
    let actions: Vec<&str> = info.actions.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(actions, ["list_contacts", "create_contact"]);
    assert_eq!(info.data_sources[0].key, "lists");
    assert_eq!(info.triggers[0].key, "new_contacts");
    assert_eq!(info.connections[0].key, "api_key");

    let limits = Limits::default();
    let services = || Arc::new(MemoryServices::new("instance:ins_1"));
    let out = c.invoke_action("list_contacts", with_connection(json!({}), &base, "k-123"), &limits, services()).await;
    assert_eq!(out.unwrap()["count"], 5, "three pages followed");
    let err = c
        .invoke_action("list_contacts", with_connection(json!({}), &base, "wrong"), &limits, services())
        .await
        .unwrap_err();
    assert_ne!(err.kind, ErrorKind::Limit, "{err:?}");
    assert!(err.message.contains("401"), "{err:?}");

    let lists = c.data_source("lists", with_connection(json!({}), &base, "k-123"), &limits, services()).await.unwrap();
    assert_eq!(lists, json!([{"value": "l1", "label": "Leads"}]));

    let first =
        c.poll("new_contacts", with_connection(json!({}), &base, "k-123"), None, &limits, services()).await.unwrap();
    assert_eq!(first.records.len(), 5);
    let cursor = first.next_cursor.expect("a cursor");
    let again = c
        .poll("new_contacts", with_connection(json!({}), &base, "k-123"), Some(&cursor), &limits, services())
        .await
        .unwrap();
    assert!(again.records.is_empty(), "nothing emitted twice: {:?}", again.records);
}
