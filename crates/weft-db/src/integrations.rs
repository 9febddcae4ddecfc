//! Integrations: one mutable draft per key (re-importing the same key updates it) and immutable
//! numbered versions published from the draft.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::util::{get_json, id_cursor, json_text, new_id, numeric_cursor, paginate};
use crate::{Db, DbError, Integration, IntegrationVersion, Millis, NewDraft, Page, Paged};

macro_rules! integration_cols {
    () => {
        "id, org_id, key, name, description, draft_format, draft_source, draft_definition, \
         latest_version, created_at, updated_at"
    };
}

macro_rules! version_cols {
    () => {
        "integration_id, version, format, source, definition, components, created_at"
    };
}

fn integration_from_row(row: &AnyRow) -> Result<Integration, DbError> {
    Ok(Integration {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        draft_format: row.try_get("draft_format")?,
        draft_source: row.try_get("draft_source")?,
        draft_definition: get_json(row, "draft_definition")?,
        latest_version: row.try_get("latest_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<IntegrationVersion, DbError> {
    Ok(IntegrationVersion {
        integration_id: row.try_get("integration_id")?,
        version: row.try_get("version")?,
        format: row.try_get("format")?,
        source: row.try_get("source")?,
        definition: get_json(row, "definition")?,
        components: get_json(row, "components")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Inserts the integration, or replaces the draft of the one with the same key (its id,
    /// creation time and published versions stay).
    pub async fn save_draft(&self, org: &str, draft: &NewDraft, now: Millis) -> Result<Integration, DbError> {
        if draft.key.is_empty() {
            return Err(DbError::Invalid("integration key must not be empty".into()));
        }
        if !matches!(draft.format.as_str(), "yaml" | "json") {
            return Err(DbError::Invalid(format!(
                "integration draft format `{}` must be `yaml` or `json`",
                draft.format
            )));
        }
        let row = sqlx::query(concat!(
            "INSERT INTO integrations (id, org_id, key, name, description, draft_format,
                 draft_source, draft_definition, latest_version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9)
             ON CONFLICT (org_id, key) DO UPDATE SET name = excluded.name,
                 description = excluded.description, draft_format = excluded.draft_format,
                 draft_source = excluded.draft_source, draft_definition = excluded.draft_definition,
                 updated_at = excluded.updated_at
             RETURNING ",
            integration_cols!()
        ))
        .bind(new_id("int"))
        .bind(org)
        .bind(&draft.key)
        .bind(&draft.name)
        .bind(draft.description.as_deref())
        .bind(&draft.format)
        .bind(&draft.source)
        .bind(json_text(&draft.definition))
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        integration_from_row(&row)
    }

    /// Integrations in creation order.
    pub async fn list_integrations(&self, org: &str, page: &Page) -> Result<Paged<Integration>, DbError> {
        let limit = page.effective_limit();
        let rows = sqlx::query(concat!(
            "SELECT ",
            integration_cols!(),
            " FROM integrations WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(org)
        .bind(id_cursor(page, "int")?.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(integration_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, limit, |i| i.id.clone()))
    }

    /// By id, else by key.
    pub async fn get_integration(&self, org: &str, id_or_key: &str) -> Result<Option<Integration>, DbError> {
        // An id match wins over a key that happens to look like an id.
        let row = sqlx::query(concat!(
            "SELECT ",
            integration_cols!(),
            " FROM integrations WHERE org_id = $1 AND (id = $2 OR key = $2)
              ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(org)
        .bind(id_or_key)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(integration_from_row).transpose()
    }

    /// Copies the current draft into version `latest + 1`, atomically (concurrent publishes get
    /// distinct numbers). The version uses built-in components only; see
    /// [`Db::publish_version_pinned`].
    pub async fn publish_version(
        &self,
        org: &str,
        integration_id: &str,
        now: Millis,
    ) -> Result<IntegrationVersion, DbError> {
        self.publish_version_pinned(org, integration_id, &BTreeMap::new(), now).await
    }

    /// Like [`Db::publish_version`], pinning the custom component versions the version runs
    /// with (component key → version).
    pub async fn publish_version_pinned(
        &self,
        org: &str,
        integration_id: &str,
        components: &BTreeMap<String, String>,
        now: Millis,
    ) -> Result<IntegrationVersion, DbError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE integrations SET latest_version = COALESCE(latest_version, 0) + 1, updated_at = $1
             WHERE org_id = $2 AND id = $3
             RETURNING latest_version, draft_format, draft_source, draft_definition",
        )
        .bind(now)
        .bind(org)
        .bind(integration_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| DbError::NotFound(format!("integration {integration_id}")))?;
        let version = IntegrationVersion {
            integration_id: integration_id.to_string(),
            version: row.try_get("latest_version")?,
            format: row.try_get("draft_format")?,
            source: row.try_get("draft_source")?,
            definition: get_json(&row, "draft_definition")?,
            components: components.clone(),
            created_at: now,
        };
        let definition: String = row.try_get("draft_definition")?;
        sqlx::query(
            "INSERT INTO integration_versions
                 (integration_id, version, org_id, format, source, definition, components, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(integration_id)
        .bind(version.version)
        .bind(org)
        .bind(&version.format)
        .bind(&version.source)
        .bind(definition)
        .bind(json_text(components))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Published versions, newest first.
    pub async fn list_versions(
        &self,
        org: &str,
        integration_id: &str,
        page: &Page,
    ) -> Result<Paged<IntegrationVersion>, DbError> {
        let limit = page.effective_limit();
        let before = numeric_cursor(page)?.unwrap_or(i64::MAX);
        let rows = sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM integration_versions WHERE org_id = $1 AND integration_id = $2 AND version < $3
              ORDER BY version DESC LIMIT $4"
        ))
        .bind(org)
        .bind(integration_id)
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(version_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, limit, |v| v.version.to_string()))
    }

    pub async fn get_version(
        &self,
        org: &str,
        integration_id: &str,
        version: i64,
    ) -> Result<Option<IntegrationVersion>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            version_cols!(),
            " FROM integration_versions WHERE org_id = $1 AND integration_id = $2 AND version = $3"
        ))
        .bind(org)
        .bind(integration_id)
        .bind(version)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(version_from_row).transpose()
    }
}
