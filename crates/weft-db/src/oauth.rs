//! Connections as objects and OAuth 2.0 storage: the vendor's OAuth apps (`oauth_clients`),
//! connections (`connections`) owned by an instance (its OAuth connections) or by a customer
//! (reused by several of its instances: static credentials, or OAuth tokens), with their status,
//! and pending authorizations (`oauth_states`).
//!
//! Every secret here is sealed by the vault, bound to its row: a client's secret to the
//! organization and client key, a connection's tokens to the connection id, a PKCE verifier to
//! its state's hash. The state itself is stored only as its SHA-256 (like API tokens): it is a
//! bearer credential for the callback.
//!
//! A token refresh is single-flight across every node through a lease on the connection row
//! ([`Db::lock_connection`]: a compare-and-set on the row's `version` and an expired or absent
//! lock), and the new tokens are stored with a compare-and-set on the version the lock was
//! taken at, so a refresh token the provider rotated is never overwritten by an older one.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use weft_vault::{Aad, Sealed};
use zeroize::Zeroizing;

use crate::util::{new_id, sha256_hex};
use crate::{Db, DbError, Millis};

/// The vendor's OAuth app, as stored for an organization under a key definitions name.
#[derive(Clone)]
pub struct OAuthClient {
    pub key: String,
    pub client_id: String,
    /// Opened from the vault; never shown by the API.
    pub client_secret: Zeroizing<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("key", &self.key)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// A connection's health, as the API and alerts show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Credentials are stored and the last use or refresh worked.
    Ok,
    /// The customer has not authorized yet (or must again).
    NeedsAuthorization,
    /// The last token request failed; `message` has the provider's answer.
    Error,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Ok => "ok",
            ConnectionStatus::NeedsAuthorization => "needs_authorization",
            ConnectionStatus::Error => "error",
        }
    }

    fn parse(s: &str) -> Result<ConnectionStatus, DbError> {
        match s {
            "ok" => Ok(ConnectionStatus::Ok),
            "needs_authorization" => Ok(ConnectionStatus::NeedsAuthorization),
            "error" => Ok(ConnectionStatus::Error),
            other => Err(DbError::Invalid(format!("unknown connection status `{other}`"))),
        }
    }
}

/// An OAuth connection's tokens (sealed at rest).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Drop for Tokens {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

/// Who a connection belongs to: an instance (keyed by its config variable) or a customer
/// (keyed by a name the customer's instances refer to with `{customer_connection: <name>}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Instance(String),
    Customer(String),
}

impl Owner {
    fn column(&self) -> String {
        match self {
            Owner::Instance(id) => format!("instance:{id}"),
            Owner::Customer(id) => format!("customer:{id}"),
        }
    }
}

/// A connection: one per (owner, key).
#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    /// `None` for a customer's own connection.
    pub instance_id: Option<String>,
    /// The instance's config variable, or the customer connection's name.
    pub key: String,
    /// A customer's static connection (`{type, …fields}`), opened; `None` for OAuth ones.
    pub fields: Option<serde_json::Value>,
    pub status: ConnectionStatus,
    /// Why the status is what it is (the provider's error), never a secret.
    pub message: Option<String>,
    pub checked_at: Option<Millis>,
    pub tokens: Option<Tokens>,
    /// When the access token expires (as the provider said), if it said.
    pub expires_at: Option<Millis>,
    /// The node refreshing the tokens now, until when.
    pub lock_owner: Option<String>,
    pub lock_until: Option<Millis>,
    /// Bumped by every write of tokens or status: what refreshes compare-and-set on.
    pub version: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A pending authorization, taken (once) by the callback.
#[derive(Debug, Clone)]
pub struct OAuthState {
    pub org_id: String,
    pub connection_id: String,
    pub instance_id: String,
    pub variable: String,
    pub verifier: Option<Zeroizing<String>>,
    pub success_url: Option<String>,
    pub failure_url: Option<String>,
    pub expires_at: Millis,
}

fn client_aad(org: &str, key: &str) -> Aad {
    Aad::new(org, &format!("oauth_client:{key}"), "client_secret")
}

fn tokens_aad(org: &str, connection: &str) -> Aad {
    Aad::new(org, &format!("connection:{connection}"), "tokens")
}

fn fields_aad(org: &str, connection: &str) -> Aad {
    Aad::new(org, &format!("connection:{connection}"), "fields")
}

fn verifier_aad(org: &str, state_hash: &str) -> Aad {
    Aad::new(org, &format!("oauth_state:{state_hash}"), "verifier")
}

const CONNECTION_COLUMNS: &str = "id, org_id, customer_id, instance_id, key, fields, status, message, checked_at, \
                                  tokens, expires_at, lock_owner, lock_until, version, created_at, updated_at";

impl Db {
    /// Seals `plain` under the current master key, bound to `aad`; `what` names it in errors.
    pub(crate) fn seal_text(&self, plain: &[u8], aad: &Aad, what: &str) -> Result<String, DbError> {
        let Some(vault) = self.sealing_vault() else {
            return Err(DbError::Secret(format!(
                "{what} is a secret, and no master key is configured to encrypt it \
                 (set WEFT_MASTER_KEY, or let `weft serve` create the data directory's key file)"
            )));
        };
        Ok(vault.seal(plain, aad).map_err(|e| DbError::Secret(format!("cannot encrypt {what}: {e}")))?.to_string())
    }

    /// Opens sealed text bound to `aad` (loading the master keys again once when it names a
    /// key this process lacks).
    pub(crate) fn open_text(&self, text: &str, aad: &Aad, what: &str) -> Result<Zeroizing<Vec<u8>>, DbError> {
        let fail = |why: String| DbError::Secret(format!("{what} cannot be decrypted: {why}"));
        let sealed = Sealed::parse(text).map_err(|e| fail(e.to_string()))?;
        let open = |db: &Db| {
            let vault = db.vault().ok_or_else(|| {
                fail("no master key is configured (WEFT_MASTER_KEY or the data directory's key file)".into())
            })?;
            vault.open(&sealed, aad).map_err(|e| fail(e.to_string()))
        };
        match open(self) {
            Err(_) if self.reload_vault() => open(self),
            other => other,
        }
    }

    /// Stores (or replaces) the organization's OAuth client `key`.
    pub async fn put_oauth_client(
        &self,
        org: &str,
        key: &str,
        client_id: &str,
        client_secret: &str,
        now: Millis,
    ) -> Result<OAuthClient, DbError> {
        let sealed =
            self.seal_text(client_secret.as_bytes(), &client_aad(org, key), &format!("OAuth client {key}'s secret"))?;
        sqlx::query(
            "INSERT INTO oauth_clients (org_id, key, client_id, client_secret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (org_id, key) DO UPDATE SET client_id = $3, client_secret = $4, updated_at = $5",
        )
        .bind(org)
        .bind(key)
        .bind(client_id)
        .bind(&sealed)
        .bind(now)
        .execute(&self.write)
        .await?;
        self.oauth_client(org, key).await?.ok_or_else(|| DbError::NotFound(format!("OAuth client {key}")))
    }

    /// The organization's OAuth client `key`, its secret opened.
    pub async fn oauth_client(&self, org: &str, key: &str) -> Result<Option<OAuthClient>, DbError> {
        let row = sqlx::query(
            "SELECT key, client_id, client_secret, created_at, updated_at FROM oauth_clients
             WHERE org_id = $1 AND key = $2",
        )
        .bind(org)
        .bind(key)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed: String = row.try_get("client_secret")?;
        let secret = self.open_text(&sealed, &client_aad(org, key), &format!("OAuth client {key}'s secret"))?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| DbError::Secret(format!("OAuth client {key}'s secret is not UTF-8")))?;
        Ok(Some(OAuthClient {
            key: row.try_get("key")?,
            client_id: row.try_get("client_id")?,
            client_secret: Zeroizing::new(secret),
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }))
    }

    /// The organization's OAuth clients without their secrets: (key, client id, created, updated).
    pub async fn list_oauth_clients(&self, org: &str) -> Result<Vec<(String, String, Millis, Millis)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT key, client_id, created_at, updated_at FROM oauth_clients WHERE org_id = $1 ORDER BY key",
        )
        .bind(org)
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn delete_oauth_client(&self, org: &str, key: &str) -> Result<(), DbError> {
        let done = sqlx::query("DELETE FROM oauth_clients WHERE org_id = $1 AND key = $2")
            .bind(org)
            .bind(key)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("OAuth client {key}")));
        }
        Ok(())
    }

    fn connection_from_row(&self, row: &AnyRow) -> Result<Connection, DbError> {
        let id: String = row.try_get("id")?;
        let org_id: String = row.try_get("org_id")?;
        let sealed: Option<String> = row.try_get("tokens")?;
        let tokens = match sealed {
            Some(text) => {
                let what = format!("connection {id}'s tokens");
                let bytes = self.open_text(&text, &tokens_aad(&org_id, &id), &what)?;
                Some(serde_json::from_slice(&bytes).map_err(|e| DbError::Secret(format!("{what}: {e}")))?)
            }
            None => None,
        };
        let sealed: Option<String> = row.try_get("fields")?;
        let fields = match sealed {
            Some(text) => {
                let what = format!("connection {id}'s credentials");
                let bytes = self.open_text(&text, &fields_aad(&org_id, &id), &what)?;
                Some(serde_json::from_slice(&bytes).map_err(|e| DbError::Secret(format!("{what}: {e}")))?)
            }
            None => None,
        };
        let status: String = row.try_get("status")?;
        Ok(Connection {
            fields,
            org_id,
            customer_id: row.try_get("customer_id")?,
            instance_id: row.try_get("instance_id")?,
            key: row.try_get("key")?,
            status: ConnectionStatus::parse(&status)?,
            message: row.try_get("message")?,
            checked_at: row.try_get("checked_at")?,
            tokens,
            expires_at: row.try_get("expires_at")?,
            lock_owner: row.try_get("lock_owner")?,
            lock_until: row.try_get("lock_until")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
        })
    }

    /// The connection `key` of `owner`, created (`needs_authorization`) if there is none yet.
    /// The owner must be the organization's.
    pub async fn ensure_connection(
        &self,
        org: &str,
        owner: &Owner,
        key: &str,
        now: Millis,
    ) -> Result<Connection, DbError> {
        if let Some(c) = self.connection(org, owner, key).await? {
            return Ok(c);
        }
        let (customer, instance) = match owner {
            Owner::Instance(id) => {
                let customer: Option<String> =
                    sqlx::query_scalar("SELECT customer_id FROM instances WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(id)
                        .fetch_optional(&self.read)
                        .await?;
                (customer.ok_or_else(|| DbError::NotFound(format!("instance {id}")))?, Some(id.clone()))
            }
            Owner::Customer(id) => {
                let known: Option<String> =
                    sqlx::query_scalar("SELECT id FROM customers WHERE org_id = $1 AND id = $2")
                        .bind(org)
                        .bind(id)
                        .fetch_optional(&self.read)
                        .await?;
                (known.ok_or_else(|| DbError::NotFound(format!("customer {id}")))?, None)
            }
        };
        sqlx::query(
            "INSERT INTO connections (id, org_id, customer_id, instance_id, owner, key, status, version, created_at,
                                      updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'needs_authorization', 0, $7, $7)
             ON CONFLICT (owner, key) DO NOTHING",
        )
        .bind(new_id("con"))
        .bind(org)
        .bind(&customer)
        .bind(&instance)
        .bind(owner.column())
        .bind(key)
        .bind(now)
        .execute(&self.write)
        .await?;
        self.connection(org, owner, key).await?.ok_or_else(|| DbError::NotFound(format!("connection {key}")))
    }

    /// The connection `key` of `owner`, its secrets opened.
    pub async fn connection(&self, org: &str, owner: &Owner, key: &str) -> Result<Option<Connection>, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND owner = $2 AND key = $3"
        )))
        .bind(org)
        .bind(owner.column())
        .bind(key)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| self.connection_from_row(&r)).transpose()
    }

    /// Stores (or replaces) customer `customer`'s static connection `key`: `value` is the whole
    /// connection (`{type, …fields}`), sealed. Its status becomes `ok`.
    pub async fn put_customer_connection(
        &self,
        org: &str,
        customer: &str,
        key: &str,
        value: &serde_json::Value,
        now: Millis,
    ) -> Result<Connection, DbError> {
        let owner = Owner::Customer(customer.to_string());
        let conn = self.ensure_connection(org, &owner, key, now).await?;
        if conn.tokens.is_some() {
            return Err(DbError::Conflict(format!(
                "customer connection `{key}` is an OAuth connection: it is authorized, not given credentials"
            )));
        }
        let json = Zeroizing::new(serde_json::to_vec(value).expect("JSON values serialize"));
        let sealed =
            self.seal_text(&json, &fields_aad(org, &conn.id), &format!("customer connection {key}'s credentials"))?;
        sqlx::query(
            "UPDATE connections SET fields = $1, status = 'ok', message = NULL, checked_at = $2, updated_at = $2,
                 version = version + 1
             WHERE id = $3",
        )
        .bind(&sealed)
        .bind(now)
        .bind(&conn.id)
        .execute(&self.write)
        .await?;
        self.connection(org, &owner, key).await?.ok_or_else(|| DbError::NotFound(format!("connection {key}")))
    }

    /// A customer's own connections.
    pub async fn customer_connections(&self, org: &str, customer: &str) -> Result<Vec<Connection>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND owner = $2 ORDER BY key"
        )))
        .bind(org)
        .bind(Owner::Customer(customer.to_string()).column())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| self.connection_from_row(r)).collect()
    }

    /// Deletes a customer's connection and its pending authorizations.
    pub async fn delete_customer_connection(&self, org: &str, customer: &str, key: &str) -> Result<(), DbError> {
        let owner = Owner::Customer(customer.to_string()).column();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM oauth_states WHERE connection_id IN
                 (SELECT id FROM connections WHERE org_id = $1 AND owner = $2 AND key = $3)",
        )
        .bind(org)
        .bind(&owner)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM connections WHERE org_id = $1 AND owner = $2 AND key = $3")
            .bind(org)
            .bind(&owner)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("customer connection {key}")));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A connection by id (for the callback, which knows only its state's row).
    pub async fn connection_by_id(&self, org: &str, id: &str) -> Result<Option<Connection>, DbError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND id = $2"
        )))
        .bind(org)
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| self.connection_from_row(&r)).transpose()
    }

    /// The OAuth connections of an instance.
    pub async fn instance_connections(&self, org: &str, instance: &str) -> Result<Vec<Connection>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE org_id = $1 AND instance_id = $2 ORDER BY key"
        )))
        .bind(org)
        .bind(instance)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| self.connection_from_row(r)).collect()
    }

    /// Takes the refresh lease of connection `id` for `owner` until `until`, if the row is still
    /// at `version` and nobody holds an unexpired lease. `true`: the caller may refresh.
    pub async fn lock_connection(
        &self,
        id: &str,
        version: i64,
        owner: &str,
        until: Millis,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE connections SET lock_owner = $1, lock_until = $2
             WHERE id = $3 AND version = $4 AND (lock_until IS NULL OR lock_until < $5)",
        )
        .bind(owner)
        .bind(until)
        .bind(id)
        .bind(version)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores new tokens (status `ok`, lease released) if the row is still at `version`;
    /// `false` when another write came first (the caller re-reads).
    pub async fn store_tokens(
        &self,
        conn: &Connection,
        version: i64,
        tokens: &Tokens,
        expires_at: Option<Millis>,
        now: Millis,
    ) -> Result<bool, DbError> {
        let json = Zeroizing::new(serde_json::to_vec(tokens).expect("tokens serialize"));
        let what = format!("connection {}'s tokens", conn.id);
        let sealed = self.seal_text(&json, &tokens_aad(&conn.org_id, &conn.id), &what)?;
        let done = sqlx::query(
            "UPDATE connections SET tokens = $1, expires_at = $2, status = 'ok', message = NULL, checked_at = $3,
                 lock_owner = NULL, lock_until = NULL, version = version + 1, updated_at = $3
             WHERE id = $4 AND version = $5",
        )
        .bind(&sealed)
        .bind(expires_at)
        .bind(now)
        .bind(&conn.id)
        .bind(version)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a connection's status and message (releasing any lease), if still at `version`.
    pub async fn set_connection_status(
        &self,
        id: &str,
        version: i64,
        status: ConnectionStatus,
        message: Option<&str>,
        now: Millis,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE connections SET status = $1, message = $2, checked_at = $3, lock_owner = NULL, lock_until = NULL,
                 version = version + 1, updated_at = $3
             WHERE id = $4 AND version = $5",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the instance and config variable connection `id` was authorized through: the
    /// definition that refreshes a customer's connection ahead of expiry.
    pub async fn set_connection_source(&self, id: &str, instance: &str, variable: &str) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE connections SET via_instance = $1, via_variable = $2 WHERE id = $3 AND instance_id IS NULL",
        )
        .bind(instance)
        .bind(variable)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Releases `owner`'s refresh lease without changing anything else.
    pub async fn unlock_connection(&self, id: &str, owner: &str) -> Result<(), DbError> {
        sqlx::query("UPDATE connections SET lock_owner = NULL, lock_until = NULL WHERE id = $1 AND lock_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Connections whose access token expires before `before` and that can be refreshed, at
    /// most `limit`, soonest first: `(org, instance, variable)` of the instance whose definition
    /// says how — its own, or for a customer's connection the one it was last authorized
    /// through (see [`Db::set_connection_source`]).
    pub async fn connections_expiring(
        &self,
        before: Millis,
        limit: u32,
    ) -> Result<Vec<(String, String, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT org_id, COALESCE(instance_id, via_instance), COALESCE(via_variable, key) FROM connections
             WHERE status = 'ok' AND tokens IS NOT NULL AND expires_at IS NOT NULL AND expires_at < $1
                 AND COALESCE(instance_id, via_instance) IS NOT NULL
             ORDER BY expires_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?)
    }

    /// Records a pending authorization of `connection`, started from `instance`'s config
    /// `variable`: `state` (stored hashed) is what the callback brings back; the PKCE
    /// `verifier` is sealed.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_oauth_state(
        &self,
        org: &str,
        connection: &str,
        (instance, variable): (&str, &str),
        state: &str,
        verifier: Option<&str>,
        success_url: Option<&str>,
        failure_url: Option<&str>,
        expires_at: Millis,
        now: Millis,
    ) -> Result<(), DbError> {
        let hash = sha256_hex(state);
        let verifier = verifier
            .map(|v| self.seal_text(v.as_bytes(), &verifier_aad(org, &hash), "the PKCE verifier"))
            .transpose()?;
        let mut tx = self.begin_write().await?;
        // Expired authorizations nobody completed go as new ones come.
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, org_id, connection_id, instance_id, variable, verifier, success_url,
                                       failure_url, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&hash)
        .bind(org)
        .bind(connection)
        .bind(instance)
        .bind(variable)
        .bind(&verifier)
        .bind(success_url)
        .bind(failure_url)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes the pending authorization of `state` (it can be used once): `None` when there is
    /// none or it expired.
    pub async fn take_oauth_state(&self, state: &str, now: Millis) -> Result<Option<OAuthState>, DbError> {
        let hash = sha256_hex(state);
        let row = sqlx::query(
            "DELETE FROM oauth_states WHERE state_hash = $1
             RETURNING org_id, connection_id, instance_id, variable, verifier, success_url, failure_url, expires_at",
        )
        .bind(&hash)
        .fetch_optional(&self.write)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: Millis = row.try_get("expires_at")?;
        if expires_at < now {
            return Ok(None);
        }
        let org_id: String = row.try_get("org_id")?;
        let verifier: Option<String> = row.try_get("verifier")?;
        let verifier = match verifier {
            Some(text) => {
                let bytes = self.open_text(&text, &verifier_aad(&org_id, &hash), "the PKCE verifier")?;
                Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
            }
            None => None,
        };
        Ok(Some(OAuthState {
            org_id,
            connection_id: row.try_get("connection_id")?,
            instance_id: row.try_get("instance_id")?,
            variable: row.try_get("variable")?,
            verifier,
            success_url: row.try_get("success_url")?,
            failure_url: row.try_get("failure_url")?,
            expires_at,
        }))
    }

    /// Re-wraps the sealed OAuth secrets (client secrets, tokens, PKCE verifiers) under the
    /// current master key, `batch` rows per read, each written by compare-and-set on the text
    /// read. A row drops out of the next read once it is under the current key, so no cursor is
    /// needed. Returns how many values were re-wrapped.
    pub(crate) async fn rewrap_oauth(&self, vault: &weft_vault::Vault, batch: u32) -> Result<usize, DbError> {
        let current = vault.keyring().current_id();
        let escaped: String =
            current.chars().flat_map(|c| if matches!(c, '\\' | '%' | '_') { vec!['\\', c] } else { vec![c] }).collect();
        let prefix = format!("v1.{escaped}.%");
        let mut done = 0;
        type AadOf = fn(&str, &str) -> Aad;
        // (table, its unique id column, the sealed column, the AAD of a row by (org, id))
        let tables: [(&str, &str, &str, AadOf); 4] = [
            ("oauth_clients", "key", "client_secret", client_aad),
            ("connections", "id", "tokens", tokens_aad),
            ("connections", "id", "fields", fields_aad),
            ("oauth_states", "state_hash", "verifier", verifier_aad),
        ];
        for (table, id_col, column, aad_of) in tables {
            loop {
                let rows: Vec<(String, String, String)> = sqlx::query_as(AssertSqlSafe(format!(
                    "SELECT org_id, {id_col}, {column} FROM {table}
                     WHERE {column} IS NOT NULL AND {column} NOT LIKE $1 ESCAPE '\\' LIMIT $2"
                )))
                .bind(&prefix)
                .bind(i64::from(batch.max(1)))
                .fetch_all(&self.read)
                .await?;
                if rows.is_empty() {
                    break;
                }
                for (org, id, old) in rows {
                    let what = format!("{table}.{column} of {id}");
                    let s = Sealed::parse(&old).map_err(|e| DbError::Secret(format!("{what}: {e}")))?;
                    let new = vault
                        .rewrap(&s, &aad_of(&org, &id))
                        .map_err(|e| DbError::Secret(format!("{what} cannot be re-wrapped: {e}")))?;
                    let updated = sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {table} SET {column} = $1 WHERE org_id = $2 AND {id_col} = $3 AND {column} = $4"
                    )))
                    .bind(new.to_string())
                    .bind(&org)
                    .bind(&id)
                    .bind(&old)
                    .execute(&self.write)
                    .await?;
                    done += updated.rows_affected() as usize;
                }
            }
        }
        Ok(done)
    }

    /// How many sealed OAuth values are under master key `key_id`.
    pub(crate) async fn oauth_secrets_under_key(&self, key_id: &str) -> Result<usize, DbError> {
        let mut n = 0;
        for (table, column) in
            [("oauth_clients", "client_secret"), ("connections", "tokens"), ("oauth_states", "verifier")]
        {
            let texts: Vec<String> =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL")))
                    .fetch_all(&self.read)
                    .await?;
            n += texts.iter().filter(|t| Sealed::parse(t).is_ok_and(|s| s.key_id() == key_id)).count();
        }
        Ok(n)
    }
}
