//! Connections: the organization's OAuth clients (the vendor's apps, secrets in the vault), an
//! instance's connections with their status, starting an OAuth authorization for one, and the
//! public callback `/oauth2/callback` the provider sends the customer back to.

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use weft_db::ConnectionStatus;
use weft_model::Permission;
use weft_model::config::CUSTOMER_CONNECTION;
use weft_model::definition::{IntegrationDef, OAuth2Grant, VarType};
use weft_worker::OAuthError;

/// The redirect URI registered with providers: `<public URL>/oauth2/callback`.
pub(crate) fn redirect_uri(s: &AppState) -> String {
    format!("{}/oauth2/callback", s.cfg.public_url.trim_end_matches('/'))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientBody {
    /// The client id the provider gave the vendor's app.
    client_id: String,
    /// Its secret: stored encrypted, never shown again.
    client_secret: String,
}

/// An OAuth client, without its secret.
#[derive(Serialize, ToSchema)]
pub struct OAuthClientView {
    key: String,
    client_id: String,
    /// Always `"[redacted]"`: the secret is never shown.
    client_secret: String,
    created_at: i64,
    updated_at: i64,
}

fn client_view(key: String, client_id: String, created_at: i64, updated_at: i64) -> OAuthClientView {
    OAuthClientView { key, client_id, client_secret: weft_model::redact::REDACTED.into(), created_at, updated_at }
}

/// Store the organization's OAuth client (the vendor's app at a provider) under `key`, the name
/// integration definitions give in `oauth2.client`. Replaces a client of that key.
#[utoipa::path(put, path = "/oauth-clients/{key}", tag = "connections", params(("key" = String, Path)),
    request_body = OAuthClientBody,
    responses((status = 200, body = OAuthClientView), (status = 400, description = "bad key or empty fields")))]
pub async fn put_client(
    State(s): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    JsonBody(b): JsonBody<OAuthClientBody>,
) -> ApiResult<Json<OAuthClientView>> {
    auth.require(Permission::Administer)?;
    check_name("OAuth client key", &key)?;
    for (field, v) in [("client_id", &b.client_id), ("client_secret", &b.client_secret)] {
        if v.trim().is_empty() {
            return Err(ApiError::bad_request(format!("{field}: must not be empty")));
        }
    }
    let c = s.db.put_oauth_client(auth.org(), &key, &b.client_id, &b.client_secret, super::now_ms()).await?;
    Ok(Json(client_view(c.key.clone(), c.client_id.clone(), c.created_at, c.updated_at)))
}

/// The organization's OAuth clients (secrets redacted).
#[utoipa::path(get, path = "/oauth-clients", tag = "connections",
    responses((status = 200, body = [OAuthClientView])))]
pub async fn list_clients(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<OAuthClientView>>> {
    auth.require(Permission::Read)?;
    let rows = s.db.list_oauth_clients(auth.org()).await?;
    Ok(Json(rows.into_iter().map(|(k, id, c, u)| client_view(k, id, c, u)).collect()))
}

/// Delete an OAuth client. Connections that use it cannot refresh until it is stored again.
#[utoipa::path(delete, path = "/oauth-clients/{key}", tag = "connections", params(("key" = String, Path)),
    responses((status = 204), (status = 404, description = "no such client")))]
pub async fn delete_client(State(s): State<AppState>, auth: Auth, Path(key): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Permission::Administer)?;
    s.db.delete_oauth_client(auth.org(), &key).await.map_err(|e| ApiError::from_db("OAuth client", e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// One connection of an instance and its health.
#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    /// The config variable.
    key: String,
    /// `bearer`, `basic`, `api_key`, …, `oauth2_authorization_code`, `oauth2_client_credentials`.
    #[serde(rename = "type")]
    conn_type: Option<String>,
    /// The customer's own connection this one is (shared by the customer's instances).
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_connection: Option<String>,
    /// `ok`, `needs_authorization` (no credentials yet, or the customer must authorize again),
    /// `error` (the last token request failed: see `message`).
    status: String,
    /// Why, when not `ok` (the provider's error), never a secret.
    message: Option<String>,
    /// When the status was last established (unix ms).
    checked_at: Option<i64>,
    /// When the current access token expires (unix ms), for OAuth connections.
    expires_at: Option<i64>,
}

async fn instance_and_def(
    s: &AppState,
    org: &str,
    id: &str,
) -> ApiResult<(weft_db::Instance, std::sync::Arc<weft_worker::LoadedVersion>)> {
    let i = super::instances::find(s, org, id).await?;
    let loaded = super::instances::load_version(s, org, &i.integration_id, i.version).await?;
    Ok((i, loaded))
}

/// The connections of an instance: every `connection` variable with its status.
#[utoipa::path(get, path = "/instances/{id}/connections", tag = "connections", params(("id" = String, Path)),
    responses((status = 200, body = [ConnectionView]), (status = 404, description = "no such instance")))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    auth.require(Permission::Read)?;
    let (i, loaded) = instance_and_def(&s, auth.org(), &id).await?;
    let stored = s.db.instance_connections(auth.org(), &i.id).await?;
    let shared = s.db.customer_connections(auth.org(), &i.customer_id).await?;
    Ok(Json(connection_views(&loaded.def, &i, &stored, &shared)))
}

fn connection_views(
    def: &IntegrationDef,
    i: &weft_db::Instance,
    stored: &[weft_db::Connection],
    customer_conns: &[weft_db::Connection],
) -> Vec<ConnectionView> {
    def.config_vars()
        .filter(|v| v.var_type == VarType::Connection)
        .map(|v| {
            let value = i.config.get(&v.key).filter(|x| !x.is_null());
            let shared = value.and_then(|x| x.get(CUSTOMER_CONNECTION)).and_then(|n| n.as_str());
            // The row that holds its status: the customer's connection it refers to, or its own
            // (OAuth tokens, or a test's last result).
            let row = match shared {
                Some(name) => customer_conns.iter().find(|c| c.key == name),
                None => stored.iter().find(|c| c.key == v.key).filter(|_| v.oauth2.is_some() || value.is_some()),
            };
            let conn_type = match &v.oauth2 {
                Some(o) => Some(o.grant.connection_type().to_string()),
                None => value
                    .and_then(|x| x.get("type"))
                    .or_else(|| row?.fields.as_ref()?.get("type"))
                    .and_then(|t| t.as_str())
                    .map(str::to_string),
            };
            let mut view = ConnectionView {
                key: v.key.clone(),
                conn_type,
                customer_connection: shared.map(str::to_string),
                status: ConnectionStatus::NeedsAuthorization.as_str().into(),
                message: None,
                checked_at: None,
                expires_at: None,
            };
            match (row, shared, &v.oauth2) {
                (Some(c), _, _) => {
                    view.status = c.status.as_str().into();
                    view.message = c.message.clone();
                    view.checked_at = c.checked_at;
                    view.expires_at = c.expires_at;
                }
                (None, Some(name), _) => view.message = Some(format!("the customer has no connection `{name}` yet")),
                // A client credentials connection gets its first token when a step needs one.
                (None, None, Some(o)) if o.grant == OAuth2Grant::ClientCredentials && value.is_some() => {
                    view.status = "ok".into()
                }
                (None, None, Some(_)) => {}
                (None, None, None) if value.is_some() => {
                    view.status = "ok".into();
                    view.checked_at = Some(i.updated_at);
                }
                (None, None, None) => view.message = Some("no credentials were given for this connection".into()),
            }
            view
        })
        .collect()
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// Where to send the customer once the connection is authorized (default: Weft's page).
    success_url: Option<String>,
    /// Where to send them when it failed (default: Weft's page with the reason).
    failure_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthorizeView {
    /// Send the customer here (a popup or a redirect); the provider returns them to
    /// `redirect_uri`, which stores the tokens.
    authorize_url: String,
    /// The callback to register with the provider for the vendor's app.
    redirect_uri: String,
    /// The authorization must be completed before this time (unix ms).
    expires_at: i64,
}

fn check_page_url(field: &str, url: &Option<String>) -> ApiResult<()> {
    match url {
        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains(char::is_whitespace) => {
            Err(ApiError::bad_request(format!("{field}: `{u}` is not an absolute http(s) URL")))
        }
        _ => Ok(()),
    }
}

/// Start the OAuth 2.0 authorization of one of an instance's connections: the URL to send the
/// customer to. The state is bound to this connection and used once; PKCE when the definition
/// asks for it (the default).
#[utoipa::path(post, path = "/instances/{id}/connections/{key}/authorize", tag = "connections",
    params(("id" = String, Path), ("key" = String, Path)), request_body(content = AuthorizeBody, description = "optional"),
    responses((status = 200, body = AuthorizeView), (status = 404, description = "no such instance or variable"),
              (status = 422, description = "not an OAuth authorization code connection, or its OAuth client is not configured")))]
pub async fn authorize(
    State(s): State<AppState>,
    auth: Auth,
    Path((id, key)): Path<(String, String)>,
    body: Option<JsonBody<AuthorizeBody>>,
) -> ApiResult<Json<AuthorizeView>> {
    auth.require(Permission::Operate)?;
    let b = body.map(|JsonBody(b)| b).unwrap_or_default();
    check_page_url("success_url", &b.success_url)?;
    check_page_url("failure_url", &b.failure_url)?;
    let (i, loaded) = instance_and_def(&s, auth.org(), &id).await?;
    if !loaded.def.config_vars().any(|v| v.key == key && v.var_type == VarType::Connection) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "connection.not_found",
            format!("instance {id} has no connection `{key}` (version {} of its integration)", i.version),
        ));
    }
    let redirect = redirect_uri(&s);
    let started = s
        .worker
        .oauth()
        .start(&i, &loaded.def, &key, &redirect, b.success_url.as_deref(), b.failure_url.as_deref())
        .await
        .map_err(oauth_error)?;
    Ok(Json(AuthorizeView { authorize_url: started.url, redirect_uri: redirect, expires_at: started.expires_at }))
}

pub(crate) fn oauth_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::Db(e) => ApiError::from(e),
        OAuthError::Config(m) => ApiError::invalid("connection.not_authorizable", m, json!(null)),
        OAuthError::NeedsAuthorization(m) => ApiError::invalid("connection.needs_authorization", m, json!(null)),
        OAuthError::Refused(m) => ApiError::new(StatusCode::BAD_GATEWAY, "connection.refused", m),
        OAuthError::Unreachable(m) => ApiError::new(StatusCode::BAD_GATEWAY, "connection.unreachable", m),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth2/callback`: where providers send the customer back. Public (the state is the
/// credential); answers with the vendor's page (a redirect with `status`, `instance`,
/// `connection` and, on failure, `message`) or Weft's own.
pub async fn callback(State(s): State<AppState>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(state) = q.state.filter(|x| !x.is_empty()) else {
        return page(StatusCode::BAD_REQUEST, false, "The link has no `state`: start the authorization again.");
    };
    let db = s.db.clone();
    let worker = s.worker.clone();
    let load = |org: String, id: String| async move {
        let Some(i) = db.get_instance(&org, &id).await? else { return Ok(None) };
        let loaded = worker
            .load_version(&org, &i.integration_id, i.version)
            .await
            .map_err(|e| OAuthError::Config(e.to_string()))?;
        Ok(Some((i, loaded.def.clone())))
    };
    let error = q.error.as_deref().map(|e| (e, q.error_description.as_deref()));
    let outcome = s.worker.oauth().callback(&state, q.code.as_deref(), error, &redirect_uri(&s), load).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "OAuth callback failed");
            return page(StatusCode::INTERNAL_SERVER_ERROR, false, "Weft could not complete the authorization.");
        }
    };
    if let Some(target) = &outcome.redirect {
        let mut params: Vec<(&str, String)> =
            vec![("status", if outcome.result.is_ok() { "ok" } else { "error" }.to_string())];
        if let Some((_, instance, key)) = &outcome.connection {
            params.push(("instance", instance.clone()));
            params.push(("connection", key.clone()));
        }
        if let Err(m) = &outcome.result {
            params.push(("message", m.clone()));
        }
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let sep = if target.contains('?') { '&' } else { '?' };
        return Redirect::to(&format!("{target}{sep}{query}")).into_response();
    }
    match outcome.result {
        Ok(()) => page(StatusCode::OK, true, "The connection is authorized. You can close this window."),
        Err(m) => page(StatusCode::BAD_REQUEST, false, &m),
    }
}

/// Weft's own result page.
fn page(status: StatusCode, ok: bool, message: &str) -> Response {
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let title = if ok { "Connected" } else { "Not connected" };
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{escaped}</p></body></html>"
    );
    (status, Html(html)).into_response()
}

/// Refuses a config whose static connection refers to a connection the customer does not have
/// (an OAuth one may be authorized after the deploy, through any instance that uses it).
pub(crate) async fn check_customer_refs(
    s: &AppState,
    org: &str,
    customer: &str,
    def: &IntegrationDef,
    config: &serde_json::Map<String, serde_json::Value>,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    for var in def.config_vars().filter(|v| v.var_type == VarType::Connection) {
        let Some(name) = config.get(&var.key).and_then(|v| v.get(CUSTOMER_CONNECTION)).and_then(|n| n.as_str()) else {
            continue;
        };
        let owner = weft_db::Owner::Customer(customer.to_string());
        let conn = s.db.connection(org, &owner, name).await?;
        let problem = match (&var.oauth2, conn) {
            (None, None) => Some(format!("the customer has no connection `{name}`")),
            (None, Some(c)) if c.fields.is_none() => Some(format!(
                "the customer's connection `{name}` is an OAuth connection; this variable takes credentials"
            )),
            (Some(_), Some(c)) if c.fields.is_some() => Some(format!(
                "the customer's connection `{name}` holds credentials; this variable is an OAuth connection"
            )),
            _ => None,
        };
        if let Some(message) = problem {
            errors.push(weft_model::config::ConfigError { variable: var.key.clone(), message });
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(super::instances::config_error(errors)) }
}

/// An OAuth client's key or a customer connection's name: 1 to 63 lowercase letters, digits,
/// `-` and `_`.
fn check_name(what: &str, key: &str) -> ApiResult<()> {
    if weft_model::config::is_connection_name(key) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("{what} `{key}`: use 1 to 63 lowercase letters, digits, `-` and `_`")))
    }
}

/// One of a customer's own connections (credentials redacted).
#[derive(Serialize, ToSchema)]
pub struct CustomerConnectionView {
    key: String,
    /// The connection's `type` (`oauth2` for one authorized through an instance).
    #[serde(rename = "type")]
    conn_type: String,
    status: String,
    message: Option<String>,
    checked_at: Option<i64>,
    expires_at: Option<i64>,
    /// The connection's fields with every value but `type` redacted.
    #[schema(value_type = Object)]
    fields: serde_json::Value,
}

fn customer_view(c: &weft_db::Connection) -> CustomerConnectionView {
    let fields = match &c.fields {
        Some(serde_json::Value::Object(m)) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let shown = if k == "type" { v.clone() } else { json!(weft_model::redact::REDACTED) };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        _ => json!({}),
    };
    let conn_type = fields.get("type").and_then(|t| t.as_str()).unwrap_or("oauth2").to_string();
    CustomerConnectionView {
        key: c.key.clone(),
        conn_type,
        status: c.status.as_str().into(),
        message: c.message.clone(),
        checked_at: c.checked_at,
        expires_at: c.expires_at,
        fields,
    }
}

/// Store one of a customer's own connections (`{type, …fields}`: `bearer`, `basic`,
/// `api_key`, `custom`…), reused by every instance of the customer whose config value for a
/// connection variable is `{"customer_connection": "<key>"}`. Replacing it changes what all of
/// them use from their next step on. The credentials are sealed and never shown again.
#[utoipa::path(put, path = "/customers/{customer}/connections/{key}", tag = "connections",
    params(("customer" = String, Path), ("key" = String, Path)), request_body(content = Object),
    responses((status = 200, body = CustomerConnectionView), (status = 404, description = "no such customer"),
              (status = 422, description = "not a connection object")))]
pub async fn put_customer_connection(
    State(s): State<AppState>,
    auth: Auth,
    Path((customer, key)): Path<(String, String)>,
    JsonBody(value): JsonBody<serde_json::Value>,
) -> ApiResult<Json<CustomerConnectionView>> {
    auth.require(Permission::Operate)?;
    check_name("connection name", &key)?;
    let c = super::customers::find(&s, auth.org(), &customer).await?;
    let invalid = |m: String| ApiError::invalid("connection.invalid", m, json!(null));
    let Some(obj) = value.as_object() else {
        return Err(invalid(format!("expected a connection object with a string `type`, found {}", kind_of(&value))));
    };
    match obj.get("type").and_then(|t| t.as_str()) {
        None | Some("") => {
            return Err(invalid("a connection needs a string `type` (e.g. bearer, basic, api_key)".into()));
        }
        Some(t) if t.starts_with("oauth2") => {
            return Err(invalid(format!(
                "`{t}`: an OAuth connection is not given, it is authorized: deploy an instance whose connection value is \
                 {{\"customer_connection\": \"{key}\"}} and authorize it through that instance"
            )));
        }
        Some(_) => {}
    }
    if obj.contains_key(CUSTOMER_CONNECTION) {
        return Err(invalid("a customer connection cannot refer to another one".into()));
    }
    let conn =
        s.db.put_customer_connection(auth.org(), &c.id, &key, &value, super::now_ms()).await.map_err(|e| match e {
            weft_db::DbError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "connection.oauth", m),
            other => ApiError::from(other),
        })?;
    Ok(Json(customer_view(&conn)))
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    weft_model::config::describe_type(v)
}

/// A customer's own connections (credentials redacted).
#[utoipa::path(get, path = "/customers/{customer}/connections", tag = "connections",
    params(("customer" = String, Path)),
    responses((status = 200, body = [CustomerConnectionView]), (status = 404, description = "no such customer")))]
pub async fn list_customer_connections(
    State(s): State<AppState>,
    auth: Auth,
    Path(customer): Path<String>,
) -> ApiResult<Json<Vec<CustomerConnectionView>>> {
    auth.require(Permission::Read)?;
    let c = super::customers::find(&s, auth.org(), &customer).await?;
    Ok(Json(s.db.customer_connections(auth.org(), &c.id).await?.iter().map(customer_view).collect()))
}

/// Delete one of a customer's connections; refused while an instance of the customer uses it.
#[utoipa::path(delete, path = "/customers/{customer}/connections/{key}", tag = "connections",
    params(("customer" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 404, description = "no such customer or connection"),
              (status = 409, description = "instances use it: details list them")))]
pub async fn delete_customer_connection(
    State(s): State<AppState>,
    auth: Auth,
    Path((customer, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require(Permission::Operate)?;
    let c = super::customers::find(&s, auth.org(), &customer).await?;
    let mut users = Vec::new();
    let mut page = weft_db::Page { cursor: None, limit: 500 };
    let filter = weft_db::InstanceFilter { customer_id: Some(c.id.clone()), integration_id: None };
    loop {
        let listed = s.db.list_instances(auth.org(), &filter, &page).await?;
        for i in &listed.items {
            let uses = i.config.as_object().is_some_and(|m| {
                m.values().any(|v| v.get(CUSTOMER_CONNECTION).and_then(|n| n.as_str()) == Some(key.as_str()))
            });
            if uses {
                users.push(i.id.clone());
            }
        }
        match listed.next_cursor {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    if !users.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "connection.in_use",
            format!("{} instance(s) of the customer use connection `{key}`: change or delete them first", users.len()),
        )
        .with_details(json!({"instances": users})));
    }
    s.db.delete_customer_connection(auth.org(), &c.id, &key)
        .await
        .map_err(|e| ApiError::from_db("customer connection", e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The longest a connection test may take: someone is waiting on the wizard.
const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the `test` of every connection variable of `i` that has one and a value (static
/// connections: an OAuth connection's health is its token requests), recording each result.
pub(crate) async fn test_all(
    s: &AppState,
    i: &weft_db::Instance,
    loaded: &weft_worker::LoadedVersion,
) -> ApiResult<()> {
    for var in loaded.def.config_vars().filter(|v| v.test.is_some() && v.oauth2.is_none()) {
        if i.config.get(&var.key).is_some_and(|v| !v.is_null()) {
            run_test(s, i, loaded, &var.key).await?;
        }
    }
    Ok(())
}

/// Runs connection `key`'s test for instance `i` and records its status: `ok` when the action
/// succeeded, else `error` with the action's error.
async fn run_test(
    s: &AppState,
    i: &weft_db::Instance,
    loaded: &weft_worker::LoadedVersion,
    key: &str,
) -> ApiResult<weft_db::Connection> {
    let var = loaded.def.config_vars().find(|v| v.key == key).expect("the caller found the variable");
    let test = var.test.as_ref().expect("the caller checked the variable has a test");
    let mut instance = i.clone();
    let outcome = match weft_worker::oauth::resolve_customer_connections(&s.db, &loaded.def, &mut instance).await {
        Err(e) => Err(e.message),
        Ok(()) => {
            let customer = &instance.customer;
            let ctx = json!({
                "config": instance.config,
                "customer": {"id": instance.customer_id, "external_id": customer.external_id, "name": customer.name,
                             "labels": customer.labels},
            });
            match weft_model::expr::eval_value(&serde_json::Value::Object(test.inputs.clone()), &ctx) {
                Err(e) => Err(format!("the test's inputs: {e}")),
                Ok(input) => {
                    let mut cx = weft_components::ActionContext::new(
                        format!("connection-test-{}", instance.id),
                        format!("config.{key}.test"),
                    );
                    cx.timeout = Some(TEST_TIMEOUT);
                    let run = s.worker.run_action(&instance, "", &loaded.components, &test.action, input, &cx);
                    match tokio::time::timeout(TEST_TIMEOUT, run).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(e)) => Err(format!("`{}` failed ({}): {}", test.action, e.kind.name(), e.message)),
                        Err(_) => Err(format!("`{}` did not answer within {}s", test.action, TEST_TIMEOUT.as_secs())),
                    }
                }
            }
        }
    };
    // The message may quote what the remote said: never a secret of the instance.
    let outcome = outcome.map_err(|m| {
        weft_model::redact::Redactor::new(&loaded.def, instance.config.as_object().unwrap_or(&Default::default()))
            .redact_str(&m)
    });
    let owner = weft_db::Owner::Instance(i.id.clone());
    let now = super::now_ms();
    let conn = s.db.ensure_connection(&i.org_id, &owner, key, now).await?;
    let (status, message) = match &outcome {
        Ok(()) => (ConnectionStatus::Ok, None),
        Err(m) => (ConnectionStatus::Error, Some(m.as_str())),
    };
    s.db.set_connection_status(&conn.id, conn.version, status, message, now).await?;
    Ok(s.db.connection(&i.org_id, &owner, key).await?.unwrap_or(conn))
}

#[derive(Serialize, ToSchema)]
pub struct TestView {
    key: String,
    /// `ok` or `error`.
    status: String,
    /// Why it failed (the action's error, secrets redacted).
    message: Option<String>,
    checked_at: Option<i64>,
}

/// Run a connection's test now (the variable's `test` action) and record its status.
#[utoipa::path(post, path = "/instances/{id}/connections/{key}/test", tag = "connections",
    params(("id" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = TestView), (status = 404, description = "no such instance or connection"),
              (status = 422, description = "the connection has no test, or no value")))]
pub async fn test(
    State(s): State<AppState>,
    auth: Auth,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<TestView>> {
    auth.require(Permission::Operate)?;
    let (i, loaded) = instance_and_def(&s, auth.org(), &id).await?;
    let Some(var) = loaded.def.config_vars().find(|v| v.key == key && v.var_type == VarType::Connection) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "connection.not_found",
            format!("instance {id} has no connection `{key}` (version {} of its integration)", i.version),
        ));
    };
    if var.test.is_none() || var.oauth2.is_some() {
        return Err(ApiError::invalid(
            "connection.no_test",
            format!("connection `{key}` declares no `test` (OAuth connections are checked by their token requests)"),
            json!(null),
        ));
    }
    if i.config.get(&key).is_none_or(|v| v.is_null()) {
        return Err(ApiError::invalid("connection.no_value", format!("connection `{key}` has no value"), json!(null)));
    }
    let c = run_test(&s, &i, &loaded, &key).await?;
    Ok(Json(TestView { key, status: c.status.as_str().into(), message: c.message, checked_at: c.checked_at }))
}
