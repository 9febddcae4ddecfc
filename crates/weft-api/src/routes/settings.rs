//! Retention settings: the organization's default (days finished executions are kept) and each
//! instance's override and whether it stores payloads at all. Pruning itself runs in the
//! scheduler role (see `weft_worker::Scheduler`).

use super::instances::{find, view};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::views::InstanceView;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use weft_model::Permission;

/// The organization's retention.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgRetention {
    /// Days a finished execution (trigger, result, steps, logs) is kept, 1 to 36500; instances
    /// may override it. Default 30.
    retention_days: i64,
}

/// Changes to an instance's data settings; a field left out keeps its value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceSettings {
    /// Days its finished executions are kept, 1 to 36500; `null`: the organization's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    retention_days: Option<Option<i64>>,
    /// False: finished executions keep no trigger body, result or step inputs/outputs (status,
    /// timings, step keys, statuses, errors and logs are kept).
    store_payloads: Option<bool>,
    /// At most this many of the instance's executions run at once (≥ 1); `null`: unlimited.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    max_concurrency: Option<Option<i64>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`, by `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Get the organization's retention.
#[utoipa::path(get, path = "/organization/retention", tag = "settings",
    responses((status = 200, body = OrgRetention)))]
pub async fn get_retention(State(s): State<AppState>, auth: Auth) -> ApiResult<Json<OrgRetention>> {
    auth.require(Permission::Read)?;
    let days = s.db.org_retention(auth.org()).await.map_err(|e| ApiError::from_db("organization", e))?;
    Ok(Json(OrgRetention { retention_days: days }))
}

/// Set the organization's retention: finished executions older than this are pruned.
#[utoipa::path(put, path = "/organization/retention", tag = "settings", request_body = OrgRetention,
    responses((status = 200, body = OrgRetention), (status = 422, description = "days out of range")))]
pub async fn put_retention(
    State(s): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<OrgRetention>,
) -> ApiResult<Json<OrgRetention>> {
    auth.require(Permission::Administer)?;
    s.db.set_org_retention(auth.org(), body.retention_days).await.map_err(|e| ApiError::from_db("organization", e))?;
    Ok(Json(body))
}

/// Change an instance's retention override, whether it stores payloads, and its concurrency limit.
#[utoipa::path(post, path = "/instances/{id}/settings", tag = "instances", params(("id" = String, Path)),
    request_body = InstanceSettings,
    responses((status = 200, body = InstanceView), (status = 404, description = "no such instance"),
              (status = 422, description = "days out of range")))]
pub async fn instance_settings(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<InstanceSettings>,
) -> ApiResult<Json<InstanceView>> {
    auth.require(Permission::Operate)?;
    let current = find(&s, auth.org(), &id).await?;
    let days = body.retention_days.unwrap_or(current.retention_days);
    let store = body.store_payloads.unwrap_or(current.store_payloads);
    if let Some(limit) = body.max_concurrency {
        // Checked (and refused with 422) before anything is written.
        if limit.is_some_and(|l| l < 1) {
            return Err(ApiError::invalid(
                "request.invalid",
                "max_concurrency: must be at least 1, or null",
                serde_json::Value::Null,
            ));
        }
    }
    s.db.set_instance_retention(auth.org(), &id, days, store).await.map_err(|e| ApiError::from_db("instance", e))?;
    if let Some(limit) = body.max_concurrency {
        s.db.set_instance_max_concurrency(auth.org(), &id, limit)
            .await
            .map_err(|e| ApiError::from_db("instance", e))?;
    }
    s.targets.clear();
    Ok(Json(view(&s, find(&s, auth.org(), &id).await?).await?))
}
