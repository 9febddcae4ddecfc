//! Managed OAuth 2.0: the authorization code flow (with PKCE) and the client credentials grant,
//! tokens kept fresh for the steps that use them.
//!
//! - [`OAuth::start`] begins an authorization for an instance's connection: a random `state`
//!   (stored hashed) bound to the connection and a PKCE verifier (sealed), and the provider's
//!   authorize URL to send the customer to. [`OAuth::callback`] (behind `/oauth2/callback`)
//!   takes the state once, exchanges the code and stores the tokens.
//! - [`OAuth::access_token`] gives a step a valid access token, fetching (client credentials)
//!   or refreshing (authorization code) it when it expires within [`REFRESH_MARGIN`]. The
//!   refresh is single-flight across every node: tasks of one process queue on a per-connection
//!   mutex, processes on a lease in the connection's row (see `weft_db`'s `oauth` module), and
//!   whoever gets either re-reads the row first, so a refresh another node just made is used,
//!   not repeated. A refresh the provider refuses marks the connection `error` with the
//!   provider's message.
//! - [`OAuth::refresh_expiring`] (the scheduler) refreshes tokens ahead of their expiry (a
//!   customer's by the instance it was last authorized through), so a step seldom waits for one; [`OAuth::revoke_instance`] revokes tokens when an instance goes.
//!
//! Every request to a provider goes through the egress guard, like a step's. The client secret,
//! tokens and verifier are never logged; errors carry the provider's `error` and
//! `error_description` only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use weft_components::EgressGuard;
use weft_db::{Connection, ConnectionStatus, Db, DbError, Instance, Millis, Owner, Tokens};
use weft_model::config::CUSTOMER_CONNECTION;
use weft_model::definition::{IntegrationDef, OAuth2Def, OAuth2Grant};
use weft_model::error::{ErrorKind, StepError};
use zeroize::Zeroizing;

/// A token expiring sooner than this is refreshed before a step gets it.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How long a node may hold a connection's refresh lease (longer than a token request may take).
const LOCK_TTL: Duration = Duration::from_secs(30);
/// The longest a provider may take to answer a token request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a pending authorization stays valid.
pub const AUTHORIZATION_TTL: Duration = Duration::from_secs(600);
/// How long a step waits for another node's refresh before it gives up.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(45);

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The connection has no usable tokens: the customer must authorize (again).
    #[error("{0}")]
    NeedsAuthorization(String),
    /// The provider refused (its `error` and `error_description`); the connection is `error`.
    #[error("{0}")]
    Refused(String),
    /// The provider could not be reached or answered something that is not a token response.
    #[error("{0}")]
    Unreachable(String),
    /// What the definition or organization lacks (no OAuth client configured, not an OAuth
    /// variable, a redirect URL that cannot be built).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// An access token for one use.
pub struct AccessToken {
    pub token: Zeroizing<String>,
    pub token_type: String,
}

/// Where to send the customer to authorize.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub url: String,
    pub expires_at: Millis,
}

/// What the callback did.
#[derive(Debug, Clone)]
pub struct CallbackOutcome {
    /// `(org, instance, variable)` of the connection, when the state was known.
    pub connection: Option<(String, String, String)>,
    /// `Ok(())` when tokens were stored; else what went wrong (safe to show the customer).
    pub result: Result<(), String>,
    /// The page the vendor asked to send the customer to, if any.
    pub redirect: Option<String>,
}

/// The OAuth 2.0 client of a node. Cheap to clone.
#[derive(Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    http: reqwest::Client,
    guard: EgressGuard,
    node: String,
    /// One mutex per connection being refreshed by this process.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A provider's token response (RFC 6749 §5.1) or error (§5.2).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<Value>,
    refresh_token: Option<String>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn now_ms() -> Millis {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn random_url_safe(n: usize) -> Result<String, OAuthError> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    getrandom::fill(&mut buf).map_err(|e| OAuthError::Config(format!("the OS random number generator failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(&*buf))
}

/// The OAuth definition of `def`'s connection variable `key`.
pub fn oauth_var<'a>(def: &'a IntegrationDef, key: &str) -> Result<&'a OAuth2Def, OAuthError> {
    let var = def
        .config_vars()
        .find(|v| v.key == key)
        .ok_or_else(|| OAuthError::Config(format!("`{key}` is not a config variable of {}", def.key)))?;
    var.oauth2.as_ref().ok_or_else(|| {
        OAuthError::Config(format!("config.{key} is not an OAuth 2.0 connection (it declares no `oauth2`)"))
    })
}

impl OAuth {
    pub fn new(db: Db, guard: EgressGuard, node: impl Into<String>) -> Result<OAuth, String> {
        let http = guard.http_client("weft-oauth")?;
        Ok(OAuth { inner: Arc::new(Inner { db, http, guard, node: node.into(), locks: Mutex::new(HashMap::new()) }) })
    }

    /// The client id and secret to present: the connection value's own (client credentials
    /// brought by the customer), else the organization's OAuth client the definition names.
    async fn client(
        &self,
        org: &str,
        oauth: &OAuth2Def,
        value: Option<&Value>,
    ) -> Result<(String, Zeroizing<String>), OAuthError> {
        if oauth.grant == OAuth2Grant::ClientCredentials
            && let Some(Value::Object(v)) = value
            && let (Some(Value::String(id)), Some(Value::String(secret))) = (v.get("client_id"), v.get("client_secret"))
        {
            return Ok((id.clone(), Zeroizing::new(secret.clone())));
        }
        let Some(key) = &oauth.client else {
            return Err(OAuthError::Config(
                "the connection has no client_id and client_secret, and the definition names no OAuth client".into(),
            ));
        };
        match self.inner.db.oauth_client(org, key).await? {
            Some(c) => Ok((c.client_id.clone(), c.client_secret.clone())),
            None => Err(OAuthError::Config(format!(
                "OAuth client `{key}` is not configured in this organization (PUT /api/v1/oauth-clients/{key} with its \
                 client_id and client_secret)"
            ))),
        }
    }

    /// Begins the authorization of `instance`'s connection `key`: the URL to send the customer
    /// to. The provider sends them back to `redirect_uri` (Weft's `/oauth2/callback`).
    pub async fn start(
        &self,
        instance: &Instance,
        def: &IntegrationDef,
        key: &str,
        redirect_uri: &str,
        success_url: Option<&str>,
        failure_url: Option<&str>,
    ) -> Result<Authorization, OAuthError> {
        let oauth = oauth_var(def, key)?;
        let Some(authorize_url) = &oauth.authorize_url else {
            return Err(OAuthError::Config(format!(
                "config.{key} uses the {} grant: there is nothing for the customer to authorize",
                oauth.grant.name()
            )));
        };
        let (client_id, _) = self.client(&instance.org_id, oauth, None).await?;
        let now = now_ms();
        let (owner, row_key) = owner_of(instance, key);
        let conn = self.inner.db.ensure_connection(&instance.org_id, &owner, &row_key, now).await?;
        let state = Zeroizing::new(random_url_safe(32)?);
        let verifier = if oauth.pkce { Some(Zeroizing::new(random_url_safe(48)?)) } else { None };
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client_id),
            ("redirect_uri".into(), redirect_uri.into()),
            ("state".into(), state.to_string()),
        ];
        if !oauth.scopes.is_empty() {
            params.push(("scope".into(), oauth.scopes.join(" ")));
        }
        if let Some(v) = &verifier {
            params.push(("code_challenge".into(), URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))));
            params.push(("code_challenge_method".into(), "S256".into()));
        }
        params.extend(oauth.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let url = reqwest::Url::parse_with_params(authorize_url, &params)
            .map_err(|e| OAuthError::Config(format!("config.{key}: the authorize URL is not valid: {e}")))?;
        let expires_at = now + AUTHORIZATION_TTL.as_millis() as i64;
        self.inner
            .db
            .insert_oauth_state(
                &instance.org_id,
                &conn.id,
                (&instance.id, key),
                &state,
                verifier.as_deref().map(|v| v.as_str()),
                success_url,
                failure_url,
                expires_at,
                now,
            )
            .await?;
        Ok(Authorization { url: url.to_string(), expires_at })
    }

    /// Completes an authorization: the provider's redirect brought `state` and a `code` (or an
    /// `error`). The tokens are stored and the connection becomes `ok`; a refusal leaves it
    /// `needs_authorization` (the customer may try again) with the provider's message.
    /// `load` gives the instance's definition and config.
    pub async fn callback<F, Fut>(
        &self,
        state: &str,
        code: Option<&str>,
        error: Option<(&str, Option<&str>)>,
        redirect_uri: &str,
        load: F,
    ) -> Result<CallbackOutcome, OAuthError>
    where
        F: FnOnce(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<(Instance, IntegrationDef)>, OAuthError>>,
    {
        let now = now_ms();
        let Some(pending) = self.inner.db.take_oauth_state(state, now).await? else {
            return Ok(CallbackOutcome {
                connection: None,
                result: Err("this authorization link is unknown, already used or expired: start again".into()),
                redirect: None,
            });
        };
        let conn = self.inner.db.connection_by_id(&pending.org_id, &pending.connection_id).await?;
        let Some(conn) = conn else {
            return Ok(CallbackOutcome {
                connection: None,
                result: Err("the instance this authorization was for was deleted".into()),
                redirect: pending.failure_url,
            });
        };
        let id = Some((conn.org_id.clone(), pending.instance_id.clone(), pending.variable.clone()));
        let fail = |message: String| CallbackOutcome {
            connection: id.clone(),
            result: Err(message),
            redirect: pending.failure_url.clone(),
        };
        if let Some((error, description)) = error {
            let message = provider_message("the provider refused the authorization", error, description);
            self.inner
                .db
                .set_connection_status(
                    &conn.id,
                    conn.version,
                    ConnectionStatus::NeedsAuthorization,
                    Some(&message),
                    now,
                )
                .await?;
            return Ok(fail(message));
        }
        let Some(code) = code.filter(|c| !c.is_empty()) else {
            return Ok(fail("the provider sent no authorization code".into()));
        };
        let Some((instance, def)) = load(conn.org_id.clone(), pending.instance_id.clone()).await? else {
            return Ok(fail("the instance this authorization was for was deleted".into()));
        };
        let oauth = oauth_var(&def, &pending.variable)?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
        ];
        if let Some(v) = &pending.verifier {
            form.push(("code_verifier", v.to_string()));
        }
        let value = instance.config.get(&pending.variable);
        match self.token_request(&instance.org_id, oauth, value, form).await {
            Ok((tokens, expires_at)) => {
                let fresh = self.inner.db.connection_by_id(&conn.org_id, &conn.id).await?.unwrap_or(conn);
                self.inner.db.store_tokens(&fresh, fresh.version, &tokens, expires_at, now_ms()).await?;
                self.inner.db.set_connection_source(&fresh.id, &pending.instance_id, &pending.variable).await?;
                tracing::info!(instance = %pending.instance_id, connection = %fresh.key, "OAuth connection authorized");
                Ok(CallbackOutcome { connection: id.clone(), result: Ok(()), redirect: pending.success_url })
            }
            Err(e) => {
                let message = e.to_string();
                let fresh = self.inner.db.connection_by_id(&conn.org_id, &conn.id).await?.unwrap_or(conn);
                self.inner
                    .db
                    .set_connection_status(&fresh.id, fresh.version, ConnectionStatus::Error, Some(&message), now_ms())
                    .await?;
                Ok(fail(message))
            }
        }
    }

    /// A valid access token for `instance`'s connection `key` (see the module docs).
    pub async fn access_token(
        &self,
        instance: &Instance,
        def: &IntegrationDef,
        key: &str,
    ) -> Result<AccessToken, OAuthError> {
        let oauth = oauth_var(def, key)?;
        let db = &self.inner.db;
        let org = &instance.org_id;
        let (owner, row_key) = owner_of(instance, key);
        let value = instance.config.get(key);
        let give_up = now_ms() + WAIT_FOR_OTHERS.as_millis() as i64;
        let margin = REFRESH_MARGIN.as_millis() as i64;
        loop {
            let conn = match db.connection(org, &owner, &row_key).await? {
                Some(c) => c,
                None if oauth.grant == OAuth2Grant::ClientCredentials => {
                    db.ensure_connection(org, &owner, &row_key, now_ms()).await?
                }
                None => return Err(needs_authorization(key, None)),
            };
            if let Some(t) = usable(&conn, now_ms(), margin) {
                return Ok(t);
            }
            check_refreshable(&conn, oauth, key)?;
            // One task of this process at a time per connection; the others find its tokens.
            let local = self.local_lock(&conn.id);
            let _held = local.lock().await;
            let conn = db.connection_by_id(org, &conn.id).await?.ok_or_else(|| needs_authorization(key, None))?;
            if let Some(t) = usable(&conn, now_ms(), margin) {
                return Ok(t);
            }
            check_refreshable(&conn, oauth, key)?;
            let now = now_ms();
            if db
                .lock_connection(&conn.id, conn.version, &self.inner.node, now + LOCK_TTL.as_millis() as i64, now)
                .await?
            {
                return self.refresh_locked(&conn, oauth, value).await;
            }
            // Another node is refreshing (or just did): wait for its tokens.
            if now_ms() > give_up {
                let by = conn.lock_owner.unwrap_or_else(|| "another node".into());
                return Err(OAuthError::Unreachable(format!(
                    "config.{key}: gave up waiting for the token refresh by {by} after {}s",
                    WAIT_FOR_OTHERS.as_secs()
                )));
            }
            drop(_held);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn local_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().expect("oauth locks");
        // Forget locks nobody holds or waits for, so the map stays as small as the refreshes in flight.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(id.to_string()).or_default().clone()
    }

    /// Fetches or refreshes the tokens of `conn`, whose refresh lease this node holds at
    /// `conn.version`, and stores them. A refusal marks the connection `error`.
    async fn refresh_locked(
        &self,
        conn: &Connection,
        oauth: &OAuth2Def,
        value: Option<&Value>,
    ) -> Result<AccessToken, OAuthError> {
        let db = &self.inner.db;
        let form = match (oauth.grant, conn.tokens.as_ref().and_then(|t| t.refresh_token.clone())) {
            (OAuth2Grant::ClientCredentials, _) => {
                let mut f = vec![("grant_type", "client_credentials".to_string())];
                if !oauth.scopes.is_empty() {
                    f.push(("scope", oauth.scopes.join(" ")));
                }
                f
            }
            (OAuth2Grant::AuthorizationCode, Some(refresh)) => {
                vec![("grant_type", "refresh_token".to_string()), ("refresh_token", refresh)]
            }
            (OAuth2Grant::AuthorizationCode, None) => {
                let message = "the access token expired and the provider gave no refresh token: authorize again";
                db.set_connection_status(
                    &conn.id,
                    conn.version,
                    ConnectionStatus::NeedsAuthorization,
                    Some(message),
                    now_ms(),
                )
                .await?;
                return Err(needs_authorization(&conn.key, Some(message)));
            }
        };
        match self.token_request(&conn.org_id, oauth, value, form).await {
            Ok((mut tokens, expires_at)) => {
                // A provider that does not rotate refresh tokens sends none: keep the one we have.
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = conn.tokens.as_ref().and_then(|t| t.refresh_token.clone());
                }
                if !db.store_tokens(conn, conn.version, &tokens, expires_at, now_ms()).await? {
                    // Cannot happen while the lease holds; if it lapsed, someone else stored newer ones.
                    tracing::warn!(connection = %conn.id, "OAuth tokens changed during the refresh; keeping the newer");
                }
                tracing::info!(connection = %conn.id, key = %conn.key, "OAuth tokens refreshed");
                Ok(AccessToken {
                    token: Zeroizing::new(tokens.access_token.clone()),
                    token_type: tokens.token_type.clone().unwrap_or_else(|| "Bearer".into()),
                })
            }
            Err(OAuthError::Refused(message)) => {
                db.set_connection_status(&conn.id, conn.version, ConnectionStatus::Error, Some(&message), now_ms())
                    .await?;
                tracing::warn!(connection = %conn.id, key = %conn.key, error = %message, "OAuth refresh refused");
                Err(OAuthError::Refused(format!("config.{}: {message}", conn.key)))
            }
            Err(e) => {
                db.unlock_connection(&conn.id, &self.inner.node).await?;
                // The token we have may still be valid for a while: better than failing the step.
                if let Some(t) = usable(conn, now_ms(), 0) {
                    tracing::warn!(connection = %conn.id, error = %e, "OAuth refresh failed; the current token is still valid");
                    return Ok(t);
                }
                Err(e)
            }
        }
    }

    /// Sends a token request (client authentication by HTTP Basic, RFC 6749 §2.3.1) and reads
    /// the answer: the tokens and when the access token expires.
    async fn token_request(
        &self,
        org: &str,
        oauth: &OAuth2Def,
        value: Option<&Value>,
        form: Vec<(&str, String)>,
    ) -> Result<(Tokens, Option<Millis>), OAuthError> {
        let (client_id, secret) = self.client(org, oauth, value).await?;
        let url = reqwest::Url::parse(&oauth.token_url)
            .map_err(|e| OAuthError::Config(format!("the token URL is not valid: {e}")))?;
        self.inner.guard.check_url_host(&url).map_err(|e| OAuthError::Unreachable(e.message))?;
        let body = Zeroizing::new(form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish());
        let auth = basic_auth(&client_id, &secret);
        let sent = self
            .inner
            .http
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::AUTHORIZATION, auth.as_str())
            .body(body.to_string())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await;
        let host = url.host_str().unwrap_or_default().to_string();
        let resp = sent.map_err(|e| {
            OAuthError::Unreachable(format!(
                "the token endpoint {host} could not be reached: {}",
                weft_components::http::error_chain(&e)
            ))
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| OAuthError::Unreachable(format!("the token endpoint {host} answered unreadably: {e}")))?;
        let parsed: Option<TokenResponse> = serde_json::from_str(&text).ok();
        match parsed {
            Some(TokenResponse {
                access_token: Some(access_token),
                token_type,
                expires_in,
                refresh_token,
                scope,
                ..
            }) if status.is_success() => {
                let expires_in = match expires_in {
                    Some(Value::Number(n)) => n.as_i64(),
                    Some(Value::String(s)) => s.parse().ok(),
                    _ => None,
                };
                let expires_at = expires_in.map(|s| now_ms() + s.max(0) * 1000);
                Ok((Tokens { access_token, refresh_token, token_type, scope }, expires_at))
            }
            Some(TokenResponse { error: Some(error), error_description, .. }) => {
                Err(OAuthError::Refused(provider_message(
                    &format!("the provider refused the token request ({status})"),
                    &error,
                    error_description.as_deref(),
                )))
            }
            _ if status.is_client_error() => Err(OAuthError::Refused(format!(
                "the provider refused the token request ({status}) without an OAuth error"
            ))),
            _ => Err(OAuthError::Unreachable(format!(
                "the token endpoint {host} answered {status} without a token (expected JSON with `access_token`)"
            ))),
        }
    }

    /// Refreshes, ahead of time, up to `limit` tokens that expire within `horizon`. `load`
    /// gives an instance and its definition. Returns how many were refreshed.
    pub async fn refresh_expiring<F, Fut>(&self, horizon: Duration, limit: u32, load: F) -> Result<usize, OAuthError>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<(Instance, IntegrationDef)>, OAuthError>>,
    {
        let before = now_ms() + horizon.as_millis() as i64;
        let due = self.inner.db.connections_expiring(before, limit).await?;
        let mut done = 0;
        for (org, instance, key) in due {
            let Some((instance, def)) = load(org, instance).await? else { continue };
            match self.refresh_now(&instance, &def, &key, before).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(instance = %instance.id, connection = %key, error = %e, "OAuth refresh failed")
                }
            }
        }
        Ok(done)
    }

    /// Refreshes a connection's tokens now unless another node holds its lease; `true` when
    /// this call refreshed them.
    async fn refresh_now(
        &self,
        instance: &Instance,
        def: &IntegrationDef,
        key: &str,
        before: Millis,
    ) -> Result<bool, OAuthError> {
        let oauth = oauth_var(def, key)?;
        let db = &self.inner.db;
        let (owner, row_key) = owner_of(instance, key);
        let Some(conn) = db.connection(&instance.org_id, &owner, &row_key).await? else { return Ok(false) };
        let local = self.local_lock(&conn.id);
        let _held = local.lock().await;
        let Some(conn) = db.connection_by_id(&instance.org_id, &conn.id).await? else { return Ok(false) };
        // Another node may have refreshed it since it was found due.
        if conn.status != ConnectionStatus::Ok || conn.expires_at.is_none_or(|e| e >= before) {
            return Ok(false);
        }
        let now = now_ms();
        if !db.lock_connection(&conn.id, conn.version, &self.inner.node, now + LOCK_TTL.as_millis() as i64, now).await?
        {
            return Ok(false);
        }
        self.refresh_locked(&conn, oauth, instance.config.get(key)).await.map(|_| true)
    }

    /// Revokes the tokens of an instance's OAuth connections at the providers that have a
    /// `revoke_url` (RFC 7009), best effort: a provider that does not answer does not keep the
    /// instance from being deleted. Returns how many tokens were revoked.
    pub async fn revoke_instance(&self, instance: &Instance, def: &IntegrationDef) -> usize {
        let conns = match self.inner.db.instance_connections(&instance.org_id, &instance.id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(instance = %instance.id, error = %e, "cannot read OAuth connections to revoke");
                return 0;
            }
        };
        let mut revoked = 0;
        for conn in conns {
            let Ok(oauth) = oauth_var(def, &conn.key) else { continue };
            let (Some(revoke_url), Some(tokens)) = (&oauth.revoke_url, &conn.tokens) else { continue };
            let (token, hint) = match &tokens.refresh_token {
                Some(r) => (r.clone(), "refresh_token"),
                None => (tokens.access_token.clone(), "access_token"),
            };
            let token = Zeroizing::new(token);
            match self.revoke(&instance.org_id, oauth, instance.config.get(&conn.key), revoke_url, &token, hint).await {
                Ok(()) => revoked += 1,
                Err(e) => {
                    tracing::warn!(instance = %instance.id, connection = %conn.key, error = %e, "OAuth revoke failed")
                }
            }
        }
        revoked
    }

    async fn revoke(
        &self,
        org: &str,
        oauth: &OAuth2Def,
        value: Option<&Value>,
        revoke_url: &str,
        token: &str,
        hint: &str,
    ) -> Result<(), OAuthError> {
        let (client_id, secret) = self.client(org, oauth, value).await?;
        let url = reqwest::Url::parse(revoke_url)
            .map_err(|e| OAuthError::Config(format!("the revoke URL is not valid: {e}")))?;
        self.inner.guard.check_url_host(&url).map_err(|e| OAuthError::Unreachable(e.message))?;
        let body = Zeroizing::new(
            form_urlencoded::Serializer::new(String::new())
                .append_pair("token", token)
                .append_pair("token_type_hint", hint)
                .finish(),
        );
        let auth = basic_auth(&client_id, &secret);
        let resp = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::AUTHORIZATION, auth.as_str())
            .body(body.to_string())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| OAuthError::Unreachable(weft_components::http::error_chain(&e)))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(OAuthError::Refused(format!("the revocation endpoint answered {}", resp.status())))
        }
    }
}

/// Whose connection `instance`'s variable `key` is, and its key there: the customer's own
/// connection when the value refers to one (`{customer_connection: <name>}`), else the
/// instance's.
fn owner_of(instance: &Instance, key: &str) -> (Owner, String) {
    let shared = instance.config.get(key).and_then(|v| v.get(CUSTOMER_CONNECTION)).and_then(Value::as_str);
    match shared {
        Some(name) => (Owner::Customer(instance.customer_id.clone()), name.to_string()),
        None => (Owner::Instance(instance.id.clone()), key.to_string()),
    }
}

/// Puts the credentials of the customer's connections in place of references to them in
/// `instance`'s config (static connections; an OAuth one stays a reference, resolved per call
/// by [`with_token`]). Fails naming the variable when the customer has no such connection.
pub async fn resolve_customer_connections(
    db: &Db,
    def: &IntegrationDef,
    instance: &mut Instance,
) -> Result<(), StepError> {
    for var in def.config_vars().filter(|v| v.oauth2.is_none()) {
        let Some(name) = instance.config.get(&var.key).and_then(|v| v.get(CUSTOMER_CONNECTION)).and_then(Value::as_str)
        else {
            continue;
        };
        let owner = Owner::Customer(instance.customer_id.clone());
        let conn = db
            .connection(&instance.org_id, &owner, name)
            .await
            .map_err(|e| StepError::new(ErrorKind::Component, e.to_string()))?;
        let Some(fields) = conn.and_then(|c| c.fields) else {
            return Err(StepError::new(
                ErrorKind::Input,
                format!(
                    "config.{}: the customer has no connection `{name}` (PUT /api/v1/customers/{}/connections/{name})",
                    var.key, instance.customer_id
                ),
            ));
        };
        instance.config[&var.key] = fields;
    }
    Ok(())
}

/// Client authentication by HTTP Basic (RFC 6749 §2.3.1: both parts form-encoded first).
fn basic_auth(client_id: &str, secret: &str) -> Zeroizing<String> {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = Zeroizing::new(format!("{}:{}", enc(client_id), enc(secret)));
    Zeroizing::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())))
}

/// The access token of `conn` if it is still valid `margin` ms after `now`. The margin is at
/// most half the token's lifetime, so a provider issuing short-lived tokens (shorter than
/// twice [`REFRESH_MARGIN`]) still gets each used for a while instead of refreshed per step.
fn usable(conn: &Connection, now: Millis, margin: Millis) -> Option<AccessToken> {
    if conn.status != ConnectionStatus::Ok {
        return None;
    }
    let t = conn.tokens.as_ref()?;
    if let Some(e) = conn.expires_at {
        let lifetime = e - conn.checked_at.unwrap_or(conn.updated_at);
        if e - now <= margin.min(lifetime / 2) {
            return None;
        }
    }
    Some(AccessToken {
        token: Zeroizing::new(t.access_token.clone()),
        token_type: t.token_type.clone().unwrap_or_else(|| "Bearer".into()),
    })
}

/// Refuses to refresh what needs the customer: an authorization code connection never
/// authorized, or one whose refresh was refused.
fn check_refreshable(conn: &Connection, oauth: &OAuth2Def, key: &str) -> Result<(), OAuthError> {
    if oauth.grant == OAuth2Grant::ClientCredentials {
        return Ok(());
    }
    match conn.status {
        ConnectionStatus::NeedsAuthorization => Err(needs_authorization(key, conn.message.as_deref())),
        ConnectionStatus::Error => Err(OAuthError::Refused(format!(
            "config.{key}: the connection is in error: {}; authorize again",
            conn.message.as_deref().unwrap_or("the last token request failed")
        ))),
        ConnectionStatus::Ok if conn.tokens.is_none() => Err(needs_authorization(key, None)),
        ConnectionStatus::Ok => Ok(()),
    }
}

fn needs_authorization(key: &str, why: Option<&str>) -> OAuthError {
    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
    OAuthError::NeedsAuthorization(format!(
        "config.{key}: the connection needs authorization{why}: the customer authorizes it from the instance's \
         connections (POST /api/v1/instances/{{instance}}/connections/{key}/authorize)"
    ))
}

/// `what: error: description`, the provider's words cut to a sane length.
fn provider_message(what: &str, error: &str, description: Option<&str>) -> String {
    let clip = |s: &str| s.chars().take(300).collect::<String>();
    match description {
        Some(d) if !d.is_empty() => format!("{what}: {}: {}", clip(error), clip(d)),
        _ => format!("{what}: {}", clip(error)),
    }
}

/// A call's input with an OAuth connection reference (`{type: oauth2_…, connection: <var>}`,
/// what `{{ config.<var> }}` gives) replaced by `{type: oauth2, access_token, token_type}` with a
/// valid token of `instance`'s connection, and that token (for the caller's redactor). The
/// variable is looked up in `instance` only: no input can name another instance's connection.
pub(crate) async fn with_token(
    oauth: &OAuth,
    instance: &Instance,
    def: &IntegrationDef,
    mut input: Value,
) -> Result<(Value, Option<AccessToken>), StepError> {
    if !wants_token(&input) {
        return Ok((input, None));
    }
    let Some(key) = input["connection"].get("connection").and_then(Value::as_str).map(str::to_string) else {
        return Err(StepError::new(
            ErrorKind::Input,
            "`connection` is an OAuth connection without the variable it belongs to: pass `{{ config.<variable> }}`",
        ));
    };
    let token = oauth.access_token(instance, def, &key).await.map_err(step_error)?;
    input["connection"] = connection_value(&token);
    Ok((input, Some(token)))
}

/// Whether a call's input carries an OAuth connection reference (`{type: oauth2_…}`).
pub(crate) fn wants_token(input: &Value) -> bool {
    input
        .get("connection")
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with("oauth2_"))
}

/// How a step sees an OAuth failure.
fn step_error(e: OAuthError) -> StepError {
    let kind = match &e {
        OAuthError::Unreachable(_) => ErrorKind::Connection,
        OAuthError::Db(_) => ErrorKind::Component,
        OAuthError::NeedsAuthorization(_) | OAuthError::Refused(_) | OAuthError::Config(_) => ErrorKind::Input,
    };
    StepError::new(kind, e.to_string())
}

/// The connection object a component gets in place of an OAuth connection's reference.
pub fn connection_value(token: &AccessToken) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String("oauth2".into()));
    m.insert("access_token".into(), Value::String(token.token.to_string()));
    m.insert("token_type".into(), Value::String(token.token_type.clone()));
    Value::Object(m)
}
