//! Webhook ingress: `/hooks/{token}` records the delivery durably as an execution before it
//! answers; sync flows answer with the flow's result (or `respond` step), async ones with 202.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use weft_model::{Trigger, WebhookMode};
use weft_worker::SyncOutcome;

/// The `trigger` object of a webhook delivery: body (parsed JSON, else text), raw text, headers,
/// query and method.
fn trigger(method: &Method, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Value {
    let mut hs = Map::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match hs.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                hs.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let mut q = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        q.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    let text = String::from_utf8_lossy(body).into_owned();
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        Some(Value::Null)
    } else {
        serde_json::from_slice::<Value>(body).ok()
    };
    let mut t = json!({"method": method.as_str(), "headers": hs, "query": q});
    match parsed {
        Some(v) => t["body"] = v,
        None => {
            t["body"] = Value::String(text.clone());
            t["raw"] = Value::String(text);
        }
    }
    t
}

pub async fn receive(
    State(s): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    let target =
        s.db.webhook_target(&token)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "webhook.not_found", "no webhook at this URL"))?;
    let instance = target.instance;
    if !instance.enabled {
        return Err(super::instances::paused(&instance.id));
    }
    let loaded = super::instances::load_version(&s, &target.org_id, &instance.integration_id, instance.version).await?;
    let mode = match loaded.def.flow(&target.flow_key).map(|f| &f.trigger) {
        Some(Trigger::Webhook(w)) => w.mode,
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "webhook.not_found", "no webhook at this URL")),
    };
    let trigger = trigger(&method, &headers, query.as_deref(), &body);
    let exe = super::instances::start(&s, &instance, &target.flow_key, trigger, None).await?;
    let rx = s.worker.dispatch(exe.clone(), Some(instance));
    let accepted = || (StatusCode::ACCEPTED, Json(json!({"execution_id": exe.id, "status": "queued"}))).into_response();
    if mode == WebhookMode::Async {
        return Ok(accepted());
    }
    match tokio::time::timeout(s.cfg.sync_timeout, rx).await {
        Ok(Ok(SyncOutcome::Responded { status, headers, body })) => Ok(respond(status, &headers, body)),
        Ok(Ok(SyncOutcome::Finished { status: weft_db::ExecutionStatus::Succeeded, result, .. })) => {
            Ok((StatusCode::OK, Json(result.unwrap_or(Value::Null))).into_response())
        }
        Ok(Ok(SyncOutcome::Finished { error, .. })) => Ok((
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"code": "execution.failed", "message": "the flow failed", "details": {"execution_id": exe.id, "error": error}}})),
        )
            .into_response()),
        // Still running (or the runner went away): the caller can follow the execution by id.
        Ok(Err(_)) | Err(_) => Ok(accepted()),
    }
}

/// A `respond` step's answer: JSON unless the body is a string and a content-type was given.
fn respond(status: u16, headers: &Map<String, Value>, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let has_ctype = headers.keys().any(|k| k.eq_ignore_ascii_case("content-type"));
    let mut resp = match (&body, has_ctype) {
        (Value::String(text), true) => (status, text.clone()).into_response(),
        _ => (status, Json(body)).into_response(),
    };
    for (k, v) in headers {
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(value)) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}
