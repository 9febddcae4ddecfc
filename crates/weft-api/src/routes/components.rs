//! Custom components: upload a WebAssembly component (checked and described in the sandbox
//! first), list them, show one with its versions and what its latest version offers.

use super::{PageQuery, now_ms};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryParams, RawBody};
use crate::views::{ComponentDetailView, ComponentVersionView, ComponentView, Listing};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::json;
use sha2::Digest;
use weft_db::NewComponentVersion;
use weft_model::Permission;
use weft_wasm::Description;

/// Publish a component version: the body is the component's WebAssembly bytes
/// (`weft component build` makes them). The server loads it in the sandbox, checks it is a
/// component of the Weft world, reads its description (key, version, actions, triggers, data
/// sources, connections) and stores it as an immutable version.
#[utoipa::path(post, path = "/components", tag = "components",
    request_body(content = Vec<u8>, description = "a WebAssembly component of the world `weft:component/component`", content_type = "application/wasm"),
    responses((status = 201, body = ComponentVersionView, description = "version published"),
              (status = 200, body = ComponentVersionView, description = "these bytes were already published under this version"),
              (status = 409, description = "this version is already published with other bytes"),
              (status = 422, description = "not a component of the Weft world, or its description is invalid: the message says what is wrong")))]
pub async fn publish(
    State(s): State<AppState>,
    auth: Auth,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<ComponentVersionView>)> {
    auth.require(Permission::EditIntegrations)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("the body is empty: send the component's WebAssembly bytes"));
    }
    let loaded = s.worker.custom_components().load_bytes(&body).await.map_err(|e| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "component.invalid", format!("the component is refused: {e}"))
    })?;
    let description = Description::from_info(loaded.info());
    let new = NewComponentVersion {
        key: description.key.clone(),
        name: description.name.clone(),
        description: Some(description.description.clone()).filter(|d| !d.is_empty()),
        version: description.version.clone(),
        info: serde_json::to_value(&description).map_err(ApiError::internal)?,
        sha256: hex::encode(sha2::Sha256::digest(&body)),
        wasm: body.to_vec(),
    };
    let (version, created) =
        s.db.publish_component_version(auth.org(), &new, now_ms())
            .await
            .map_err(|e| ApiError::from_db("component", e))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(ComponentVersionView::new(&new.key, version))))
}

/// List the organization's components.
#[utoipa::path(get, path = "/components", tag = "components", params(PageQuery),
    responses((status = 200, body = Listing<ComponentView>)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<Listing<ComponentView>>> {
    auth.require(Permission::Read)?;
    let page = s.db.list_components(auth.org(), &q.page()?).await?;
    Ok(Json(Listing { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// A component by id or key: its versions (highest first) and what its latest version offers
/// (actions, triggers, data sources and connection types, each with its inputs).
#[utoipa::path(get, path = "/components/{component}", tag = "components",
    params(("component" = String, Path, description = "id or key")),
    responses((status = 200, body = ComponentDetailView), (status = 404, description = "no such component")))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(r): Path<String>) -> ApiResult<Json<ComponentDetailView>> {
    auth.require(Permission::Read)?;
    let c = s.db.get_component(auth.org(), &r).await?.ok_or_else(|| ApiError::not_found("component", &r))?;
    let versions = s.db.list_component_versions(auth.org(), &c.id).await?;
    let latest = versions.iter().find(|v| Some(&v.version) == c.latest_version.as_ref()).map(|v| v.info.clone());
    let versions = versions.into_iter().map(|v| ComponentVersionView::new(&c.key, v).without_description()).collect();
    Ok(Json(ComponentDetailView { component: c.into(), latest: latest.unwrap_or_else(|| json!(null)), versions }))
}
