//! Secret config values at rest. An instance's `secret` and `connection` variables never go to
//! its `config` column: each is sealed by the [`Vault`] (its own data key, wrapped by the master
//! key) into the `secrets` column, bound to the organization, the instance and the variable, so
//! a sealed value copied to another instance or variable does not open. Reads open them back
//! into [`crate::Instance::config`], in memory only.
//!
//! A database without a vault refuses to store a secret (it never falls back to plaintext).

use serde_json::{Map, Value};
use weft_vault::{Aad, Sealed, Vault};

use crate::DbError;

/// What binds a sealed value: the organization, the instance, the variable.
fn aad(org: &str, instance: &str, key: &str) -> Aad {
    Aad::new(org, &format!("instance:{instance}"), &format!("config.{key}"))
}

/// Splits the values of `secret_keys` out of `config` and seals them: `(config without them,
/// the `secrets` column's JSON)`. Null values are not secrets (left out of both).
pub(crate) fn seal_config(
    vault: Option<&Vault>,
    org: &str,
    instance: &str,
    config: &Value,
    secret_keys: &[String],
) -> Result<(Value, String), DbError> {
    let mut plain = config.as_object().cloned().unwrap_or_default();
    let mut sealed = Map::new();
    for key in secret_keys {
        let Some(value) = plain.remove(key).filter(|v| !v.is_null()) else { continue };
        let Some(vault) = vault else {
            return Err(DbError::Secret(format!(
                "config.{key} is a secret, and no master key is configured to encrypt it \
                 (set WEFT_MASTER_KEY, or let `weft serve` create the data directory's key file)"
            )));
        };
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&value).expect("JSON values serialize"));
        let s = vault
            .seal(&bytes, &aad(org, instance, key))
            .map_err(|e| DbError::Secret(format!("cannot encrypt config.{key}: {e}")))?;
        sealed.insert(key.clone(), Value::String(s.to_string()));
    }
    Ok((Value::Object(plain), Value::Object(sealed).to_string()))
}

/// Opens the `secrets` column of instance `instance` into `config`.
pub(crate) fn open_into(
    vault: Option<&Vault>,
    org: &str,
    instance: &str,
    secrets: &str,
    config: &mut Value,
) -> Result<(), DbError> {
    // Most instances have no secrets: no JSON parse on every read for them.
    if secrets == "{}" {
        return Ok(());
    }
    let sealed: Map<String, Value> = match serde_json::from_str(secrets) {
        Ok(Value::Object(m)) => m,
        _ => return Err(DbError::Secret(format!("instance {instance}: the stored secrets are not a JSON object"))),
    };
    if sealed.is_empty() {
        return Ok(());
    }
    let fail = |key: &str, why: String| {
        DbError::Secret(format!("instance {instance}: config.{key} cannot be decrypted: {why}"))
    };
    let Some(vault) = vault else {
        let key = sealed.keys().next().cloned().unwrap_or_default();
        return Err(fail(
            &key,
            "no master key is configured (WEFT_MASTER_KEY or the data directory's key file)".into(),
        ));
    };
    let Value::Object(out) = config else {
        return Err(DbError::Secret(format!("instance {instance}: the stored config is not a JSON object")));
    };
    for (key, text) in sealed {
        let text = text.as_str().ok_or_else(|| fail(&key, "not sealed text".into()))?;
        let s = Sealed::parse(text).map_err(|e| fail(&key, e.to_string()))?;
        let bytes = vault.open(&s, &aad(org, instance, &key)).map_err(|e| fail(&key, e.to_string()))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| fail(&key, e.to_string()))?;
        out.insert(key, value);
    }
    Ok(())
}

/// The `secrets` column re-wrapped under the vault's current master key (the values' own data
/// keys and ciphertexts are kept), or `None` when every value already is.
pub(crate) fn rewrap(vault: &Vault, org: &str, instance: &str, secrets: &str) -> Result<Option<String>, DbError> {
    let sealed: Map<String, Value> = serde_json::from_str(secrets)
        .map_err(|e| DbError::Secret(format!("instance {instance}: the stored secrets are unreadable: {e}")))?;
    let current = vault.keyring().current_id();
    let mut changed = false;
    let mut out = Map::new();
    for (key, text) in sealed {
        let fail =
            |why: String| DbError::Secret(format!("instance {instance}: config.{key} cannot be re-wrapped: {why}"));
        let s = Sealed::parse(text.as_str().unwrap_or_default()).map_err(|e| fail(e.to_string()))?;
        if s.key_id() == current {
            out.insert(key, text);
            continue;
        }
        let new = vault.rewrap(&s, &aad(org, instance, &key)).map_err(|e| fail(e.to_string()))?;
        changed = true;
        out.insert(key, Value::String(new.to_string()));
    }
    Ok(changed.then(|| Value::Object(out).to_string()))
}

/// What a master key's check value is bound to.
fn check_aad(key_id: &str) -> Aad {
    Aad::new("weft", "master-key-check", key_id)
}

const CHECK_PLAINTEXT: &[u8] = b"weft master key check";

impl crate::Db {
    /// Checks that this process's master keys are the ones the database's secrets are sealed
    /// with: the first process to use a key stores a value sealed under it; any later process
    /// whose key of the same id differs cannot open that value and gets an error (so a fleet
    /// node with its own key file refuses to start instead of sealing secrets the others
    /// cannot read). Checks every key that has a stored value, and stores one for the current
    /// key when there is none.
    pub async fn check_master_keys(&self, now: crate::Millis) -> Result<(), DbError> {
        let Some(vault) = self.vault() else { return Ok(()) };
        let current = vault.keyring().current_id().to_string();
        let sealed = vault
            .seal(CHECK_PLAINTEXT, &check_aad(&current))
            .map_err(|e| DbError::Secret(format!("cannot seal the check value of master key `{current}`: {e}")))?;
        sqlx::query(
            "INSERT INTO master_key_checks (key_id, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&current)
        .bind(sealed.to_string())
        .bind(now)
        .execute(&self.write)
        .await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key_id, sealed FROM master_key_checks").fetch_all(&self.read).await?;
        for (id, text) in rows {
            if !vault.keyring().ids().contains(&id.as_str()) {
                continue;
            }
            let opened = Sealed::parse(&text).and_then(|s| vault.open(&s, &check_aad(&id)));
            if !opened.is_ok_and(|p| p.as_slice() == CHECK_PLAINTEXT) {
                return Err(DbError::Secret(format!(
                    "master key `{id}` is not the key this database's secrets are sealed with: every node must use the \
                     same master keys (the same WEFT_MASTER_KEY, or a copy of the same key file)"
                )));
            }
        }
        Ok(())
    }
}

impl crate::Db {
    /// Instances that may hold secrets stored before they were sealed (migration 0011): those
    /// with nothing sealed (an instance written since seals every secret it has), after `after`
    /// by id, `limit` at a time: `(org, id, integration id, version)`.
    pub async fn instances_without_sealed_secrets(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, String, String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT org_id, id, integration_id, version FROM instances WHERE id > $1 AND secrets = '{}'
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.read)
        .await?)
    }

    /// Seals the values of `secret_keys` that instance `id` still holds in plaintext in its
    /// `config` (written before secrets were sealed, migration 0011) into its `secrets` column,
    /// in one compare-and-set on the row. `true` when it sealed something.
    pub async fn seal_plain_secrets(&self, org: &str, id: &str, secret_keys: &[String]) -> Result<bool, DbError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT config, secrets FROM instances WHERE org_id = $1 AND id = $2")
                .bind(org)
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        let Some((config_text, secrets_text)) = row else { return Ok(false) };
        let config: Value = serde_json::from_str(&config_text)
            .map_err(|e| DbError::Secret(format!("instance {id}: the stored config is unreadable: {e}")))?;
        let plain: Vec<String> =
            secret_keys.iter().filter(|k| config.get(k.as_str()).is_some_and(|v| !v.is_null())).cloned().collect();
        if plain.is_empty() {
            return Ok(false);
        }
        let (config, sealed) = seal_config(self.sealing_vault().as_deref(), org, id, &config, &plain)?;
        let mut secrets: Map<String, Value> = serde_json::from_str(&secrets_text)
            .map_err(|e| DbError::Secret(format!("instance {id}: the stored secrets are unreadable: {e}")))?;
        let sealed: Map<String, Value> = serde_json::from_str(&sealed).expect("seal_config writes a JSON object");
        secrets.extend(sealed);
        let done = sqlx::query(
            "UPDATE instances SET config = $1, secrets = $2 WHERE id = $3 AND config = $4 AND secrets = $5",
        )
        .bind(crate::util::json_text(&config))
        .bind(Value::Object(secrets).to_string())
        .bind(id)
        .bind(&config_text)
        .bind(&secrets_text)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
