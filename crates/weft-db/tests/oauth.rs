//! OAuth storage on SQLite and PostgreSQL: clients' secrets, connections' tokens and PKCE
//! verifiers sealed and bound to their rows, the refresh lease (one holder, taken over when it
//! lapses, compare-and-set on the row's version), authorizations used once and expiring,
//! rotation re-wrapping every OAuth value, and deletion with the instance.

mod common;

use serde_json::{Map, json};
use weft_db::*;
use weft_vault::{Keyring, Vault};

use common::TestDb;

db_tests!(
    oauth_secrets_are_sealed_and_bound_to_their_rows,
    the_refresh_lease_has_one_holder,
    authorizations_are_used_once_and_expire,
    rotation_rewraps_oauth_values_and_deletion_takes_them,
    customer_connections_are_sealed_rewrapped_and_go_with_the_customer,
);

const T0: Millis = 1_700_000_000_000;
const SECRET: &str = "client-secret-5ecr3t";
const ACCESS: &str = "access-tok-5ecr3t";
const REFRESH: &str = "refresh-tok-5ecr3t";

fn vault(two: bool) -> Vault {
    let k1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let k2 = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    Vault::new(Keyring::from_env_value(&if two { format!("{k1},{k2}") } else { k1.to_string() }).unwrap())
}

/// An organization with an instance; returns (org, instance).
async fn fixture(db: &Db) -> (String, String) {
    let (org, _, inst) = fixture3(db).await;
    (org, inst)
}

/// An organization with a customer and an instance of it; returns (org, customer, instance).
async fn fixture3(db: &Db) -> (String, String, String) {
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let new = NewCustomer { external_id: None, name: "Acme".into(), labels: Map::new() };
    let customer = db.create_customer(&org.id, &new, T0).await.unwrap();
    let integration = common::published_integration(db, &org.id, "crm").await;
    let inst = NewInstance {
        customer_id: customer.id,
        integration_id: integration.id,
        version: 1,
        name: "i".into(),
        config: json!({}),
        webhook_flows: vec![],
        secret_keys: vec![],
    };
    let i = db.create_instance(&org.id, &inst, T0).await.unwrap();
    (org.id, i.customer_id, i.id)
}

fn tokens(access: &str) -> Tokens {
    Tokens {
        access_token: access.into(),
        refresh_token: Some(REFRESH.into()),
        token_type: Some("Bearer".into()),
        scope: None,
    }
}

/// Every row of the OAuth tables, as stored.
async fn stored(t: &TestDb) -> String {
    let raw = t.raw().await;
    let mut out = String::new();
    for (table, cols) in [
        ("oauth_clients", "client_id || ' ' || client_secret"),
        ("connections", "COALESCE(tokens, '')"),
        ("oauth_states", "COALESCE(verifier, '')"),
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {cols} FROM {table}")))
            .fetch_all(&raw)
            .await
            .unwrap();
        out.push_str(&rows.join("\n"));
        out.push('\n');
    }
    out
}

async fn oauth_secrets_are_sealed_and_bound_to_their_rows(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, inst) = fixture(&db).await;
    db.put_oauth_client(&org, "crm-app", "client-1", SECRET, T0).await.unwrap();
    let conn = db.ensure_connection(&org, &Owner::Instance(inst.clone()), "crm", T0).await.unwrap();
    assert_eq!(conn.status, ConnectionStatus::NeedsAuthorization);
    assert!(db.store_tokens(&conn, conn.version, &tokens(ACCESS), Some(T0 + 3_600_000), T0).await.unwrap());
    db.insert_oauth_state(
        &org,
        &conn.id,
        (&inst, "crm"),
        "state-1",
        Some("verifier-5ecr3t"),
        None,
        None,
        T0 + 600_000,
        T0,
    )
    .await
    .unwrap();

    let raw = stored(t).await;
    assert!(raw.contains("client-1"), "the client id is not a secret: {raw}");
    for secret in [SECRET, ACCESS, REFRESH, "verifier-5ecr3t"] {
        assert!(!raw.contains(secret), "{secret} stored in plaintext: {raw}");
    }
    assert_eq!(db.oauth_client(&org, "crm-app").await.unwrap().unwrap().client_secret.as_str(), SECRET);
    let read = db.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().unwrap();
    assert_eq!(read.status, ConnectionStatus::Ok);
    assert_eq!(read.tokens.as_ref().unwrap().access_token, ACCESS);
    assert_eq!(read.expires_at, Some(T0 + 3_600_000));
    assert!(!format!("{read:?}").contains(REFRESH), "Debug shows no token");

    // A sealed value moved to another row does not open.
    let raw_db = t.raw().await;
    db.put_oauth_client(&org, "other-app", "client-2", "other-secret", T0).await.unwrap();
    sqlx::query(
        "UPDATE oauth_clients SET client_secret = (SELECT client_secret FROM oauth_clients WHERE key = 'crm-app')
         WHERE key = 'other-app'",
    )
    .execute(&raw_db)
    .await
    .unwrap();
    let e = db.oauth_client(&org, "other-app").await.unwrap_err();
    assert!(e.to_string().contains("OAuth client other-app's secret cannot be decrypted"), "{e}");
    // Other organizations see nothing of it.
    let (other, _) = db.ensure_organization("other-vendor", T0).await.unwrap();
    assert!(db.oauth_client(&other.id, "crm-app").await.unwrap().is_none());
    assert!(db.connection(&other.id, &Owner::Instance(inst.clone()), "crm").await.unwrap().is_none());
    // Without a master key nothing is stored.
    let e = t.db.put_oauth_client(&org, "plain", "c", "s", T0).await.unwrap_err();
    assert!(matches!(e, DbError::Secret(_)), "{e}");
}

async fn the_refresh_lease_has_one_holder(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, inst) = fixture(&db).await;
    let c = db.ensure_connection(&org, &Owner::Instance(inst.clone()), "crm", T0).await.unwrap();
    assert!(db.store_tokens(&c, c.version, &tokens(ACCESS), Some(T0 + 1000), T0).await.unwrap());
    let c = db.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().unwrap();
    // One holder at a time; the other node sees who holds it.
    assert!(db.lock_connection(&c.id, c.version, "node-a", T0 + 30_000, T0).await.unwrap());
    assert!(!db.lock_connection(&c.id, c.version, "node-b", T0 + 30_000, T0 + 10).await.unwrap());
    let seen = db.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().unwrap();
    assert_eq!(seen.lock_owner.as_deref(), Some("node-a"));
    // A lapsed lease is taken over; the first holder's late write then loses nothing newer.
    assert!(db.lock_connection(&c.id, c.version, "node-b", T0 + 90_000, T0 + 30_001).await.unwrap());
    assert!(db.store_tokens(&c, c.version, &tokens("from-b"), Some(T0 + 3_600_000), T0 + 30_100).await.unwrap());
    assert!(!db.store_tokens(&c, c.version, &tokens("late-from-a"), Some(T0 + 3_600_000), T0 + 30_200).await.unwrap());
    let now = db.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().unwrap();
    assert_eq!(now.tokens.as_ref().unwrap().access_token, "from-b");
    assert_eq!((now.lock_owner, now.version), (None, c.version + 1));
    // A stale version cannot take the lease either.
    assert!(!db.lock_connection(&c.id, c.version, "node-c", T0 + 99_000, T0 + 40_000).await.unwrap());
    // A refused refresh: the status and message, lease released.
    assert!(db.lock_connection(&c.id, now.version, "node-c", T0 + 99_000, T0 + 40_000).await.unwrap());
    assert!(
        db.set_connection_status(&c.id, now.version, ConnectionStatus::Error, Some("invalid_grant"), T0 + 40_001)
            .await
            .unwrap()
    );
    let failed = db.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().unwrap();
    assert_eq!((failed.status, failed.message.as_deref()), (ConnectionStatus::Error, Some("invalid_grant")));
    assert_eq!(failed.lock_owner, None);
    assert!(db.connections_expiring(T0 + 10_000_000, 10).await.unwrap().is_empty(), "errors are not refreshed");
    // Due for refresh: ok, with tokens, expiring before the horizon.
    assert!(db.store_tokens(&failed, failed.version, &tokens("x"), Some(T0 + 50_000), T0 + 40_002).await.unwrap());
    assert_eq!(
        db.connections_expiring(T0 + 60_000, 10).await.unwrap(),
        vec![(org.clone(), inst.clone(), "crm".to_string())]
    );
    assert!(db.connections_expiring(T0 + 40_000, 10).await.unwrap().is_empty());
}

async fn authorizations_are_used_once_and_expire(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, inst) = fixture(&db).await;
    let c = db.ensure_connection(&org, &Owner::Instance(inst.clone()), "crm", T0).await.unwrap();
    db.insert_oauth_state(
        &org,
        &c.id,
        (&inst, "crm"),
        "s1",
        Some("v1-verifier"),
        Some("https://ok"),
        None,
        T0 + 600_000,
        T0,
    )
    .await
    .unwrap();
    db.insert_oauth_state(&org, &c.id, (&inst, "crm"), "s2", None, None, None, T0 + 600_000, T0).await.unwrap();
    let got = db.take_oauth_state("s1", T0 + 1).await.unwrap().unwrap();
    assert_eq!(
        (got.connection_id.as_str(), got.verifier.as_deref().map(|v| v.as_str())),
        (c.id.as_str(), Some("v1-verifier"))
    );
    assert_eq!(got.success_url.as_deref(), Some("https://ok"));
    assert!(db.take_oauth_state("s1", T0 + 2).await.unwrap().is_none(), "used once");
    assert!(db.take_oauth_state("nope", T0 + 2).await.unwrap().is_none());
    assert!(db.take_oauth_state("s2", T0 + 600_001).await.unwrap().is_none(), "expired");
    let raw = t.raw().await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oauth_states").fetch_one(&raw).await.unwrap();
    assert_eq!(left, 0);
}

async fn rotation_rewraps_oauth_values_and_deletion_takes_them(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, inst) = fixture(&db).await;
    db.put_oauth_client(&org, "crm-app", "client-1", SECRET, T0).await.unwrap();
    let c = db.ensure_connection(&org, &Owner::Instance(inst.clone()), "crm", T0).await.unwrap();
    db.store_tokens(&c, c.version, &tokens(ACCESS), Some(T0 + 3_600_000), T0).await.unwrap();
    db.insert_oauth_state(&org, &c.id, (&inst, "crm"), "s1", Some("verifier-x"), None, None, T0 + 600_000, T0)
        .await
        .unwrap();
    assert_eq!(db.secrets_under_key("k1").await.unwrap(), 3);

    let rotated = t.db.clone().with_vault(vault(true));
    assert_eq!(rotated.rewrap_secrets(1).await.unwrap(), 3);
    assert_eq!(rotated.secrets_under_key("k1").await.unwrap(), 0, "nothing left under the old key");
    assert_eq!(rotated.secrets_under_key("k2").await.unwrap(), 3);
    assert!(stored(t).await.contains("v1.k2."));
    assert_eq!(rotated.oauth_client(&org, "crm-app").await.unwrap().unwrap().client_secret.as_str(), SECRET);
    let read = rotated.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().unwrap();
    assert_eq!(read.tokens.unwrap().access_token, ACCESS);
    let state = rotated.take_oauth_state("s1", T0 + 1).await.unwrap().unwrap();
    assert_eq!(state.verifier.unwrap().as_str(), "verifier-x");
    assert_eq!(rotated.rewrap_secrets(1).await.unwrap(), 0, "a second pass has nothing to do");

    rotated
        .insert_oauth_state(&org, &c.id, (&inst, "crm"), "s2", Some("v"), None, None, T0 + 600_000, T0)
        .await
        .unwrap();
    rotated.delete_instance(&org, &inst).await.unwrap();
    assert!(rotated.connection(&org, &Owner::Instance(inst.clone()), "crm").await.unwrap().is_none());
    let raw = t.raw().await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oauth_states").fetch_one(&raw).await.unwrap();
    assert_eq!(left, 0, "pending authorizations go with the instance");
}

async fn customer_connections_are_sealed_rewrapped_and_go_with_the_customer(t: &TestDb) {
    let db = t.db.clone().with_vault(vault(false));
    let (org, customer, inst) = fixture3(&db).await;
    let value = json!({"type": "api_key", "header": "x-key", "value": ACCESS});
    let c = db.put_customer_connection(&org, &customer, "shared", &value, T0).await.unwrap();
    assert_eq!((c.status, c.instance_id.as_deref()), (ConnectionStatus::Ok, None));
    assert_eq!(c.fields.as_ref(), Some(&value));
    let raw = t.raw().await;
    let stored: Vec<Option<String>> =
        sqlx::query_scalar("SELECT fields FROM connections").fetch_all(&raw).await.unwrap();
    assert!(stored.iter().flatten().all(|f| f.starts_with("v1.k1.") && !f.contains(ACCESS)), "{stored:?}");
    // Owners keep their keys apart: the instance's own `shared` is another connection.
    let own = db.ensure_connection(&org, &Owner::Instance(inst.clone()), "shared", T0).await.unwrap();
    assert_ne!(own.id, c.id);
    assert_eq!(own.fields, None);
    assert_eq!(db.customer_connections(&org, &customer).await.unwrap().len(), 1);
    // Replacing keeps the row and bumps its version.
    let value2 = json!({"type": "bearer", "token": REFRESH});
    let c2 = db.put_customer_connection(&org, &customer, "shared", &value2, T0 + 1).await.unwrap();
    assert_eq!((c2.id.as_str(), c2.version, c2.fields.as_ref()), (c.id.as_str(), c.version + 1, Some(&value2)));
    // An OAuth customer connection cannot be given credentials.
    let oauth = db.ensure_connection(&org, &Owner::Customer(customer.clone()), "crm", T0).await.unwrap();
    db.store_tokens(&oauth, oauth.version, &tokens(ACCESS), None, T0).await.unwrap();
    let e = db.put_customer_connection(&org, &customer, "crm", &value, T0).await.unwrap_err();
    assert!(matches!(e, DbError::Conflict(_)), "{e}");
    // Rotation re-wraps the fields too.
    let rotated = t.db.clone().with_vault(vault(true));
    assert!(rotated.rewrap_secrets(10).await.unwrap() >= 2);
    assert_eq!(rotated.secrets_under_key("k1").await.unwrap(), 0);
    let read = rotated.connection(&org, &Owner::Customer(customer.clone()), "shared").await.unwrap().unwrap();
    assert_eq!(read.fields, Some(value2));
    // Deleting one, then the customer (after its instance) takes the rest.
    rotated.delete_customer_connection(&org, &customer, "shared").await.unwrap();
    let e = rotated.delete_customer_connection(&org, &customer, "shared").await.unwrap_err();
    assert!(matches!(e, DbError::NotFound(_)), "{e}");
    rotated.delete_instance(&org, &inst).await.unwrap();
    rotated.delete_customer(&org, &customer).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections").fetch_one(&raw).await.unwrap();
    assert_eq!(left, 0);
}
