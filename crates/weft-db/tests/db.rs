//! Behaviour of every storage operation, run on SQLite and (with `WEFT_TEST_POSTGRES_URL`) on
//! PostgreSQL through the same test bodies.

mod common;

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use sqlx::Row;
use weft_db::*;
use weft_model::Role;

use common::TestDb;

db_tests!(
    reopen_runs_migrations_once,
    organizations_and_tokens,
    customers,
    integrations_and_versions,
    instances_and_webhooks,
    execution_lifecycle,
    execution_created_claimed,
    concurrent_claimers_never_share,
    list_executions_filters_and_pages,
    logs_pagination,
    concurrent_creates_and_finishes,
);

const T0: Millis = 1_700_000_000_000;

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// An organization with a customer and an integration published as version 1, whose flows
/// `hook` and `other` are webhook flows.
struct Fixture {
    org: String,
    customer: String,
    integration: String,
}

async fn fixture(db: &Db, org_name: &str) -> Fixture {
    let (org, _) = db.ensure_organization(org_name, T0).await.unwrap();
    let customer = db
        .create_customer(
            &org.id,
            &NewCustomer { external_id: Some("acme".into()), name: "Acme".into(), labels: Map::new() },
            T0,
        )
        .await
        .unwrap();
    let integration = db.save_draft(&org.id, &draft("order-sync", "v1"), T0).await.unwrap();
    db.publish_version(&org.id, &integration.id, T0).await.unwrap();
    Fixture { org: org.id, customer: customer.id, integration: integration.id }
}

fn draft(key: &str, marker: &str) -> NewDraft {
    NewDraft {
        key: key.into(),
        name: format!("Integration {key}"),
        description: Some(format!("draft {marker}")),
        format: "yaml".into(),
        source: format!("key: {key}\n# {marker}\n"),
        definition: json!({"key": key, "marker": marker}),
    }
}

async fn new_instance(db: &Db, fx: &Fixture, flows: &[&str]) -> Instance {
    db.create_instance(
        &fx.org,
        &NewInstance {
            customer_id: fx.customer.clone(),
            integration_id: fx.integration.clone(),
            version: 1,
            name: "Acme order sync".into(),
            config: json!({"endpoint": "https://example.test"}),
            webhook_flows: flows.iter().map(|f| f.to_string()).collect(),
            secret_keys: Vec::new(),
        },
        T0,
    )
    .await
    .unwrap()
}

fn new_execution(fx: &Fixture, instance: &str, flow: &str, n: i64) -> NewExecution {
    NewExecution {
        org_id: fx.org.clone(),
        instance_id: instance.into(),
        customer_id: fx.customer.clone(),
        integration_id: fx.integration.clone(),
        version: 1,
        flow_key: flow.into(),
        trigger: json!({"body": {"n": n}}),
        replay_of: None,
        claimed_by: None,
        lease_ms: 0,
        idempotency_key: None,
    }
}

fn step(key: &str) -> StepRow {
    StepRow {
        seq: 999, // ignored: the database assigns seqs
        path: format!("steps.{key}"),
        key: key.into(),
        kind: "transform".into(),
        action: None,
        status: "succeeded".into(),
        input: Some(json!({"in": key})),
        output: Some(json!({"out": key})),
        error: None,
        attempts: 1,
        started_at: T0,
        finished_at: T0 + 1,
    }
}

fn log(message: &str) -> LogRow {
    LogRow { seq: -5, at: T0, level: "info".into(), step_path: None, message: message.into() }
}

async fn reopen_runs_migrations_once(t: &TestDb) {
    let (org, created) = t.db.ensure_organization("acme-vendor", T0).await.unwrap();
    assert!(created);
    // A second open of the same database runs the (already applied) migrations again.
    let again = Db::open(&t.url).await.unwrap();
    assert_eq!(again.backend(), t.db.backend());
    again.ping().await.unwrap();
    let (same, created) = again.ensure_organization("acme-vendor", T0 + 5).await.unwrap();
    assert!(!created);
    assert_eq!(same, org);
    assert_eq!(again.get_organization(&org.id).await.unwrap(), Some(org));
    assert_eq!(again.get_organization("org_missing").await.unwrap(), None);
}

async fn organizations_and_tokens(t: &TestDb) {
    let db = &t.db;
    let (org, created) = db.ensure_organization("vendor", T0).await.unwrap();
    assert!(created && org.id.starts_with("org_") && org.created_at == T0);
    assert!(matches!(db.ensure_organization(" ", T0).await, Err(DbError::Invalid(_))));

    let (token, plaintext) = db.create_token(&org.id, "ci", Role::Builder, T0).await.unwrap();
    assert!(token.id.starts_with("tok_"));
    assert_eq!(token.role, Role::Builder);
    assert!(plaintext.starts_with("weft_") && plaintext.len() == 45, "{plaintext}");
    let (_, other) = db.create_token(&org.id, "ops", Role::Owner, T0).await.unwrap();
    assert_ne!(plaintext, other);

    assert_eq!(db.authenticate(&plaintext).await.unwrap(), Some(token.clone()));
    assert_eq!(db.authenticate("weft_0000000000000000000000000000000000000000").await.unwrap(), None);
    assert_eq!(db.authenticate(&plaintext[..44]).await.unwrap(), None);
    assert_eq!(db.authenticate("").await.unwrap(), None);

    // Only the hash is stored.
    let raw = t.raw().await;
    let rows = sqlx::query("SELECT id, org_id, name, role, token_hash FROM api_tokens").fetch_all(&raw).await.unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        for col in ["id", "org_id", "name", "role", "token_hash"] {
            let v: String = row.try_get(col).unwrap();
            assert!(!v.contains(&plaintext[5..]) && !v.contains(&other[5..]), "{col} holds a secret");
        }
    }
    let hash: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens WHERE id = $1")
        .bind(&token.id)
        .fetch_one(&raw)
        .await
        .unwrap();
    use sha2::Digest;
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(plaintext.as_bytes())));

    assert!(matches!(
        db.create_token("org_missing", "x", Role::Viewer, T0).await,
        Err(DbError::NotFound(m)) if m.contains("org_missing")
    ));
}

async fn customers(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let (other_org, _) = db.ensure_organization("other", T0).await.unwrap();
    let new =
        NewCustomer { external_id: Some("c-1".into()), name: "First".into(), labels: labels(json!({"tier": "gold"})) };
    let c1 = db.create_customer(&org.id, &new, T0).await.unwrap();
    assert!(c1.id.starts_with("cus_"));
    assert_eq!((c1.external_id.as_deref(), c1.name.as_str()), (Some("c-1"), "First"));
    assert_eq!(c1.labels, labels(json!({"tier": "gold"})));

    // by id and by external id; never across organizations
    assert_eq!(db.get_customer(&org.id, &CustomerRef::Id(c1.id.clone())).await.unwrap(), Some(c1.clone()));
    assert_eq!(db.get_customer(&org.id, &CustomerRef::parse("ext:c-1")).await.unwrap(), Some(c1.clone()));
    assert_eq!(CustomerRef::parse(&c1.id), CustomerRef::Id(c1.id.clone()));
    assert_eq!(db.get_customer(&other_org.id, &CustomerRef::Id(c1.id.clone())).await.unwrap(), None);
    assert_eq!(db.get_customer(&org.id, &CustomerRef::parse("ext:nope")).await.unwrap(), None);

    // duplicate external id: conflict in the same org, fine in another; no external id twice is fine
    let dup = db.create_customer(&org.id, &new, T0).await;
    assert!(matches!(&dup, Err(DbError::Conflict(m)) if m.contains("c-1")), "{dup:?}");
    db.create_customer(&other_org.id, &new, T0).await.unwrap();
    let anon = NewCustomer { external_id: None, name: "Anon".into(), labels: Map::new() };
    db.create_customer(&org.id, &anon, T0).await.unwrap();
    let c3 = db.create_customer(&org.id, &anon, T0 + 1).await.unwrap();

    // update: name only, then external id change (conflicting, then clearing)
    let patch = CustomerPatch { name: Some("Renamed".into()), ..Default::default() };
    let u = db.update_customer(&org.id, &c1.id, &patch, T0 + 10).await.unwrap();
    assert_eq!((u.name.as_str(), u.external_id.as_deref(), u.updated_at), ("Renamed", Some("c-1"), T0 + 10));
    assert_eq!(u.labels, c1.labels);
    assert_eq!(u.created_at, T0);
    let clash = CustomerPatch { external_id: Some(Some("c-1".into())), ..Default::default() };
    assert!(matches!(db.update_customer(&org.id, &c3.id, &clash, T0).await, Err(DbError::Conflict(_))));
    let clear = CustomerPatch { external_id: Some(None), labels: Some(labels(json!({"a": 1}))), ..Default::default() };
    let u = db.update_customer(&org.id, &c1.id, &clear, T0 + 11).await.unwrap();
    assert_eq!((u.external_id, u.labels, u.name.as_str()), (None, labels(json!({"a": 1})), "Renamed"));
    assert!(matches!(
        db.update_customer(&org.id, "cus_missing", &patch, T0).await,
        Err(DbError::NotFound(m)) if m == "customer cus_missing"
    ));
    assert!(matches!(db.update_customer(&other_org.id, &c1.id, &patch, T0).await, Err(DbError::NotFound(_))));

    // listing: creation order, paged
    let p1 = db.list_customers(&org.id, &Page::first(2)).await.unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(p1.items[0].id, c1.id);
    let p2 = db.list_customers(&org.id, &Page { cursor: p1.next_cursor.clone(), limit: 2 }).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.items[0].id, c3.id);
    assert_eq!(p2.next_cursor, None);

    // delete: refused while instances exist
    let fx = Fixture { org: org.id.clone(), customer: c3.id.clone(), integration: String::new() };
    let integration = db.save_draft(&org.id, &draft("i", "1"), T0).await.unwrap();
    db.publish_version(&org.id, &integration.id, T0).await.unwrap();
    let fx = Fixture { integration: integration.id, ..fx };
    let inst = new_instance(db, &fx, &[]).await;
    let refused = db.delete_customer(&org.id, &c3.id).await;
    assert!(
        matches!(&refused, Err(DbError::Conflict(m)) if m == "customer has 1 instances; delete them first"),
        "{refused:?}"
    );
    db.delete_instance(&org.id, &inst.id).await.unwrap();
    db.delete_customer(&org.id, &c3.id).await.unwrap();
    assert_eq!(db.get_customer(&org.id, &CustomerRef::Id(c3.id.clone())).await.unwrap(), None);
    assert!(matches!(db.delete_customer(&org.id, &c3.id).await, Err(DbError::NotFound(_))));
    assert!(matches!(db.delete_customer(&other_org.id, &c1.id).await, Err(DbError::NotFound(_))));
}

async fn integrations_and_versions(t: &TestDb) {
    let db = &t.db;
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    let i = db.save_draft(&org.id, &draft("order-sync", "a"), T0).await.unwrap();
    assert!(i.id.starts_with("int_"));
    assert_eq!((i.key.as_str(), i.latest_version, i.draft_format.as_str()), ("order-sync", None, "yaml"));
    assert_eq!(i.draft_definition, json!({"key": "order-sync", "marker": "a"}));

    let v1 = db.publish_version(&org.id, &i.id, T0 + 1).await.unwrap();
    assert_eq!((v1.version, v1.created_at), (1, T0 + 1));
    assert_eq!(v1.source, "key: order-sync\n# a\n");

    // Re-importing the key updates the draft of the same integration; v1 does not change.
    let i2 = db.save_draft(&org.id, &draft("order-sync", "b"), T0 + 2).await.unwrap();
    assert_eq!(i2.id, i.id);
    assert_eq!((i2.created_at, i2.updated_at, i2.latest_version), (T0, T0 + 2, Some(1)));
    assert_eq!(i2.description.as_deref(), Some("draft b"));
    assert_eq!(db.get_version(&org.id, &i.id, 1).await.unwrap(), Some(v1.clone()));

    // A version pins the custom component versions it runs with.
    let pins = std::collections::BTreeMap::from([("acme-crm".to_string(), "1.2.0".to_string())]);
    let v2 = db.publish_version_pinned(&org.id, &i.id, &pins, T0 + 3).await.unwrap();
    assert_eq!((v2.version, &v2.components), (2, &pins));
    assert_eq!(db.get_version(&org.id, &i.id, 2).await.unwrap().unwrap().components, pins);
    assert!(v1.components.is_empty());
    assert_eq!(v2.definition, json!({"key": "order-sync", "marker": "b"}));
    assert_eq!(db.get_version(&org.id, &i.id, 1).await.unwrap(), Some(v1.clone()));
    assert_eq!(db.get_version(&org.id, &i.id, 3).await.unwrap(), None);

    let by_key = db.get_integration(&org.id, "order-sync").await.unwrap().unwrap();
    let by_id = db.get_integration(&org.id, &i.id).await.unwrap().unwrap();
    assert_eq!(by_key, by_id);
    assert_eq!(by_key.latest_version, Some(2));
    assert_eq!(db.get_integration(&org.id, "missing").await.unwrap(), None);
    let (other, _) = db.ensure_organization("other", T0).await.unwrap();
    assert_eq!(db.get_integration(&other.id, &i.id).await.unwrap(), None);
    assert_eq!(db.get_version(&other.id, &i.id, 1).await.unwrap(), None);

    // versions newest first, paged
    db.publish_version(&org.id, &i.id, T0 + 4).await.unwrap();
    let p1 = db.list_versions(&org.id, &i.id, &Page::first(2)).await.unwrap();
    assert_eq!(p1.items.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 2]);
    let p2 = db.list_versions(&org.id, &i.id, &Page { cursor: p1.next_cursor, limit: 2 }).await.unwrap();
    assert_eq!(p2.items, vec![v1]);
    assert_eq!(p2.next_cursor, None);
    let bad = db.list_versions(&org.id, &i.id, &Page { cursor: Some("x".into()), limit: 2 }).await;
    assert!(matches!(bad, Err(DbError::Invalid(_))));

    db.save_draft(&org.id, &draft("second", "a"), T0).await.unwrap();
    let all = db.list_integrations(&org.id, &Page::default()).await.unwrap();
    assert_eq!(all.items.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["order-sync", "second"]);

    assert!(matches!(
        db.publish_version(&org.id, "int_missing", T0).await,
        Err(DbError::NotFound(m)) if m == "integration int_missing"
    ));
    assert!(matches!(db.publish_version(&other.id, &i.id, T0).await, Err(DbError::NotFound(_))));
    let mut bad = draft("x", "a");
    bad.format = "toml".into();
    assert!(matches!(db.save_draft(&org.id, &bad, T0).await, Err(DbError::Invalid(_))));
}

async fn instances_and_webhooks(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let inst = new_instance(db, &fx, &["hook", "other", "hook"]).await;
    assert!(inst.id.starts_with("ins_") && inst.enabled);
    assert_eq!(inst.webhooks.iter().map(|w| w.flow_key.as_str()).collect::<Vec<_>>(), ["hook", "other"]);
    for w in &inst.webhooks {
        assert_eq!(w.token.len(), 64);
        assert!(w.token.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(inst.webhooks[0].token, inst.webhooks[1].token);
    assert_eq!(db.get_instance(&fx.org, &inst.id).await.unwrap(), Some(inst.clone()));

    let target = db.webhook_target(&inst.webhooks[1].token).await.unwrap().unwrap();
    assert_eq!((target.org_id.as_str(), target.flow_key.as_str()), (fx.org.as_str(), "other"));
    assert_eq!(target.instance, inst);
    assert_eq!(db.webhook_target("nope").await.unwrap(), None);

    // not found: customer, version, other org
    let mut bad = NewInstance {
        customer_id: "cus_missing".into(),
        integration_id: fx.integration.clone(),
        version: 1,
        name: "x".into(),
        config: json!({}),
        webhook_flows: vec![],
        secret_keys: Vec::new(),
    };
    assert!(
        matches!(db.create_instance(&fx.org, &bad, T0).await, Err(DbError::NotFound(m)) if m == "customer cus_missing")
    );
    bad.customer_id = fx.customer.clone();
    bad.version = 7;
    assert!(
        matches!(db.create_instance(&fx.org, &bad, T0).await, Err(DbError::NotFound(m)) if m.ends_with("version 7"))
    );
    let other = fixture(db, "other").await;
    assert_eq!(db.get_instance(&other.org, &inst.id).await.unwrap(), None);
    bad.version = 1;
    bad.customer_id = other.customer.clone();
    assert!(matches!(db.create_instance(&fx.org, &bad, T0).await, Err(DbError::NotFound(_))));

    // pause / resume
    let paused = db.set_instance_enabled(&fx.org, &inst.id, false, T0 + 5).await.unwrap();
    assert!(!paused.enabled);
    assert_eq!(paused.updated_at, T0 + 5);
    assert!(db.set_instance_enabled(&fx.org, &inst.id, true, T0 + 6).await.unwrap().enabled);
    assert!(matches!(db.set_instance_enabled(&other.org, &inst.id, true, T0).await, Err(DbError::NotFound(_))));

    // upgrade: `hook` keeps its token, `other` goes, `third` is new
    db.save_draft(&fx.org, &draft("order-sync", "v2"), T0).await.unwrap();
    db.publish_version(&fx.org, &fx.integration, T0).await.unwrap();
    let up = InstanceUpgrade {
        version: 2,
        config: json!({"endpoint": "https://v2.example.test"}),
        webhook_flows: vec!["third".into(), "hook".into()],
        secret_keys: Vec::new(),
    };
    let upgraded = db.upgrade_instance(&fx.org, &inst.id, &up, T0 + 7).await.unwrap();
    assert_eq!((upgraded.version, upgraded.updated_at), (2, T0 + 7));
    assert_eq!(upgraded.config, up.config);
    assert_eq!(upgraded.webhooks.iter().map(|w| w.flow_key.as_str()).collect::<Vec<_>>(), ["hook", "third"]);
    assert_eq!(upgraded.webhooks[0], inst.webhooks[0]);
    assert_eq!(db.webhook_target(&inst.webhooks[1].token).await.unwrap(), None);
    let third = db.webhook_target(&upgraded.webhooks[1].token).await.unwrap().unwrap();
    assert_eq!(third.flow_key, "third");
    let bad_up = InstanceUpgrade { version: 9, ..up.clone() };
    assert!(matches!(db.upgrade_instance(&fx.org, &inst.id, &bad_up, T0).await, Err(DbError::NotFound(_))));
    assert!(matches!(db.upgrade_instance(&fx.org, "ins_missing", &up, T0).await, Err(DbError::NotFound(_))));
    assert_eq!(db.get_instance(&fx.org, &inst.id).await.unwrap().unwrap().version, 2);

    // listing with filters, paged
    let second = new_instance(db, &fx, &["hook"]).await;
    let c2 = db
        .create_customer(&fx.org, &NewCustomer { external_id: None, name: "B".into(), labels: Map::new() }, T0)
        .await
        .unwrap();
    let fx2 = Fixture { customer: c2.id.clone(), org: fx.org.clone(), integration: fx.integration.clone() };
    let third_inst = new_instance(db, &fx2, &[]).await;
    let page1 = db.list_instances(&fx.org, &InstanceFilter::default(), &Page::first(2)).await.unwrap();
    assert_eq!(page1.items.iter().map(|i| &i.id).collect::<Vec<_>>(), [&inst.id, &second.id]);
    assert_eq!(page1.items[0].webhooks.len(), 2);
    assert_eq!(page1.items[1].webhooks.len(), 1);
    let page2 = db
        .list_instances(&fx.org, &InstanceFilter::default(), &Page { cursor: page1.next_cursor, limit: 2 })
        .await
        .unwrap();
    assert_eq!(page2.items, vec![third_inst.clone()]);
    assert_eq!(page2.next_cursor, None);
    let by_customer = InstanceFilter { customer_id: Some(c2.id.clone()), integration_id: None };
    let listed = db.list_instances(&fx.org, &by_customer, &Page::default()).await.unwrap();
    assert_eq!(listed.items, vec![third_inst]);
    let by_integration =
        InstanceFilter { customer_id: Some(fx.customer.clone()), integration_id: Some(fx.integration.clone()) };
    assert_eq!(db.list_instances(&fx.org, &by_integration, &Page::default()).await.unwrap().items.len(), 2);
    assert_eq!(db.list_instances(&other.org, &by_integration, &Page::default()).await.unwrap().items.len(), 0);

    // delete removes the webhooks, keeps executions
    let exe = db.create_execution(&new_execution(&fx, &inst.id, "hook", 1), T0).await.unwrap();
    assert!(matches!(db.delete_instance(&other.org, &inst.id).await, Err(DbError::NotFound(_))));
    db.delete_instance(&fx.org, &inst.id).await.unwrap();
    assert_eq!(db.get_instance(&fx.org, &inst.id).await.unwrap(), None);
    assert_eq!(db.webhook_target(&inst.webhooks[0].token).await.unwrap(), None);
    let raw = t.raw().await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE instance_id = $1")
        .bind(&inst.id)
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert!(db.get_execution(&fx.org, &exe.id).await.unwrap().is_some());
    assert!(matches!(db.delete_instance(&fx.org, &inst.id).await, Err(DbError::NotFound(_))));
}

async fn execution_lifecycle(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let inst = new_instance(db, &fx, &["hook"]).await;
    let created = db.create_execution(&new_execution(&fx, &inst.id, "hook", 1), T0).await.unwrap();
    assert!(created.id.starts_with("exe_"));
    assert_eq!((created.status, created.attempts, created.lease_owner.as_deref()), (ExecutionStatus::Queued, 0, None));
    assert_eq!(db.get_execution(&fx.org, &created.id).await.unwrap(), Some(created.clone()));

    // not due yet, then claimed once
    assert!(db.claim_executions("r1", 10, 1_000, T0 - 1).await.unwrap().is_empty());
    let claimed = db.claim_executions("r1", 10, 1_000, T0 + 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!((c.id.as_str(), c.status, c.attempts), (created.id.as_str(), ExecutionStatus::Running, 1));
    assert_eq!((c.lease_owner.as_deref(), c.lease_until, c.started_at), (Some("r1"), Some(T0 + 1_010), Some(T0 + 10)));
    assert_eq!(c.trigger, json!({"body": {"n": 1}}));
    assert!(db.claim_executions("r2", 10, 1_000, T0 + 500).await.unwrap().is_empty());

    // renew keeps it; a checkpoint by the owner appends steps and logs in order
    assert_eq!(db.renew_leases("r1", 1_000, T0 + 900).await.unwrap(), vec![c.id.clone()]);
    assert_eq!(db.renew_leases("r2", 1_000, T0 + 900).await.unwrap(), Vec::<String>::new());
    assert!(db.claim_executions("r2", 10, 1_000, T0 + 1_500).await.unwrap().is_empty());
    let state1 = json!({"done": ["a", "b"]});
    db.checkpoint(&Checkpoint {
        id: &c.id,
        owner: "r1",
        state: &state1,
        steps: &[step("a"), step("b")],
        logs: &[log("one"), log("two")],
        response: None,
    })
    .await
    .unwrap();
    let after = db.get_execution(&fx.org, &c.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.response), (Some(state1.clone()), None));

    // the lease expires: r2 takes over, r1 can no longer write
    let retaken = db.claim_executions("r2", 10, 1_000, T0 + 1_900).await.unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!((retaken[0].attempts, retaken[0].lease_owner.as_deref()), (2, Some("r2")));
    assert_eq!(retaken[0].state, Some(state1.clone()));
    assert_eq!(retaken[0].started_at, Some(T0 + 10));
    let stale = db
        .checkpoint(&Checkpoint {
            id: &c.id,
            owner: "r1",
            state: &json!({}),
            steps: &[step("x")],
            logs: &[],
            response: None,
        })
        .await;
    assert!(matches!(&stale, Err(DbError::LeaseLost(m)) if m.contains("r2")), "{stale:?}");
    assert!(!db.renew_leases("r1", 1_000, T0 + 1_900).await.unwrap().contains(&c.id));
    let missing = db
        .checkpoint(&Checkpoint {
            id: "exe_missing",
            owner: "r1",
            state: &json!({}),
            steps: &[],
            logs: &[],
            response: None,
        })
        .await;
    assert!(matches!(missing, Err(DbError::NotFound(_))));

    let response = json!({"status": 201});
    db.checkpoint(&Checkpoint {
        id: &c.id,
        owner: "r2",
        state: &json!({"done": ["a", "b", "c"]}),
        steps: &[step("c")],
        logs: &[log("three")],
        response: Some(&response),
    })
    .await
    .unwrap();
    let fin_state = json!({"done": "all"});
    let bad = Finish {
        id: &c.id,
        owner: "r2",
        status: ExecutionStatus::Running,
        result: None,
        error: None,
        state: &fin_state,
        steps: &[],
        logs: &[],
        response: None,
        now: T0 + 2_000,
    };
    assert!(matches!(db.finish_execution(&bad).await, Err(DbError::Invalid(_))));
    let result = json!({"ok": true});
    let wrong_owner = Finish { owner: "r1", status: ExecutionStatus::Succeeded, ..bad };
    assert!(matches!(db.finish_execution(&wrong_owner).await, Err(DbError::LeaseLost(_))));
    let fin = Finish {
        status: ExecutionStatus::Succeeded,
        result: Some(&result),
        steps: &[step("d")],
        logs: &[log("four"), log("five")],
        ..bad
    };
    db.finish_execution(&fin).await.unwrap();
    assert!(matches!(db.finish_execution(&fin).await, Err(DbError::LeaseLost(_))));

    let done = db.get_execution(&fx.org, &c.id).await.unwrap().unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!((done.result, done.error), (Some(result), None));
    assert_eq!((done.state, done.response), (Some(fin_state), Some(response)));
    assert_eq!((done.lease_owner, done.lease_until, done.finished_at), (None, None, Some(T0 + 2_000)));
    assert_eq!(done.attempts, 2);
    let (other, _) = db.ensure_organization("other", T0).await.unwrap();
    assert_eq!(db.get_execution(&other.id, &c.id).await.unwrap(), None);

    let steps = db.list_steps(&c.id).await.unwrap();
    assert_eq!(steps.len(), 4);
    assert_eq!(
        steps.iter().map(|s| (s.seq, s.key.as_str())).collect::<Vec<_>>(),
        [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    );
    assert_eq!(steps[0], StepRow { seq: 1, ..step("a") });
    let logs = db.list_logs(&c.id, &Page::default()).await.unwrap();
    assert_eq!(
        logs.items.iter().map(|l| (l.seq, l.message.as_str())).collect::<Vec<_>>(),
        [(1, "one"), (2, "two"), (3, "three"), (4, "four"), (5, "five")]
    );

    // finished executions are never claimed again
    assert!(db.claim_executions("r3", 10, 1_000, T0 + 100_000).await.unwrap().is_empty());
    assert!(matches!(db.claim_executions("r3", 10, 0, T0).await, Err(DbError::Invalid(_))));
}

async fn execution_created_claimed(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let mut new = new_execution(&fx, "ins_x", "hook", 1);
    new.claimed_by = Some("api-1".into());
    new.lease_ms = 30_000;
    new.replay_of = Some("exe_original".into());
    let e = db.create_execution(&new, T0).await.unwrap();
    assert_eq!((e.status, e.attempts, e.lease_owner.as_deref()), (ExecutionStatus::Running, 1, Some("api-1")));
    assert_eq!((e.lease_until, e.started_at), (Some(T0 + 30_000), Some(T0)));
    assert_eq!(db.get_execution(&fx.org, &e.id).await.unwrap(), Some(e.clone()));
    assert!(db.claim_executions("r1", 10, 1_000, T0 + 29_999).await.unwrap().is_empty());
    let taken = db.claim_executions("r1", 10, 1_000, T0 + 30_000).await.unwrap();
    assert_eq!((taken[0].attempts, taken[0].replay_of.as_deref()), (2, Some("exe_original")));

    new.lease_ms = 0;
    assert!(matches!(db.create_execution(&new, T0).await, Err(DbError::Invalid(_))));
}

async fn concurrent_claimers_never_share(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    const N: i64 = 150;
    let mut ids = HashSet::new();
    for n in 0..N {
        ids.insert(db.create_execution(&new_execution(&fx, "ins_x", "hook", n), T0 + n).await.unwrap().id);
    }
    let mut tasks = Vec::new();
    for r in 0..6 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("runner-{r}");
            let mut got = Vec::new();
            loop {
                let batch = db.claim_executions(&owner, 7, 60_000, T0 + 1_000).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                for e in &batch {
                    assert_eq!(e.lease_owner.as_deref(), Some(owner.as_str()));
                }
                got.extend(batch.into_iter().map(|e| e.id));
                tokio::task::yield_now().await;
            }
            got
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} was claimed twice");
        }
    }
    assert_eq!(seen, ids);
    let raw = t.raw().await;
    let attempts: Vec<i64> = sqlx::query_scalar("SELECT attempts FROM executions").fetch_all(&raw).await.unwrap();
    assert!(attempts.iter().all(|a| *a == 1));
}

async fn list_executions_filters_and_pages(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let other = fixture(db, "other").await;
    // not yet due at the claim below, so only `fx` executions get claimed
    db.create_execution(&new_execution(&other, "ins_o", "hook", 0), T0 + 1_000).await.unwrap();
    let mut all = Vec::new();
    for n in 0..23 {
        let instance = if n % 2 == 0 { "ins_a" } else { "ins_b" };
        let flow = if n % 3 == 0 { "f3" } else { "f" };
        let mut new = new_execution(&fx, instance, flow, n);
        if n % 5 == 0 {
            new.customer_id = "cus_five".into();
        }
        all.push(db.create_execution(&new, T0 + n).await.unwrap());
    }
    // claim the 4 oldest (the only ones due at T0 + 3) so statuses differ
    let claimed = db.claim_executions("r", 10, 1_000, T0 + 3).await.unwrap();
    assert_eq!(claimed.iter().map(|e| &e.id).collect::<Vec<_>>(), all[..4].iter().map(|e| &e.id).collect::<Vec<_>>());

    async fn collect(db: &Db, org: &str, filter: &ExecutionFilter, limit: u32) -> Vec<String> {
        let mut out = Vec::new();
        let mut page = Page::first(limit);
        loop {
            let p = db.list_executions(org, filter, &page).await.unwrap();
            assert!(p.items.len() <= limit as usize);
            out.extend(p.items.into_iter().map(|e| e.id));
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return out,
            }
        }
    }
    let expect = |pred: &dyn Fn(i64, &Execution) -> bool| -> Vec<String> {
        all.iter().enumerate().rev().filter(|(n, e)| pred(*n as i64, e)).map(|(_, e)| e.id.clone()).collect()
    };

    // no filter: newest first, > 1 page, no duplicates, no gaps
    let listed = collect(db, &fx.org, &ExecutionFilter::default(), 5).await;
    assert_eq!(listed, expect(&|_, _| true));
    let cases: Vec<(ExecutionFilter, Vec<String>)> = vec![
        (ExecutionFilter { instance_id: Some("ins_a".into()), ..Default::default() }, expect(&|n, _| n % 2 == 0)),
        (ExecutionFilter { customer_id: Some("cus_five".into()), ..Default::default() }, expect(&|n, _| n % 5 == 0)),
        (ExecutionFilter { flow_key: Some("f3".into()), ..Default::default() }, expect(&|n, _| n % 3 == 0)),
        (ExecutionFilter { status: Some(ExecutionStatus::Running), ..Default::default() }, expect(&|n, _| n < 4)),
        (ExecutionFilter { status: Some(ExecutionStatus::Queued), ..Default::default() }, expect(&|n, _| n >= 4)),
        (
            ExecutionFilter { since: Some(T0 + 10), until: Some(T0 + 20), ..Default::default() },
            expect(&|n, _| (10..20).contains(&n)),
        ),
        (
            ExecutionFilter {
                instance_id: Some("ins_b".into()),
                flow_key: Some("f".into()),
                status: Some(ExecutionStatus::Queued),
                ..Default::default()
            },
            expect(&|n, _| n % 2 == 1 && n % 3 != 0 && n >= 4),
        ),
        (ExecutionFilter { instance_id: Some("ins_o".into()), ..Default::default() }, vec![]),
    ];
    for (filter, expected) in cases {
        assert!(expected.len() != 1, "weak case {filter:?}");
        assert_eq!(collect(db, &fx.org, &filter, 3).await, expected, "{filter:?}");
    }
    assert_eq!(collect(db, &other.org, &ExecutionFilter::default(), 50).await.len(), 1);
    // limits: 0 means the default, huge is clamped
    let p = db.list_executions(&fx.org, &ExecutionFilter::default(), &Page::first(0)).await.unwrap();
    assert_eq!((p.items.len(), p.next_cursor), (23, None));
    assert_eq!(Page::first(10_000).effective_limit(), 500);
}

async fn logs_pagination(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let mut new = new_execution(&fx, "ins_x", "hook", 1);
    new.claimed_by = Some("r".into());
    new.lease_ms = 1_000;
    let e = db.create_execution(&new, T0).await.unwrap();
    // more rows than one INSERT chunk, in one checkpoint
    let logs: Vec<LogRow> = (0..150).map(|i| log(&format!("line {i}"))).collect();
    let steps: Vec<StepRow> = (0..70).map(|i| step(&format!("s{i}"))).collect();
    db.checkpoint(&Checkpoint { id: &e.id, owner: "r", state: &json!({}), steps: &steps, logs: &logs, response: None })
        .await
        .unwrap();
    let stored = db.list_steps(&e.id).await.unwrap();
    assert_eq!(stored.len(), 70);
    assert!(stored.iter().enumerate().all(|(i, s)| s.seq == i as i64 + 1 && s.key == format!("s{i}")));
    let mut page = Page::first(40);
    let mut seen = Vec::new();
    loop {
        let p = db.list_logs(&e.id, &page).await.unwrap();
        seen.extend(p.items.into_iter().map(|l| (l.seq, l.message)));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<(i64, String)> = (0..150).map(|i| (i as i64 + 1, format!("line {i}"))).collect();
    assert_eq!(seen, expected);
    assert!(db.list_logs("exe_missing", &Page::default()).await.unwrap().items.is_empty());

    // The finish numbers its rows after them (on PostgreSQL they ride in its UPDATE statement).
    db.finish_execution(&Finish {
        id: &e.id,
        owner: "r",
        status: ExecutionStatus::Succeeded,
        result: None,
        error: None,
        state: &json!({}),
        steps: &[step("last-1"), step("last-2")],
        logs: &[log("the end")],
        response: None,
        now: T0 + 1,
    })
    .await
    .unwrap();
    let stored = db.list_steps(&e.id).await.unwrap();
    let tail: Vec<_> = stored[70..].iter().map(|s| (s.seq, s.key.as_str())).collect();
    assert_eq!(tail, [(71, "last-1"), (72, "last-2")]);
    let last = db.list_logs(&e.id, &Page { cursor: Some("150".into()), ..Page::first(10) }).await.unwrap();
    assert_eq!(last.items.iter().map(|l| (l.seq, l.message.as_str())).collect::<Vec<_>>(), [(151, "the end")]);
}

/// Many executions created and finished at once (on SQLite they share group transactions):
/// every one is stored with its steps, none is lost or mixed up.
async fn concurrent_creates_and_finishes(t: &TestDb) {
    let db = &t.db;
    let fx = fixture(db, "vendor").await;
    let mut tasks = Vec::new();
    for n in 0..64 {
        let (db, mut new) = (db.clone(), new_execution(&fx, "ins_x", "hook", n));
        new.claimed_by = Some(format!("node-{n}"));
        new.lease_ms = 60_000;
        tasks.push(tokio::spawn(async move {
            let e = db.create_execution(&new, T0).await.unwrap();
            let steps = vec![step(&format!("a{n}")), step(&format!("b{n}"))];
            let result = json!({"n": n});
            let fin = Finish {
                id: &e.id,
                owner: &format!("node-{n}"),
                status: ExecutionStatus::Succeeded,
                result: Some(&result),
                error: None,
                state: &Value::Null,
                steps: &steps,
                logs: &[],
                response: None,
                now: T0 + 1,
            };
            db.finish_execution(&fin).await.unwrap();
            (n, e.id)
        }));
    }
    for task in tasks {
        let (n, id) = task.await.unwrap();
        let e = db.get_execution(&fx.org, &id).await.unwrap().unwrap();
        assert_eq!(e.status, ExecutionStatus::Succeeded);
        assert_eq!(e.result, Some(json!({"n": n})));
        assert_eq!(e.trigger, json!({"body": {"n": n}}));
        let keys: Vec<String> = db.list_steps(&id).await.unwrap().into_iter().map(|s| s.key).collect();
        assert_eq!(keys, [format!("a{n}"), format!("b{n}")]);
    }
}
