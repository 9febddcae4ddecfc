//! The CRM connector example (`sdk/examples/crm`), built from source, run in the sandbox
//! against a local stand-in for the CRM's API: the connection's key reaches the API, pages are
//! followed, the data source feeds a picklist and the poll trigger never emits a contact twice.

mod common;

use std::sync::Arc;

use common::{acme_crm_api as crm, call, guests, host_with};
use serde_json::{Value, json};
use weft_components::EgressGuard;
use weft_model::ErrorKind;
use weft_wasm::{Invocation, Limits, MemoryServices, WasmHostConfig};

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
