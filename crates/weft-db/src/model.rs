//! The rows this crate reads and writes, as plain Rust values: what the API serializes and the
//! worker consumes. No SQL here; see the per-object modules for that.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use weft_model::Role;

/// Unix time in milliseconds. Every timestamp is passed in by the caller (the crate never reads
/// the clock), so tests can drive time.
pub type Millis = i64;

/// A page request. `cursor` is the `next_cursor` of the previous page (opaque), `limit` the page
/// size: 0 means the default (50), anything above 500 is clamped to 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub cursor: Option<String>,
    pub limit: u32,
}

impl Page {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    /// The first page with the given size.
    pub fn first(limit: u32) -> Page {
        Page { cursor: None, limit }
    }

    /// The page size actually used: `limit` clamped to 1..=500, 0 meaning the default 50.
    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

impl Default for Page {
    fn default() -> Page {
        Page { cursor: None, limit: Self::DEFAULT_LIMIT }
    }
}

/// One page of a listing; `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub created_at: Millis,
}

/// An API token's metadata. The secret itself is shown once by [`crate::Db::create_token`] and
/// only its hash is stored, so this struct never carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub role: Role,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: String,
    pub org_id: String,
    /// The vendor's own id for this customer; unique within the organization.
    pub external_id: Option<String>,
    pub name: String,
    pub labels: Map<String, Value>,
    /// Cap on running executions across all of the customer's instances; `None`: unlimited
    /// (set with [`crate::Db::set_customer_max_concurrency`]).
    pub max_concurrency: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewCustomer {
    pub external_id: Option<String>,
    pub name: String,
    pub labels: Map<String, Value>,
}

/// A partial update: `None` leaves a field alone; `external_id: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerPatch {
    pub external_id: Option<Option<String>>,
    pub name: Option<String>,
    pub labels: Option<Map<String, Value>>,
}

/// How the API names a customer: by id, or by the vendor's external id (`ext:EXTERNAL_ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    Id(String),
    External(String),
}

impl CustomerRef {
    /// `"ext:X"` names the customer with external id `X`; anything else is an id.
    pub fn parse(s: &str) -> CustomerRef {
        match s.strip_prefix("ext:") {
            Some(ext) => CustomerRef::External(ext.to_string()),
            None => CustomerRef::Id(s.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Integration {
    pub id: String,
    pub org_id: String,
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// `"yaml"` or `"json"`: how `draft_source` is written.
    pub draft_format: String,
    /// The draft exactly as imported (kept so users get their own text back).
    pub draft_source: String,
    /// The parsed draft as JSON.
    pub draft_definition: Value,
    /// The highest published version, `None` before the first publish.
    pub latest_version: Option<i64>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDraft {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// `"yaml"` or `"json"`.
    pub format: String,
    pub source: String,
    pub definition: Value,
}

/// An immutable published snapshot of an integration's draft.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegrationVersion {
    pub integration_id: String,
    /// 1-based, increasing by one per publish.
    pub version: i64,
    pub format: String,
    pub source: String,
    pub definition: Value,
    /// The custom component versions this version runs with, pinned at publish: component key
    /// → component version (`{"acme-crm": "1.2.0"}`).
    pub components: BTreeMap<String, String>,
    pub created_at: Millis,
}

/// A custom (WebAssembly) component of an organization; its versions are
/// [`ComponentVersion`]s. Name and description are those of the latest version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub id: String,
    pub org_id: String,
    /// The part of its action names before the dot (`crm` in `crm.list_contacts`).
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// The highest published version (semantic versioning).
    pub latest_version: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One immutable version of a component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentVersion {
    pub component_id: String,
    /// A semantic version, from the component's own description.
    pub version: String,
    /// Of the WebAssembly bytes, hex.
    pub sha256: String,
    pub size_bytes: i64,
    /// The description the component gave of itself (actions, triggers, data sources,
    /// connections and their inputs), as validated when it was published.
    pub info: Value,
    pub created_at: Millis,
}

/// A component version to store (see [`crate::Db::publish_component_version`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewComponentVersion {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub version: String,
    pub info: Value,
    pub sha256: String,
    pub wasm: Vec<u8>,
}

/// The customer of an instance as flows see it (`customer.*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerContext {
    pub external_id: Option<String>,
    pub name: String,
    pub labels: Map<String, Value>,
}

/// A deployed instance with its webhook tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub id: String,
    pub org_id: String,
    pub customer_id: String,
    pub integration_id: String,
    pub version: i64,
    pub name: String,
    pub config: Value,
    pub enabled: bool,
    /// One per webhook-triggered flow, ordered by flow key.
    pub webhooks: Vec<Webhook>,
    /// Days finished executions are kept; `None`: the organization's default.
    pub retention_days: Option<i64>,
    /// False: finished executions keep no trigger body, result or step inputs/outputs.
    pub store_payloads: bool,
    /// At most this many of the instance's executions run at once; `None`: unlimited.
    pub max_concurrency: Option<i64>,
    /// The customer's limit across all its instances (read along, so the webhook path knows
    /// without another query whether an execution must wait in the queue).
    pub customer_max_concurrency: Option<i64>,
    /// What flows see of the customer (`customer.*` in expressions), read along for the same
    /// reason: no customer query per execution.
    pub customer: CustomerContext,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    pub flow_key: String,
    /// 64 hex characters (256 random bits): the unguessable part of `/hooks/{token}`.
    pub token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    pub customer_id: String,
    pub integration_id: String,
    pub version: i64,
    pub name: String,
    pub config: Value,
    /// Keys of the flows with a webhook trigger: each gets its own token.
    pub webhook_flows: Vec<String>,
    /// Config keys whose values are secrets (`secret` and `connection` variables): sealed at
    /// rest, never in the `config` column.
    pub secret_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceUpgrade {
    pub version: i64,
    pub config: Value,
    pub webhook_flows: Vec<String>,
    /// As [`NewInstance::secret_keys`].
    pub secret_keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    pub customer_id: Option<String>,
    pub integration_id: Option<String>,
}

/// What a webhook token points at.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    pub org_id: String,
    pub instance: Instance,
    pub flow_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 5] = [
        ExecutionStatus::Queued,
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Canceled,
    ];

    /// The snake_case name used in the database and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Queued => "queued",
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Canceled => "canceled",
        }
    }

    pub fn from_name(name: &str) -> Option<ExecutionStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the execution is over (succeeded, failed or canceled).
    pub fn is_terminal(self) -> bool {
        matches!(self, ExecutionStatus::Succeeded | ExecutionStatus::Failed | ExecutionStatus::Canceled)
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ExecutionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<ExecutionStatus, String> {
        ExecutionStatus::from_name(s).ok_or_else(|| {
            format!("unknown execution status `{s}`: expected one of queued, running, succeeded, failed, canceled")
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Execution {
    pub id: String,
    pub org_id: String,
    pub instance_id: String,
    pub customer_id: String,
    pub integration_id: String,
    pub version: i64,
    pub flow_key: String,
    pub status: ExecutionStatus,
    /// The trigger payload (body, headers, query, method …).
    pub trigger: Value,
    pub result: Option<Value>,
    pub error: Option<Value>,
    /// The HTTP response for a sync webhook, when a step shaped one.
    pub response: Option<Value>,
    /// The engine's checkpoint: enough to resume after the last completed step.
    pub state: Option<Value>,
    /// How many times the execution was claimed (1 on the first run).
    pub attempts: i64,
    pub replay_of: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Millis>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Log lines stored so far: a run resumed after a crash goes on counting toward the
    /// execution's log-line limit from here.
    pub log_lines: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    pub org_id: String,
    pub instance_id: String,
    pub customer_id: String,
    pub integration_id: String,
    pub version: i64,
    pub flow_key: String,
    pub trigger: Value,
    pub replay_of: Option<String>,
    /// Some(owner): created already claimed (status running, lease set) for in-process dispatch.
    pub claimed_by: Option<String>,
    /// The lease length when `claimed_by` is set.
    pub lease_ms: i64,
    /// The sender's idempotency key (a webhook's `Idempotency-Key` header): at most one
    /// execution per instance and key; creating another returns the first.
    pub idempotency_key: Option<String>,
}

/// Filters of [`crate::Db::list_executions`]; every field is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    pub instance_id: Option<String>,
    pub customer_id: Option<String>,
    pub flow_key: Option<String>,
    pub status: Option<ExecutionStatus>,
    /// `created_at >= since`
    pub since: Option<Millis>,
    /// `created_at < until`
    pub until: Option<Millis>,
}

/// One step's record in an execution. `seq` is assigned by the database on insert (the order
/// of insertion per execution); the value passed in is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub seq: i64,
    /// Where the step sits in the flow, e.g. `lines[2].line`.
    pub path: String,
    pub key: String,
    pub kind: String,
    pub action: Option<String>,
    pub status: String,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub attempts: i64,
    pub started_at: Millis,
    pub finished_at: Millis,
}

/// One log line of an execution; `seq` is assigned by the database like [`StepRow::seq`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub seq: i64,
    pub at: Millis,
    pub level: String,
    pub step_path: Option<String>,
    pub message: String,
}

/// A mid-flow save: replaces the engine state and appends steps and logs, atomically.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub state: &'a Value,
    pub steps: &'a [StepRow],
    pub logs: &'a [LogRow],
    /// Set when a step shaped the sync webhook response; `None` keeps the stored one.
    pub response: Option<&'a Value>,
}

/// The end of an execution: final status and everything not yet checkpointed, atomically.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    /// Must be terminal: succeeded, failed or canceled.
    pub status: ExecutionStatus,
    pub result: Option<&'a Value>,
    pub error: Option<&'a Value>,
    pub state: &'a Value,
    pub steps: &'a [StepRow],
    pub logs: &'a [LogRow],
    /// `None` keeps the stored response.
    pub response: Option<&'a Value>,
    pub now: Millis,
}
