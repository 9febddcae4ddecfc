//! The config wizard's live parts: the choices of a dynamic picklist, listed by the data source
//! of a custom component (the version the integration version pinned) with the values the
//! wizard holds so far — before the instance exists.

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use utoipa::ToSchema;
use weft_components::{ActionContext, LogSink};
use weft_model::Permission;
use weft_model::expr::eval_value;

/// The longest a data source may take: someone is waiting on the wizard.
const DATA_SOURCE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionsBody {
    /// Customer id or `ext:EXTERNAL_ID`: whose wizard this is.
    customer: String,
    /// The version being deployed; default: the latest published.
    version: Option<i64>,
    /// The values entered so far (the data source's inputs may use them, e.g. a connection).
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

/// One choice of a picklist.
#[derive(Serialize, ToSchema)]
pub struct OptionView {
    /// The value the variable takes.
    #[schema(value_type = Object)]
    value: Value,
    /// What the wizard shows.
    label: String,
}

#[derive(Serialize, ToSchema)]
pub struct OptionsView {
    /// The config variable.
    variable: String,
    /// `<component>.<data source>` that listed the choices.
    data_source: String,
    options: Vec<OptionView>,
    /// The data source's log lines, for whoever builds the integration.
    logs: Vec<String>,
}

/// List the choices of a dynamic picklist: runs its data source with the values entered so far.
#[utoipa::path(post, path = "/integrations/{integration}/config/{variable}/options", tag = "integrations",
    params(("integration" = String, Path), ("variable" = String, Path)), request_body = OptionsBody,
    responses((status = 200, body = OptionsView),
              (status = 404, description = "unknown integration, version, customer or config variable"),
              (status = 422, description = "the variable has no data source, or its inputs need values not entered yet"),
              (status = 502, description = "the data source failed: details carry its error kind and message")))]
pub async fn options(
    State(s): State<AppState>,
    auth: Auth,
    Path((integration, variable)): Path<(String, String)>,
    JsonBody(b): JsonBody<OptionsBody>,
) -> ApiResult<Json<OptionsView>> {
    auth.require(Permission::Operate)?;
    let integration = super::integrations::find(&s, auth.org(), &integration).await?;
    let version = super::instances::published(&integration, b.version)?;
    let customer = super::customers::find(&s, auth.org(), &b.customer).await?;
    let loaded = super::instances::load_version(&s, auth.org(), &integration.id, version).await?;
    let Some(var) = loaded.def.config_vars().find(|v| v.key == variable) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "config_var.not_found",
            format!("version {version} of integration `{}` has no config variable `{variable}`", integration.key),
        ));
    };
    let Some(ds) = &var.data_source else {
        return Err(ApiError::invalid(
            "config_var.not_dynamic",
            format!("config variable `{variable}` is not a picklist with a data source"),
            Value::Null,
        ));
    };
    // What the wizard holds: the values entered, else the defaults.
    let mut config = b.config.clone();
    for v in loaded.def.config_vars() {
        if let (false, Some(d)) = (config.contains_key(&v.key), &v.default) {
            config.insert(v.key.clone(), d.clone());
        }
    }
    let ctx = json!({
        "config": config,
        "customer": {"id": customer.id, "external_id": customer.external_id, "name": customer.name, "labels": customer.labels},
    });
    let input = eval_value(&Value::Object(ds.inputs.clone()), &ctx).map_err(|e| {
        ApiError::invalid(
            "data_source.inputs",
            format!("the inputs of data source `{}` cannot be evaluated yet: {e}", ds.name),
            Value::Null,
        )
    })?;
    let logs = Arc::new(Mutex::new(Vec::new()));
    let mut cx = ActionContext::new(format!("wizard-{}", integration.id), format!("config.{variable}"));
    cx.timeout = Some(DATA_SOURCE_TIMEOUT);
    cx.log = {
        let logs = logs.clone();
        LogSink::new(move |level, line| logs.lock().expect("wizard log lock").push(format!("{}: {line}", level.name())))
    };
    let out =
        s.worker.run_data_source(auth.org(), &customer.id, &loaded.components, &ds.name, input, &cx).await.map_err(
            |e| {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "data_source.failed",
                    format!("data source `{}` failed: {}", ds.name, e.message),
                )
                .with_details(json!({"kind": e.kind, "message": e.message}))
            },
        )?;
    let options = choices(&ds.name, out)?;
    let logs = std::mem::take(&mut *logs.lock().expect("wizard log lock"));
    Ok(Json(OptionsView { variable, data_source: ds.name.clone(), options, logs }))
}

/// A data source's output as picklist choices: a list of `{value, label}` objects (label
/// optional) or of plain values.
fn choices(name: &str, out: Value) -> ApiResult<Vec<OptionView>> {
    let bad = |m: String| {
        ApiError::new(StatusCode::BAD_GATEWAY, "data_source.failed", format!("data source `{name}` {m}"))
            .with_details(json!({"kind": "component"}))
    };
    let Value::Array(items) = out else {
        return Err(bad("returned something other than a list of choices".into()));
    };
    let label_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(mut m) => {
                let value = m.remove("value").filter(|v| !v.is_null() && !v.is_object() && !v.is_array());
                let Some(value) = value else {
                    return Err(bad(format!("returned choice {i} without a plain `value`")));
                };
                let label =
                    m.remove("label").filter(|l| !l.is_null()).map_or_else(|| label_of(&value), |l| label_of(&l));
                Ok(OptionView { value, label })
            }
            v @ (Value::String(_) | Value::Number(_) | Value::Bool(_)) => {
                Ok(OptionView { label: label_of(&v), value: v })
            }
            other => Err(bad(format!("returned choice {i} that is neither a value nor {{value, label}}: {other}"))),
        })
        .collect()
}
