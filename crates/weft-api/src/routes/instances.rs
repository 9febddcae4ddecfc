//! Instances: a published version deployed for a customer with its config; pause, resume,
//! upgrade, delete, and run a flow by hand.

use super::{PageQuery, now_ms};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams, RawBody};
use crate::views::{Accepted, ExecutionView, InstanceView, Listing};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use weft_db::{CustomerRef, InstanceFilter, InstanceUpgrade, NewExecution, NewInstance, NewSchedule};
use weft_model::config::{resolve_config, secret_keys};
use weft_model::redact::Redactor;
use weft_model::{IntegrationDef, Permission, Trigger};
use weft_worker::LoadedVersion;
use weft_worker::schedule::{CronSchedule, resolve_cron};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// Integration id or key.
    integration: String,
    /// Version to deploy; default: the latest published.
    version: Option<i64>,
    /// Customer id or `ext:EXTERNAL_ID`.
    customer: String,
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// Version to move to; default: the latest published.
    version: Option<i64>,
    /// Config values to change; the others are carried over.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

#[derive(Deserialize, IntoParams)]
pub struct InstanceQuery {
    /// Customer id or `ext:EXTERNAL_ID`.
    customer: Option<String>,
    /// Integration id or key.
    integration: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
pub struct RunQuery {
    /// Wait for the execution to end and answer with it.
    #[serde(default)]
    wait: bool,
}

pub(crate) async fn load_version(
    s: &AppState,
    org: &str,
    integration_id: &str,
    version: i64,
) -> ApiResult<Arc<LoadedVersion>> {
    s.worker.load_version(org, integration_id, version).await.map_err(|e| match e {
        weft_worker::LoadError::Missing { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "version.not_found",
            format!("version {version} of integration {integration_id} does not exist"),
        ),
        other => ApiError::internal(other),
    })
}

fn webhook_flows(def: &IntegrationDef) -> Vec<String> {
    def.flows.iter().filter(|f| matches!(f.trigger, Trigger::Webhook(_))).map(|f| f.key.clone()).collect()
}

pub(crate) fn config_error(errors: Vec<weft_model::config::ConfigError>) -> ApiError {
    let message = match errors.as_slice() {
        [one] => format!("invalid config: {one}"),
        many => format!("invalid config: {} problems", many.len()),
    };
    ApiError::invalid("instance.invalid_config", message, json!(errors))
}

/// The schedules of an instance: each schedule-triggered flow's cron, evaluated against the
/// instance's resolved config (and `instance`, `customer`), with its first fire time after `now`.
/// A cron that does not evaluate to a valid expression refuses the deploy, naming the flow.
fn instance_schedules(
    def: &IntegrationDef,
    config: &Map<String, Value>,
    instance: Value,
    customer: &weft_db::Customer,
    now: i64,
) -> ApiResult<Vec<NewSchedule>> {
    let ctx = json!({
        "config": config,
        "instance": instance,
        "customer": {"id": customer.id, "external_id": customer.external_id, "name": customer.name, "labels": customer.labels},
    });
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    for flow in &def.flows {
        // A poll trigger is a schedule too: the scheduler runs its action when it is due.
        let (cron, timezone) = match &flow.trigger {
            Trigger::Schedule { cron, timezone } => (cron, timezone),
            Trigger::Poll(p) => (&p.cron, &p.timezone),
            _ => continue,
        };
        let planned = resolve_cron(cron, &ctx).and_then(|text| {
            let parsed = CronSchedule::parse(&text, timezone.as_deref())?;
            let next = parsed.next_after(now)?;
            Ok((text, next))
        });
        match planned {
            Ok((text, next_fire_at)) => out.push(NewSchedule {
                customer_id: customer.id.clone(),
                integration_id: String::new(),
                version: 0,
                flow_key: flow.key.clone(),
                cron: text,
                timezone: timezone.clone().unwrap_or_else(|| "UTC".into()),
                next_fire_at,
            }),
            Err(e) => problems.push(json!({"flow": flow.key, "cron": cron, "message": e.to_string()})),
        }
    }
    if problems.is_empty() {
        return Ok(out);
    }
    let message = match problems.as_slice() {
        [one] => format!(
            "invalid config: the schedule of flow `{}` is invalid: {}",
            one["flow"].as_str().unwrap_or_default(),
            one["message"].as_str().unwrap_or_default()
        ),
        many => format!("invalid config: {} schedules are invalid", many.len()),
    };
    Err(ApiError::invalid("instance.invalid_config", message, Value::Array(problems)))
}

/// Stores the schedules computed for instance `i` (replacing its previous ones).
async fn store_schedules(s: &AppState, i: &weft_db::Instance, mut schedules: Vec<NewSchedule>) -> ApiResult<()> {
    for sch in &mut schedules {
        sch.integration_id = i.integration_id.clone();
        sch.version = i.version;
    }
    s.db.replace_schedules(&i.org_id, &i.id, &schedules, now_ms())
        .await
        .map_err(|e| ApiError::from_db("instance", e))?;
    Ok(())
}

async fn customer_of(s: &AppState, i: &weft_db::Instance) -> ApiResult<weft_db::Customer> {
    s.db.get_customer(&i.org_id, &CustomerRef::Id(i.customer_id.clone()))
        .await?
        .ok_or_else(|| ApiError::not_found("customer", &i.customer_id))
}

fn instance_ctx(id: Option<&str>, name: &str, version: i64) -> Value {
    json!({"id": id, "name": name, "version": version})
}

pub(crate) async fn view(s: &AppState, i: weft_db::Instance) -> ApiResult<InstanceView> {
    let loaded = load_version(s, &i.org_id, &i.integration_id, i.version).await?;
    let config = i.config.as_object().cloned().unwrap_or_default();
    let redacted = Redactor::new(&loaded.def, &config).redact_config(&config);
    let base = s.cfg.public_url.trim_end_matches('/');
    let schedules = s.db.list_schedules(&i.org_id, &i.id).await?;
    Ok(InstanceView {
        schedules: schedules.into_iter().map(|sch| (sch.flow_key, crate::views::ts(sch.next_fire_at))).collect(),
        webhooks: i.webhooks.iter().map(|w| (w.flow_key.clone(), format!("{base}/hooks/{}", w.token))).collect(),
        flows: loaded.def.flows.iter().map(|f| f.key.clone()).collect(),
        integration_key: loaded.def.key.clone(),
        id: i.id,
        name: i.name,
        customer_id: i.customer_id,
        integration_id: i.integration_id,
        version: i.version,
        enabled: i.enabled,
        retention_days: i.retention_days,
        store_payloads: i.store_payloads,
        max_concurrency: i.max_concurrency,
        config: Value::Object(redacted),
        created_at: crate::views::ts(i.created_at),
        updated_at: crate::views::ts(i.updated_at),
    })
}

pub(crate) async fn find(s: &AppState, org: &str, id: &str) -> ApiResult<weft_db::Instance> {
    s.db.get_instance(org, id).await?.ok_or_else(|| ApiError::not_found("instance", id))
}

pub(crate) fn published(i: &weft_db::Integration, version: Option<i64>) -> ApiResult<i64> {
    match (version, i.latest_version) {
        (Some(v), Some(latest)) if v >= 1 && v <= latest => Ok(v),
        (Some(v), _) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "version.not_found",
            format!(
                "integration `{}` has no version {v} (latest: {})",
                i.key,
                i.latest_version.map_or("none".into(), |l| l.to_string())
            ),
        )),
        (None, Some(latest)) => Ok(latest),
        (None, None) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "integration.not_published",
            format!("integration `{}` has no published version; publish one first", i.key),
        )),
    }
}

/// Deploy a version of an integration for a customer.
#[utoipa::path(post, path = "/instances", tag = "instances", request_body = DeployBody,
    responses((status = 201, body = InstanceView), (status = 404, description = "unknown integration, version or customer"),
              (status = 422, description = "invalid config: details names each variable")))]
pub async fn deploy(
    State(s): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<DeployBody>,
) -> ApiResult<(StatusCode, Json<InstanceView>)> {
    auth.require(Permission::Operate)?;
    let integration = super::integrations::find(&s, auth.org(), &b.integration).await?;
    let version = published(&integration, b.version)?;
    let customer = super::customers::find(&s, auth.org(), &b.customer).await?;
    let loaded = load_version(&s, auth.org(), &integration.id, version).await?;
    let config = resolve_config(&loaded.def, &b.config).map_err(config_error)?;
    super::connections::check_customer_refs(&s, auth.org(), &customer.id, &loaded.def, &config).await?;
    let name = b.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| loaded.def.name.clone());
    // Computed before anything is stored, so an invalid schedule refuses the deploy cleanly.
    let schedules = instance_schedules(&loaded.def, &config, instance_ctx(None, &name, version), &customer, now_ms())?;
    let new = NewInstance {
        customer_id: customer.id,
        integration_id: integration.id,
        version,
        name,
        config: Value::Object(config),
        webhook_flows: webhook_flows(&loaded.def),
        secret_keys: secret_keys(&loaded.def),
    };
    let i = s.db.create_instance(auth.org(), &new, now_ms()).await.map_err(|e| ApiError::from_db("instance", e))?;
    store_schedules(&s, &i, schedules).await?;
    super::connections::test_all(&s, &i, &loaded).await?;
    Ok((StatusCode::CREATED, Json(view(&s, i).await?)))
}

/// List instances, optionally of one customer or integration.
#[utoipa::path(get, path = "/instances", tag = "instances", params(InstanceQuery), responses((status = 200, body = Listing<InstanceView>)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    QueryParams(q): QueryParams<InstanceQuery>,
) -> ApiResult<Json<Listing<InstanceView>>> {
    auth.require(Permission::Read)?;
    let page = PageQuery { cursor: q.cursor, limit: q.limit }.page()?;
    let customer_id = match &q.customer {
        Some(c) => Some(super::customers::find(&s, auth.org(), c).await?.id),
        None => None,
    };
    let integration_id = match &q.integration {
        Some(i) => Some(super::integrations::find(&s, auth.org(), i).await?.id),
        None => None,
    };
    let page = s.db.list_instances(auth.org(), &InstanceFilter { customer_id, integration_id }, &page).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for i in page.items {
        items.push(view(&s, i).await?);
    }
    Ok(Json(Listing { items, next_cursor: page.next_cursor }))
}

/// Get an instance, with its webhook URLs.
#[utoipa::path(get, path = "/instances/{id}", tag = "instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceView), (status = 404, description = "no such instance")))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<InstanceView>> {
    auth.require(Permission::Read)?;
    let i = find(&s, auth.org(), &id).await?;
    Ok(Json(view(&s, i).await?))
}

/// Delete an instance with its webhooks and schedules (its executions are kept).
#[utoipa::path(delete, path = "/instances/{id}", tag = "instances", params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "no such instance")))]
pub async fn delete(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Permission::Operate)?;
    // Its OAuth tokens are revoked at the providers first (best effort), then deleted with it.
    if let Some(i) = s.db.get_instance(auth.org(), &id).await?
        && let Ok(loaded) = s.worker.load_version(auth.org(), &i.integration_id, i.version).await
    {
        s.worker.oauth().revoke_instance(&i, &loaded.def).await;
    }
    s.db.delete_instance(auth.org(), &id).await.map_err(|e| ApiError::from_db("instance", e))?;
    s.targets.clear();
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(s: AppState, auth: Auth, id: String, enabled: bool) -> ApiResult<Json<InstanceView>> {
    auth.require(Permission::Operate)?;
    let i =
        s.db.set_instance_enabled(auth.org(), &id, enabled, now_ms())
            .await
            .map_err(|e| ApiError::from_db("instance", e))?;
    s.targets.clear();
    Ok(Json(view(&s, i).await?))
}

/// Pause an instance: its webhooks answer 409 and nothing new runs.
#[utoipa::path(post, path = "/instances/{id}/pause", tag = "instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceView), (status = 404, description = "no such instance")))]
pub async fn pause(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<InstanceView>> {
    set_enabled(s, auth, id, false).await
}

/// Resume a paused instance.
#[utoipa::path(post, path = "/instances/{id}/resume", tag = "instances", params(("id" = String, Path)),
    responses((status = 200, body = InstanceView), (status = 404, description = "no such instance")))]
pub async fn resume(State(s): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<InstanceView>> {
    auth.require(Permission::Operate)?;
    // Fire times that passed while paused are skipped: the schedules restart from now.
    // (Resuming a running instance changes nothing, so a due time is not skipped.)
    let i = find(&s, auth.org(), &id).await?;
    if !i.enabled {
        let loaded = load_version(&s, auth.org(), &i.integration_id, i.version).await?;
        let config = i.config.as_object().cloned().unwrap_or_default();
        let ctx = instance_ctx(Some(&i.id), &i.name, i.version);
        let schedules = instance_schedules(&loaded.def, &config, ctx, &customer_of(&s, &i).await?, now_ms())?;
        store_schedules(&s, &i, schedules).await?;
    }
    set_enabled(s, auth, id, true).await
}

/// Move an instance to another version; its config is carried over and validated again.
#[utoipa::path(post, path = "/instances/{id}/upgrade", tag = "instances", params(("id" = String, Path)), request_body = UpgradeBody,
    responses((status = 200, body = InstanceView), (status = 404, description = "no such instance or version"),
              (status = 422, description = "the config does not fit the new version")))]
pub async fn upgrade(
    State(s): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<UpgradeBody>,
) -> ApiResult<Json<InstanceView>> {
    auth.require(Permission::Operate)?;
    let i = find(&s, auth.org(), &id).await?;
    let integration = super::integrations::find(&s, auth.org(), &i.integration_id).await?;
    let version = published(&integration, b.version)?;
    let loaded = load_version(&s, auth.org(), &integration.id, version).await?;
    // Carry over the values of variables the new version still declares; apply the changes.
    let mut values: Map<String, Value> = i
        .config
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| loaded.def.config_vars().any(|v| &v.key == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    values.extend(b.config);
    let config = resolve_config(&loaded.def, &values).map_err(config_error)?;
    super::connections::check_customer_refs(&s, auth.org(), &i.customer_id, &loaded.def, &config).await?;
    let ctx = instance_ctx(Some(&i.id), &i.name, version);
    let schedules = instance_schedules(&loaded.def, &config, ctx, &customer_of(&s, &i).await?, now_ms())?;
    let up = InstanceUpgrade {
        version,
        config: Value::Object(config),
        webhook_flows: webhook_flows(&loaded.def),
        secret_keys: secret_keys(&loaded.def),
    };
    let i =
        s.db.upgrade_instance(auth.org(), &id, &up, now_ms()).await.map_err(|e| ApiError::from_db("instance", e))?;
    s.targets.clear();
    store_schedules(&s, &i, schedules).await?;
    super::connections::test_all(&s, &i, &loaded).await?;
    Ok(Json(view(&s, i).await?))
}

/// Run a flow of an instance by hand; the body (JSON, optional) is the trigger body.
#[utoipa::path(post, path = "/instances/{id}/flows/{flow}/run", tag = "instances",
    params(("id" = String, Path), ("flow" = String, Path), RunQuery),
    request_body(content = Object, description = "trigger body (optional)", content_type = "application/json"),
    responses((status = 202, body = Accepted), (status = 200, body = ExecutionView, description = "with wait=true"),
              (status = 404, description = "no such instance or flow"), (status = 409, description = "the instance is paused")))]
pub async fn run(
    State(s): State<AppState>,
    auth: Auth,
    Path((id, flow)): Path<(String, String)>,
    QueryParams(q): QueryParams<RunQuery>,
    RawBody(body): RawBody,
) -> ApiResult<Response> {
    auth.require(Permission::Operate)?;
    let payload: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "request.invalid_json", format!("the body is not valid JSON: {e}"))
        })?
    };
    let i = find(&s, auth.org(), &id).await?;
    if !i.enabled {
        return Err(paused(&i.id));
    }
    let loaded = load_version(&s, auth.org(), &i.integration_id, i.version).await?;
    if loaded.def.flow(&flow).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "flow.not_found",
            format!("instance {} has no flow `{flow}`", i.id),
        ));
    }
    let trigger = json!({"body": payload, "headers": {}, "query": {}, "method": "MANUAL"});
    let exe = start(&s, &i, &flow, trigger, None).await?;
    let launched = crate::wait::launch(&s, &exe, Some(i)).await;
    if !q.wait {
        let accepted = Accepted { execution_id: exe.id, status: "queued".into(), replay_of: None };
        return Ok((StatusCode::ACCEPTED, Json(accepted)).into_response());
    }
    crate::wait::ended(&s, &exe, launched).await;
    let e = s.db.get_execution(auth.org(), &exe.id).await?.ok_or_else(|| ApiError::not_found("execution", &exe.id))?;
    let steps = s.db.list_steps(&e.id).await?.into_iter().map(Into::into).collect();
    Ok((StatusCode::OK, Json(ExecutionView::full(e, Some(steps)))).into_response())
}

pub(crate) fn paused(id: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "instance.paused", format!("instance {id} is paused; resume it to run flows"))
}

/// Records an execution durably: claimed by this node when it runs executions itself (so it
/// can run at once), else queued for the fleet's runners. Start it with `wait::launch`.
/// The queue policy a flow's executions are created with (claims enforce it).
pub(crate) fn queue_policy(flow: &weft_model::FlowDef) -> weft_db::QueuePolicy {
    // One conversion for every path that creates executions (the scheduler uses it too).
    weft_db::QueuePolicy::from(&flow.queue)
}

/// Whether an execution may skip the queue and run on the node that accepted it: only when no
/// limit applies to it (flow queue mode, instance limit; a customer limit is checked by the
/// claim too, so executions of customers with one are queued as well).
pub(crate) fn may_run_here(i: &weft_db::Instance, policy: weft_db::QueuePolicy) -> bool {
    !policy.is_limited() && i.max_concurrency.is_none() && i.customer_max_concurrency.is_none()
}

pub(crate) async fn start(
    s: &AppState,
    i: &weft_db::Instance,
    flow: &str,
    trigger: Value,
    replay_of: Option<String>,
) -> ApiResult<weft_db::Execution> {
    let loaded = load_version(s, &i.org_id, &i.integration_id, i.version).await?;
    let policy = loaded.def.flow(flow).map(queue_policy).unwrap_or(weft_db::QueuePolicy::PARALLEL);
    let new = NewExecution {
        org_id: i.org_id.clone(),
        instance_id: i.id.clone(),
        customer_id: i.customer_id.clone(),
        integration_id: i.integration_id.clone(),
        version: i.version,
        flow_key: flow.to_string(),
        trigger,
        replay_of,
        claimed_by: (s.cfg.run_locally && may_run_here(i, policy)).then(|| s.worker.config().node_id.clone()),
        lease_ms: s.worker.config().lease.as_millis() as i64,
        idempotency_key: None,
    };
    Ok(s.db.create_execution_with(&new, policy, now_ms()).await?.0)
}
