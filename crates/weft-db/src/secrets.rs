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
