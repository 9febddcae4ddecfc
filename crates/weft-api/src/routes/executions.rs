//! Executions: list with filters, show with step results, logs, replay.

use super::PageQuery;
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::views::{Accepted, ExecutionView, Listing, LogView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use weft_db::{ExecutionFilter, ExecutionStatus};
use weft_model::Permission;

#[derive(Deserialize, IntoParams)]
pub struct ExecutionQuery {
    instance: Option<String>,
    /// Customer id or `ext:EXTERNAL_ID`.
    customer: Option<String>,
    flow: Option<String>,
    /// queued | running | succeeded | failed | canceled
    status: Option<String>,
    /// Created at or after (RFC 3339).
    since: Option<String>,
    /// Created before (RFC 3339).
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn parse_time(name: &str, v: &Option<String>) -> ApiResult<Option<i64>> {
    v.as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t).map(|d| d.timestamp_millis()).map_err(|e| {
                ApiError::bad_request(format!("{name}: `{t}` is not an RFC 3339 time ({e}), e.g. 2026-11-28T10:00:00Z"))
            })
        })
        .transpose()
}

/// List executions, newest first.
#[utoipa::path(get, path = "/executions", tag = "executions", params(ExecutionQuery),
    responses((status = 200, body = Listing<ExecutionView>), (status = 400, description = "a bad filter")))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    QueryParams(q): QueryParams<ExecutionQuery>,
) -> ApiResult<Json<Listing<ExecutionView>>> {
    auth.require(Permission::Read)?;
    let page = PageQuery { cursor: q.cursor.clone(), limit: q.limit }.page()?;
    let status = match &q.status {
        Some(st) => Some(ExecutionStatus::from_name(st).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status: unknown status `{st}` (expected queued, running, succeeded, failed or canceled)"
            ))
        })?),
        None => None,
    };
    let customer_id = match &q.customer {
        Some(c) => Some(super::customers::find(&s, auth.org(), c).await?.id),
        None => None,
    };
    let filter = ExecutionFilter {
        instance_id: q.instance.clone(),
        customer_id,
        flow_key: q.flow.clone(),
        status,
        since: parse_time("since", &q.since)?,
        until: parse_time("until", &q.until)?,
    };
    let page = s.db.list_executions(auth.org(), &filter, &page).await?;
    Ok(Json(Listing {
        items: page.items.into_iter().map(ExecutionView::summary).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get an execution with its trigger, result and step results.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(("id" = String, Path)),
    responses((status = 200, body = ExecutionView), (status = 404, description = "no such execution")))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ExecutionView>> {
    auth.require(Permission::Read)?;
    let e = s.db.get_execution(auth.org(), &id).await?.ok_or_else(|| ApiError::not_found("execution", &id))?;
    let steps = s.db.list_steps(&e.id).await?.into_iter().map(Into::into).collect();
    Ok(Json(ExecutionView::full(e, Some(steps))))
}

/// An execution's log lines, oldest first.
#[utoipa::path(get, path = "/executions/{id}/logs", tag = "executions", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Listing<LogView>), (status = 404, description = "no such execution")))]
pub async fn logs(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<Listing<LogView>>> {
    auth.require(Permission::Read)?;
    let e = s.db.get_execution(auth.org(), &id).await?.ok_or_else(|| ApiError::not_found("execution", &id))?;
    let page = s.db.list_logs(&e.id, &q.page()?).await?;
    Ok(Json(Listing { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Run the execution's flow again with the same trigger payload, on the instance's current version.
#[utoipa::path(post, path = "/executions/{id}/replay", tag = "executions", params(("id" = String, Path)),
    responses((status = 202, body = Accepted), (status = 404, description = "no such execution"),
              (status = 409, description = "the instance was deleted or is paused")))]
pub async fn replay(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    auth.require(Permission::Operate)?;
    let e = s.db.get_execution(auth.org(), &id).await?.ok_or_else(|| ApiError::not_found("execution", &id))?;
    let Some(i) = s.db.get_instance(auth.org(), &e.instance_id).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "execution.not_replayable",
            format!("instance {} of execution {id} was deleted", e.instance_id),
        ));
    };
    if !i.enabled {
        return Err(super::instances::paused(&i.id));
    }
    // An instance that does not store payloads keeps only a placeholder of the trigger.
    let omitted: serde_json::Value = serde_json::from_str(weft_db::OMITTED_TRIGGER).expect("placeholder is JSON");
    if e.trigger == omitted {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "execution.not_replayable",
            format!("the trigger payload of execution {id} was not stored (its instance does not store payloads)"),
        ));
    }
    let exe = super::instances::start(&s, &i, &e.flow_key, e.trigger.clone(), Some(e.id.clone())).await?;
    crate::wait::launch(&s, &exe, Some(i)).await;
    Ok((StatusCode::ACCEPTED, Json(Accepted { execution_id: exe.id, status: "queued".into(), replay_of: Some(e.id) })))
}

/// Cancel an execution: a queued one is canceled at once; a running one stops after its
/// current step completes (its status turns `canceled` then).
#[utoipa::path(post, path = "/executions/{id}/cancel", tag = "executions", params(("id" = String, Path)),
    responses((status = 200, body = ExecutionView, description = "the execution after the request: `canceled`, or still `running` until its current step completes"),
              (status = 404, description = "no such execution"),
              (status = 409, description = "the execution already finished")))]
pub async fn cancel(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ExecutionView>> {
    auth.require(Permission::Operate)?;
    match s.db.cancel_execution(auth.org(), &id, super::now_ms()).await {
        Ok(e) => Ok(Json(ExecutionView::summary(e))),
        Err(weft_db::DbError::NotFound(_)) => Err(ApiError::not_found("execution", &id)),
        Err(weft_db::DbError::Conflict(msg)) => {
            Err(ApiError::new(StatusCode::CONFLICT, "execution.not_cancelable", msg))
        }
        Err(e) => Err(e.into()),
    }
}
