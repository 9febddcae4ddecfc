//! The OpenAPI document at `/api/v1/openapi.json`: public, OpenAPI 3, lists every route of the
//! REST contract under its callable path (with the `/api/v1` prefix) and method, declares the
//! bearer scheme and the response schemas — and matches the router: every documented operation
//! reaches a handler.

mod common;

use common::*;
use serde_json::Value;

/// Every operation of the REST contract (specs/api.md), as (method, path template).
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api/v1/customers"),
    ("get", "/api/v1/customers"),
    ("get", "/api/v1/customers/{customer}"),
    ("patch", "/api/v1/customers/{customer}"),
    ("delete", "/api/v1/customers/{customer}"),
    ("post", "/api/v1/integrations"),
    ("get", "/api/v1/integrations"),
    ("get", "/api/v1/integrations/{integration}"),
    ("post", "/api/v1/integrations/{integration}/versions"),
    ("get", "/api/v1/integrations/{integration}/versions"),
    ("post", "/api/v1/instances"),
    ("get", "/api/v1/instances"),
    ("get", "/api/v1/instances/{id}"),
    ("delete", "/api/v1/instances/{id}"),
    ("post", "/api/v1/instances/{id}/pause"),
    ("post", "/api/v1/instances/{id}/resume"),
    ("post", "/api/v1/instances/{id}/upgrade"),
    ("post", "/api/v1/instances/{id}/flows/{flow}/run"),
    ("get", "/api/v1/executions"),
    ("get", "/api/v1/executions/{id}"),
    ("get", "/api/v1/executions/{id}/logs"),
    ("post", "/api/v1/executions/{id}/replay"),
    ("post", "/api/v1/tokens"),
];

/// The document, fetched without a token (it is public: clients read it before they have one).
async fn document(s: &Server) -> Value {
    let (st, doc) = s.call(None, "GET", "/api/v1/openapi.json", Body::None).await;
    assert_eq!(st, 200, "{doc}");
    assert!(doc.is_object(), "not a JSON object: {doc}");
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_is_public_openapi_3() {
    let s = start().await;
    let resp = s.request("GET", "/api/v1/openapi.json").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let doc: Value = serde_json::from_str(&resp.text().await.unwrap()).expect("the document is valid JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "openapi: {}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Weft API");
    assert_eq!(document(&s).await, doc, "the same document with or without a token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_lists_every_contract_route_under_its_prefix_and_method() {
    let s = start().await;
    let doc = document(&s).await;
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (method, path) in CONTRACT {
        if paths.get(*path).and_then(|item| item.get(*method)).is_none() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "not documented: {missing:?}; documented paths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    // Nothing documented that is not callable under the prefix.
    for path in paths.keys() {
        assert!(path.starts_with("/api/v1/"), "documented path without the /api/v1 prefix: {path}");
    }
    // Path parameters are declared where the template has them.
    let op = &paths["/api/v1/instances/{id}/flows/{flow}/run"]["post"];
    let names: Vec<&str> = op["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for want in ["id", "flow", "wait"] {
        assert!(names.contains(&want), "run lacks parameter {want}: {names:?}");
    }
    let op = &paths["/api/v1/customers"]["post"];
    assert!(op["requestBody"]["content"]["application/json"].is_object(), "{op}");
    assert!(op["responses"]["201"].is_object(), "{op}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_declares_bearer_auth_and_response_schemas() {
    let s = start().await;
    let doc = document(&s).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("bearer"), "{scheme}");
    assert!(
        doc["security"].as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())),
        "bearer is not required by default: {}",
        doc["security"]
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "CustomerView",
        "IntegrationView",
        "DraftView",
        "VersionView",
        "InstanceView",
        "ExecutionView",
        "StepView",
        "LogView",
        "Accepted",
        "TokenCreated",
        "NewCustomerBody",
        "DeployBody",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}; have {:?}", schemas.keys().collect::<Vec<_>>());
    }
    let customer = &schemas["CustomerView"]["properties"];
    for field in ["id", "external_id", "name", "labels", "created_at", "updated_at"] {
        assert!(customer.get(field).is_some(), "CustomerView lacks {field}: {customer}");
    }
    let instance = &schemas["InstanceView"]["properties"];
    for field in ["webhooks", "flows", "config", "enabled", "integration_key"] {
        assert!(instance.get(field).is_some(), "InstanceView lacks {field}: {instance}");
    }
    // The 200 of GET /customers/{customer} points at the CustomerView schema.
    let ok = &doc["paths"]["/api/v1/customers/{customer}"]["get"]["responses"]["200"];
    assert_eq!(ok["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/CustomerView", "{ok}");
}

/// Every documented operation reaches a handler: called with placeholder ids it may be refused
/// (404 of a resource, 415, 422 …) but never with `route.not_found`, 405 or a server error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let s = start().await;
    let doc = document(&s).await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let concrete = path.replace('{', "x").replace('}', "");
            let (st, body) = s.call(Some(&s.owner), &method.to_uppercase(), &concrete, Body::None).await;
            assert_ne!(body["error"]["code"], "route.not_found", "{method} {path} is documented but not routed");
            assert!(st != 405 && st < 500, "{method} {path} answered {st}: {body}");
            checked += 1;
        }
    }
    assert!(checked >= CONTRACT.len(), "only {checked} operations documented");
}
