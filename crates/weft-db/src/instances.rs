//! Instances (an integration version deployed for a customer) and their webhook tokens.
//!
//! An instance is always read together with its webhooks in one statement (a LEFT JOIN grouped
//! back into one [`Instance`] per id), so listing and webhook lookup stay one round trip.

use std::collections::BTreeSet;

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use weft_vault::Vault;

use crate::util::{Filters, get_bool, get_json, id_cursor, json_text, new_id, paginate, random_hex};
use crate::{
    CustomerContext, Db, DbError, Instance, InstanceFilter, InstanceUpgrade, Millis, NewInstance, Page, Paged, Webhook,
    WebhookTarget,
};

macro_rules! instance_cols {
    () => {
        "i.id, i.org_id, i.customer_id, i.integration_id, i.version, i.name, i.config, i.secrets, \
         i.enabled, i.retention_days, i.store_payloads, i.max_concurrency, \
         c.max_concurrency AS customer_max_concurrency, c.external_id AS customer_external_id, \
         c.name AS customer_name, c.labels AS customer_labels, \
         i.created_at, i.updated_at, w.flow_key AS w_flow, w.token AS w_token"
    };
}

/// Groups joined rows (ordered by instance id, then flow key) into instances, their secret
/// config values opened by `vault`.
fn instances_from_rows(vault: Option<&Vault>, rows: &[AnyRow]) -> Result<Vec<Instance>, DbError> {
    let mut out: Vec<Instance> = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        if out.last().is_none_or(|i| i.id != id) {
            let org_id: String = row.try_get("org_id")?;
            let mut config = get_json(row, "config")?;
            let secrets: String = row.try_get("secrets")?;
            crate::secrets::open_into(vault, &org_id, &id, &secrets, &mut config)?;
            out.push(Instance {
                id,
                org_id,
                customer_id: row.try_get("customer_id")?,
                integration_id: row.try_get("integration_id")?,
                version: row.try_get("version")?,
                name: row.try_get("name")?,
                config,
                enabled: get_bool(row, "enabled")?,
                webhooks: Vec::new(),
                retention_days: row.try_get("retention_days")?,
                store_payloads: get_bool(row, "store_payloads")?,
                max_concurrency: row.try_get("max_concurrency")?,
                customer_max_concurrency: row.try_get("customer_max_concurrency")?,
                customer: CustomerContext {
                    external_id: row.try_get("customer_external_id")?,
                    name: row.try_get("customer_name")?,
                    labels: get_json(row, "customer_labels")?,
                },
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            });
        }
        let flow: Option<String> = row.try_get("w_flow")?;
        let token: Option<String> = row.try_get("w_token")?;
        if let (Some(flow_key), Some(token), Some(instance)) = (flow, token, out.last_mut()) {
            instance.webhooks.push(Webhook { flow_key, token });
        }
    }
    Ok(out)
}

/// Flow keys without duplicates, in a stable order.
fn flow_set(flows: &[String]) -> BTreeSet<&str> {
    flows.iter().map(String::as_str).collect()
}

async fn insert_webhook(
    conn: &mut AnyConnection,
    org: &str,
    instance_id: &str,
    flow_key: &str,
    now: Millis,
) -> Result<Webhook, DbError> {
    // 256 random bits: the token is the only secret in a webhook URL.
    let token = random_hex(32)?;
    sqlx::query(
        "INSERT INTO webhooks (token, org_id, instance_id, flow_key, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&token)
    .bind(org)
    .bind(instance_id)
    .bind(flow_key)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Webhook { flow_key: flow_key.to_string(), token })
}

/// Fails with NotFound unless `integration_id` has published `version` in the organization.
async fn check_version(conn: &mut AnyConnection, org: &str, integration_id: &str, version: i64) -> Result<(), DbError> {
    let found =
        sqlx::query("SELECT 1 FROM integration_versions WHERE org_id = $1 AND integration_id = $2 AND version = $3")
            .bind(org)
            .bind(integration_id)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(DbError::NotFound(format!("integration {integration_id} version {version}"))),
    }
}

impl Db {
    /// [`instances_from_rows`] with this database's vault, loaded again once if a secret does not
    /// open (a key added by a rotation in another process).
    fn instances_from_rows(&self, rows: &[AnyRow]) -> Result<Vec<Instance>, DbError> {
        match instances_from_rows(self.vault().as_deref(), rows) {
            Err(DbError::Secret(_)) if self.reload_vault() => instances_from_rows(self.vault().as_deref(), rows),
            other => other,
        }
    }

    /// Deploys a version for a customer, with one new webhook token per webhook flow.
    pub async fn create_instance(&self, org: &str, new: &NewInstance, now: Millis) -> Result<Instance, DbError> {
        let mut tx = self.begin_write().await?;
        let customer = sqlx::query(
            "SELECT external_id, name, labels, max_concurrency FROM customers WHERE org_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(&new.customer_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(customer) = customer else {
            return Err(DbError::NotFound(format!("customer {}", new.customer_id)));
        };
        let customer_max_concurrency: Option<i64> = customer.try_get("max_concurrency")?;
        let customer = CustomerContext {
            external_id: customer.try_get("external_id")?,
            name: customer.try_get("name")?,
            labels: get_json(&customer, "labels")?,
        };
        check_version(&mut tx, org, &new.integration_id, new.version).await?;
        let id = new_id("ins");
        let (config, secrets) =
            crate::secrets::seal_config(self.sealing_vault().as_deref(), org, &id, &new.config, &new.secret_keys)?;
        sqlx::query(
            "INSERT INTO instances (id, org_id, customer_id, integration_id, version, name, config, secrets,
                 enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $9)",
        )
        .bind(&id)
        .bind(org)
        .bind(&new.customer_id)
        .bind(&new.integration_id)
        .bind(new.version)
        .bind(&new.name)
        .bind(json_text(&config))
        .bind(&secrets)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut webhooks = Vec::new();
        for flow in flow_set(&new.webhook_flows) {
            webhooks.push(insert_webhook(&mut tx, org, &id, flow, now).await?);
        }
        tx.commit().await?;
        Ok(Instance {
            id,
            org_id: org.to_string(),
            customer_id: new.customer_id.clone(),
            integration_id: new.integration_id.clone(),
            version: new.version,
            name: new.name.clone(),
            config: new.config.clone(),
            enabled: true,
            webhooks,
            retention_days: None,
            store_payloads: true,
            max_concurrency: None,
            customer_max_concurrency,
            customer,
            created_at: now,
            updated_at: now,
        })
    }

    /// Instances in creation order, optionally of one customer and/or integration.
    pub async fn list_instances(
        &self,
        org: &str,
        filter: &InstanceFilter,
        page: &Page,
    ) -> Result<Paged<Instance>, DbError> {
        let limit = page.effective_limit();
        let mut f = Filters::new(2);
        if filter.customer_id.is_some() {
            f.push("customer_id", "=");
        }
        if filter.integration_id.is_some() {
            f.push("integration_id", "=");
        }
        let limit_param = f.placeholder();
        let sql = format!(
            concat!(
                "SELECT ",
                instance_cols!(),
                " FROM (SELECT * FROM instances WHERE org_id = $1 AND id > $2{} ORDER BY id LIMIT {}) i
                  JOIN customers c ON c.id = i.customer_id
                  LEFT JOIN webhooks w ON w.instance_id = i.id ORDER BY i.id, w.flow_key"
            ),
            f.sql, limit_param
        );
        let mut query =
            sqlx::query::<Any>(sqlx::AssertSqlSafe(sql)).bind(org).bind(id_cursor(page, "ins")?.unwrap_or(""));
        if let Some(c) = &filter.customer_id {
            query = query.bind(c);
        }
        if let Some(i) = &filter.integration_id {
            query = query.bind(i);
        }
        let rows = query.bind(i64::from(limit) + 1).fetch_all(&self.read).await?;
        Ok(paginate(self.instances_from_rows(&rows)?, limit, |i| i.id.clone()))
    }

    pub async fn get_instance(&self, org: &str, id: &str) -> Result<Option<Instance>, DbError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            instance_cols!(),
            " FROM instances i JOIN customers c ON c.id = i.customer_id
              LEFT JOIN webhooks w ON w.instance_id = i.id
              WHERE i.org_id = $1 AND i.id = $2 ORDER BY w.flow_key"
        ))
        .bind(org)
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        Ok(self.instances_from_rows(&rows)?.pop())
    }

    /// Enables (resume) or disables (pause) an instance.
    pub async fn set_instance_enabled(
        &self,
        org: &str,
        id: &str,
        enabled: bool,
        now: Millis,
    ) -> Result<Instance, DbError> {
        let done = sqlx::query("UPDATE instances SET enabled = $1, updated_at = $2 WHERE org_id = $3 AND id = $4")
            .bind(i64::from(enabled))
            .bind(now)
            .bind(org)
            .bind(id)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("instance {id}")));
        }
        self.get_instance(org, id).await?.ok_or_else(|| DbError::NotFound(format!("instance {id}")))
    }

    /// Moves an instance to another version of its integration with new config. Webhook tokens
    /// of flows that still exist are kept (URLs handed out stay valid), new webhook flows get
    /// tokens, tokens of flows that are gone are deleted.
    pub async fn upgrade_instance(
        &self,
        org: &str,
        id: &str,
        up: &InstanceUpgrade,
        now: Millis,
    ) -> Result<Instance, DbError> {
        let mut tx = self.begin_write().await?;
        let integration_id: String =
            sqlx::query_scalar("SELECT integration_id FROM instances WHERE org_id = $1 AND id = $2")
                .bind(org)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| DbError::NotFound(format!("instance {id}")))?;
        check_version(&mut tx, org, &integration_id, up.version).await?;
        let (config, secrets) =
            crate::secrets::seal_config(self.sealing_vault().as_deref(), org, id, &up.config, &up.secret_keys)?;
        sqlx::query(
            "UPDATE instances SET version = $1, config = $2, secrets = $3, updated_at = $4
             WHERE org_id = $5 AND id = $6",
        )
        .bind(up.version)
        .bind(json_text(&config))
        .bind(&secrets)
        .bind(now)
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let existing: Vec<String> = sqlx::query_scalar("SELECT flow_key FROM webhooks WHERE instance_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
        let wanted = flow_set(&up.webhook_flows);
        for gone in existing.iter().filter(|f| !wanted.contains(f.as_str())) {
            sqlx::query("DELETE FROM webhooks WHERE instance_id = $1 AND flow_key = $2")
                .bind(id)
                .bind(gone)
                .execute(&mut *tx)
                .await?;
        }
        for added in wanted.iter().filter(|f| !existing.iter().any(|e| e == *f)) {
            insert_webhook(&mut tx, org, id, added, now).await?;
        }
        tx.commit().await?;
        self.get_instance(org, id).await?.ok_or_else(|| DbError::NotFound(format!("instance {id}")))
    }

    /// Deletes an instance, its webhooks, schedules and OAuth connections (whose tokens the
    /// caller revokes first); its executions stay as history.
    pub async fn delete_instance(&self, org: &str, id: &str) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM schedules WHERE org_id = $1 AND instance_id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND instance_id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM oauth_states WHERE connection_id IN
                 (SELECT id FROM connections WHERE org_id = $1 AND instance_id = $2)",
        )
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM connections WHERE org_id = $1 AND instance_id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM instances WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("instance {id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The instance and flow a webhook token belongs to (whether or not the instance is
    /// enabled: pausing is the caller's decision to enforce).
    pub async fn webhook_target(&self, token: &str) -> Result<Option<WebhookTarget>, DbError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            instance_cols!(),
            ", t.flow_key AS target_flow
              FROM webhooks t JOIN instances i ON i.id = t.instance_id
              JOIN customers c ON c.id = i.customer_id
              LEFT JOIN webhooks w ON w.instance_id = i.id
              WHERE t.token = $1 ORDER BY w.flow_key"
        ))
        .bind(token)
        .fetch_all(&self.read)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let flow_key: String = first.try_get("target_flow")?;
        let Some(instance) = self.instances_from_rows(&rows)?.pop() else {
            return Ok(None);
        };
        Ok(Some(WebhookTarget { org_id: instance.org_id.clone(), instance, flow_key }))
    }

    /// Re-wraps every instance's secrets (and the OAuth clients' secrets, connections' tokens
    /// and pending PKCE verifiers) under the vault's current master key, `batch` instances
    /// per read, each written with a compare-and-set on the text it read (a deploy or upgrade
    /// that wrote new secrets meanwhile sealed them under the current key already). Safe while
    /// executions run: the ciphertexts and their data keys do not change, only their wrapping.
    /// Returns how many instances (and OAuth values) were re-wrapped.
    pub async fn rewrap_secrets(&self, batch: u32) -> Result<usize, DbError> {
        let Some(vault) = self.vault() else {
            return Err(DbError::Secret("no master key is configured: nothing can be re-wrapped".into()));
        };
        let vault = &*vault;
        let (mut after, mut done) = (String::new(), 0);
        loop {
            let rows = sqlx::query(
                "SELECT id, org_id, secrets FROM instances WHERE id > $1 AND secrets <> '{}' ORDER BY id LIMIT $2",
            )
            .bind(&after)
            .bind(i64::from(batch.max(1)))
            .fetch_all(&self.read)
            .await?;
            for row in &rows {
                let (id, org, old): (String, String, String) =
                    (row.try_get("id")?, row.try_get("org_id")?, row.try_get("secrets")?);
                if let Some(new) = crate::secrets::rewrap(vault, &org, &id, &old)? {
                    let updated = sqlx::query("UPDATE instances SET secrets = $1 WHERE id = $2 AND secrets = $3")
                        .bind(&new)
                        .bind(&id)
                        .bind(&old)
                        .execute(&self.write)
                        .await?;
                    done += updated.rows_affected() as usize;
                }
                after = id;
            }
            if rows.len() < batch.max(1) as usize {
                return Ok(done + self.rewrap_oauth(vault, batch).await?);
            }
        }
    }

    /// How many instances (and OAuth values) hold a secret sealed under master key `key_id` (for checking that a
    /// rotation left nothing under the old key).
    pub async fn secrets_under_key(&self, key_id: &str) -> Result<usize, DbError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT secrets FROM instances WHERE secrets <> '{}'").fetch_all(&self.read).await?;
        let under = |text: &str| -> bool {
            let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) else {
                return false;
            };
            m.values()
                .filter_map(|v| v.as_str())
                .any(|s| weft_vault::Sealed::parse(s).is_ok_and(|s| s.key_id() == key_id))
        };
        Ok(rows.iter().filter(|t| under(t)).count() + self.oauth_secrets_under_key(key_id).await?)
    }
}
