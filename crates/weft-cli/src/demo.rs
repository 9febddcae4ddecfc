//! `weft serve --demo`: seeds the reference example (examples/order-sync.yaml), a demo customer
//! and an instance whose "fulfilment API" is the demo route of this same process
//! (`weft_api::ApiConfig::demo_fulfilment`), then prints a token, the webhook URL and a curl
//! that runs the flow.

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use weft_db::{CustomerRef, Db, InstanceFilter, InstanceUpgrade, NewCustomer, NewDraft, NewInstance, Page};
use weft_model::parse::SourceFormat;
use weft_model::{Role, Trigger};
use weft_worker::Worker;

/// The reference example of DESIGN.md §3, verbatim.
pub const REFERENCE_EXAMPLE: &str = include_str!("../../../examples/order-sync.yaml");

pub struct Demo {
    token: String,
    webhook_url: String,
    instance_id: String,
    /// The server's base URL, so the printed `weft execution list` line works whatever the port.
    public_url: String,
}

impl Demo {
    pub fn print(&self) {
        let body = r#"{"id":"A-1001","lines":[{"sku":"ab-1","qty":2,"price":30},{"sku":"cd-2","qty":1,"price":50}]}"#;
        println!(
            "Demo ready: integration order-sync v1 deployed for customer `demo` as instance {}.",
            self.instance_id
        );
        println!("API token (admin): {}", self.token);
        println!("Webhook URL:       {}", self.webhook_url);
        println!("Try it:");
        println!("  curl -s -X POST '{}' -H 'content-type: application/json' -d '{body}'", self.webhook_url);
        println!("Then list executions:");
        println!("  WEFT_URL={} WEFT_TOKEN={} weft execution list", self.public_url, self.token);
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Seeds (or finds again) the demo objects. `public_url` is where clients reach this server (the
/// printed webhook URL); `local_url` is where this process reaches itself, used for the demo
/// instance's fulfilment endpoint so the flow works behind `--public-url` or `--listen 0.0.0.0`.
pub async fn seed(db: &Db, org: &str, worker: &Worker, public_url: &str, local_url: &str) -> Result<Demo> {
    let actions = worker.flow_cache().actions();
    let (doc, def) = weft_model::validate::load_definition(REFERENCE_EXAMPLE, SourceFormat::Yaml, actions)
        .map_err(|d| anyhow::anyhow!("the reference example is invalid: {d:?}"))?;
    let integration = match db.get_integration(org, &def.key).await? {
        Some(i) if i.latest_version.is_some() => i,
        _ => {
            let draft = NewDraft {
                key: def.key.clone(),
                name: def.name.clone(),
                description: def.description.clone(),
                format: "yaml".into(),
                source: REFERENCE_EXAMPLE.into(),
                definition: doc.value.clone(),
            };
            let i = db.save_draft(org, &draft, now_ms()).await?;
            db.publish_version(org, &i.id, now_ms()).await?;
            db.get_integration(org, &i.id).await?.context("integration vanished")?
        }
    };
    let version = integration.latest_version.context("no published version")?;
    let customer = match db.get_customer(org, &CustomerRef::External("demo".into())).await? {
        Some(c) => c,
        None => {
            let new =
                NewCustomer { external_id: Some("demo".into()), name: "Demo customer".into(), labels: Map::new() };
            db.create_customer(org, &new, now_ms()).await?
        }
    };
    let filter =
        InstanceFilter { customer_id: Some(customer.id.clone()), integration_id: Some(integration.id.clone()) };
    let existing = db.list_instances(org, &filter, &Page { cursor: None, limit: 1 }).await?.items.into_iter().next();
    let endpoint = Value::String(format!("{}/demo/fulfilment", local_url.trim_end_matches('/')));
    let instance = match existing {
        // A restart on another address (`--listen`) moves the demo fulfilment
        // route; the stored endpoint would still name the old one and every run would fail
        // with "connection refused". Point it at this process again, keeping the webhook URLs.
        Some(i) if i.config.get("endpoint") != Some(&endpoint) => {
            let mut config = i.config.clone();
            if let Value::Object(map) = &mut config {
                map.insert("endpoint".into(), endpoint.clone());
            }
            let up = InstanceUpgrade {
                version: i.version,
                config,
                webhook_flows: i.webhooks.iter().map(|w| w.flow_key.clone()).collect(),
                secret_keys: Vec::new(),
            };
            db.upgrade_instance(org, &i.id, &up, now_ms()).await?
        }
        Some(i) => i,
        None => {
            let mut values = Map::new();
            values.insert("endpoint".into(), endpoint.clone());
            let config =
                weft_model::config::resolve_config(&def, &values).map_err(|e| anyhow::anyhow!("demo config: {e:?}"))?;
            let new = NewInstance {
                customer_id: customer.id.clone(),
                integration_id: integration.id.clone(),
                version,
                name: "Order sync (demo)".into(),
                config: Value::Object(config),
                webhook_flows: def
                    .flows
                    .iter()
                    .filter(|f| matches!(f.trigger, Trigger::Webhook(_)))
                    .map(|f| f.key.clone())
                    .collect(),
                secret_keys: Vec::new(),
            };
            db.create_instance(org, &new, now_ms()).await?
        }
    };
    let hook = instance.webhooks.first().context("the demo instance has no webhook")?;
    let (_, token) = db.create_token(org, "demo token", Role::Admin, now_ms()).await?;
    Ok(Demo {
        token,
        webhook_url: format!("{}/hooks/{}", public_url.trim_end_matches('/'), hook.token),
        instance_id: instance.id,
        public_url: public_url.trim_end_matches('/').to_string(),
    })
}
