//! Keeps the definition format's three descriptions in step: the reference page
//! (`docs/integration-format.md`), the JSON Schema (`schema/integration.schema.json`) and Weft's
//! own validation (`weft_model::validate`).
//!
//! Every ```yaml block of the reference page is a complete definition: it must satisfy the schema
//! and pass validation against a catalog of the built-in actions. Invalid documents must be
//! refused by both. The schema's vocabularies (variable types, error kinds, step kinds) must be
//! the model's, and the page must document each of them.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use weft_model::{
    ActionSpec, ErrorKind, InputSpec, InputType, OperationKind, SourceFormat, VarType, load_definition, parse_document,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn schema_value() -> Value {
    serde_json::from_str(&read("schema/integration.schema.json")).expect("the schema is JSON")
}

fn schema() -> jsonschema::Validator {
    jsonschema::validator_for(&schema_value()).expect("the schema compiles")
}

/// The ```yaml blocks of a markdown text, each with the line its first source line is on.
fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```yaml") => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.push(current.take().expect("open block")),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "unclosed ```yaml block");
    blocks
}

fn docs_examples() -> Vec<(usize, String)> {
    let blocks = yaml_blocks(&read("docs/integration-format.md"));
    assert!(blocks.len() >= 30, "expected a worked example per type, trigger and step kind, found {}", blocks.len());
    blocks
}

fn to_json(src: &str) -> Value {
    parse_document(src, SourceFormat::Yaml).unwrap_or_else(|d| panic!("not parsable YAML: {d:?}\n{src}")).value
}

/// Every schema violation of `doc`, as `<instance path>: <message>`.
fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn input(key: &str, input_type: InputType, required: bool) -> InputSpec {
    InputSpec { key: key.into(), input_type, required, description: String::new() }
}

fn action(name: &str, inputs: Vec<InputSpec>) -> ActionSpec {
    ActionSpec::new(name, "", inputs)
}

fn one_of(values: &[&str]) -> InputType {
    InputType::Enum(values.iter().map(|v| v.to_string()).collect())
}

/// The built-in actions as the `weft-components` crate declares them (copied here: this crate
/// cannot depend on that one).
fn catalog() -> Vec<ActionSpec> {
    use InputType::*;
    let formats = || one_of(&["json", "csv", "xml"]);
    let value = || input("value", Any, true);
    let tz = |required| input("timezone", String, required);
    vec![
        action(
            "http.request",
            vec![
                input("method", one_of(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]), false),
                input("url", String, true),
                input("headers", Object, false),
                input("query", Object, false),
                input("json", Any, false),
                input("body", String, false),
                input("timeout", Any, false),
                input("connection", Any, false),
                input("fail_on_status", Boolean, false),
                input("follow_redirects", Boolean, false),
                input("retry", Any, false),
            ],
        ),
        action(
            "data.parse",
            vec![
                input("format", formats(), true),
                input("text", String, true),
                input("header", Boolean, false),
                input("delimiter", String, false),
            ],
        ),
        action(
            "data.format",
            vec![
                input("format", formats(), true),
                input("value", Any, true),
                input("pretty", Boolean, false),
                input("header", Boolean, false),
                input("delimiter", String, false),
            ],
        ),
        action("datetime.now", vec![tz(false)]),
        action("datetime.parse", vec![value(), input("format", String, false), tz(false)]),
        action("datetime.format", vec![value(), input("format", String, true), tz(false)]),
        action("datetime.add", vec![value(), input("amount", Object, true), tz(false)]),
        action("datetime.convert", vec![value(), tz(true)]),
        action(
            "crypto.hash",
            vec![
                input("algorithm", one_of(&["md5", "sha1", "sha256", "sha512"]), true),
                input("value", String, true),
                input("encoding", one_of(&["hex", "base64"]), false),
            ],
        ),
        action(
            "crypto.hmac",
            vec![
                input("algorithm", one_of(&["sha1", "sha256", "sha512"]), true),
                input("key", String, true),
                input("key_encoding", one_of(&["utf8", "hex", "base64"]), false),
                input("value", String, true),
                input("encoding", one_of(&["hex", "base64"]), false),
            ],
        ),
        action("crypto.uuid", vec![input("version", Any, false)]),
        action("crypto.base64_encode", vec![input("value", String, true), input("url_safe", Boolean, false)]),
        action("crypto.base64_decode", vec![input("value", String, true), input("url_safe", Boolean, false)]),
        action(
            "log.write",
            vec![input("level", one_of(&["debug", "info", "warn", "error"]), false), input("message", String, true)],
        ),
        // Served by the worker (weft_components::state::state_specs).
        action("state.get", vec![input("key", String, true), scope(), input("default", Any, false)]),
        action("state.set", vec![input("key", String, true), input("value", Any, true), scope()]),
        action("state.delete", vec![input("key", String, true), scope()]),
        action("state.increment", vec![input("key", String, true), input("by", Number, false), scope()]),
        action(
            "state.compare_and_set",
            vec![input("key", String, true), input("expected", Any, true), input("value", Any, true), scope()],
        ),
        // The CRM example component (sdk/examples/crm) as published, for the examples of
        // dynamic picklists and component poll triggers.
        action(
            "acme-crm.create_contact",
            vec![
                input("connection", Any, true),
                input("name", String, true),
                input("email", String, true),
                input("list_id", String, true),
            ],
        ),
        action("acme-crm.new_contacts", vec![input("connection", Any, true)]).of_kind(OperationKind::Trigger),
        action("acme-crm.lists", vec![input("connection", Any, true)]).of_kind(OperationKind::DataSource),
        weft_model::ActionSpec {
            connection: Some(weft_model::ConnectionInfo { kind: "api_key".into(), oauth2: None }),
            ..action("acme-crm.api_key", vec![input("base_url", String, true), input("api_key", String, true)])
                .of_kind(OperationKind::Connection)
        },
    ]
}

fn scope() -> InputSpec {
    input("scope", one_of(&["instance", "flow", "customer"]), false)
}

#[test]
fn the_schema_is_a_valid_2020_12_schema() {
    let schema = schema_value();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("schema/integration.schema.json is not a valid JSON Schema: {e} at {}", e.instance_path());
    }
}

#[test]
fn every_docs_example_satisfies_the_schema() {
    let validator = schema();
    let mut failures = Vec::new();
    for (line, src) in docs_examples() {
        let errors = schema_errors(&validator, &to_json(&src));
        if !errors.is_empty() {
            failures.push(format!("docs/integration-format.md:{line}:\n  {}", errors.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "examples that do not satisfy the schema:\n{}", failures.join("\n"));
}

#[test]
fn every_docs_example_passes_validation() {
    let actions = catalog();
    let mut failures = Vec::new();
    for (line, src) in docs_examples() {
        if let Err(diags) = load_definition(&src, SourceFormat::Yaml, &actions) {
            let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            failures.push(format!("docs/integration-format.md:{line}:\n  {}", shown.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "examples that do not validate:\n{}", failures.join("\n"));
}

#[test]
fn docs_example_keys_are_unique() {
    let mut keys: Vec<String> =
        docs_examples().iter().map(|(_, src)| to_json(src)["key"].as_str().unwrap().to_string()).collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "two examples share an integration key (importing both would overwrite one)");
}

/// The reference example of the design (§3), as the reference page and `examples/` carry it.
fn reference_example() -> String {
    let docs = docs_examples();
    let (_, src) = docs
        .iter()
        .find(|(_, src)| src.starts_with("key: order-sync\n"))
        .expect("the docs carry the reference example");
    src.clone()
}

#[test]
fn the_reference_example_validates_and_matches_the_design() {
    let src = reference_example();
    // The design document lives beside the repository (shared/); where it is present, the copies
    // must not drift from it.
    let design = repo_root().join("../shared/DESIGN.md");
    if let Ok(text) = std::fs::read_to_string(&design) {
        let from_design = yaml_blocks(&text).into_iter().map(|(_, s)| s).find(|s| s.starts_with("key: order-sync\n"));
        assert_eq!(from_design.as_deref(), Some(src.as_str()), "docs/integration-format.md differs from DESIGN.md §3");
    }
    assert_eq!(
        read("examples/order-sync.yaml").trim_end(),
        src.trim_end(),
        "examples/order-sync.yaml differs from the docs"
    );

    assert_eq!(schema_errors(&schema(), &to_json(&src)), Vec::<String>::new());
    let (_, def) = load_definition(&src, SourceFormat::Yaml, &catalog()).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(def.key, "order-sync");
    let keys: Vec<&str> = def.config_vars().map(|v| v.key.as_str()).collect();
    assert_eq!(keys, ["endpoint", "min_total", "tags"]);

    // Its JSON form is the same document.
    let as_json = serde_json::to_string_pretty(&to_json(&src)).unwrap();
    let (_, from_json) = load_definition(&as_json, SourceFormat::Json, &catalog()).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(from_json, def);
}

#[test]
fn the_docs_show_a_real_validation_message() {
    // The page quotes the diagnostic a misspelt config variable in the reference example gives.
    let src = reference_example().replace("{{ config.endpoint }}/orders", "{{ config.endpiont }}/orders");
    let diags = load_definition(&src, SourceFormat::Yaml, &catalog()).unwrap_err();
    let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(read("docs/integration-format.md").contains(&shown[0]), "the docs should quote: {}", shown[0]);
}

/// Documents the schema must refuse, each with the instance path one of its errors must be at.
/// Weft's validation must refuse them too.
#[test]
fn invalid_documents_are_refused_by_schema_and_validation() {
    let flow = |steps: Value| json!({"key": "i", "name": "I", "flows": [{"key": "f", "trigger": {"manual": {}}, "steps": steps}]});
    let with_var = |var: Value| {
        json!({"key": "i", "name": "I", "config": [{"page": "P", "vars": [var]}],
               "flows": [{"key": "f", "trigger": {"manual": {}}, "steps": []}]})
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown step kind", flow(json!([{"key": "s", "email": "x"}])), "/flows/0/steps/0"),
        ("step without a kind", flow(json!([{"key": "s"}])), "/flows/0/steps/0"),
        ("two step kinds", flow(json!([{"key": "s", "transform": 1, "fail": "x"}])), "/flows/0/steps/0"),
        ("step without key", flow(json!([{"transform": 1}])), "/flows/0/steps/0"),
        (
            "integration without key",
            json!({"name": "I", "flows": [{"key": "f", "trigger": {"manual": {}}, "steps": []}]}),
            "",
        ),
        ("integration without flows", json!({"key": "i", "name": "I"}), ""),
        ("no flow at all", json!({"key": "i", "name": "I", "flows": []}), "/flows"),
        ("flow without trigger", json!({"key": "i", "name": "I", "flows": [{"key": "f", "steps": []}]}), "/flows/0"),
        ("bad integration key", json!({"key": "Order Sync", "name": "I", "flows": []}), "/key"),
        ("unknown top-level field", json!({"key": "i", "name": "I", "flows": [], "owner": "me"}), ""),
        ("bad variable type", with_var(json!({"key": "v", "type": "text"})), "/config/0/vars/0/type"),
        ("variable without type", with_var(json!({"key": "v"})), "/config/0/vars/0"),
        ("bad variable key", with_var(json!({"key": "Endpoint", "type": "string"})), "/config/0/vars/0/key"),
        ("picklist without options", with_var(json!({"key": "v", "type": "picklist"})), "/config/0/vars/0"),
        ("options on a string", with_var(json!({"key": "v", "type": "string", "options": ["a"]})), "/config/0/vars/0"),
        (
            "options and a data source",
            with_var(json!({"key": "v", "type": "picklist", "options": ["a"], "data_source": "acme-crm.lists"})),
            "/config/0/vars/0",
        ),
        (
            "a data source on a string",
            with_var(json!({"key": "v", "type": "string", "data_source": "acme-crm.lists"})),
            "/config/0/vars/0",
        ),
        (
            "poll with both action and trigger",
            json!({"key": "i", "name": "I", "flows": [{"key": "f", "trigger": {"poll": {
                "schedule": {"cron": "* * * * *"}, "trigger": "acme-crm.new_contacts",
                "action": "http.request", "items": "{{ output }}", "id": "{{ item.id }}"}}, "steps": []}]}),
            "/flows/0/trigger/poll",
        ),
        (
            "component poll trigger with a cursor expression",
            json!({"key": "i", "name": "I", "flows": [{"key": "f", "trigger": {"poll": {
                "schedule": {"cron": "* * * * *"}, "trigger": "acme-crm.new_contacts",
                "cursor": "{{ item.at }}"}}, "steps": []}]}),
            "/flows/0/trigger/poll",
        ),
        (
            "default of the wrong type",
            with_var(json!({"key": "v", "type": "number", "default": "ten"})),
            "/config/0/vars/0/default",
        ),
        (
            "secret with a default",
            with_var(json!({"key": "v", "type": "secret", "default": "hunter22"})),
            "/config/0/vars/0",
        ),
        (
            "two triggers",
            json!({"key": "i", "name": "I", "flows": [{"key": "f", "trigger": {"manual": {}, "webhook": {}}, "steps": []}]}),
            "/flows/0/trigger",
        ),
        (
            "bad webhook mode",
            json!({"key": "i", "name": "I", "flows": [{"key": "f", "trigger": {"webhook": {"mode": "later"}}, "steps": []}]}),
            "/flows/0/trigger/webhook/mode",
        ),
        (
            "schedule without cron",
            json!({"key": "i", "name": "I", "flows": [{"key": "f", "trigger": {"schedule": {"timezone": "UTC"}}, "steps": []}]}),
            "/flows/0/trigger/schedule",
        ),
        ("inputs without action", flow(json!([{"key": "s", "transform": 1, "inputs": {}}])), "/flows/0/steps/0"),
        ("steps without for_each", flow(json!([{"key": "s", "transform": 1, "steps": []}])), "/flows/0/steps/0"),
        (
            "for_each over a template",
            flow(json!([{"key": "s", "for_each": "x {{ a }}", "steps": []}])),
            "/flows/0/steps/0/for_each",
        ),
        (
            "zero concurrency",
            flow(json!([{"key": "s", "for_each": [1], "concurrency": 0, "steps": []}])),
            "/flows/0/steps/0/concurrency",
        ),
        ("branch without when", flow(json!([{"key": "s", "branch": [{"else": []}]}])), "/flows/0/steps/0/branch"),
        (
            "two elses",
            flow(json!([{"key": "s", "branch": [{"when": true, "steps": []}, {"else": []}, {"else": []}]}])),
            "/flows/0/steps/0/branch",
        ),
        (
            "respond status out of range",
            flow(json!([{"key": "s", "respond": {"status": 700}}])),
            "/flows/0/steps/0/respond/status",
        ),
        ("fail without message", flow(json!([{"key": "s", "fail": {"why": "x"}}])), "/flows/0/steps/0/fail"),
        (
            "retry without attempts",
            flow(json!([{"key": "s", "transform": 1, "retry": {"backoff": "1s"}}])),
            "/flows/0/steps/0/retry",
        ),
        (
            "retry on unknown kind",
            flow(json!([{"key": "s", "transform": 1, "retry": {"attempts": 2, "on": ["oops"]}}])),
            "/flows/0/steps/0/retry/on/0",
        ),
        ("bad timeout", flow(json!([{"key": "s", "transform": 1, "timeout": "soon"}])), "/flows/0/steps/0/timeout"),
        (
            "bad on_error",
            flow(json!([{"key": "s", "transform": 1, "on_error": "ignore"}])),
            "/flows/0/steps/0/on_error",
        ),
        ("bad step key", flow(json!([{"key": "1st", "transform": 1}])), "/flows/0/steps/0/key"),
        (
            "test on a string",
            with_var(json!({"key": "v", "type": "string", "test": {"action": "http.request"}})),
            "/config/0/vars/0",
        ),
        (
            "test without an action",
            with_var(json!({"key": "v", "type": "connection", "test": {"inputs": {}}})),
            "/config/0/vars/0/test",
        ),
        (
            "oauth2 on a string",
            with_var(json!({"key": "v", "type": "string", "oauth2": {"grant": "client_credentials",
                "token_url": "https://auth.example.com/token"}})),
            "/config/0/vars/0",
        ),
        (
            "authorization code without a client",
            with_var(json!({"key": "v", "type": "connection", "oauth2": {"grant": "authorization_code",
                "authorize_url": "https://auth.example.com/authorize", "token_url": "https://auth.example.com/token"}})),
            "/config/0/vars/0/oauth2",
        ),
        (
            "client credentials with an authorize URL",
            with_var(json!({"key": "v", "type": "connection", "oauth2": {"grant": "client_credentials",
                "authorize_url": "https://auth.example.com/authorize", "token_url": "https://auth.example.com/token"}})),
            "/config/0/vars/0/oauth2",
        ),
        (
            "relative token URL",
            with_var(json!({"key": "v", "type": "connection", "oauth2": {"grant": "client_credentials",
                "token_url": "/token"}})),
            "/config/0/vars/0/oauth2/token_url",
        ),
        (
            "unknown grant",
            with_var(json!({"key": "v", "type": "connection", "oauth2": {"grant": "password",
                "token_url": "https://auth.example.com/token"}})),
            "/config/0/vars/0/oauth2/grant",
        ),
    ];
    let validator = schema();
    let actions = catalog();
    let mut failures = Vec::new();
    for (name, doc, at) in cases {
        let errors: Vec<(String, String)> =
            validator.iter_errors(&doc).map(|e| (e.instance_path().to_string(), e.to_string())).collect();
        if !errors.iter().any(|(path, _)| path == at) {
            failures.push(format!("{name}: expected a schema error at `{at}`, got {errors:?}"));
        }
        let text = serde_json::to_string(&doc).unwrap();
        if load_definition(&text, SourceFormat::Json, &actions).is_ok() {
            failures.push(format!("{name}: validation accepted it"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn defs<'a>(schema: &'a Value, name: &str) -> &'a Value {
    &schema["$defs"][name]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().expect("a list").iter().map(|s| s.as_str().expect("a string").to_string()).collect()
}

#[test]
fn the_schema_speaks_the_models_vocabulary() {
    let schema = schema_value();
    let var_types = strings(&defs(&schema, "configVar")["properties"]["type"]["enum"]);
    assert_eq!(var_types, VarType::ALL.map(|t| t.name().to_string()));
    let kinds = strings(&defs(&schema, "errorKind")["enum"]);
    assert_eq!(kinds, ErrorKind::ALL.map(|k| k.name().to_string()));
    let step_kinds: Vec<String> = defs(&schema, "step")["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["required"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        step_kinds,
        ["action", "transform", "code", "branch", "for_each", "call_flow", "respond", "stop", "fail"]
    );
    let triggers: Vec<&String> = defs(&schema, "trigger")["properties"].as_object().unwrap().keys().collect();
    assert_eq!(triggers, ["webhook", "manual", "schedule", "poll"]);
}

#[test]
fn the_docs_cover_every_type_trigger_step_kind_and_action() {
    let docs = read("docs/integration-format.md");
    let examples: Vec<Value> = docs_examples().iter().map(|(_, src)| to_json(src)).collect();
    let all = Value::Array(examples.clone());
    let mut missing = Vec::new();

    for t in VarType::ALL {
        if !docs.contains(&format!("### `{}`", t.name())) {
            missing.push(format!("a section for config variable type `{}`", t.name()));
        }
        let used = examples.iter().any(|e| {
            e["config"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["vars"].as_array().into_iter().flatten().any(|v| v["type"] == t.name()))
        });
        if !used {
            missing.push(format!("an example with a `{}` variable", t.name()));
        }
    }
    for kind in ErrorKind::ALL {
        if !docs.contains(&format!("| `{}` |", kind.name())) {
            missing.push(format!("error kind `{}` in the error kinds table", kind.name()));
        }
    }
    for kind in ["action", "transform", "code", "branch", "for_each", "call_flow", "respond", "stop", "fail"] {
        if !docs.contains(&format!("### `{kind}`")) {
            missing.push(format!("a section for step kind `{kind}`"));
        }
        if !contains_key(&all, kind) {
            missing.push(format!("an example with a `{kind}` step"));
        }
    }
    for (trigger, mode) in [("webhook", Some("sync")), ("webhook", None), ("manual", None), ("schedule", None)] {
        let used = examples.iter().any(|e| {
            e["flows"].as_array().unwrap().iter().any(|f| match mode {
                Some(m) => f["trigger"][trigger]["mode"] == m,
                None => f["trigger"].get(trigger).is_some(),
            })
        });
        if !used {
            missing.push(format!("an example with a `{trigger}` trigger {mode:?}"));
        }
    }
    for option in ["retry", "timeout", "on_error"] {
        if !contains_key(&all, option) {
            missing.push(format!("an example with `{option}`"));
        }
    }
    for spec in catalog() {
        let (field, noun) = match spec.kind {
            OperationKind::Action => ("action", "action"),
            OperationKind::Trigger => ("trigger", "component poll trigger"),
            OperationKind::DataSource => ("name", "data source"),
            OperationKind::Connection => ("connection_type", "connection type"),
        };
        if !contains_pair(&all, field, &spec.name) {
            missing.push(format!("an example of {noun} `{}`", spec.name));
        }
    }
    assert!(missing.is_empty(), "docs/integration-format.md lacks:\n{}", missing.join("\n"));
}

fn contains_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.contains_key(key) || m.values().any(|x| contains_key(x, key)),
        Value::Array(items) => items.iter().any(|x| contains_key(x, key)),
        _ => false,
    }
}

fn contains_pair(v: &Value, key: &str, value: &str) -> bool {
    match v {
        Value::Object(m) => {
            m.get(key).and_then(Value::as_str) == Some(value) || m.values().any(|x| contains_pair(x, key, value))
        }
        Value::Array(items) => items.iter().any(|x| contains_pair(x, key, value)),
        _ => false,
    }
}

#[test]
fn the_docs_state_the_expression_limits() {
    let docs = read("docs/integration-format.md");
    let fuel = weft_model::expr::FUEL_PER_EVALUATION.to_string();
    let fuel = format!("{},{}", &fuel[..fuel.len() - 3], &fuel[fuel.len() - 3..]);
    assert!(docs.contains(&format!("{fuel} instructions (`FUEL_PER_EVALUATION`)")), "fuel limit {fuel} not documented");
    let mib = weft_model::expr::MAX_VALUE_BYTES >> 20;
    assert_eq!(mib << 20, weft_model::expr::MAX_VALUE_BYTES);
    assert!(docs.contains(&format!("{mib} MiB\n(`MAX_VALUE_BYTES`")), "size limit {mib} MiB not documented");
}
