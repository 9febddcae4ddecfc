//! Custom components: a vendor's WebAssembly components, uploaded per organization as immutable
//! versions (the compiled bytes and the description the component gave of itself). Publishing
//! the same version again with the same bytes is harmless; with other bytes it is refused.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::util::{get_json, id_cursor, json_text, new_id, paginate};
use crate::{Component, ComponentVersion, Db, DbError, Millis, NewComponentVersion, Page, Paged};

macro_rules! component_cols {
    () => {
        "id, org_id, key, name, description, latest_version, created_at, updated_at"
    };
}

macro_rules! component_version_cols {
    () => {
        "component_id, version, sha256, size_bytes, info, created_at"
    };
}

fn component_from_row(row: &AnyRow) -> Result<Component, DbError> {
    Ok(Component {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        latest_version: row.try_get("latest_version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<ComponentVersion, DbError> {
    Ok(ComponentVersion {
        component_id: row.try_get("component_id")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        size_bytes: row.try_get("size_bytes")?,
        info: get_json(row, "info")?,
        created_at: row.try_get("created_at")?,
    })
}

fn parse_version(v: &str) -> Result<semver::Version, DbError> {
    semver::Version::parse(v)
        .map_err(|e| DbError::Invalid(format!("component version `{v}` is not a semantic version (like 1.2.0): {e}")))
}

impl Db {
    /// Stores a component version, creating the component on its first version. Returns the
    /// version and whether it was created (`false`: the same bytes were already published under
    /// this version). The component's `latest_version` becomes this one if it is the highest
    /// (by semantic versioning) and its name and description follow that latest version.
    pub async fn publish_component_version(
        &self,
        org: &str,
        new: &NewComponentVersion,
        now: Millis,
    ) -> Result<(ComponentVersion, bool), DbError> {
        let version = parse_version(&new.version)?;
        if new.key.is_empty() {
            return Err(DbError::Invalid("component key must not be empty".into()));
        }
        let mut tx = self.begin_write().await?;
        // Creates the component row (or takes its lock, so concurrent publishes of one component
        // are serialized and `latest_version` is compared against the committed value).
        let row = sqlx::query(concat!(
            "INSERT INTO components (id, org_id, key, name, description, latest_version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $6)
             ON CONFLICT (org_id, key) DO UPDATE SET updated_at = components.updated_at
             RETURNING ",
            component_cols!()
        ))
        .bind(new_id("cmp"))
        .bind(org)
        .bind(&new.key)
        .bind(&new.name)
        .bind(new.description.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let component = component_from_row(&row)?;
        let existing = sqlx::query(concat!(
            "SELECT ",
            component_version_cols!(),
            " FROM component_versions WHERE component_id = $1 AND version = $2"
        ))
        .bind(&component.id)
        .bind(&new.version)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            let found = version_from_row(&row)?;
            tx.rollback().await?;
            if found.sha256 != new.sha256 {
                return Err(DbError::Conflict(format!(
                    "component `{}` version {} is already published with other content; versions are immutable: \
                     publish it under a new version number",
                    new.key, new.version
                )));
            }
            return Ok((found, false));
        }
        sqlx::query(
            "INSERT INTO component_versions (component_id, org_id, version, sha256, size_bytes, wasm, info, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&component.id)
        .bind(org)
        .bind(&new.version)
        .bind(&new.sha256)
        .bind(new.wasm.len() as i64)
        .bind(new.wasm.as_slice())
        .bind(json_text(&new.info))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let is_latest = match component.latest_version.as_deref() {
            None => true,
            Some(latest) => parse_version(latest).map_or(true, |l| version > l),
        };
        if is_latest {
            sqlx::query(
                "UPDATE components SET latest_version = $1, name = $2, description = $3, updated_at = $4
                 WHERE id = $5",
            )
            .bind(&new.version)
            .bind(&new.name)
            .bind(new.description.as_deref())
            .bind(now)
            .bind(&component.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        let created = ComponentVersion {
            component_id: component.id,
            version: new.version.clone(),
            sha256: new.sha256.clone(),
            size_bytes: new.wasm.len() as i64,
            info: new.info.clone(),
            created_at: now,
        };
        Ok((created, true))
    }

    /// Components in creation order.
    pub async fn list_components(&self, org: &str, page: &Page) -> Result<Paged<Component>, DbError> {
        let limit = page.effective_limit();
        let rows = sqlx::query(concat!(
            "SELECT ",
            component_cols!(),
            " FROM components WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(org)
        .bind(id_cursor(page, "cmp")?.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(component_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, limit, |c| c.id.clone()))
    }

    /// By id, else by key.
    pub async fn get_component(&self, org: &str, id_or_key: &str) -> Result<Option<Component>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            component_cols!(),
            " FROM components WHERE org_id = $1 AND (id = $2 OR key = $2)
              ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(org)
        .bind(id_or_key)
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(component_from_row).transpose()
    }

    /// Every published version of a component, highest first (semantic versioning).
    pub async fn list_component_versions(
        &self,
        org: &str,
        component_id: &str,
    ) -> Result<Vec<ComponentVersion>, DbError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            component_version_cols!(),
            " FROM component_versions WHERE org_id = $1 AND component_id = $2"
        ))
        .bind(org)
        .bind(component_id)
        .fetch_all(&self.read)
        .await?;
        let mut items = rows.iter().map(version_from_row).collect::<Result<Vec<_>, _>>()?;
        items.sort_by_cached_key(|v| std::cmp::Reverse(semver::Version::parse(&v.version).ok()));
        Ok(items)
    }

    /// The latest version of every component of the organization, with its component's key
    /// (the catalog definitions are validated against), by key.
    pub async fn latest_component_versions(&self, org: &str) -> Result<Vec<(String, ComponentVersion)>, DbError> {
        let rows = sqlx::query(
            "SELECT c.key, v.component_id, v.version, v.sha256, v.size_bytes, v.info, v.created_at
             FROM components c JOIN component_versions v ON v.component_id = c.id AND v.version = c.latest_version
             WHERE c.org_id = $1 ORDER BY c.key",
        )
        .bind(org)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("key")?, version_from_row(r)?))).collect()
    }

    /// One version of the component with this key, with its WebAssembly bytes when `wasm`.
    pub async fn component_version_by_key(
        &self,
        org: &str,
        key: &str,
        version: &str,
        wasm: bool,
    ) -> Result<Option<(ComponentVersion, Option<Vec<u8>>)>, DbError> {
        let sql = if wasm {
            "SELECT v.component_id, v.version, v.sha256, v.size_bytes, v.info, v.created_at, v.wasm
             FROM components c JOIN component_versions v ON v.component_id = c.id
             WHERE c.org_id = $1 AND c.key = $2 AND v.version = $3"
        } else {
            "SELECT v.component_id, v.version, v.sha256, v.size_bytes, v.info, v.created_at
             FROM components c JOIN component_versions v ON v.component_id = c.id
             WHERE c.org_id = $1 AND c.key = $2 AND v.version = $3"
        };
        let row = sqlx::query(sql).bind(org).bind(key).bind(version).fetch_optional(&self.read).await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let bytes = if wasm { Some(row.try_get("wasm")?) } else { None };
                Ok(Some((version_from_row(&row)?, bytes)))
            }
        }
    }
}
