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
use weft_db::Creation;
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
    let target = s
        .targets
        .get(&s.db, &token)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "webhook.not_found", "no webhook at this URL"))?;
    let instance = target.instance;
    if !instance.enabled {
        return Err(super::instances::paused(&instance.id));
    }
    let loaded = super::instances::load_version(&s, &target.org_id, &instance.integration_id, instance.version).await?;
    let (mode, policy) = match loaded.def.flow(&target.flow_key) {
        Some(flow @ weft_model::FlowDef { trigger: Trigger::Webhook(w), .. }) => {
            (w.mode, super::instances::queue_policy(flow))
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "webhook.not_found", "no webhook at this URL")),
    };
    let key = idempotency_key(&headers)?;
    let trigger = trigger(&method, &headers, query.as_deref(), &body);
    let (exe, created, creation) = create(&s, &instance, &target.flow_key, trigger, key, mode, policy).await?;
    let accepted = || {
        let status = if created { "queued" } else { exe.status.as_str() };
        let mut resp = (StatusCode::ACCEPTED, Json(json!({"execution_id": exe.id, "status": status}))).into_response();
        if !created {
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        resp
    };
    if mode == WebhookMode::Async {
        if created {
            wake_runners(&s, &exe).await;
        }
        return Ok(accepted());
    }
    // A repeated delivery waits for the first one's execution, wherever it runs.
    let launched =
        if created { crate::wait::launch(&s, &exe, Some(instance)).await } else { crate::wait::Launched::Queued };
    let outcome = crate::wait::outcome(&s, &exe, launched).await;
    // Run here, it may have started before its creation committed (see `create`): nothing is
    // answered until the execution is stored.
    if let Some(creation) = creation {
        creation.committed().await?;
    }
    match outcome {
        Some(SyncOutcome::Responded { status, headers, body }) => Ok(respond(status, &headers, body)),
        Some(SyncOutcome::Finished { status: weft_db::ExecutionStatus::Succeeded, result, .. }) => {
            Ok((StatusCode::OK, Json(result.unwrap_or(Value::Null))).into_response())
        }
        Some(SyncOutcome::Finished { error, .. }) => Ok((
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"code": "execution.failed", "message": "the flow failed", "details": {"execution_id": exe.id, "error": error}}})),
        )
            .into_response()),
        // Still running (or the runner went away): the caller can follow the execution by id.
        None => Ok(accepted()),
    }
}

/// Longest accepted `Idempotency-Key` header, in characters.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The delivery's `Idempotency-Key` header, if any: the same key for the same instance yields
/// the same execution.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key: the header must be visible ASCII text"))?
        .trim();
    let len = key.chars().count();
    if len == 0 || len > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} characters, got {len}"
        )));
    }
    Ok(Some(key.to_string()))
}

/// Records the delivery durably, or finds the execution of an earlier delivery with the same
/// idempotency key (`false`). Async deliveries are queued unclaimed, so runners claim them
/// fairly across customers; sync ones are claimed by this node when it runs executions (the
/// caller waits, so they skip the queue) — unless the flow's queue mode or a concurrency limit
/// applies, which only the claim can enforce. A sync one run here without an idempotency key
/// starts before its creation commits (`Db::create_execution_unawaited`: one commit instead of
/// two in the request's path); the answer waits for that commit, the returned [`Creation`].
async fn create(
    s: &AppState,
    i: &weft_db::Instance,
    flow: &str,
    trigger: Value,
    idempotency_key: Option<String>,
    mode: WebhookMode,
    policy: weft_db::QueuePolicy,
) -> ApiResult<(weft_db::Execution, bool, Option<Creation>)> {
    let here = mode == WebhookMode::Sync && s.cfg.run_locally && super::instances::may_run_here(i, policy);
    let new = weft_db::NewExecution {
        org_id: i.org_id.clone(),
        instance_id: i.id.clone(),
        customer_id: i.customer_id.clone(),
        integration_id: i.integration_id.clone(),
        version: i.version,
        flow_key: flow.to_string(),
        trigger,
        replay_of: None,
        claimed_by: here.then(|| s.worker.config().node_id.clone()),
        lease_ms: s.worker.config().lease.as_millis() as i64,
        idempotency_key,
    };
    if here && new.idempotency_key.is_none() {
        let (exe, creation) = s.db.create_execution_unawaited(&new, policy, super::now_ms())?;
        return Ok((exe, true, Some(creation)));
    }
    let (exe, created) = s.db.create_execution_with(&new, policy, super::now_ms()).await?;
    Ok((exe, created, None))
}

/// Tells this node's runner and (best effort: runners poll too) every other node's that work
/// was queued.
async fn wake_runners(s: &AppState, exe: &weft_db::Execution) {
    s.worker.notify();
    if let Err(e) = s.db.notify_queued().await {
        tracing::warn!(execution = %exe.id, error = %e, "cannot wake the runners");
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
