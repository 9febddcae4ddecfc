//! Test harness: the same test bodies run on a fresh SQLite file and, when
//! `WEFT_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL schema (dropped afterwards).

#![allow(dead_code)]

use std::io::Write;

use serde_json::{Map, json};
use sqlx::Connection;
use weft_db::{Db, Millis, NewCustomer, NewDraft, NewExecution, NewInstance};

/// The tests' and benches' epoch.
pub const T0: Millis = 1_700_000_000_000;

/// A database for one test; cleans up after itself when dropped.
pub struct TestDb {
    pub db: Db,
    /// The URL `db` was opened with, to open it again or connect raw.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// A plain sqlx pool on the same database, for assertions on the raw tables.
    pub async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = if self.url.starts_with("sqlite:") { format!("{}?mode=rw", self.url) } else { self.url.clone() };
        sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap()
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("weft.db").display());
    let db = Db::open(&url).await.unwrap();
    TestDb { db, url, _dir: Some(dir), pg_schema: None }
}

/// A database in a new schema of `WEFT_TEST_POSTGRES_URL`, or `None` (after saying so on the
/// terminal, past the test harness's output capture) when the variable is unset.
pub async fn postgres(test: &str) -> Option<TestDb> {
    let Ok(base) = std::env::var("WEFT_TEST_POSTGRES_URL") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test} on PostgreSQL: set WEFT_TEST_POSTGRES_URL=postgres://… to run it"
        );
        return None;
    };
    let schema = format!("weft_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::postgres::PgConnection::connect(&base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let db = Db::open(&url).await.unwrap();
    assert_eq!(db.backend(), weft_db::Backend::Postgres);
    Some(TestDb { db, url, _dir: None, pg_schema: Some((base, schema)) })
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.pg_schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread with
        // its own runtime. Runs on panics too, so failed tests leave no schema behind.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&base).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// Defines each listed `async fn name(t: &TestDb)` as a test on SQLite and one on PostgreSQL.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let t = $crate::common::sqlite().await;
                    super::$name(&t).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(t) = $crate::common::postgres(stringify!($name)).await else { return };
                    super::$name(&t).await;
                }
            )*
        }
    };
}

/// An integration `key` of `org` with its version 1 published (a stand-in definition).
pub async fn published_integration(db: &Db, org: &str, key: &str) -> weft_db::Integration {
    let draft = NewDraft {
        key: key.into(),
        name: key.to_uppercase(),
        description: None,
        format: "yaml".into(),
        source: format!("key: {key}\n"),
        definition: json!({"key": key}),
    };
    let integration = db.save_draft(org, &draft, T0).await.unwrap();
    db.publish_version(org, &integration.id, T0).await.unwrap();
    integration
}

/// One organization (retention `days`) with one customer, one published integration and one
/// instance; returns a template for executions created claimed by `r1` (the retention test and
/// bench fill it in).
pub async fn execution_template(db: &Db, days: i64) -> NewExecution {
    let (org, _) = db.ensure_organization("vendor", T0).await.unwrap();
    db.set_org_retention(&org.id, days).await.unwrap();
    let customer = db
        .create_customer(&org.id, &NewCustomer { external_id: None, name: "Acme".into(), labels: Map::new() }, T0)
        .await
        .unwrap();
    let integration = published_integration(db, &org.id, "sync").await;
    let new = NewInstance {
        customer_id: customer.id.clone(),
        integration_id: integration.id.clone(),
        version: 1,
        name: "i".into(),
        config: json!({}),
        webhook_flows: vec![],
        secret_keys: Vec::new(),
    };
    let instance = db.create_instance(&org.id, &new, T0).await.unwrap();
    NewExecution {
        org_id: org.id,
        instance_id: instance.id,
        customer_id: customer.id,
        integration_id: integration.id,
        version: 1,
        flow_key: "hook".into(),
        trigger: json!({}),
        replay_of: None,
        claimed_by: Some("r1".into()),
        lease_ms: 60_000,
        idempotency_key: None,
    }
}
