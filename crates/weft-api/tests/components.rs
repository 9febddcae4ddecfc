//! Custom components end to end: the SDK's examples, built from source, are published to the
//! organization through the API (checked in the sandbox first), an integration calling them is
//! imported and published (pinning their versions) and deployed for customers, and its
//! executions run them in the sandbox: the CRM connector against a stand-in for the CRM's API,
//! the transformation component on its output. A component's state belongs to its instance.

mod common;

#[path = "../../weft-wasm/tests/common/guests.rs"]
mod guests;

use common::{Body, Server, assert_error, start};
use guests::{acme_crm_api, guests};
use serde_json::{Value, json};

const CRM_SYNC: &str = r#"
key: crm-sync
name: CRM sync
config:
  - page: CRM
    vars:
      - key: crm
        label: Acme CRM connection
        type: connection
        connection_type: acme-crm.api_key
        required: true
flows:
  - key: sync
    trigger:
      webhook:
        mode: sync
    steps:
      - key: contacts
        action: acme-crm.list_contacts
        inputs:
          connection: "{{ config.crm }}"
          max_pages: 3
      - key: names
        action: transform.pick
        inputs:
          records: "{{ steps.contacts.output.contacts }}"
          fields: ["name"]
    result:
      count: "{{ steps.contacts.output.count }}"
      names: "{{ steps.names.output }}"
"#;

/// Remembers the last value it was given, in the component's own state, and answers the one
/// before: what one instance stored must never show up in another's.
const REMEMBER: &str = r#"
key: remember
name: Remember
flows:
  - key: remember
    trigger:
      webhook:
        mode: sync
    steps:
      - key: state
        action: hostile.state
        inputs:
          key: "{{ trigger.body.key }}"
          value: "{{ trigger.body.value }}"
    result: "{{ steps.state.output.old }}"
"#;

async fn upload(s: &Server, wasm: &[u8]) -> (u16, Value) {
    s.send(
        s.request("POST", "/api/v1/components")
            .bearer_auth(&s.owner)
            .header("content-type", "application/wasm")
            .body(wasm.to_vec()),
    )
    .await
}

async fn publish_integration(s: &Server, yaml: &str, key: &str) -> Value {
    let (st, body) = s.import(yaml).await;
    assert_eq!(st, 201, "{body}");
    let (st, v) = s.post(&format!("/api/v1/integrations/{key}/versions"), Value::Null).await;
    assert_eq!(st, 201, "{v}");
    v
}

async fn deploy(s: &Server, integration: &str, customer: &str, config: Value) -> String {
    let (st, c) = s.post("/api/v1/customers", json!({"external_id": customer, "name": customer})).await;
    assert!(st == 201 || st == 409, "{c}");
    let (st, inst) = s
        .post(
            "/api/v1/instances",
            json!({"integration": integration, "customer": format!("ext:{customer}"), "config": config}),
        )
        .await;
    assert_eq!(st, 201, "{inst}");
    inst["id"].as_str().unwrap().to_string()
}

async fn run(s: &Server, instance: &str, flow: &str, body: Value) -> Value {
    let (st, e) = s.post(&format!("/api/v1/instances/{instance}/flows/{flow}/run?wait=true"), body).await;
    assert_eq!(st, 200, "{e}");
    e
}

#[tokio::test]
async fn the_examples_run_in_an_integration_deployed_for_a_customer() {
    let s = start().await;
    let crm = acme_crm_api().await;
    let g = guests();

    // Publish: the server loads each component in the sandbox and stores what it describes.
    let (st, v) = upload(&s, &g.crm).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!((v["key"].as_str(), v["version"].as_str()), (Some("acme-crm"), Some("1.0.0")));
    assert_eq!(v["description"]["actions"][0]["key"], "list_contacts");
    assert_eq!(upload(&s, &g.crm).await.0, 200, "the same bytes again: already published");
    assert_eq!(upload(&s, &g.transform).await.0, 201);

    let (st, list) = s.get("/api/v1/components").await;
    assert_eq!(st, 200);
    let keys: Vec<&str> = list["items"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 2, "{list}");
    assert!(keys.contains(&"acme-crm") && keys.contains(&"transform"), "{list}");
    let (st, c) = s.get("/api/v1/components/acme-crm").await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["latest_version"], "1.0.0");
    assert_eq!(c["versions"].as_array().unwrap().len(), 1);
    let list_contacts = &c["latest"]["actions"][0];
    let inputs: Vec<&str> =
        list_contacts["inputs"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(inputs, ["connection", "query", "updated_since", "max_pages"]);
    assert_eq!(c["latest"]["connections"][0]["kind"], "api_key");
    assert_eq!(c["latest"]["data_sources"][0]["key"], "lists");
    assert_eq!(c["latest"]["triggers"][0]["key"], "new_contacts");

    // Validation knows the components' actions and their inputs.
    let typo = CRM_SYNC.replace("max_pages: 3", "max_pages: \"three\"");
    let (st, err) = s.import(&typo).await;
    assert_eq!(st, 422, "{err}");
    assert!(err.to_string().contains("max_pages"), "{err}");

    // Publishing pins the component versions; deploying for a customer runs them.
    let version = publish_integration(&s, CRM_SYNC, "crm-sync").await;
    assert_eq!(version["components"], json!({"acme-crm": "1.0.0", "transform": "0.1.0"}));
    // The variable takes the component's connection type: its fields are checked at deploy.
    let (st, c) = s.post("/api/v1/customers", json!({"external_id": "acme", "name": "acme"})).await;
    assert_eq!(st, 201, "{c}");
    let bad = json!({"integration": "crm-sync", "customer": "ext:acme",
                     "config": {"crm": {"base_url": 7, "key": "k-123", "type": "bearer"}}});
    let (st, e) = s.post("/api/v1/instances", bad).await;
    assert_eq!(st, 422, "{e}");
    let messages: Vec<&str> =
        e["error"]["details"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        [
            "`base_url`: expected a string, found a number",
            "unknown field `key` of a `acme-crm.api_key` connection (fields: base_url, api_key)",
            "`type` of a `acme-crm.api_key` connection is `api_key`, found `bearer`",
            "`api_key` is required by a `acme-crm.api_key` connection (API key)",
        ],
        "{e}"
    );
    // `type` may be left out: the connection type implies it.
    let conn = json!({"base_url": crm, "api_key": "k-123"});
    let instance = deploy(&s, "crm-sync", "acme", json!({"crm": conn})).await;
    let e = run(&s, &instance, "sync", json!({})).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    let names: Vec<Value> = (1..=5).map(|n| json!({"name": format!("C{n}")})).collect();
    assert_eq!(e["result"], json!({"count": 5, "names": names}));
    let steps: Vec<&str> =
        e["steps"].as_array().unwrap().iter().map(|st| st["action"].as_str().unwrap_or("")).collect();
    assert_eq!(steps, ["acme-crm.list_contacts", "transform.pick"]);

    // The component's logs are the execution's, under the step.
    let (st, logs) = s.get(&format!("/api/v1/executions/{}/logs", e["id"].as_str().unwrap())).await;
    assert_eq!(st, 200, "{logs}");
    assert!(
        logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "listed 5 contacts" && l["step"] == "contacts"),
        "{logs}"
    );
    // The API key is a connection secret: redacted from everything stored.
    assert!(!e.to_string().contains("k-123"), "{e}");

    // A wrong key: the component's error fails the step, saying what the API answered.
    let bad =
        deploy(&s, "crm-sync", "globex", json!({"crm": {"type": "api_key", "base_url": crm, "api_key": "nope"}})).await;
    let e = run(&s, &bad, "sync", json!({})).await;
    assert_eq!(e["status"], "failed", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("401"), "{e}");
}

/// A wizard whose list picklist is filled by the CRM component's data source, with the
/// connection entered on the page before.
const CRM_WIZARD: &str = r#"
key: crm-wizard
name: CRM wizard
config:
  - page: CRM
    vars:
      - key: crm
        type: connection
        required: true
      - key: region
        type: picklist
        options: [eu, us]
      - key: list
        type: picklist
        required: true
        data_source:
          name: acme-crm.lists
          inputs:
            connection: "{{ config.crm }}"
flows:
  - key: add
    trigger:
      webhook:
        mode: sync
    steps:
      - key: context
        action: hostile.context
    result: "{{ steps.context.output }}"
"#;

#[tokio::test]
async fn data_sources_fill_wizard_picklists_and_components_know_their_webhook_urls() {
    let s = start().await;
    let crm = acme_crm_api().await;
    let g = guests();
    assert_eq!(upload(&s, &g.crm).await.0, 201);
    assert_eq!(upload(&s, &g.hostile).await.0, 201);
    let version = publish_integration(&s, CRM_WIZARD, "crm-wizard").await;
    assert_eq!(version["components"], json!({"acme-crm": "1.0.0", "hostile": "0.1.0"}), "the data source pins too");
    let (st, c) = s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await;
    assert_eq!(st, 201, "{c}");

    // The wizard asks for the list's choices with the connection entered so far.
    let options = "/api/v1/integrations/crm-wizard/config/list/options";
    let conn = json!({"type": "api_key", "base_url": crm, "api_key": "k-123"});
    let (st, v) = s.post(options, json!({"customer": "ext:acme", "config": {"crm": conn}})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["options"], json!([{"value": "l1", "label": "Leads"}]));
    assert_eq!(v["data_source"], "acme-crm.lists");

    // What cannot be answered is named.
    let r = s.post(options, json!({"customer": "ext:acme", "config": {}})).await;
    assert_error(&r, 422, "data_source.inputs");
    assert!(r.1["error"]["message"].as_str().unwrap().contains("crm"), "{}", r.1);
    let wrong = json!({"type": "api_key", "base_url": crm, "api_key": "nope"});
    let r = s.post(options, json!({"customer": "ext:acme", "config": {"crm": wrong}})).await;
    assert_error(&r, 502, "data_source.failed");
    assert!(r.1["error"]["message"].as_str().unwrap().contains("401"), "{}", r.1);
    assert!(!r.1.to_string().contains("nope"), "the key never comes back: {}", r.1);
    let r = s
        .post("/api/v1/integrations/crm-wizard/config/region/options", json!({"customer": "ext:acme", "config": {}}))
        .await;
    assert_error(&r, 422, "config_var.not_dynamic");
    let r = s
        .post("/api/v1/integrations/crm-wizard/config/nope/options", json!({"customer": "ext:acme", "config": {}}))
        .await;
    assert_error(&r, 404, "config_var.not_found");
    let (st, v) = s.post(options, json!({"customer": "ext:nobody", "config": {"crm": conn}})).await;
    assert_eq!(st, 404, "{v}");

    // Deployed with the picked value, the instance's component calls see its ids and webhook URLs.
    let (st, inst) = s
        .post(
            "/api/v1/instances",
            json!({"integration": "crm-wizard", "customer": "ext:acme", "config": {"crm": conn, "list": "l1"}}),
        )
        .await;
    assert_eq!(st, 201, "{inst}");
    let hook = inst["webhooks"]["add"].as_str().unwrap().to_string();
    let (st, ctx) = s.send(s.request("POST", hook.strip_prefix(&s.url).unwrap()).json(&json!({}))).await;
    assert_eq!(st, 200, "{ctx}");
    assert_eq!(ctx["webhook_urls"], json!([["add", hook]]));
    assert_eq!(ctx["instance_id"], inst["id"]);
    assert_eq!(ctx["customer_id"], inst["customer_id"]);
    assert_eq!((ctx["flow_key"].as_str(), ctx["step_path"].as_str()), (Some("add"), Some("context")));
}

#[tokio::test]
async fn refused_components_are_named_and_unknown_actions_refused() {
    let s = start().await;
    let g = guests();
    for (what, bytes, says) in [
        ("garbage", b"not wasm at all".to_vec(), "not a WebAssembly"),
        ("another world", g.not_weft.clone(), "weft"),
        ("a bad description", g.bad_describe.clone(), "description"),
    ] {
        let got = upload(&s, &bytes).await;
        assert_error(&got, 422, "component.invalid");
        let msg = got.1["error"]["message"].as_str().unwrap();
        assert!(msg.to_lowercase().contains(&says.to_lowercase()), "{what}: {msg}");
    }
    assert_error(&upload(&s, b"").await, 400, "request.invalid");
    let (st, list) = s.get("/api/v1/components").await;
    assert_eq!((st, list["items"].as_array().unwrap().len()), (200, 0), "nothing refused was stored: {list}");
    assert_error(&s.get("/api/v1/components/acme-crm").await, 404, "component.not_found");

    // A flow calling a component nobody published is refused at import, naming the action.
    let (st, err) = s.import(CRM_SYNC).await;
    assert_eq!(st, 422, "{err}");
    assert!(err.to_string().contains("acme-crm.list_contacts"), "{err}");

    // A viewer may read components, not publish them.
    let viewer = s.token(weft_model::Role::Viewer).await;
    let got = s
        .send(
            s.request("POST", "/api/v1/components")
                .bearer_auth(&viewer)
                .header("content-type", "application/wasm")
                .body(g.transform.clone()),
        )
        .await;
    assert_error(&got, 403, "auth.forbidden");
    let _ = Body::None;
}

#[tokio::test]
async fn a_component_reads_only_its_own_instance_state() {
    let s = start().await;
    assert_eq!(upload(&s, &guests().hostile).await.0, 201);
    publish_integration(&s, REMEMBER, "remember").await;
    let a = deploy(&s, "remember", "alpha", json!({})).await;
    let b = deploy(&s, "remember", "beta", json!({})).await;

    let e = run(&s, &a, "remember", json!({"key": "secret", "value": "alpha's value"})).await;
    assert_eq!((e["status"].as_str(), &e["result"]), (Some("succeeded"), &Value::Null), "{e}");
    let e = run(&s, &a, "remember", json!({"key": "secret", "value": "second"})).await;
    assert_eq!(e["result"], "alpha's value", "the state was committed with the step: {e}");

    // Another customer's instance of the same integration, same component, same key: nothing.
    let e = run(&s, &b, "remember", json!({"key": "secret", "value": "beta's value"})).await;
    assert_eq!((e["status"].as_str(), &e["result"]), (Some("succeeded"), &Value::Null), "{e}");
    let e = run(&s, &a, "remember", json!({"key": "secret", "value": "third"})).await;
    assert_eq!(e["result"], "second", "beta's write never reached alpha's state: {e}");
}

/// Hands the step's connection to the hostile component, which answers with what it got (each
/// field reversed, so the host's redaction of the secret does not hide it from the test) and
/// tries to reach further with whatever the webhook caller sends as `probe`.
const WHOSE: &str = r#"
key: whose
name: Whose connection
config:
  - page: CRM
    vars:
      - key: crm
        type: connection
        required: true
flows:
  - key: whose
    trigger:
      webhook:
        mode: sync
    steps:
      - key: got
        action: hostile.connection
        inputs:
          connection: "{{ config.crm }}"
      - key: probe
        action: hostile.state
        inputs:
          key: "{{ trigger.body.probe }}"
    result:
      got: "{{ steps.got.output }}"
      probe: "{{ steps.probe.output.old }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_gets_only_its_own_instances_connection() {
    let s = start().await;
    let (st, v) = upload(&s, &guests().hostile).await;
    assert_eq!(st, 201, "{v}");
    publish_integration(&s, WHOSE, "whose").await;
    let key = |who: &str| format!("key-of-{who}-0123456789");
    let mut hooks = Vec::new();
    for who in ["alpha", "beta", "gamma"] {
        let conn = json!({"type": "bearer", "token": key(who)});
        let id = deploy(&s, "whose", who, json!({"crm": conn})).await;
        let (_, inst) = s.get(&format!("/api/v1/instances/{id}")).await;
        hooks.push((who, inst["webhooks"]["whose"].as_str().unwrap().strip_prefix(&s.url).unwrap().to_string()));
    }
    // Interleaved and concurrent, with probes naming the other instances and customers: each
    // call sees its own instance's connection, and nothing else.
    let probes = ["instance:*", "../beta/crm", "alpha:hostile", "crm", "connection"];
    let mut calls = Vec::new();
    for round in 0..6 {
        for (who, hook) in &hooks {
            let (s, hook, who) = (&s, hook.clone(), *who);
            let probe = probes[round % probes.len()];
            calls.push(async move {
                let (st, v) = s.send(s.request("POST", &hook).json(&json!({"probe": probe}))).await;
                (who, st, v)
            });
        }
    }
    for (who, st, v) in futures::future::join_all(calls).await {
        assert_eq!(st, 200, "{v}");
        let expected: String = key(who).chars().rev().collect();
        assert_eq!(v["got"]["token"], expected, "{who} got another connection: {v}");
        assert_eq!(v["probe"], Value::Null, "{who}: a probe reached something: {v}");
    }
}

const SCORE: &str = r#"
key: score
name: Score orders
config:
  - page: Settings
    vars:
      - key: vip_total
        type: number
        default: 100
flows:
  - key: score
    trigger:
      webhook:
        mode: sync
    steps:
      - key: lines
        for_each: "{{ trigger.body.lines }}"
        steps:
          - key: line
            code: |
              // One order line: `item` is bound inside a loop.
              return { sku: item.sku.toUpperCase(), subtotal: item.qty * item.price };
      - key: total
        code: |
          const total = steps.lines.output.reduce((sum, l) => sum + l.subtotal, 0);
          console.log(`order ${trigger.body.id}: ${total}`);
          if (total < 0) {
            throw new Error("negative total for " + trigger.body.id);
          }
          return { total, vip: total >= config.vip_total };
    result: "{{ steps.total.output }}"
"#;

#[tokio::test]
async fn code_steps_run_javascript_with_the_step_context() {
    let s = start().await;
    publish_integration(&s, SCORE, "score").await;
    let i = deploy(&s, "score", "acme", json!({"vip_total": 50})).await;
    let order =
        json!({"id": "A-1", "lines": [{"sku": "a", "qty": 2, "price": 20}, {"sku": "b", "qty": 1, "price": 15}]});
    let e = run(&s, &i, "score", order).await;
    assert_eq!(e["status"], "succeeded", "{e}");
    assert_eq!(e["result"], json!({"total": 55, "vip": true}));
    let (_, logs) = s.get(&format!("/api/v1/executions/{}/logs", e["id"].as_str().unwrap())).await;
    assert!(logs["items"].as_array().unwrap().iter().any(|l| l["message"] == "order A-1: 55"), "{logs}");

    // A throw fails the step with the script's line.
    let e = run(&s, &i, "score", json!({"id": "A-2", "lines": [{"sku": "a", "qty": 1, "price": -5}]})).await;
    assert_eq!(e["status"], "failed", "{e}");
    assert_eq!(e["error"]["message"], "script line 4: negative total for A-2", "{e}");

    // An empty script is refused at import, naming the step.
    let (st, err) = s
        .import(&SCORE.replace("key: score\n", "key: score2\n").replace(
            "code: |\n          const total",
            "code: \"\"\n      - key: unused\n        code: |\n          const total",
        ))
        .await;
    assert_eq!(st, 422, "{err}");
    assert!(
        err.to_string().contains("`code` expects a JavaScript function body (a string), found an empty script"),
        "{err}"
    );
}

/// One customer's instance runs a component that spins until its time limit.
const SPIN: &str = r#"
key: spin
name: Spin
flows:
  - key: spin
    trigger:
      webhook:
        mode: async
    steps:
      - key: spin
        action: hostile.spin
        timeout: 3s
"#;

/// Another customer's instance runs a quick component step.
const PICK: &str = r#"
key: pick
name: Pick
flows:
  - key: pick
    trigger:
      webhook:
        mode: sync
    steps:
      - key: pick
        action: transform.pick
        inputs:
          records: "{{ trigger.body }}"
          fields: ["id"]
    result: "{{ steps.pick.output }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_customers_are_served_while_a_component_spins() {
    let s = start().await;
    assert_eq!(upload(&s, &guests().hostile).await.0, 201);
    assert_eq!(upload(&s, &guests().transform).await.0, 201);
    publish_integration(&s, SPIN, "spin").await;
    publish_integration(&s, PICK, "pick").await;
    let attacker = deploy(&s, "spin", "mallory", json!({})).await;
    let victim = deploy(&s, "pick", "acme", json!({})).await;
    // Warm: the first call loads (compiles) the component.
    assert_eq!(run(&s, &victim, "pick", json!([{"id": 0}])).await["status"], "succeeded");

    // Four spinning executions, more than the sandbox's threads.
    let mut spinning = Vec::new();
    for _ in 0..4 {
        let (st, a) = s.post(&format!("/api/v1/instances/{attacker}/flows/spin/run"), json!({})).await;
        assert_eq!(st, 202, "{a}");
        spinning.push(a["execution_id"].as_str().unwrap().to_string());
    }
    let started = std::time::Instant::now();
    loop {
        let (_, list) = s.get("/api/v1/executions?customer=ext:mallory&status=running").await;
        if list["items"].as_array().unwrap().len() == 4 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "the spinners did not start: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The other customer's executions keep completing quickly meanwhile.
    let mut slowest = std::time::Duration::ZERO;
    for n in 1..=10 {
        let t = std::time::Instant::now();
        let e = run(&s, &victim, "pick", json!([{"id": n, "secret": "x"}])).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!((e["status"].as_str(), &e["result"]), (Some("succeeded"), &json!([{"id": n}])), "{e}");
    }
    let (_, list) = s.get("/api/v1/executions?customer=ext:mallory&status=running").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4, "all of it happened while the spinners ran");
    assert!(slowest < std::time::Duration::from_millis(1000), "slowest other-customer execution: {slowest:?}");

    // Each spinner is stopped at its limit, with a clear error: the sandbox's epoch deadline
    // and the worker's step timeout are both 3 s, and whichever fires first names it.
    for id in spinning {
        let e = s.finished(&id).await;
        assert_eq!(e["status"], "failed", "{e}");
        let msg = e["error"]["message"].as_str().unwrap();
        let named = msg.contains("did not finish within its timeout of 3000ms")
            || msg.contains("the component exceeded its time limit of 3 s");
        assert!(named, "{msg}");
    }
}
