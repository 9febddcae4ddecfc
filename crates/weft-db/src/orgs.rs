//! Organizations and their API tokens (stored as SHA-256 hashes; the plaintext is shown once).

use sqlx::Row;
use sqlx::any::AnyRow;
use weft_model::Role;

use crate::util::{new_id, random_hex, sha256_hex};
use crate::{ApiToken, Db, DbError, Millis, Organization};

fn org_from_row(row: &AnyRow) -> Result<Organization, DbError> {
    Ok(Organization { id: row.try_get("id")?, name: row.try_get("name")?, created_at: row.try_get("created_at")? })
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken, DbError> {
    let id: String = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    let role =
        Role::from_name(&role).ok_or_else(|| DbError::Invalid(format!("api token {id} has unknown role `{role}`")))?;
    Ok(ApiToken {
        id,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        role,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Returns the organization called `name`, creating it if there is none; the flag says
    /// whether it was created by this call (exactly one of several concurrent callers sees true).
    pub async fn ensure_organization(&self, name: &str, now: Millis) -> Result<(Organization, bool), DbError> {
        if name.trim().is_empty() {
            return Err(DbError::Invalid("organization name must not be empty".into()));
        }
        // The common case (every start after the first) is a plain read.
        if let Some(org) = self.org_by_name(name).await? {
            return Ok((org, false));
        }
        let row = sqlx::query(
            "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at",
        )
        .bind(new_id("org"))
        .bind(name)
        .bind(now)
        .fetch_optional(&self.write)
        .await?;
        match row {
            Some(row) => Ok((org_from_row(&row)?, true)),
            // Someone else created it between our read and our insert.
            None => {
                let org = self
                    .org_by_name(name)
                    .await?
                    .ok_or_else(|| DbError::NotFound(format!("organization named `{name}`")))?;
                Ok((org, false))
            }
        }
    }

    async fn org_by_name(&self, name: &str) -> Result<Option<Organization>, DbError> {
        const SQL: &str = "SELECT id, name, created_at FROM organizations WHERE name = $1";
        let row = sqlx::query(SQL).bind(name).fetch_optional(&self.write).await?;
        row.as_ref().map(org_from_row).transpose()
    }

    pub async fn get_organization(&self, id: &str) -> Result<Option<Organization>, DbError> {
        let row = sqlx::query("SELECT id, name, created_at FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(org_from_row).transpose()
    }

    /// Creates an API token and returns it with its plaintext (`weft_` + 40 hex characters,
    /// 160 random bits). Only the SHA-256 of the plaintext is stored: this is the one chance
    /// to see it.
    pub async fn create_token(
        &self,
        org: &str,
        name: &str,
        role: Role,
        now: Millis,
    ) -> Result<(ApiToken, String), DbError> {
        let plaintext = format!("weft_{}", random_hex(20)?);
        let token =
            ApiToken { id: new_id("tok"), org_id: org.to_string(), name: name.to_string(), role, created_at: now };
        sqlx::query(
            "INSERT INTO api_tokens (id, org_id, name, role, token_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.id)
        .bind(org)
        .bind(name)
        .bind(role.name())
        .bind(sha256_hex(&plaintext))
        .bind(now)
        .execute(&self.write)
        .await
        .map_err(|e| {
            if DbError::is_foreign_key_violation(&e) {
                DbError::NotFound(format!("organization {org}"))
            } else {
                e.into()
            }
        })?;
        Ok((token, plaintext))
    }

    /// The token whose plaintext this is, or `None` for an unknown (or revoked) token.
    pub async fn authenticate(&self, plaintext: &str) -> Result<Option<ApiToken>, DbError> {
        let row = sqlx::query("SELECT id, org_id, name, role, created_at FROM api_tokens WHERE token_hash = $1")
            .bind(sha256_hex(plaintext))
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }
}
