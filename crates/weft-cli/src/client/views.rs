//! Human renderings of the API's resources (customers, integrations, instances, executions,
//! logs, components) as tables and detail blocks. Pure functions from the API's JSON to text; fields the
//! server leaves out show as `-`, so a newer or older server still renders.

use crate::output::{
    Table, cell, duration_ms, field, indent, key_values, labels, one_line, pretty, step_error, timestamp, truncate,
};
use serde_json::Value;

/// Longest error text in a listing cell; `execution show` has the full message.
const ERROR_CELL_MAX: usize = 60;

pub fn customer_table(items: &[Value]) -> String {
    let mut table = Table::new(["ID", "EXTERNAL ID", "NAME", "LABELS", "CREATED"]);
    for c in items {
        table.row([
            field(c, "id"),
            field(c, "external_id"),
            field(c, "name"),
            labels(c.get("labels")),
            timestamp(c.get("created_at")),
        ]);
    }
    table.render()
}

pub fn customer_detail(c: &Value) -> String {
    key_values(&[
        ("ID", field(c, "id")),
        ("Name", field(c, "name")),
        ("External ID", field(c, "external_id")),
        ("Labels", labels(c.get("labels"))),
        ("Concurrency", max_concurrency(c.get("max_concurrency"))),
        ("Created", timestamp(c.get("created_at"))),
        ("Updated", timestamp(c.get("updated_at"))),
    ])
}

/// A concurrency limit, or `unlimited` when none is set.
fn max_concurrency(value: Option<&Value>) -> String {
    match value {
        Some(Value::Number(n)) => n.to_string(),
        _ => "unlimited".into(),
    }
}

pub fn integration_table(items: &[Value]) -> String {
    let mut table = Table::new(["KEY", "NAME", "LATEST", "ID", "UPDATED"]);
    for i in items {
        table.row([
            field(i, "key"),
            field(i, "name"),
            latest_version(i),
            field(i, "id"),
            timestamp(i.get("updated_at")),
        ]);
    }
    table.render()
}

/// `v3`, or `draft only` for an integration never published.
fn latest_version(i: &Value) -> String {
    match i.get("latest_version") {
        Some(Value::Number(n)) => format!("v{n}"),
        _ => "draft only".to_string(),
    }
}

pub fn integration_detail(i: &Value) -> String {
    let mut out = key_values(&[
        ("ID", field(i, "id")),
        ("Key", field(i, "key")),
        ("Name", field(i, "name")),
        ("Description", field(i, "description")),
        ("Latest version", latest_version(i)),
        ("Created", timestamp(i.get("created_at"))),
        ("Updated", timestamp(i.get("updated_at"))),
    ]);
    if let Some(draft) = i.get("draft").filter(|d| !d.is_null()) {
        let format = draft.get("format").and_then(Value::as_str).unwrap_or("json");
        out.push_str(&format!("\nDraft ({format}):\n"));
        // The draft is the imported source text when the server keeps it, else structured JSON.
        match draft.get("definition") {
            Some(Value::String(text)) => out.push_str(&indent(text)),
            Some(definition) => out.push_str(&indent(&pretty(definition))),
            None => out.push_str("  -\n"),
        }
    }
    out
}

pub fn versions_table(items: &[Value]) -> String {
    let mut table = Table::new(["VERSION", "INTEGRATION", "CREATED"]);
    for v in items {
        table.row([field(v, "version"), field(v, "integration_key"), timestamp(v.get("created_at"))]);
    }
    table.render()
}

pub fn instance_table(items: &[Value]) -> String {
    let mut table = Table::new(["ID", "NAME", "CUSTOMER", "INTEGRATION", "VERSION", "STATE", "CREATED"]);
    for i in items {
        table.row([
            field(i, "id"),
            field(i, "name"),
            field(i, "customer_id"),
            integration_ref(i),
            field(i, "version"),
            state(i),
            timestamp(i.get("created_at")),
        ]);
    }
    table.render()
}

/// The integration's key when the server gives it (more readable), else its id.
fn integration_ref(i: &Value) -> String {
    match i.get("integration_key") {
        Some(Value::String(key)) => key.clone(),
        _ => field(i, "integration_id"),
    }
}

fn state(i: &Value) -> String {
    match i.get("enabled") {
        Some(Value::Bool(true)) => "active".to_string(),
        Some(Value::Bool(false)) => "paused".to_string(),
        other => cell(other),
    }
}

pub fn instance_detail(i: &Value) -> String {
    let flows = match i.get("flows") {
        Some(Value::Array(flows)) => flows.iter().map(|f| cell(Some(f))).collect::<Vec<_>>().join(", "),
        other => cell(other),
    };
    let mut out = key_values(&[
        ("ID", field(i, "id")),
        ("Name", field(i, "name")),
        ("Customer", field(i, "customer_id")),
        ("Integration", format!("{} ({})", integration_ref(i), field(i, "integration_id"))),
        ("Version", field(i, "version")),
        ("State", state(i)),
        ("Flows", flows),
        ("Created", timestamp(i.get("created_at"))),
        ("Updated", timestamp(i.get("updated_at"))),
    ]);
    out.push_str(&webhooks(i));
    if let Some(config) = i.get("config") {
        out.push_str("\nConfig:\n");
        out.push_str(&indent(&pretty(config)));
    }
    out
}

/// The `Webhooks:` block (flow → URL), empty when the instance has no webhook flows.
pub fn webhooks(i: &Value) -> String {
    match i.get("webhooks") {
        Some(Value::Object(hooks)) if !hooks.is_empty() => {
            let mut table = Table::new(["FLOW", "URL"]);
            for (flow, url) in hooks {
                table.row([flow.clone(), cell(Some(url))]);
            }
            format!("\nWebhooks:\n{}", indent(&table.render()))
        }
        _ => String::new(),
    }
}

pub fn execution_table(items: &[Value]) -> String {
    let mut table = Table::new(["ID", "FLOW", "STATUS", "INSTANCE", "VERSION", "CREATED", "DURATION", "ERROR"]);
    for e in items {
        let error = match e.get("error") {
            None | Some(Value::Null) => String::new(),
            error => truncate(&step_error(error), ERROR_CELL_MAX),
        };
        table.row([
            field(e, "id"),
            field(e, "flow"),
            field(e, "status"),
            field(e, "instance_id"),
            field(e, "version"),
            timestamp(e.get("created_at")),
            duration_ms(e.get("duration_ms")),
            error,
        ]);
    }
    table.render()
}

/// What started an execution, in a word or two: `manual`, `call` (a sub-flow), `webhook POST`,
/// or what the server names with `kind`/`type`/`source`.
///
/// The server records a trigger as the request the flow sees (`{method, headers, query, body}`);
/// a run by hand or a sub-flow call has the pseudo-methods `MANUAL` and `CALL`. Printing that
/// object whole would fill the line with headers.
fn trigger(e: &Value) -> String {
    match e.get("trigger") {
        Some(Value::Object(t)) => {
            let named = ["kind", "type", "source"].iter().find_map(|k| t.get(*k).and_then(Value::as_str));
            match (named, t.get("method").and_then(Value::as_str)) {
                (Some(kind), _) => kind.to_string(),
                (None, Some("MANUAL")) => "manual".to_string(),
                (None, Some("CALL")) => "call".to_string(),
                (None, Some(method)) => format!("webhook {method}"),
                (None, None) => truncate(&Value::Object(t.clone()).to_string(), 80),
            }
        }
        other => cell(other),
    }
}

pub fn execution_detail(e: &Value) -> String {
    let mut out = key_values(&[
        ("ID", field(e, "id")),
        ("Flow", field(e, "flow")),
        ("Status", field(e, "status")),
        ("Instance", field(e, "instance_id")),
        ("Customer", field(e, "customer_id")),
        ("Integration", format!("{} v{}", field(e, "integration_id"), field(e, "version"))),
        ("Trigger", trigger(e)),
        ("Attempts", field(e, "attempts")),
        ("Replay of", field(e, "replay_of")),
        ("Created", timestamp(e.get("created_at"))),
        ("Started", timestamp(e.get("started_at"))),
        ("Finished", timestamp(e.get("finished_at"))),
        ("Duration", duration_ms(e.get("duration_ms"))),
    ]);
    if let Some(Value::Array(steps)) = e.get("steps") {
        out.push_str("\nSteps:\n");
        if steps.is_empty() {
            out.push_str("  (none ran)\n");
        } else {
            let mut table = Table::new(["PATH", "KIND", "ACTION", "STATUS", "ATTEMPTS", "DURATION", "ERROR"]);
            for s in steps {
                let error = match s.get("error") {
                    None | Some(Value::Null) => String::new(),
                    error => step_error(error),
                };
                let path = match s.get("path") {
                    Some(Value::String(p)) => p.clone(),
                    _ => field(s, "key"),
                };
                table.row([
                    path,
                    field(s, "kind"),
                    field(s, "action"),
                    field(s, "status"),
                    field(s, "attempts"),
                    duration_ms(s.get("duration_ms")),
                    error,
                ]);
            }
            out.push_str(&indent(&table.render()));
        }
    }
    if let Some(result) = e.get("result").filter(|r| !r.is_null()) {
        out.push_str("\nResult:\n");
        out.push_str(&indent(&pretty(result)));
    }
    if let Some(error) = e.get("error").filter(|r| !r.is_null()) {
        out.push_str("\nError:\n");
        out.push_str(&indent(&step_error(Some(error))));
        if let Some(details) = error.get("details").filter(|d| !d.is_null()) {
            out.push_str(&indent(&pretty(details)));
        }
    }
    out
}

pub fn logs_table(items: &[Value]) -> String {
    let mut table = Table::new(["AT", "LEVEL", "STEP", "MESSAGE"]);
    for l in items {
        table.row([timestamp(l.get("at")), field(l, "level"), field(l, "step"), one_line(&field(l, "message"))]);
    }
    table.render()
}

/// The answer to `weft component publish`: `published KEY VERSION (SIZE bytes, sha256 …)`, or
/// that these bytes were already published under that version (200 instead of 201).
pub fn component_published(v: &Value, created: bool) -> String {
    let (key, version) = (field(v, "key"), field(v, "version"));
    if created {
        let sha256 = field(v, "sha256");
        let short = sha256.get(..12).unwrap_or(&sha256);
        format!("published {key} {version} ({} bytes, sha256 {short})\n", field(v, "size_bytes"))
    } else {
        format!("{key} {version} was already published with these bytes\n")
    }
}

pub fn component_table(items: &[Value]) -> String {
    let mut table = Table::new(["KEY", "LATEST", "NAME"]);
    for c in items {
        table.row([field(c, "key"), field(c, "latest_version"), field(c, "name")]);
    }
    table.render()
}

pub fn component_detail(c: &Value) -> String {
    let mut out = key_values(&[
        ("ID", field(c, "id")),
        ("Key", field(c, "key")),
        ("Name", field(c, "name")),
        ("Description", field(c, "description")),
        ("Latest version", field(c, "latest_version")),
        ("Created", timestamp(c.get("created_at"))),
        ("Updated", timestamp(c.get("updated_at"))),
    ]);
    if let Some(Value::Array(versions)) = c.get("versions") {
        let mut table = Table::new(["VERSION", "SIZE", "SHA256", "PUBLISHED"]);
        for v in versions {
            let sha256 = field(v, "sha256");
            table.row([
                field(v, "version"),
                format!("{} bytes", field(v, "size_bytes")),
                sha256.get(..12).unwrap_or(&sha256).to_string(),
                timestamp(v.get("created_at")),
            ]);
        }
        out.push_str(&format!("\nVersions:\n{}", indent(&table.render())));
    }
    let Some(latest) = c.get("latest").filter(|l| l.is_object()) else {
        return out;
    };
    out.push_str(&format!("\nVersion {} offers:\n", field(latest, "version")));
    for (title, key) in [("Actions", "actions"), ("Triggers", "triggers"), ("Data sources", "data_sources")] {
        out.push_str(&operations(title, latest.get(key)));
    }
    out.push_str(&connection_types(latest.get("connections")));
    out
}

/// `Actions:` (or triggers, data sources): each with its key, name and description, then its
/// inputs.
fn operations(title: &str, list: Option<&Value>) -> String {
    let items = list.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return format!("\n{title}: none\n");
    }
    let mut out = format!("\n{title}:\n");
    for op in items {
        out.push_str(&indent(&heading(op, None)));
        out.push_str(&indent(&indent(&inputs_table("INPUT", op.get("inputs")))));
    }
    out
}

/// `Connection types:`: each with its kind and fields.
fn connection_types(list: Option<&Value>) -> String {
    let items = list.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "\nConnection types: none\n".to_string();
    }
    let mut out = "\nConnection types:\n".to_string();
    for c in items {
        out.push_str(&indent(&heading(c, Some(field(c, "kind")))));
        out.push_str(&indent(&indent(&inputs_table("FIELD", c.get("fields")))));
    }
    out
}

/// `key  Name (kind): description`, one line.
fn heading(item: &Value, kind: Option<String>) -> String {
    let mut line = format!("{}  {}", field(item, "key"), field(item, "name"));
    if let Some(kind) = kind {
        line.push_str(&format!(" ({kind})"));
    }
    if let Some(Value::String(d)) = item.get("description")
        && !d.is_empty()
    {
        line.push_str(&format!(": {}", one_line(d)));
    }
    line.push('\n');
    line
}

/// The inputs (or a connection's fields) as a table: key, type, required, help.
fn inputs_table(first: &str, inputs: Option<&Value>) -> String {
    let items = inputs.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        return "(no inputs)\n".to_string();
    }
    let mut table = Table::new([first, "TYPE", "REQUIRED", "HELP"]);
    for i in items {
        let help = match i.get("help") {
            Some(Value::String(h)) if !h.is_empty() => h.clone(),
            _ => String::new(),
        };
        table.row([field(i, "key"), field(i, "type"), field(i, "required"), help]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn execution_detail_lists_steps_result_and_error() {
        let e = json!({
            "id": "exe_1", "instance_id": "ins_1", "customer_id": "cus_1", "integration_id": "int_1",
            "version": 2, "flow": "new-order", "status": "failed", "attempts": 1,
            "trigger": {"kind": "webhook", "body": {}}, "result": null,
            "error": {"kind": "http_status", "message": "POST http://x/orders answered 500"},
            "replay_of": null, "created_at": "2026-11-28T04:40:00.123Z", "started_at": null,
            "finished_at": null, "duration_ms": 1500,
            "steps": [
                {"path": "lines", "key": "lines", "kind": "for_each", "action": null, "status": "succeeded",
                 "attempts": 1, "duration_ms": 3, "error": null},
                {"path": "decide.forward", "key": "forward", "kind": "action", "action": "http.request",
                 "status": "failed", "attempts": 3, "duration_ms": 1200,
                 "error": {"kind": "http_status", "message": "answered 500"}}
            ]
        });
        let text = execution_detail(&e);
        assert!(text.contains("Integration  int_1 v2\n"), "{text}");
        assert!(text.contains("Trigger      webhook\n"), "{text}");
        assert!(text.contains("Created      2026-11-28T04:40:00Z\n"), "{text}");
        assert!(text.contains("Duration     1.5s\n"), "{text}");
        assert!(
            text.contains(
                "  PATH            KIND      ACTION        STATUS     ATTEMPTS  DURATION  ERROR\n\
                 \x20 lines           for_each  -             succeeded  1         3ms\n\
                 \x20 decide.forward  action    http.request  failed     3         1.2s      http_status: answered 500\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("Error:\n  http_status: POST http://x/orders answered 500\n"), "{text}");
        assert!(!text.contains("Result:"));
    }

    #[test]
    fn triggers_in_a_word() {
        let t = |t: Value| trigger(&json!({ "trigger": t }));
        assert_eq!(t(json!({"method": "POST", "headers": {"host": "h"}, "query": {}, "body": {}})), "webhook POST");
        assert_eq!(t(json!({"method": "MANUAL", "headers": {}, "query": {}, "body": null})), "manual");
        assert_eq!(t(json!({"method": "CALL", "headers": {}, "query": {}, "body": {}})), "call");
        assert_eq!(t(json!({"kind": "schedule", "method": "POST"})), "schedule");
        assert_eq!(t(json!({"at": 1})), r#"{"at":1}"#);
        assert_eq!(t(json!(null)), "-");
    }

    #[test]
    fn instance_detail_shows_webhooks_and_config() {
        let i = json!({"id": "ins_1", "name": "Acme orders", "customer_id": "cus_1", "integration_id": "int_1",
            "integration_key": "order-sync", "version": 1, "enabled": false,
            "config": {"endpoint": "http://x", "api_key": "***"},
            "webhooks": {"new-order": "http://127.0.0.1:8080/hooks/abc"}, "flows": ["new-order", "nightly"]});
        let text = instance_detail(&i);
        assert!(text.contains("Integration  order-sync (int_1)\n"), "{text}");
        assert!(text.contains("State        paused\n"), "{text}");
        assert!(text.contains("Flows        new-order, nightly\n"), "{text}");
        assert!(text.contains("Webhooks:\n  FLOW       URL\n  new-order  http://127.0.0.1:8080/hooks/abc\n"), "{text}");
        assert!(text.contains("Config:\n  {\n    \"endpoint\": \"http://x\",\n"), "{text}");
    }

    #[test]
    fn integration_tables_mark_unpublished() {
        let items = [
            json!({"id": "int_1", "key": "order-sync", "name": "Order sync", "latest_version": 3}),
            json!({"id": "int_2", "key": "crm", "name": "CRM", "latest_version": null}),
        ];
        let text = integration_table(&items);
        assert!(text.contains("order-sync  Order sync  v3"), "{text}");
        assert!(text.contains("crm         CRM         draft only"), "{text}");
    }

    #[test]
    fn component_detail_lists_what_the_latest_version_offers() {
        let input = |key: &str, ty: &str, required: bool, help: Option<&str>| {
            let mut i = json!({"key": key, "label": key, "type": ty, "required": required});
            if let Some(help) = help {
                i["help"] = json!(help);
            }
            i
        };
        let c = json!({"id": "cmp_1", "key": "acme-crm", "name": "Acme CRM", "description": "Contacts.",
            "latest_version": "1.1.0", "created_at": "2026-11-28T04:40:00.123Z", "updated_at": "2026-11-29T04:40:00Z",
            "versions": [
                {"component_id": "cmp_1", "key": "acme-crm", "version": "1.1.0", "sha256": "0123456789abcdef0123",
                 "size_bytes": 150000, "created_at": "2026-11-29T04:40:00Z"},
                {"component_id": "cmp_1", "key": "acme-crm", "version": "1.0.0", "sha256": "fedcba9876543210fedc",
                 "size_bytes": 149000, "created_at": "2026-11-28T04:40:00Z"}],
            "latest": {"key": "acme-crm", "name": "Acme CRM", "version": "1.1.0", "description": "Contacts.",
                "actions": [{"key": "list_contacts", "name": "List contacts", "description": "Lists contacts.",
                    "inputs": [input("query", "string", false, Some("Text to search for.")),
                               input("limit", "number", true, None)]},
                    {"key": "ping", "name": "Ping", "description": "", "inputs": []}],
                "triggers": [],
                "data_sources": [{"key": "lists", "name": "Lists", "description": "", "inputs": []}],
                "connections": [{"key": "api_key", "name": "API key", "description": "", "kind": "api_key",
                    "fields": [input("api_key", "secret", true, None)]}]}});
        let text = component_detail(&c);
        assert!(text.starts_with("ID              cmp_1\nKey             acme-crm\n"), "{text}");
        assert!(text.contains("Latest version  1.1.0\n"), "{text}");
        assert!(
            text.contains(
                "Versions:\n  VERSION  SIZE          SHA256        PUBLISHED\n\
                 \x20 1.1.0    150000 bytes  0123456789ab  2026-11-29T04:40:00Z\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "Actions:\n  list_contacts  List contacts: Lists contacts.\n\
                 \x20   INPUT  TYPE    REQUIRED  HELP\n\
                 \x20   query  string  no        Text to search for.\n\
                 \x20   limit  number  yes\n\
                 \x20 ping  Ping\n    (no inputs)\n"
            ),
            "{text}"
        );
        assert!(text.contains("\nTriggers: none\n"), "{text}");
        assert!(text.contains("Data sources:\n  lists  Lists\n"), "{text}");
        assert!(
            text.ends_with(
                "Connection types:\n  api_key  API key (api_key)\n    FIELD    TYPE    REQUIRED  HELP\n    api_key  secret  yes\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn component_publish_answers() {
        let v = json!({"component_id": "cmp_1", "key": "hello-world", "version": "0.1.0",
            "sha256": "0123456789abcdef0123", "size_bytes": 1234});
        assert_eq!(component_published(&v, true), "published hello-world 0.1.0 (1234 bytes, sha256 0123456789ab)\n");
        assert_eq!(component_published(&v, false), "hello-world 0.1.0 was already published with these bytes\n");
        let table = component_table(&[json!({"key": "hello-world", "name": "Hello World", "latest_version": "0.1.0"})]);
        assert_eq!(table, "KEY          LATEST  NAME\nhello-world  0.1.0   Hello World\n");
    }
}
