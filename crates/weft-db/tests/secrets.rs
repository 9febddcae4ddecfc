//! Secret config values at rest: sealed into their own column, opened on every read, bound to
//! their instance and variable, refused without a master key, and re-wrapped under a new master
//! key without losing anything — on SQLite and on PostgreSQL.

mod common;

use serde_json::{Map, Value, json};
use weft_db::*;
use weft_vault::{Keyring, Vault};

use common::TestDb;

db_tests!(
    secrets_are_sealed_at_rest_and_opened_on_read,
    a_sealed_value_does_not_open_in_another_instance,
    secrets_need_a_master_key,
    rotation_rewraps_every_secret_and_loses_nothing,
    a_node_with_other_master_keys_is_refused,
    plaintext_secrets_of_an_older_weft_are_sealed,
);

const T0: Millis = 1_700_000_000_000;
const TOKEN: &str = "tok_live_5ecr3t_value";

fn keys(spec: &str) -> Keyring {
    Keyring::from_env_value(spec).unwrap()
}

/// `k1` (and, with `two`, `k2` as current), fixed keys so two handles share them.
fn vault(two: bool) -> Vault {
    let k1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let k2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    Vault::new(keys(&if two { format!("{k1},{k2}") } else { k1.to_string() }))
}

/// An organization, customer and published integration; returns (org, customer, integration).
async fn fixture(db: &Db) -> (String, String, String) {
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let new = NewCustomer { external_id: None, name: "Acme".into(), labels: Map::new() };
    let customer = db.create_customer(&org.id, &new, T0).await.unwrap();
    let integration = common::published_integration(db, &org.id, "crm").await;
    (org.id, customer.id, integration.id)
}

fn new_instance(customer: &str, integration: &str) -> NewInstance {
    NewInstance {
        customer_id: customer.into(),
        integration_id: integration.into(),
        version: 1,
        name: "i".into(),
        config: json!({"endpoint": "https://crm.example", "token": TOKEN,
                       "crm": {"type": "bearer", "token": format!("{TOKEN}-conn")}, "unset": null}),
        webhook_flows: vec![],
        secret_keys: vec!["token".into(), "crm".into(), "unset".into()],
    }
}

/// Every text column of the instance's row, as stored.
async fn stored_row(t: &TestDb, id: &str) -> String {
    let raw = t.raw().await;
    let row: (String, String) =
        sqlx::query_as("SELECT config, secrets FROM instances WHERE id = $1").bind(id).fetch_one(&raw).await.unwrap();
    format!("{} {}", row.0, row.1)
}

async fn secrets_are_sealed_at_rest_and_opened_on_read(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, customer, integration) = fixture(&db).await;
    let created = db.create_instance(&org, &new_instance(&customer, &integration), T0).await.unwrap();
    let stored = stored_row(t, &created.id).await;
    assert!(stored.contains("https://crm.example"), "plain config stays readable: {stored}");
    assert!(!stored.contains(TOKEN), "a secret is stored in plaintext: {stored}");
    assert!(stored.contains("v1.k1."), "sealed under k1: {stored}");
    // Reads (by id, by listing, by webhook token) open them again.
    let read = db.get_instance(&org, &created.id).await.unwrap().unwrap();
    assert_eq!(read.config["token"], TOKEN);
    assert_eq!(read.config["crm"]["token"], format!("{TOKEN}-conn"));
    assert_eq!(read.config["endpoint"], "https://crm.example");
    let listed = db.list_instances(&org, &InstanceFilter::default(), &Page::first(10)).await.unwrap();
    assert_eq!(listed.items[0].config, read.config);
    // An upgrade seals the new values the same way.
    let mut config = read.config.clone();
    config["token"] = json!("tok_live_rotated_by_customer");
    let up =
        InstanceUpgrade { version: 1, config, webhook_flows: vec![], secret_keys: vec!["token".into(), "crm".into()] };
    let upgraded = db.upgrade_instance(&org, &created.id, &up, T0).await.unwrap();
    assert_eq!(upgraded.config["token"], "tok_live_rotated_by_customer");
    assert!(!stored_row(t, &created.id).await.contains("tok_live_rotated"));
}

async fn a_sealed_value_does_not_open_in_another_instance(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, customer, integration) = fixture(&db).await;
    let a = db.create_instance(&org, &new_instance(&customer, &integration), T0).await.unwrap();
    let mut other = new_instance(&customer, &integration);
    other.config = json!({"endpoint": "https://other.example"});
    let b = db.create_instance(&org, &other, T0).await.unwrap();
    // Someone with write access to the table copies A's sealed secrets onto B.
    let raw = t.raw().await;
    sqlx::query("UPDATE instances SET secrets = (SELECT secrets FROM instances WHERE id = $1) WHERE id = $2")
        .bind(&a.id)
        .bind(&b.id)
        .execute(&raw)
        .await
        .unwrap();
    let err = db.get_instance(&org, &b.id).await.unwrap_err();
    assert!(matches!(err, DbError::Secret(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&b.id) && message.contains("cannot be decrypted"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    // A itself still opens.
    assert_eq!(db.get_instance(&org, &a.id).await.unwrap().unwrap().config["token"], TOKEN);
}

async fn secrets_need_a_master_key(t: &TestDb) {
    let (org, customer, integration) = fixture(&t.db).await;
    let err = t.db.create_instance(&org, &new_instance(&customer, &integration), T0).await.unwrap_err();
    assert!(matches!(&err, DbError::Secret(m) if m.contains("config.token") && m.contains("no master key")), "{err}");
    // Nothing was stored.
    let listed = t.db.list_instances(&org, &InstanceFilter::default(), &Page::first(10)).await.unwrap();
    assert!(listed.items.is_empty(), "{:?}", listed.items);
    // Without secrets, no key is needed.
    let mut plain = new_instance(&customer, &integration);
    plain.secret_keys.clear();
    plain.config = json!({"endpoint": "https://crm.example"});
    t.db.create_instance(&org, &plain, T0).await.unwrap();
}

async fn rotation_rewraps_every_secret_and_loses_nothing(t: &TestDb) {
    let old = t.db.clone().with_vault(vault(false));
    let (org, customer, integration) = fixture(&old).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(old.create_instance(&org, &new_instance(&customer, &integration), T0).await.unwrap().id);
    }
    assert_eq!(old.secrets_under_key("k1").await.unwrap(), 7);
    // k2 added and current: re-wrap in batches of 3 (three reads).
    let new = t.db.clone().with_vault(vault(true));
    assert_eq!(new.rewrap_secrets(3).await.unwrap(), 7);
    assert_eq!(new.secrets_under_key("k1").await.unwrap(), 0, "nothing left under the old key");
    assert_eq!(new.secrets_under_key("k2").await.unwrap(), 7);
    assert_eq!(new.rewrap_secrets(3).await.unwrap(), 0, "a second pass has nothing to do");
    // Every secret opens with k2 alone.
    let only_k2 = t.db.clone().with_vault(Vault::new(keys("k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=")));
    for id in &ids {
        let i = only_k2.get_instance(&org, id).await.unwrap().unwrap();
        assert_eq!((i.config["token"].as_str(), &i.config["crm"]["type"]), (Some(TOKEN), &Value::from("bearer")));
    }
    // The old handle (k1 only) can no longer open them: it says which key it lacks.
    let err = old.get_instance(&org, &ids[0]).await.unwrap_err().to_string();
    assert!(err.contains("k2"), "{err}");
}

async fn a_node_with_other_master_keys_is_refused(t: &TestDb) {
    let first = t.db.clone().with_vault(vault(false));
    first.check_master_keys(T0).await.unwrap();
    first.check_master_keys(T0).await.unwrap();
    // Another node that made its own key file: the same id, other bytes.
    let stranger = t.db.clone().with_vault(Vault::new(keys("k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=")));
    let err = stranger.check_master_keys(T0).await.unwrap_err().to_string();
    assert!(err.contains("master key `k1`") && err.contains("same master keys"), "{err}");
    // A node with k1 and a new current k2 is fine, and k2 is checked from then on.
    let rotated = t.db.clone().with_vault(vault(true));
    rotated.check_master_keys(T0).await.unwrap();
    let wrong_k2 = t.db.clone().with_vault(Vault::new(keys(
        "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )));
    let err = wrong_k2.check_master_keys(T0).await.unwrap_err().to_string();
    assert!(err.contains("master key `k2`"), "{err}");
}

async fn plaintext_secrets_of_an_older_weft_are_sealed(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, customer, integration) = fixture(&db).await;
    // As an older Weft stored it: the secret and the connection in `config`, in the clear.
    let mut old = new_instance(&customer, &integration);
    old.secret_keys.clear();
    let created = db.create_instance(&org, &old, T0).await.unwrap();
    assert!(stored_row(t, &created.id).await.contains(TOKEN));
    let keys: Vec<String> = ["token", "crm", "unset"].map(String::from).to_vec();
    let listed = db.instances_without_sealed_secrets("", 10).await.unwrap();
    assert_eq!(listed, vec![(org.clone(), created.id.clone(), integration.clone(), 1)]);

    assert!(db.seal_plain_secrets(&org, &created.id, &keys).await.unwrap());
    let stored = stored_row(t, &created.id).await;
    assert!(!stored.contains(TOKEN), "still in plaintext: {stored}");
    assert!(stored.contains("https://crm.example") && stored.contains("v1.k1."), "{stored}");
    let read = db.get_instance(&org, &created.id).await.unwrap().unwrap();
    assert_eq!(read.config["token"], TOKEN);
    assert_eq!(read.config["crm"]["token"], format!("{TOKEN}-conn"));
    assert!(!db.seal_plain_secrets(&org, &created.id, &keys).await.unwrap(), "nothing left to seal");
    assert!(db.instances_without_sealed_secrets("", 10).await.unwrap().is_empty(), "not a candidate any more");
    assert_eq!(db.get_instance(&org, &created.id).await.unwrap().unwrap().config, read.config);
}
