//! Definition parsing and validation, tested at the boundary: a document goes in, and either the
//! typed definition or the exact list of diagnostics (path, line, column, message) comes out.

use serde_json::json;
use weft_model::{
    ActionSpec, ConnectionInfo, Diagnostic, InputSpec, InputType, IntegrationDef, OAuth2Endpoints, OnError,
    OperationKind, PollSource, SourceFormat, StepKind, Trigger, WebhookMode, definition_from_json, load_definition,
};

const ORDER_SYNC: &str = include_str!("fixtures/order-sync.yaml");

/// The catalog the tests validate against: `http.request` as the components crate defines it,
/// and a small `log.write`.
fn catalog() -> Vec<ActionSpec> {
    let input = |key: &str, input_type: InputType, required: bool| InputSpec {
        key: key.into(),
        input_type,
        required,
        description: String::new(),
    };
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map(String::from).to_vec();
    vec![
        ActionSpec {
            kind: OperationKind::Action,
            name: "http.request".into(),
            description: "Sends an HTTP request.".into(),
            inputs: vec![
                input("method", InputType::Enum(methods), false),
                input("url", InputType::String, true),
                input("headers", InputType::Object, false),
                input("query", InputType::Object, false),
                input("json", InputType::Any, false),
                input("body", InputType::String, false),
                input("timeout", InputType::Any, false),
                input("connection", InputType::Any, false),
                input("fail_on_status", InputType::Boolean, false),
                input("follow_redirects", InputType::Boolean, false),
                input("retry", InputType::Any, false),
            ],
            connection: None,
        },
        ActionSpec {
            kind: OperationKind::Action,
            name: "log.write".into(),
            description: "Writes a log line.".into(),
            inputs: vec![
                input("level", InputType::Enum(["debug", "info", "warn", "error"].map(String::from).to_vec()), false),
                input("message", InputType::String, true),
            ],
            connection: None,
        },
        // A custom component's poll trigger and data source.
        ActionSpec::new("crm.new", "New contacts.", vec![input("connection", InputType::Any, true)])
            .of_kind(OperationKind::Trigger),
        ActionSpec::new("crm.lists", "Contact lists.", vec![input("connection", InputType::Any, true)])
            .of_kind(OperationKind::DataSource),
        // Its connection types: an API key, and OAuth.
        ActionSpec {
            connection: Some(ConnectionInfo { kind: "api_key".into(), oauth2: None }),
            ..ActionSpec::new("crm.key", "", vec![input("api_key", InputType::String, true)])
                .of_kind(OperationKind::Connection)
        },
        ActionSpec {
            connection: Some(ConnectionInfo {
                kind: "oauth2_authorization_code".into(),
                oauth2: Some(OAuth2Endpoints {
                    authorize_url: Some("https://crm.example/oauth/authorize".into()),
                    token_url: "https://crm.example/oauth/token".into(),
                    scopes: vec!["contacts".into()],
                }),
            }),
            ..ActionSpec::new("crm.oauth", "", vec![]).of_kind(OperationKind::Connection)
        },
    ]
}

/// Removes the indentation common to all lines and the first line break, so test documents can
/// be written indented; line 1 is the first line after the opening quote.
fn dedent(src: &str) -> String {
    let src = src.strip_prefix('\n').unwrap_or(src);
    let indent =
        src.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    src.lines().map(|l| if l.len() >= indent { &l[indent..] } else { "" }).collect::<Vec<_>>().join("\n") + "\n"
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| {
            let path = if d.path.is_empty() { "<document>" } else { &d.path };
            match (d.line, d.column) {
                (Some(l), Some(c)) => format!("{path} ({l}:{c}): {}", d.message),
                _ => format!("{path}: {}", d.message),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Loads a document and compares every diagnostic, one per line, with `expected` (empty: the
/// document is valid).
fn check_format(src: &str, format: SourceFormat, expected: &str) {
    let actual = match load_definition(&dedent(src), format, &catalog()) {
        Ok(_) => String::new(),
        Err(diags) => render(&diags),
    };
    let expected = dedent(expected);
    assert_eq!(actual.trim(), expected.trim(), "\n--- actual ---\n{actual}\n");
}

fn check(src: &str, expected: &str) {
    check_format(src, SourceFormat::Yaml, expected);
}

fn load(src: &str) -> IntegrationDef {
    match load_definition(&dedent(src), SourceFormat::Yaml, &catalog()) {
        Ok((_, def)) => def,
        Err(diags) => panic!("expected a valid definition:\n{}", render(&diags)),
    }
}

#[test]
fn reference_example_validates() {
    check(ORDER_SYNC, "");
    let def = load(ORDER_SYNC);
    assert_eq!(def.key, "order-sync");
    let vars: Vec<_> = def.config_vars().map(|v| v.key.as_str()).collect();
    assert_eq!(vars, ["endpoint", "min_total", "tags"]);
    assert_eq!(def.config_vars().nth(1).unwrap().default, Some(json!(100)));
    assert_eq!(def.config_vars().nth(2).unwrap().default, Some(json!(["weft"])));
    let flow = def.flow("new-order").unwrap();
    assert!(matches!(&flow.trigger, Trigger::Webhook(w) if w.mode == WebhookMode::Sync));
    let keys: Vec<_> = flow.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["lines", "total", "decide"]);
    let StepKind::ForEach { items, steps, concurrency } = &flow.steps[0].kind else { panic!("lines is a for_each") };
    assert_eq!(items, &json!("{{ trigger.body.lines }}"));
    assert_eq!((steps.len(), *concurrency), (1, None));
    let StepKind::Branch { arms, otherwise } = &flow.steps[2].kind else { panic!("decide is a branch") };
    assert_eq!(arms.len(), 1);
    let StepKind::Action { action, inputs } = &arms[0].steps[0].kind else { panic!("forward is an action") };
    assert_eq!(action, "http.request");
    assert_eq!(inputs["method"], json!("POST"));
    assert_eq!(otherwise.as_ref().unwrap()[0].kind, StepKind::Transform(json!({"skipped": true})));
    assert_eq!(flow.result.as_ref().unwrap()["forwarded"], json!("{{ steps.forward is defined }}"));
}

#[test]
fn reference_example_as_json() {
    let (doc, yaml_def) = load_definition(ORDER_SYNC, SourceFormat::Yaml, &catalog()).unwrap();
    let json_src = serde_json::to_string_pretty(&doc.value).unwrap();
    let (json_doc, json_def) = load_definition(&json_src, SourceFormat::Json, &catalog()).unwrap();
    assert_eq!(json_def, yaml_def);
    let pretty_line = json_src.lines().position(|l| l.contains("map(attribute")).unwrap() as u32 + 1;
    assert_eq!(json_doc.position("flows[0].steps[1].transform"), Some((pretty_line, 24)));
    // Stored versions are re-loaded from their JSON value.
    assert_eq!(definition_from_json(&doc.value, &catalog()).unwrap(), yaml_def);
}

#[test]
fn json_documents_get_positions() {
    check_format(
        r#"
        {
          "key": "t",
          "name": "T",
          "flows": [
            {"key": "f", "trigger": {"manual": {}}, "steps": [
              {"key": "a", "actoin": "http.request"}
            ]}
          ]
        }
        "#,
        SourceFormat::Json,
        r#"
        flows[0].steps[0] (6:7): unknown step kind: expected exactly one of action, transform, code, branch, for_each, call_flow, respond, stop, fail
        flows[0].steps[0].actoin (6:20): unknown field `actoin` (allowed: key, action, inputs, transform, code, branch, for_each, steps, concurrency, call_flow, input, respond, stop, fail, retry, timeout, on_error)
        "#,
    );
    check_format(
        r#"{"key": "t", "name": "T",}"#,
        SourceFormat::Json,
        r#"
        <document> (1:26): invalid JSON: trailing comma
        "#,
    );
}

#[test]
fn stored_json_is_checked_without_positions() {
    let diags = definition_from_json(&json!({"key": "t", "flows": []}), &catalog()).unwrap_err();
    assert_eq!(render(&diags), "name: missing required field `name`\nflows: an integration needs at least one flow");
}

#[test]
fn yaml_syntax_error() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}
            steps: []
        "#,
        r#"
        <document> (6:5): invalid YAML: invalid indentation in flow construct
        "#,
    );
}

#[test]
fn duplicate_keys() {
    check(
        r#"
        key: t
        name: T
        config:
          - page: Settings
            vars:
              - key: url
                type: string
                type: number
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: 1
                key: b
        "#,
        r#"
        config[0].vars[0].type (8:9): duplicate key `type` (first at line 7, column 9)
        flows[0].steps[0].key (15:9): duplicate key `key` (first at line 13, column 9)
        "#,
    );
}

#[test]
fn unknown_top_level_field() {
    check(
        r#"
        key: t
        name: T
        version: 2
        flows:
          - key: f
            trigger: {manual: {}}
            steps: []
        "#,
        r#"
        version (3:1): unknown field `version` (allowed: key, name, description, config, flows)
        "#,
    );
}

#[test]
fn missing_key_and_name() {
    check(
        r#"
        description: nothing else
        flows:
          - trigger: {manual: {}}
            steps: []
        "#,
        r#"
        key (1:1): missing required field `key`
        name (1:1): missing required field `name`
        flows[0].key (3:5): missing required field `key`
        "#,
    );
}

#[test]
fn bad_key_patterns() {
    check(
        r#"
        key: Order Sync
        name: T
        config:
          - page: P
            vars:
              - key: Endpoint
                type: string
        flows:
          - key: -f
            trigger: {manual: {}}
            steps:
              - key: 1st
                transform: 1
        "#,
        r#"
        key (1:6): invalid key `Order Sync`: use 1 to 63 lowercase letters, digits, `-` or `_`, starting with a letter or digit
        config[0].vars[0].key (6:14): invalid config variable key `Endpoint`: use lowercase letters, digits and `_`, not starting with a digit
        flows[0].key (9:10): invalid flow key `-f`: use 1 to 63 lowercase letters, digits, `-` or `_`, starting with a letter or digit
        flows[0].steps[0].key (12:14): invalid step key `1st`: use letters, digits, `_` or `-`, starting with a letter or `_`
        "#,
    );
}

#[test]
fn no_flows() {
    check(
        "key: t\nname: T\nflows: []\n",
        r#"
        flows (3:8): an integration needs at least one flow
        "#,
    );
    check(
        "key: t\nname: T\n",
        r#"
        flows (1:1): missing required field `flows` (an integration needs at least one flow)
        "#,
    );
}

#[test]
fn duplicate_flow_keys() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps: []
          - key: f
            trigger: {manual: {}}
            steps: []
        "#,
        r#"
        flows[1].key (7:10): duplicate flow key `f` (first used at flows[0])
        "#,
    );
}

#[test]
fn duplicate_step_keys_also_nested() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: 1
              - key: loop
                for_each: [1, 2]
                steps:
                  - key: a
                    transform: 2
              - key: loop
                transform: 3
        "#,
        r#"
        flows[0].steps[1].steps[0].key (12:18): duplicate step key `a` (first used at flows[0].steps[0]); step keys are unique within a flow
        flows[0].steps[2].key (14:14): duplicate step key `loop` (first used at flows[0].steps[1]); step keys are unique within a flow
        "#,
    );
}

#[test]
fn unknown_step_kind() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                actoin: http.request
        "#,
        r#"
        flows[0].steps[0] (7:9): unknown step kind: expected exactly one of action, transform, code, branch, for_each, call_flow, respond, stop, fail
        flows[0].steps[0].actoin (8:9): unknown field `actoin` (allowed: key, action, inputs, transform, code, branch, for_each, steps, concurrency, call_flow, input, respond, stop, fail, retry, timeout, on_error)
        "#,
    );
}

#[test]
fn two_step_kinds() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: 1
                fail: "no"
        "#,
        r#"
        flows[0].steps[0].fail (9:9): a step has exactly one kind, found both `transform` and `fail`
        "#,
    );
}

#[test]
fn unknown_action() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                action: htp.request
                inputs: {url: "http://x"}
        "#,
        r#"
        flows[0].steps[0].action (8:17): unknown action `htp.request` (known: http.request, log.write)
        "#,
    );
}

#[test]
fn unknown_action_input_and_missing_required_input() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                action: http.request
                inputs:
                  urll: "http://x"
              - key: b
                action: log.write
        "#,
        r#"
        flows[0].steps[0].inputs.urll (10:11): unknown input `urll` for action `http.request` (known: method, url, headers, query, json, body, timeout, connection, fail_on_status, follow_redirects, retry)
        flows[0].steps[0].inputs.url (10:11): missing required input `url` of action `http.request`
        flows[0].steps[1].inputs.message (11:9): missing required input `message` of action `log.write`
        "#,
    );
}

#[test]
fn literal_input_type_mismatch() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                action: http.request
                inputs:
                  method: FETCH
                  url: 42
                  headers: "{{ trigger.headers }}"
                  fail_on_status: "no"
                  query: [a, b]
        "#,
        r#"
        flows[0].steps[0].inputs.method (10:19): input `method` of `http.request` expects one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, found "FETCH"
        flows[0].steps[0].inputs.url (11:16): input `url` of `http.request` expects a string, found 42
        flows[0].steps[0].inputs.fail_on_status (13:27): input `fail_on_status` of `http.request` expects a boolean, found "no"
        flows[0].steps[0].inputs.query (14:18): input `query` of `http.request` expects an object, found a list
        "#,
    );
}

#[test]
fn reference_to_a_later_step_and_to_itself() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: "{{ steps.b.output }}"
              - key: b
                transform: "{{ steps.b.output + 1 }}"
              - key: c
                transform: "{{ steps.nope.output }}"
        "#,
        r#"
        flows[0].steps[0].transform (8:20): `steps.b` refers to step `b`, which runs later
        flows[0].steps[1].transform (10:20): `steps.b` refers to step `b` itself; its output exists only once it has finished
        flows[0].steps[2].transform (12:20): `steps.nope` refers to no step of this flow (steps: a, b, c)
        "#,
    );
}

#[test]
fn steps_inside_a_for_each_are_not_visible_outside() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: lines
                for_each: "{{ trigger.body.lines }}"
                steps:
                  - key: line
                    transform: "{{ item.qty }}"
                  - key: again
                    transform: "{{ steps.line.output }} {{ steps.lines.output }}"
              - key: total
                transform: "{{ steps.line.output }}"
            result: "{{ steps.lines.output }}"
        "#,
        r#"
        flows[0].steps[0].steps[1].transform (13:24): `steps.lines` refers to the enclosing step `lines`, which has not finished yet
        flows[0].steps[1].transform (15:20): `steps.line` refers to step `line` inside for_each `lines`, which is not visible outside the loop; use `steps.lines.output` (the list of each iteration's last output)
        "#,
    );
}

#[test]
fn branch_steps_are_visible_later_but_not_across_arms() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: decide
                branch:
                  - when: "{{ trigger.body.big }}"
                    steps:
                      - key: big
                        transform: 1
                  - else:
                      - key: small
                        transform: "{{ steps.big.output }}"
              - key: after
                transform: "{{ steps.big is defined and steps.small is defined }}"
            result:
              x: "{{ steps.big.output | default(steps.small.output) }}"
        "#,
        r#"
        flows[0].steps[0].branch[1].else[0].transform (15:28): `steps.big` refers to step `big`, which is in another arm of branch `decide` and cannot have run before this point
        "#,
    );
}

#[test]
fn item_outside_for_each_and_error_outside_on_error() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: "{{ item.sku }} #{{ index }}"
              - key: b
                action: log.write
                inputs:
                  message: "{{ error.message }}"
                on_error:
                  steps:
                    - key: handler
                      action: log.write
                      inputs: {message: "{{ error.message }}", level: error}
        "#,
        r#"
        flows[0].steps[0].transform (8:20): `item` is only defined inside the steps of a `for_each`
        flows[0].steps[0].transform (8:20): `index` is only defined inside the steps of a `for_each`
        flows[0].steps[1].inputs.message (12:20): `error` is only defined inside `on_error` steps
        "#,
    );
}

#[test]
fn unknown_config_variable_and_names() {
    check(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - {key: endpoint, type: string}
              - {key: min_total, type: number}
              - {key: tags, type: json}
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform:
                  url: "{{ config.endpoit }}"
                  who: "{{ customr.name }}"
                  body: "{{ trigger.bdy }}"
                  ok: "{{ config.tags | tojson }} {{ instance.id }} {{ range(3) | list }}"
        "#,
        r#"
        flows[0].steps[0].transform.url (15:16): `config.endpoit` is not a config variable (known: endpoint, min_total, tags)
        flows[0].steps[0].transform.who (16:16): unknown name `customr` (known: trigger, config, steps, item, index, instance, customer, execution, error)
        flows[0].steps[0].transform.body (17:17): `trigger.bdy` is not a trigger field (known: body, headers, query, method, raw)
        "#,
    );
}

#[test]
fn unparsable_expression() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform:
                  x: ["{{ 1 + }}", "{{ trigger.body"]
        "#,
        r#"
        flows[0].steps[0].transform.x[0] (9:15): cannot parse expression `1 +`: unexpected end of input, expected expression
        flows[0].steps[0].transform.x[1] (9:28): unclosed `{{`: expected `}}`
        "#,
    );
}

#[test]
fn bad_config_variables() {
    check(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - key: a
                type: text
              - key: b
                type: number
                default: "ten"
                minimum: 0
              - key: c
                type: picklist
              - key: d
                type: boolean
                default: yes
              - key: e
                type: string
                maximum: 3
              - key: a
                type: date
                default: 2024-02-30
          - page: Q
            vars:
              - key: f
                type: picklist
                options: [red, green]
                default: blue
              - key: g
                type: secret
                default: hunter2
        flows:
          - key: f
            trigger: {manual: {}}
            steps: []
        "#,
        r#"
        config[0].vars[0].type (7:15): unknown type `text` (known: string, number, boolean, picklist, json, schedule, connection, secret, key_value_list, date)
        config[0].vars[1].default (10:18): default does not fit type number: expected a number, found a string
        config[0].vars[2].options (12:9): a picklist needs `options` (the list of values to choose from) or a `data_source` that lists them
        config[0].vars[3].default (16:18): default does not fit type boolean: expected true or false, found a string
        config[0].vars[4].maximum (19:9): `maximum` is only allowed for number variables, not string
        config[0].vars[5].key (20:14): duplicate config variable `a` (first declared at config[0].vars[0])
        config[0].vars[5].default (22:18): default does not fit type date: 2024-02-30 is not a calendar date (February 2024 has 29 days)
        config[1].vars[0].default (28:18): default does not fit type picklist: "blue" is not one of the options ("red", "green")
        config[1].vars[1].default (31:18): a secret variable cannot have a default (definitions are not a safe place for secrets)
        "#,
    );
}

#[test]
fn bad_durations_and_retries() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: 1
                timeout: 5 minutes
              - key: b
                transform: 1
                timeout: 0
                retry:
                  attempts: 0
                  backoff: 1d
                  factor: 0.5
                  on: [timeout, teapot]
              - key: c
                transform: 1
                retry: {backoff: 1s}
        "#,
        r#"
        flows[0].steps[0].timeout (9:18): invalid duration "5 minutes": expected a duration such as "500ms", "30s", "5m", "2h" or a whole number of seconds
        flows[0].steps[1].timeout (12:18): `timeout` must be longer than zero
        flows[0].steps[1].retry.attempts (14:21): `attempts` must be a whole number of at least 1 (the first try counts), found 0
        flows[0].steps[1].retry.backoff (15:20): invalid duration "1d": expected a duration such as "500ms", "30s", "5m", "2h" or a whole number of seconds
        flows[0].steps[1].retry.factor (16:19): `factor` must be a number of at least 1, found 0.5
        flows[0].steps[1].retry.on[1] (17:25): unknown error kind `teapot` (known: timeout, connection, rate_limited, server_error, http_status, egress_denied, input, expression, limit, failed, component)
        flows[0].steps[2].retry.attempts (20:16): missing required field `attempts`
        "#,
    );
}

#[test]
fn bad_on_error() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                transform: 1
                on_error: ignore
              - key: b
                transform: 1
                on_error: {step: []}
        "#,
        r#"
        flows[0].steps[0].on_error (9:19): invalid on_error "ignore": expected `fail`, `continue` or a mapping with `steps`
        flows[0].steps[1].on_error.steps (12:19): missing required field `steps`
        flows[0].steps[1].on_error.step (12:20): unknown field `step` (allowed: steps)
        "#,
    );
}

#[test]
fn bad_branches() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                branch:
                  - else: []
                  - when: "{{ true }}"
                    steps: []
              - key: b
                branch:
                  - else: []
              - key: c
                branch: []
        "#,
        r#"
        flows[0].steps[0].branch[0] (9:13): `else` must be the last entry of a branch
        flows[0].steps[1].branch (14:11): a branch needs at least one `when` entry
        flows[0].steps[2].branch (16:17): a branch needs at least one `when` entry
        "#,
    );
}

#[test]
fn bad_call_flow() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                call_flow: g
              - key: b
                call_flow: f
              - key: c
                call_flow: other
                input: {id: "{{ steps.b.output }}"}
          - key: other
            trigger: {manual: {}}
            steps: []
        "#,
        r#"
        flows[0].steps[0].call_flow (8:20): unknown flow `g` (flows: f, other)
        flows[0].steps[1].call_flow (10:20): flow `f` cannot call itself
        "#,
    );
}

#[test]
fn respond_status_out_of_range() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {webhook: {mode: sync}}
            steps:
              - key: a
                respond: {status: 700, body: "{{ trigger.body }}"}
              - key: b
                respond: {status: "{{ 200 + 1 }}", headers: [x]}
        "#,
        r#"
        flows[0].steps[0].respond.status (8:27): `status` must be a whole number from 100 to 599, found 700
        flows[0].steps[1].respond.headers (10:53): expected a mapping of header names to values, found a list
        "#,
    );
}

#[test]
fn for_each_over_a_literal_and_concurrency_zero() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: a
                for_each: "lines"
                steps: []
              - key: b
                for_each: "{{ trigger.body.lines }}"
                concurrency: 0
                steps: []
              - key: c
                for_each: "x {{ trigger.body.lines }}"
                steps: []
              - key: d
                transform: 1
                steps: []
        "#,
        r#"
        flows[0].steps[0].for_each (8:19): `for_each` expects a list, found a string
        flows[0].steps[1].concurrency (12:22): `concurrency` must be a whole number of at least 1, found 0
        flows[0].steps[2].for_each (15:19): `for_each` expects a list, but "x {{ trigger.body.lines }}" is a template, which yields a string; write a single `{{ … }}` expression
        flows[0].steps[3].steps (19:9): `steps` is only allowed with `for_each` (branch arms and on_error have their own `steps`)
        "#,
    );
}

#[test]
fn bad_triggers() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: a
            trigger: {cron: {}}
            steps: []
          - key: b
            trigger:
              webhook: {mode: later}
            steps: []
          - key: c
            trigger:
              schedule: {cron: "61 * * * *", timezone: Mars/Olympus}
            steps: []
          - key: d
            trigger: {manual: {}, webhook: {}}
            steps: []
          - key: e
            trigger:
              schedule: {cron: "{{ config.when }} {{ steps.x.output }}"}
            steps: []
        "#,
        r#"
        flows[0].trigger.cron (5:15): unknown trigger `cron` (expected exactly one of webhook, manual, schedule, poll)
        flows[1].trigger.webhook.mode (9:23): invalid webhook mode "later": expected sync or async
        flows[2].trigger.schedule.cron (13:24): invalid cron expression "61 * * * *": minute field `61`: 61 is out of range 0-59
        flows[2].trigger.schedule.timezone (13:48): unknown time zone `Mars/Olympus` (use an IANA name such as Europe/Berlin, or UTC)
        flows[3].trigger.webhook (16:27): a flow has exactly one trigger, found both `manual` and `webhook`
        flows[4].trigger.schedule.cron (20:24): `config.when` is not a config variable (no config variables are declared)
        flows[4].trigger.schedule.cron (20:24): a schedule can only use `config`, `instance` and `customer`, not `steps`
        "#,
    );
}

#[test]
fn every_problem_is_reported_together() {
    check(
        r#"
        key: Bad Key
        flows:
          - key: f
            trigger: {webhook: {mode: sync}}
            steps:
              - key: fetch
                action: http.request
                inputs:
                  method: FETCH
                  url: "{{ config.endpoint }}/x"
              - key: fetch
                transform: "{{ steps.later.output }}"
              - key: later
                for_each: 12
                steps: []
                retry: {attempts: 0}
        "#,
        r#"
        name (1:1): missing required field `name`
        key (1:6): invalid key `Bad Key`: use 1 to 63 lowercase letters, digits, `-` or `_`, starting with a letter or digit
        flows[0].steps[0].inputs.method (9:19): input `method` of `http.request` expects one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, found "FETCH"
        flows[0].steps[0].inputs.url (10:16): `config.endpoint` is not a config variable (no config variables are declared)
        flows[0].steps[1].key (11:14): duplicate step key `fetch` (first used at flows[0].steps[0]); step keys are unique within a flow
        flows[0].steps[1].transform (12:20): `steps.later` refers to step `later`, which runs later
        flows[0].steps[2].for_each (14:19): `for_each` expects a list, found a number
        flows[0].steps[2].retry.attempts (16:27): `attempts` must be a whole number of at least 1 (the first try counts), found 0
        "#,
    );
}

#[test]
fn every_step_kind_and_option_validates() {
    let def = load(
        r#"
        key: all-kinds
        name: All kinds
        config:
          - page: Main
            vars:
              - {key: schedule, type: schedule, default: "0 * * * *"}
              - {key: level, type: picklist, options: [info, warn], default: info}
        flows:
          - key: main
            trigger:
              schedule: {cron: "{{ config.schedule }}", timezone: Europe/Berlin}
            steps:
              - key: call
                action: http.request
                inputs: {url: "https://example.com", method: GET, fail_on_status: false}
                timeout: 500ms
                retry: {attempts: 3, backoff: 2s, factor: 1.5, max_backoff: 1m, on: [timeout, rate_limited]}
                on_error:
                  steps:
                    - key: log_error
                      action: log.write
                      inputs: {level: "{{ config.level }}", message: "failed: {{ error.message }}"}
              - key: each
                for_each: "{{ steps.call.output.body.items }}"
                concurrency: 4
                steps:
                  - key: sub
                    call_flow: helper
                    input: {item: "{{ item }}", at: "{{ index }}"}
                on_error: continue
              - key: reply
                respond: {status: 202, headers: {x-count: "{{ steps.each.output | length }}"}}
              - key: done
                stop: {result: "{{ steps.log_error is defined }}"}
          - key: helper
            trigger: {manual: {}}
            steps:
              - key: boom
                fail: "bad item {{ trigger.body.item }}"
              - key: end
                stop:
        "#,
    );
    let main = def.flow("main").unwrap();
    assert_eq!(
        main.trigger,
        Trigger::Schedule { cron: "{{ config.schedule }}".into(), timezone: Some("Europe/Berlin".into()) }
    );
    let call = &main.steps[0];
    assert_eq!(call.timeout, Some(std::time::Duration::from_millis(500)));
    let retry = call.retry.as_ref().unwrap();
    assert_eq!((retry.attempts, retry.initial, retry.factor), (3, std::time::Duration::from_secs(2), 1.5));
    assert_eq!(retry.max, std::time::Duration::from_secs(60));
    assert_eq!(retry.on, [weft_model::ErrorKind::Timeout, weft_model::ErrorKind::RateLimited]);
    assert!(matches!(&call.on_error, OnError::Steps(s) if s[0].key == "log_error"));
    assert!(matches!(main.steps[1].kind, StepKind::ForEach { concurrency: Some(4), .. }));
    assert_eq!(main.steps[1].on_error, OnError::Continue);
    assert!(matches!(&main.steps[2].kind, StepKind::Respond { status, .. } if status == &json!(202)));
    let helper = def.flow("helper").unwrap();
    assert_eq!(helper.steps[1].kind, StepKind::Stop { result: None });
}

#[test]
fn hyphenated_step_keys_need_subscripts() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {}}
            steps:
              - key: get-order
                transform: {id: 1}
              - key: a
                transform: "{{ steps['get-order'].output.id }}"
              - key: b
                transform: "{{ steps.get-order.output.id }}"
        "#,
        r#"
        flows[0].steps[2].transform (12:20): unknown name `order` (known: trigger, config, steps, item, index, instance, customer, execution, error)
        flows[0].steps[2].transform (12:20): `steps.get` refers to no step of this flow (steps: get-order, a, b); a key with `-` is written `steps['get-order']`
        "#,
    );
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger: {manual: {x: 1}}
            steps: []
        "#,
        r#"
        flows[0].trigger.manual.x (5:24): unknown field `x` (no fields are allowed here)
        "#,
    );
}

#[test]
fn poll_triggers() {
    let def = load(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - {key: endpoint, type: string}
        flows:
          - key: f
            trigger:
              poll:
                schedule: {cron: "*/5 * * * *", timezone: Europe/Berlin}
                action: http.request
                inputs: {url: "{{ config.endpoint }}/records", query: {since: "{{ cursor }}"}}
                items: "{{ output.body.records }}"
                id: "{{ item.id }}"
                cursor: "{{ item.updated_at }}"
                batch: true
            steps:
              - key: a
                transform: "{{ trigger.body }}"
        "#,
    );
    let Trigger::Poll(p) = &def.flow("f").unwrap().trigger else { panic!("a poll trigger") };
    assert_eq!((p.cron.as_str(), p.timezone.as_deref()), ("*/5 * * * *", Some("Europe/Berlin")));
    let PollSource::Action { action, items } = &p.source else { panic!("an action poll") };
    assert_eq!(action, "http.request");
    assert_eq!(p.inputs["query"], json!({"since": "{{ cursor }}"}));
    assert_eq!(items, &json!("{{ output.body.records }}"));
    assert_eq!(
        (p.id.clone(), p.cursor.clone(), p.batch),
        (Some(json!("{{ item.id }}")), Some(json!("{{ item.updated_at }}")), true)
    );
    // Each expression sees its own name only; the cron is checked as for schedules.
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger:
              poll:
                schedule: {cron: "61 * * * *", timezone: Mars/Base}
                action: http.request
                inputs: {url: "{{ item.url }}", query: {since: "{{ cursor }}"}, verb: GET}
                items: "{{ cursor }}"
                id: "{{ output.id }}"
                cursor: "{{ item.updated_at }}"
            steps: []
        "#,
        r#"
        flows[0].trigger.poll.schedule.cron (7:26): invalid cron expression "61 * * * *": minute field `61`: 61 is out of range 0-59
        flows[0].trigger.poll.schedule.timezone (7:50): unknown time zone `Mars/Base` (use an IANA name such as Europe/Berlin, or UTC)
        flows[0].trigger.poll.inputs.url (9:23): this poll trigger expression can only use `config`, `instance`, `customer` and `cursor`, not `item`
        flows[0].trigger.poll.inputs.verb (9:73): unknown input `verb` for action `http.request` (known: method, url, headers, query, json, body, timeout, connection, fail_on_status, follow_redirects, retry)
        flows[0].trigger.poll.items (10:16): this poll trigger expression can only use `config`, `instance`, `customer` and `output`, not `cursor`
        flows[0].trigger.poll.id (11:13): this poll trigger expression can only use `config`, `instance`, `customer` and `item`, not `output`
        "#,
    );
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger:
              poll:
                schedule: {cron: "* * * * *"}
                action: nope.nothing
                items: [1, 2]
                batch: "yes"
                every: 5
            steps: []
        "#,
        r#"
        flows[0].trigger.poll (7:9): a poll trigger needs `id` or `cursor` (or both) to tell new records from ones already emitted
        flows[0].trigger.poll.action (8:17): unknown action `nope.nothing` (known: http.request, log.write)
        flows[0].trigger.poll.items (9:16): `items` must be a single `{{ … }}` expression over `output` giving a list, found a list
        flows[0].trigger.poll.batch (10:16): expected true or false, found "yes"
        flows[0].trigger.poll.every (11:9): unknown field `every` (allowed: schedule, action, trigger, inputs, items, id, cursor, batch)
        "#,
    );
}

#[test]
fn component_poll_triggers() {
    let def = load(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - {key: crm, type: connection, required: true}
        flows:
          - key: f
            trigger:
              poll:
                schedule: {cron: "*/5 * * * *"}
                trigger: crm.new
                inputs: {connection: "{{ config.crm }}"}
            steps:
              - key: a
                transform: "{{ trigger.body }}"
        "#,
    );
    let Trigger::Poll(p) = &def.flow("f").unwrap().trigger else { panic!("a poll trigger") };
    assert_eq!(p.source, PollSource::Trigger("crm.new".into()));
    assert_eq!((p.id.as_ref(), p.cursor.as_ref()), (None, None), "a component trigger needs neither");
    assert!(def.actions_used().contains("crm.new"), "the trigger's component is pinned at publish");
    // The component owns its records and cursor; kinds are not interchangeable.
    check(
        r#"
        key: t
        name: T
        flows:
          - key: f
            trigger:
              poll:
                schedule: {cron: "* * * * *"}
                trigger: crm.new
                items: "{{ output }}"
                cursor: "{{ item.at }}"
            steps: []
          - key: g
            trigger:
              poll:
                schedule: {cron: "* * * * *"}
                trigger: http.request
            steps: []
          - key: h
            trigger:
              poll:
                schedule: {cron: "* * * * *"}
                trigger: crm.old
            steps: []
          - key: i
            trigger:
              poll:
                schedule: {cron: "* * * * *"}
                trigger: crm.new
                action: http.request
            steps: []
        "#,
        r#"
        flows[0].trigger.poll.inputs.connection (7:9): missing required input `connection` of trigger `crm.new`
        flows[0].trigger.poll.items (9:9): `items` is only for a poll `action`: a component trigger returns its new records and keeps its own cursor
        flows[0].trigger.poll.cursor (10:9): `cursor` is only for a poll `action`: a component trigger returns its new records and keeps its own cursor
        flows[1].trigger.poll.trigger (16:18): `http.request` is an action, not a trigger
        flows[2].trigger.poll.trigger (22:18): unknown trigger `crm.old` (known: crm.new)
        flows[3].trigger.poll.trigger (28:9): a poll trigger takes `action` or `trigger`, not both: an action's records are picked by `items`, a component trigger returns its own
        "#,
    );
}

#[test]
fn dynamic_picklists() {
    let def = load(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - {key: crm, type: connection, required: true}
              - key: list
                type: picklist
                data_source: {name: crm.lists, inputs: {connection: "{{ config.crm }}"}}
        flows:
          - {key: f, trigger: {manual: {}}, steps: []}
        "#,
    );
    let vars: Vec<_> = def.config_vars().collect();
    let ds = vars[1].data_source.as_ref().unwrap();
    assert_eq!((ds.name.as_str(), &ds.inputs["connection"]), ("crm.lists", &json!("{{ config.crm }}")));
    assert!(def.actions_used().contains("crm.lists"), "the data source's component is pinned at publish");
    check(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - key: a
                type: picklist
                options: [x]
                data_source: crm.lists
              - {key: b, type: picklist, data_source: crm.new}
              - {key: c, type: string, data_source: crm.lists}
              - key: d
                type: picklist
                data_source: {name: crm.lists, inputs: {connection: "{{ steps.x.output }}", page: 2}}
              - {key: e, type: picklist, data_source: {name: crm.lists, inputs: {connection: "{{ config.nope }}"}}}
              - {key: f, type: picklist, data_source: 42}
              - {key: g, type: picklist, data_source: crm.lists}
        flows:
          - {key: f, trigger: {manual: {}}, steps: []}
        "#,
        r#"
        config[0].vars[0].data_source (9:9): a picklist takes `options` or a `data_source`, not both
        config[0].vars[0].data_source.inputs.connection (9:22): missing required input `connection` of data source `crm.lists`
        config[0].vars[1].data_source (10:47): `crm.new` is a trigger, not a data source
        config[0].vars[2].data_source (11:32): `data_source` is only allowed for picklist variables, not string
        config[0].vars[3].data_source.inputs.connection (14:61): a data source input can only use `config` and `customer`, not `steps`
        config[0].vars[3].data_source.inputs.page (14:85): unknown input `page` for data source `crm.lists` (known: connection)
        config[0].vars[4].data_source.inputs.connection (15:86): `config.nope` is not a config variable (known: a, b, c, d, e, f, g)
        config[0].vars[5].data_source (16:47): expected a data source name (`component.data_source`) or {name, inputs}, found a number
        config[0].vars[6].data_source.inputs.connection (17:47): missing required input `connection` of data source `crm.lists`
        "#,
    );
}

// ---- queue modes and execution-level retry ----------------------------------------------------

#[test]
fn flow_queue_modes_and_execution_retry_parse() {
    use weft_model::{QueueDef, QueueMode};
    let def = load(
        r#"
        key: t
        name: T
        flows:
          - key: ordered
            trigger: {webhook: {mode: sync}}
            queue: {mode: fifo}
            retry: {attempts: 3, backoff: 2s, factor: 3, max_backoff: 10s}
            steps: [{key: a, transform: 1}]
          - key: gentle
            trigger: {manual: {}}
            queue: {mode: throttled, max_concurrency: 2}
            steps: [{key: a, transform: 1}]
          - key: capped
            trigger: {manual: {}}
            queue: {max_concurrency: 5}
            steps: [{key: a, transform: 1}]
          - key: free
            trigger: {manual: {}}
            steps: [{key: a, transform: 1}]
        "#,
    );
    let f = &def.flows;
    assert_eq!(f[0].queue, QueueDef { mode: QueueMode::Fifo, max_concurrency: None });
    assert_eq!(f[1].queue, QueueDef { mode: QueueMode::Throttled, max_concurrency: Some(2) });
    assert_eq!(f[2].queue, QueueDef { mode: QueueMode::Parallel, max_concurrency: Some(5) });
    assert_eq!(f[3].queue, QueueDef::default());
    assert!(f[0].queue.is_limited() && f[1].queue.is_limited() && f[2].queue.is_limited());
    assert!(!f[3].queue.is_limited());
    let retry = f[0].retry.clone().unwrap();
    assert_eq!(retry.attempts, 3);
    let secs: Vec<u64> = (1..=3).map(|n| retry.delay_after(n).as_secs()).collect();
    assert_eq!(secs, vec![2, 6, 10], "exponential, capped at max_backoff");
    assert_eq!(f[3].retry, None);
}

#[test]
fn bad_flow_queues_and_retries() {
    check(
        r#"
        key: t
        name: T
        flows:
          - key: a
            trigger: {manual: {}}
            queue: {mode: throttled}
            steps: [{key: s, transform: 1}]
          - key: b
            trigger: {manual: {}}
            queue: {mode: fifo, max_concurrency: 2}
            steps: [{key: s, transform: 1}]
          - key: c
            trigger: {manual: {}}
            queue: {mode: lifo, max_concurrency: 0, size: 3}
            steps: [{key: s, transform: 1}]
          - key: d
            trigger: {manual: {}}
            retry: {attempts: 0, backoff: 500ms, on: [timeout]}
            steps: [{key: s, transform: 1}]
          - key: e
            trigger: {manual: {}}
            retry: {attempts: 2, backoff: 1500ms}
            steps: [{key: s, transform: 1}]
        "#,
        r#"
        flows[0].queue (6:12): a `throttled` queue needs `max_concurrency` (how many may run at once per instance)
        flows[1].queue.max_concurrency (10:42): a `fifo` queue runs one execution at a time per instance: remove `max_concurrency`
        flows[2].queue.mode (14:19): unknown queue mode "lifo" (known: parallel, fifo, throttled)
        flows[2].queue.size (14:45): unknown field `size` (allowed: mode, max_concurrency)
        flows[3].retry.attempts (18:23): `attempts` must be a whole number of at least 1 (the first try counts), found 0
        flows[3].retry.on (18:46): an execution-level `retry` retries any failure; `on` is only for a step's `retry`
        flows[4].retry.backoff (22:35): an execution-level `backoff` is whole seconds, at least 1s (the queue is second-granular)
        "#,
    );
}

#[test]
fn component_connection_types() {
    let def = load(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - {key: key, type: connection, connection_type: crm.key}
              - key: oauth
                type: connection
                connection_type: crm.oauth
                oauth2: {client: crm-app, params: {prompt: consent}}
        flows:
          - {key: f, trigger: {manual: {}}, steps: []}
        "#,
    );
    let vars: Vec<_> = def.config_vars().collect();
    let ct = vars[0].connection_type.as_ref().unwrap();
    assert_eq!((ct.name.as_str(), ct.kind.as_str(), ct.fields[0].key.as_str()), ("crm.key", "api_key", "api_key"));
    assert!(vars[0].oauth2.is_none());
    // An OAuth connection type's endpoints and scopes, with the variable's client and params.
    let o = vars[1].oauth2.as_ref().unwrap();
    assert_eq!(o.grant, weft_model::definition::OAuth2Grant::AuthorizationCode);
    assert_eq!(o.authorize_url.as_deref(), Some("https://crm.example/oauth/authorize"));
    assert_eq!(
        (o.token_url.as_str(), o.scopes.clone()),
        ("https://crm.example/oauth/token", vec!["contacts".to_string()])
    );
    assert_eq!((o.client.as_deref(), o.params["prompt"].as_str()), (Some("crm-app"), "consent"));
    assert!(def.actions_used().contains("crm.oauth"), "the connection type's component is pinned at publish");

    check(
        r#"
        key: t
        name: T
        config:
          - page: P
            vars:
              - {key: a, type: connection, connection_type: crm.nope}
              - {key: b, type: connection, connection_type: crm.lists}
              - {key: c, type: string, connection_type: crm.key}
              - {key: d, type: connection, connection_type: crm.key, oauth2: {client: x}}
              - {key: e, type: connection, connection_type: crm.oauth}
              - {key: f, type: connection, connection_type: crm.oauth, oauth2: {client: x, token_url: "https://x/t"}}
        flows:
          - {key: f, trigger: {manual: {}}, steps: []}
        "#,
        "config[0].vars[0].connection_type (6:53): unknown connection type `crm.nope` (known: crm.key, crm.oauth)
config[0].vars[1].connection_type (7:53): `crm.lists` is a data source, not a connection type
config[0].vars[2].connection_type (8:32): `connection_type` is only allowed for connection variables, not string
config[0].vars[3].oauth2 (9:62): `oauth2` is for OAuth connections; `crm.key` is a connection type of kind api_key
config[0].vars[4].oauth2.client (10:9): the authorization code grant needs `client`: the organization's OAuth client (the vendor's app) whose id and secret Weft sends to the provider
config[0].vars[5].oauth2.token_url (11:84): `token_url` comes from the component's connection type `crm.oauth`",
    );
}
