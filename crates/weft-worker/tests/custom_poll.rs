//! Poll triggers with custom components: the SDK's CRM example (built from source, published to
//! the organization, pinned by the integration version) reads contacts from a stand-in CRM API
//! with the instance's connection, either as a poll `action` (Weft picks new records by id and
//! cursor) or as the component's own poll `trigger` (it returns new records and its cursor);
//! each poll queues one execution per contact not emitted before.

mod support;

#[path = "../../weft-wasm/tests/common/guests.rs"]
mod guests;

use std::sync::Arc;

use serde_json::json;
use support::{Harness, config, now_ms};
use weft_components::{EgressGuard, Registry};
use weft_db::{ExecutionFilter, NewComponentVersion, NewDraft, NewInstance, NewSchedule, Page};
use weft_worker::{Scheduler, SchedulerConfig, Worker};

const T0: i64 = 1_700_000_040_000;

const CRM_POLL: &str = r#"
key: crm-poll
name: New CRM contacts
config:
  - page: CRM
    vars:
      - key: crm
        type: connection
        required: true
flows:
  - key: new-contact
    trigger:
      poll:
        schedule: {cron: "* * * * *"}
        action: acme-crm.list_contacts
        inputs:
          connection: "{{ config.crm }}"
          updated_since: "{{ cursor }}"
        items: "{{ output.contacts }}"
        id: "{{ item.id }}"
        cursor: "{{ item.updated_at }}"
    steps: []
"#;

/// The component's own poll trigger: Weft keeps whatever cursor it returns.
const CRM_TRIGGER: &str = r#"
key: crm-trigger
name: New CRM contacts, by the component's trigger
config:
  - page: CRM
    vars:
      - key: crm
        type: connection
        required: true
flows:
  - key: new-contact
    trigger:
      poll:
        schedule: {cron: "* * * * *"}
        trigger: acme-crm.new_contacts
        inputs:
          connection: "{{ config.crm }}"
    steps: []
"#;

/// Publishes the CRM component and `yaml`, deploys it for the harness's customer with a
/// connection to `crm` and schedules its `new-contact` poll at `T0`.
async fn deployed_poll(h: &Harness, crm: &str, yaml: &str) -> (Scheduler, weft_db::Instance) {
    let egress = EgressGuard::new(vec!["127.0.0.1/32".parse().unwrap()]);
    let mut cfg = config("poller");
    cfg.wasm.egress = egress.clone();
    let worker = Worker::new(h.db.clone(), Arc::new(Registry::builtin(egress)), cfg);

    // Publish the component as the API does: loaded and described in the sandbox first.
    let bytes = guests::guests().crm.clone();
    let loaded = worker.custom_components().load_bytes(&bytes).await.unwrap();
    let d = weft_wasm::Description::from_info(loaded.info());
    let new = NewComponentVersion {
        key: d.key.clone(),
        name: d.name.clone(),
        description: None,
        version: d.version.clone(),
        info: serde_json::to_value(&d).unwrap(),
        sha256: "test".into(),
        wasm: bytes,
    };
    h.db.publish_component_version(&h.org, &new, now_ms()).await.unwrap();

    let actions = worker.operations_of(&h.org).await.unwrap();
    let (doc, def) = weft_model::load_definition(yaml, weft_model::SourceFormat::Yaml, &actions)
        .unwrap_or_else(|d| panic!("invalid: {d:?}"));
    let pins = worker.custom_components().pins(&h.org, &def, worker.flow_cache().actions()).await.unwrap();
    assert_eq!(pins, [("acme-crm".to_string(), "1.0.0".to_string())].into_iter().collect());
    let draft = NewDraft {
        key: def.key.clone(),
        name: def.name.clone(),
        description: None,
        format: "yaml".into(),
        source: yaml.into(),
        definition: doc.value,
    };
    let integration = h.db.save_draft(&h.org, &draft, now_ms()).await.unwrap();
    let version = h.db.publish_version_pinned(&h.org, &integration.id, &pins, now_ms()).await.unwrap();
    let instance =
        h.db.create_instance(
            &h.org,
            &NewInstance {
                customer_id: h.customer.clone(),
                integration_id: integration.id.clone(),
                version: version.version,
                name: "acme".into(),
                config: json!({"crm": {"type": "api_key", "base_url": crm, "api_key": "k-123"}}),
                webhook_flows: Vec::new(),
                secret_keys: Vec::new(),
            },
            now_ms(),
        )
        .await
        .unwrap();
    let schedule = NewSchedule {
        customer_id: h.customer.clone(),
        integration_id: integration.id.clone(),
        version: version.version,
        flow_key: "new-contact".into(),
        cron: "* * * * *".into(),
        timezone: "UTC".into(),
        next_fire_at: T0,
    };
    h.db.replace_schedules(&h.org, &instance.id, &[schedule], T0).await.unwrap();
    (Scheduler::new(h.db.clone(), worker, SchedulerConfig::default()).with_pruning(None), instance)
}

/// The contact ids the instance's executions were started for, sorted.
async fn emitted(h: &Harness, instance: &str) -> Vec<i64> {
    let filter = ExecutionFilter { instance_id: Some(instance.to_string()), ..Default::default() };
    let page = h.db.list_executions(&h.org, &filter, &Page::first(100)).await.unwrap();
    let mut ids: Vec<i64> = page.items.iter().map(|e| e.trigger["body"]["id"].as_i64().unwrap()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_custom_component_action_polls_for_new_records() {
    let h = Harness::new().await;
    let crm = guests::acme_crm_api().await;
    let (scheduler, instance) = deployed_poll(&h, &crm, CRM_POLL).await;
    assert_eq!(scheduler.fire_due(T0).await.unwrap(), 1);
    let ids = || emitted(&h, &instance.id);
    assert_eq!(ids().await, [1, 2, 3, 4, 5], "one execution per contact, pages followed");
    // The next poll sends the cursor; the API answers the last contact again: not re-emitted.
    scheduler.fire_due(T0 + 60_000).await.unwrap();
    assert_eq!(ids().await, [1, 2, 3, 4, 5]);
    let state = h.db.poll_state(&instance.id, "new-contact").await.unwrap().unwrap();
    assert_eq!(state["cursor"], "2026-01-05T00:00:00Z");
}

#[tokio::test]
async fn a_custom_component_trigger_polls_with_its_own_cursor() {
    let h = Harness::new().await;
    let crm = guests::acme_crm_api().await;
    let (scheduler, instance) = deployed_poll(&h, &crm, CRM_TRIGGER).await;
    assert_eq!(scheduler.fire_due(T0).await.unwrap(), 1);
    assert_eq!(emitted(&h, &instance.id).await, [1, 2, 3, 4, 5], "one execution per contact the trigger returned");
    // The cursor is the component's: the newest update time and the ids seen at that instant.
    let state = h.db.poll_state(&instance.id, "new-contact").await.unwrap().unwrap();
    assert_eq!(state["cursor"], json!({"updated_at": "2026-01-05T00:00:00Z", "ids": [5]}));
    // Polled again with that cursor, the API answers contact 5 again; the component drops it
    // and returns no cursor, so the stored one stays.
    scheduler.fire_due(T0 + 60_000).await.unwrap();
    assert_eq!(emitted(&h, &instance.id).await, [1, 2, 3, 4, 5], "nothing emitted twice");
    let again = h.db.poll_state(&instance.id, "new-contact").await.unwrap().unwrap();
    assert_eq!(again["cursor"], state["cursor"]);

    // A wrong key: the poll fails, starts nothing and keeps the cursor.
    let conn = json!({"crm": {"type": "api_key", "base_url": crm, "api_key": "nope"}});
    let up = weft_db::InstanceUpgrade {
        version: instance.version,
        config: conn,
        webhook_flows: Vec::new(),
        secret_keys: Vec::new(),
    };
    h.db.upgrade_instance(&h.org, &instance.id, &up, now_ms()).await.unwrap();
    scheduler.fire_due(T0 + 120_000).await.unwrap();
    assert_eq!(emitted(&h, &instance.id).await, [1, 2, 3, 4, 5]);
    assert_eq!(h.db.poll_state(&instance.id, "new-contact").await.unwrap().unwrap()["cursor"], state["cursor"]);
}
