//! The JSON shapes the API returns (and documents in OpenAPI), built from storage records.
//! Timestamps become RFC 3339 strings here; secrets are redacted by the callers before.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

pub fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn ts_opt(ms: Option<i64>) -> Option<String> {
    ms.map(ts)
}

/// A page of a listing.
#[derive(Serialize, ToSchema)]
pub struct Listing<T: ToSchema> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    pub id: String,
    pub external_id: Option<String>,
    pub name: String,
    #[schema(value_type = Object)]
    pub labels: Map<String, Value>,
    /// At most this many executions of all its instances run at once; null: unlimited.
    pub max_concurrency: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<weft_db::Customer> for CustomerView {
    fn from(c: weft_db::Customer) -> Self {
        CustomerView {
            id: c.id,
            external_id: c.external_id,
            name: c.name,
            labels: c.labels,
            max_concurrency: c.max_concurrency,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DraftView {
    /// `yaml` or `json`: how the draft was imported.
    pub format: String,
    /// The imported document, as JSON.
    #[schema(value_type = Object)]
    pub definition: Value,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: String,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// The newest published version; null until the first publish.
    pub latest_version: Option<i64>,
    pub draft: DraftView,
    pub created_at: String,
    pub updated_at: String,
}

impl From<weft_db::Integration> for IntegrationView {
    fn from(i: weft_db::Integration) -> Self {
        IntegrationView {
            id: i.id,
            key: i.key,
            name: i.name,
            description: i.description,
            latest_version: i.latest_version,
            draft: DraftView { format: i.draft_format, definition: i.draft_definition },
            created_at: ts(i.created_at),
            updated_at: ts(i.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub integration_id: String,
    pub integration_key: String,
    pub version: i64,
    pub created_at: String,
    /// The published definition (on publish and single-version answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    /// The custom component versions this version runs with, pinned at publish (key → version).
    pub components: std::collections::BTreeMap<String, String>,
}

/// A custom component; name and description are its latest version's.
#[derive(Serialize, ToSchema)]
pub struct ComponentView {
    pub id: String,
    /// Flows call its actions as `<key>.<action>`.
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// The highest published version (semantic versioning).
    pub latest_version: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<weft_db::Component> for ComponentView {
    fn from(c: weft_db::Component) -> Self {
        ComponentView {
            id: c.id,
            key: c.key,
            name: c.name,
            description: c.description,
            latest_version: c.latest_version,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

/// One immutable version of a component.
#[derive(Serialize, ToSchema)]
pub struct ComponentVersionView {
    pub component_id: String,
    pub key: String,
    pub version: String,
    /// Of the WebAssembly bytes, hex.
    pub sha256: String,
    pub size_bytes: i64,
    pub created_at: String,
    /// What the version offers: actions, triggers, data sources and connection types with
    /// their inputs (`type`, `required`, `help`, `choices`, `data_source`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub description: Option<Value>,
}

impl ComponentVersionView {
    pub fn new(key: &str, v: weft_db::ComponentVersion) -> ComponentVersionView {
        ComponentVersionView {
            component_id: v.component_id,
            key: key.to_string(),
            version: v.version,
            sha256: v.sha256,
            size_bytes: v.size_bytes,
            created_at: ts(v.created_at),
            description: Some(v.info),
        }
    }

    pub fn without_description(self) -> ComponentVersionView {
        ComponentVersionView { description: None, ..self }
    }
}

/// A component with its versions (highest first) and its latest version's description.
#[derive(Serialize, ToSchema)]
pub struct ComponentDetailView {
    #[serde(flatten)]
    pub component: ComponentView,
    /// What the latest version offers (see [`ComponentVersionView::description`]).
    #[schema(value_type = Object)]
    pub latest: Value,
    pub versions: Vec<ComponentVersionView>,
}

#[derive(Serialize, ToSchema)]
pub struct InstanceView {
    pub id: String,
    pub name: String,
    pub customer_id: String,
    pub integration_id: String,
    pub integration_key: String,
    pub version: i64,
    pub enabled: bool,
    /// Config values; secrets and connection credentials are redacted.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Webhook URL per flow with a webhook trigger.
    pub webhooks: std::collections::BTreeMap<String, String>,
    /// Every flow of the deployed version.
    pub flows: Vec<String>,
    /// Next fire time (RFC 3339, UTC) per flow with a schedule trigger.
    pub schedules: std::collections::BTreeMap<String, String>,
    /// Days its finished executions are kept; `null`: the organization's default.
    pub retention_days: Option<i64>,
    /// False: finished executions keep no trigger body, result or step inputs/outputs.
    pub store_payloads: bool,
    /// At most this many of its executions run at once; null: unlimited.
    pub max_concurrency: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    pub id: String,
    pub instance_id: String,
    pub customer_id: String,
    pub integration_id: String,
    pub version: i64,
    pub flow: String,
    /// queued | running | succeeded | failed | canceled
    pub status: String,
    pub attempts: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub trigger: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub replay_of: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
}

impl ExecutionView {
    /// The listing form: no payloads.
    pub fn summary(e: weft_db::Execution) -> ExecutionView {
        let mut v = ExecutionView::full(e, None);
        v.trigger = None;
        v.result = None;
        v
    }

    pub fn full(e: weft_db::Execution, steps: Option<Vec<StepView>>) -> ExecutionView {
        let duration_ms = match (e.started_at, e.finished_at) {
            (Some(s), Some(f)) => Some(f - s),
            _ => None,
        };
        ExecutionView {
            id: e.id,
            instance_id: e.instance_id,
            customer_id: e.customer_id,
            integration_id: e.integration_id,
            version: e.version,
            flow: e.flow_key,
            status: e.status.as_str().to_string(),
            attempts: e.attempts,
            trigger: Some(e.trigger),
            result: Some(e.result.unwrap_or(Value::Null)),
            error: e.error,
            replay_of: e.replay_of,
            created_at: ts(e.created_at),
            started_at: ts_opt(e.started_at),
            finished_at: ts_opt(e.finished_at),
            duration_ms,
            steps,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StepView {
    /// Step key, with loop indexes (`lines[2].line`).
    pub path: String,
    pub key: String,
    pub kind: String,
    pub action: Option<String>,
    /// succeeded | failed | continued
    pub status: String,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub attempts: i64,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: i64,
}

impl From<weft_db::StepRow> for StepView {
    fn from(s: weft_db::StepRow) -> Self {
        StepView {
            path: s.path,
            key: s.key,
            kind: s.kind,
            action: s.action,
            status: s.status,
            input: s.input,
            output: s.output,
            error: s.error,
            attempts: s.attempts,
            started_at: ts(s.started_at),
            finished_at: ts(s.finished_at),
            duration_ms: s.finished_at - s.started_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LogView {
    pub at: String,
    /// debug | info | warn | error
    pub level: String,
    /// The step that wrote the line, if any.
    pub step: Option<String>,
    pub message: String,
}

impl From<weft_db::LogRow> for LogView {
    fn from(l: weft_db::LogRow) -> Self {
        LogView { at: ts(l.at), level: l.level, step: l.step_path, message: l.message }
    }
}

/// Answer of a run, replay or async webhook: the execution was queued.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub execution_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    pub id: String,
    pub name: String,
    pub role: String,
    /// The token itself; shown once, stored only as a hash.
    pub token: String,
}
