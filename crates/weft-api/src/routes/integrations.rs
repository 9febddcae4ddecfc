//! Integrations: import a definition (YAML or JSON) as the draft, publish immutable versions.

use super::{PageQuery, now_ms};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, RawBody};
use crate::views::{IntegrationView, Listing, VersionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use weft_db::NewDraft;
use weft_model::Permission;
use weft_model::parse::SourceFormat;
use weft_model::validate::{check_definition, definition_from_json};
use weft_worker::PinError;

pub(crate) async fn find(s: &AppState, org: &str, r: &str) -> ApiResult<weft_db::Integration> {
    s.db.get_integration(org, r).await?.ok_or_else(|| ApiError::not_found("integration", r))
}

fn diagnostics_error(message: &str, diags: &[weft_model::diag::Diagnostic]) -> ApiError {
    ApiError::invalid("integration.invalid", format!("{message}: {} problem(s)", diags.len()), json!(diags))
}

/// Import a definition: creates the integration, or replaces the draft of the one with that key.
#[utoipa::path(post, path = "/integrations", tag = "integrations",
    request_body(content = String, description = "the definition as YAML (application/yaml) or JSON (application/json)", content_type = "application/yaml"),
    responses((status = 201, body = IntegrationView, description = "created"), (status = 200, body = IntegrationView, description = "draft of an existing integration replaced"),
              (status = 422, description = "invalid definition: details lists every problem with path, line and column")))]
pub async fn import(
    State(s): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<IntegrationView>)> {
    auth.require(Permission::EditIntegrations)?;
    let ctype =
        headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/yaml");
    let format = SourceFormat::from_content_type(ctype).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            format!("unsupported Content-Type `{ctype}`: send application/yaml or application/json"),
        )
    })?;
    let source = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the definition is not UTF-8 text"))?;
    let actions = s.worker.operations_of(auth.org()).await?;
    let doc = weft_model::parse::parse_document(source, format)
        .map_err(|d| diagnostics_error("the definition cannot be parsed", &d))?;
    let def = check_definition(&doc, &actions).map_err(|d| diagnostics_error("the definition is invalid", &d))?;
    let existed = s.db.get_integration(auth.org(), &def.key).await?.is_some();
    let draft = NewDraft {
        key: def.key.clone(),
        name: def.name.clone(),
        description: def.description.clone(),
        format: format.name().to_string(),
        source: source.to_string(),
        definition: doc.value.clone(),
    };
    let i = s.db.save_draft(auth.org(), &draft, now_ms()).await.map_err(|e| ApiError::from_db("integration", e))?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(i.into())))
}

/// List integrations.
#[utoipa::path(get, path = "/integrations", tag = "integrations", params(PageQuery), responses((status = 200, body = Listing<IntegrationView>)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<Listing<IntegrationView>>> {
    auth.require(Permission::Read)?;
    let page = s.db.list_integrations(auth.org(), &q.page()?).await?;
    Ok(Json(Listing { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Get an integration by id or key.
#[utoipa::path(get, path = "/integrations/{integration}", tag = "integrations",
    params(("integration" = String, Path, description = "id or key")),
    responses((status = 200, body = IntegrationView), (status = 404, description = "no such integration")))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(r): Path<String>) -> ApiResult<Json<IntegrationView>> {
    auth.require(Permission::Read)?;
    Ok(Json(find(&s, auth.org(), &r).await?.into()))
}

/// Publish the current draft as the next immutable version (validated again first). The
/// version pins the latest published version of each custom component it calls.
#[utoipa::path(post, path = "/integrations/{integration}/versions", tag = "integrations",
    params(("integration" = String, Path, description = "id or key")),
    responses((status = 201, body = VersionView), (status = 404, description = "no such integration"), (status = 422, description = "the draft is invalid")))]
pub async fn publish(
    State(s): State<AppState>,
    auth: Auth,
    Path(r): Path<String>,
) -> ApiResult<(StatusCode, Json<VersionView>)> {
    auth.require(Permission::EditIntegrations)?;
    let i = find(&s, auth.org(), &r).await?;
    let actions = s.worker.operations_of(auth.org()).await?;
    let def = definition_from_json(&i.draft_definition, &actions)
        .map_err(|d| diagnostics_error("the draft is invalid", &d))?;
    let pins = s.worker.custom_components().pins(auth.org(), &def, s.worker.flow_cache().actions()).await.map_err(
        |e| match e {
            PinError::Db(e) => ApiError::from(e),
            e @ PinError::Unknown(_) => ApiError::invalid("integration.invalid", e.to_string(), json!([])),
        },
    )?;
    let v =
        s.db.publish_version_pinned(auth.org(), &i.id, &pins, now_ms())
            .await
            .map_err(|e| ApiError::from_db("integration", e))?;
    Ok((
        StatusCode::CREATED,
        Json(VersionView {
            integration_id: i.id,
            integration_key: i.key,
            version: v.version,
            created_at: crate::views::ts(v.created_at),
            definition: Some(v.definition),
            components: v.components,
        }),
    ))
}

/// List an integration's published versions, newest first.
#[utoipa::path(get, path = "/integrations/{integration}/versions", tag = "integrations",
    params(("integration" = String, Path, description = "id or key"), PageQuery),
    responses((status = 200, body = Listing<VersionView>), (status = 404, description = "no such integration")))]
pub async fn versions(
    State(s): State<AppState>,
    auth: Auth,
    Path(r): Path<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<Listing<VersionView>>> {
    auth.require(Permission::Read)?;
    let i = find(&s, auth.org(), &r).await?;
    let page = s.db.list_versions(auth.org(), &i.id, &q.page()?).await?;
    let items = page
        .items
        .into_iter()
        .map(|v| VersionView {
            integration_id: i.id.clone(),
            integration_key: i.key.clone(),
            version: v.version,
            created_at: crate::views::ts(v.created_at),
            definition: None::<Value>,
            components: v.components,
        })
        .collect();
    Ok(Json(Listing { items, next_cursor: page.next_cursor }))
}
