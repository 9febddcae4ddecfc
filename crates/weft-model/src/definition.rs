//! Typed integration definitions: what an imported YAML/JSON document means once it has been
//! checked. Parsing and validation live in [`crate::parse`] and [`crate::validate`]; these types
//! hold no positions and do no IO. Expression-bearing fields keep their raw JSON (`Value`) so the
//! engine evaluates exactly what the user wrote (see [`crate::expr`]).

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One integration: metadata, the config wizard and its flows.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationDef {
    /// Stable identifier chosen by the author (`order-sync`); unique per organization.
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    /// Wizard pages, in the order they are shown.
    pub config: Vec<ConfigPage>,
    pub flows: Vec<FlowDef>,
}

impl IntegrationDef {
    /// Every config variable of every page, in wizard order.
    pub fn config_vars(&self) -> impl Iterator<Item = &ConfigVar> {
        self.config.iter().flat_map(|p| p.vars.iter())
    }

    pub fn flow(&self, key: &str) -> Option<&FlowDef> {
        self.flows.iter().find(|f| f.key == key)
    }

    /// Every component operation the definition calls, by name: actions of steps at any depth,
    /// poll triggers' actions or triggers, and the data sources of dynamic picklists.
    pub fn actions_used(&self) -> BTreeSet<&str> {
        fn steps<'a>(list: &'a [Step], out: &mut BTreeSet<&'a str>) {
            for step in list {
                match &step.kind {
                    StepKind::Action { action, .. } => {
                        out.insert(action);
                    }
                    StepKind::Code { .. } => {
                        out.insert("code.javascript");
                    }
                    StepKind::Branch { arms, otherwise } => {
                        arms.iter().for_each(|arm| steps(&arm.steps, out));
                        steps(otherwise.as_deref().unwrap_or_default(), out);
                    }
                    StepKind::ForEach { steps: inner, .. } => steps(inner, out),
                    _ => {}
                }
            }
        }
        let mut out = BTreeSet::new();
        for var in self.config_vars() {
            if let Some(ds) = &var.data_source {
                out.insert(ds.name.as_str());
            }
            if let Some(t) = &var.test {
                out.insert(t.action.as_str());
            }
            if let Some(c) = &var.connection_type {
                out.insert(c.name.as_str());
            }
        }
        for flow in &self.flows {
            if let Trigger::Poll(p) = &flow.trigger {
                out.insert(p.source.operation());
            }
            steps(&flow.steps, &mut out);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigPage {
    pub page: String,
    pub vars: Vec<ConfigVar>,
}

/// A typed value asked in the wizard.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigVar {
    pub key: String,
    pub label: Option<String>,
    pub var_type: VarType,
    pub required: bool,
    pub default: Option<Value>,
    /// Help text shown under the field.
    pub description: Option<String>,
    /// Allowed values of a static `picklist`.
    pub options: Vec<Value>,
    /// Where a dynamic `picklist` gets its choices (instead of `options`).
    pub data_source: Option<DataSourceRef>,
    /// JSON Schema a `json` value must satisfy (checked at deploy).
    pub schema: Option<Value>,
    /// Regular expression a `string`/`secret` value must match (checked at deploy).
    pub pattern: Option<String>,
    /// Inclusive bounds of a `number`.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Whether customers see the variable in the embedded marketplace.
    pub customer_visible: bool,
    /// A `connection` variable whose credentials Weft obtains with OAuth 2.0 (the customer
    /// authorizes, or the client credentials grant): see [`OAuth2Def`].
    pub oauth2: Option<OAuth2Def>,
    /// A `connection` variable's check, run when its credentials are saved (deploy, upgrade)
    /// and on demand: an action whose success marks the connection `ok`.
    pub test: Option<ConnectionTest>,
    /// A `connection` variable that takes a component's connection type (`acme-crm.api_key`):
    /// its value's fields are checked against the type's at deploy; an OAuth type's endpoints
    /// become the variable's `oauth2`.
    pub connection_type: Option<ConnectionTypeRef>,
}

/// A component's connection type, as validation found it in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionTypeRef {
    /// `<component>.<connection type>`.
    pub name: String,
    /// `api_key`, `basic`, `bearer`, `custom`, `oauth2_…`.
    pub kind: String,
    /// The fields a value holds.
    pub fields: Vec<crate::catalog::InputSpec>,
}

/// An action that proves a connection works (`GET /me` of the API, a component's `whoami`).
/// Its inputs' expressions see `config` (the connection too, as `config.<variable>`) and
/// `customer`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionTest {
    pub action: String,
    pub inputs: Map<String, Value>,
}

/// How Weft obtains an OAuth 2.0 connection's tokens: the provider's endpoints and scopes, and
/// the vendor's OAuth app (an organization's `oauth client`, whose secret is in the vault).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2Def {
    pub grant: OAuth2Grant,
    /// Where the customer is sent to authorize (authorization code only).
    pub authorize_url: Option<String>,
    pub token_url: String,
    /// RFC 7009 revocation endpoint, called when the instance is deleted.
    pub revoke_url: Option<String>,
    pub scopes: Vec<String>,
    /// Extra parameters of the authorization request (`audience`, `prompt`, …).
    pub params: BTreeMap<String, String>,
    /// The organization's OAuth client (the vendor's app). Without one, a client credentials
    /// connection's value carries `client_id` and `client_secret` itself.
    pub client: Option<String>,
    /// Send a PKCE (S256) challenge with the authorization request (default true).
    pub pkce: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuth2Grant {
    AuthorizationCode,
    ClientCredentials,
}

impl OAuth2Grant {
    pub const ALL: [OAuth2Grant; 2] = [OAuth2Grant::AuthorizationCode, OAuth2Grant::ClientCredentials];

    /// The name in definitions (`grant: authorization_code`).
    pub fn name(self) -> &'static str {
        match self {
            OAuth2Grant::AuthorizationCode => "authorization_code",
            OAuth2Grant::ClientCredentials => "client_credentials",
        }
    }

    /// The connection `type` of its values (`oauth2_authorization_code`).
    pub fn connection_type(self) -> &'static str {
        match self {
            OAuth2Grant::AuthorizationCode => "oauth2_authorization_code",
            OAuth2Grant::ClientCredentials => "oauth2_client_credentials",
        }
    }

    pub fn from_name(name: &str) -> Option<OAuth2Grant> {
        OAuth2Grant::ALL.into_iter().find(|g| g.name() == name)
    }

    pub fn from_connection_type(t: &str) -> Option<OAuth2Grant> {
        OAuth2Grant::ALL.into_iter().find(|g| g.connection_type() == t)
    }
}

impl ConfigVar {
    /// An optional variable with no default, label or constraints, visible to customers.
    pub fn new(key: impl Into<String>, var_type: VarType) -> ConfigVar {
        ConfigVar {
            key: key.into(),
            label: None,
            var_type,
            required: false,
            default: None,
            description: None,
            options: Vec::new(),
            data_source: None,
            schema: None,
            pattern: None,
            minimum: None,
            maximum: None,
            customer_visible: true,
            oauth2: None,
            test: None,
            connection_type: None,
        }
    }
}

/// A dynamic picklist's data source: a custom component's data source, called by the wizard
/// with the values entered so far (its inputs' expressions see `config` and `customer`).
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceRef {
    /// `<component>.<data source>`.
    pub name: String,
    pub inputs: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarType {
    String,
    Number,
    Boolean,
    Picklist,
    Json,
    Schedule,
    Connection,
    Secret,
    KeyValueList,
    Date,
}

impl VarType {
    pub const ALL: [VarType; 10] = [
        VarType::String,
        VarType::Number,
        VarType::Boolean,
        VarType::Picklist,
        VarType::Json,
        VarType::Schedule,
        VarType::Connection,
        VarType::Secret,
        VarType::KeyValueList,
        VarType::Date,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VarType::String => "string",
            VarType::Number => "number",
            VarType::Boolean => "boolean",
            VarType::Picklist => "picklist",
            VarType::Json => "json",
            VarType::Schedule => "schedule",
            VarType::Connection => "connection",
            VarType::Secret => "secret",
            VarType::KeyValueList => "key_value_list",
            VarType::Date => "date",
        }
    }

    pub fn from_name(name: &str) -> Option<VarType> {
        VarType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One trigger and a tree of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowDef {
    pub key: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub trigger: Trigger,
    pub steps: Vec<Step>,
    /// Evaluated when the flow ends; the sync webhook response body. `None` = null.
    pub result: Option<Value>,
    /// How the flow's executions of one instance share the runners (default: parallel, unlimited).
    pub queue: QueueDef,
    /// Execution-level retry: a failed execution is queued again after a backoff.
    pub retry: Option<ExecutionRetry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Webhook(WebhookTrigger),
    Manual,
    /// Cron schedule; fired by the scheduler role (a later issue). `cron` may be an expression
    /// such as `{{ config.schedule }}`.
    Schedule {
        cron: String,
        timezone: Option<String>,
    },
    /// Runs a component action on a schedule and starts one execution per record it returns
    /// that was not emitted before (or one execution for all of them); see [`PollTrigger`].
    /// Boxed: it is much larger than the other triggers.
    Poll(Box<PollTrigger>),
}

/// A poll trigger: the scheduler runs its [`PollSource`] when the cron schedule is due, drops
/// the records it emitted before and queues executions for the rest, storing the new cursor in
/// the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct PollTrigger {
    /// Cron expression (or `{{ config.… }}`), as for [`Trigger::Schedule`].
    pub cron: String,
    pub timezone: Option<String>,
    /// What runs at each due time.
    pub source: PollSource,
    /// The action's or trigger's input; expressions see `config`, `instance`, `customer` and
    /// (for an action) `cursor`: the stored cursor, null before the first record.
    pub inputs: Map<String, Value>,
    /// An expression over `item` giving a record's unique id: records whose id was emitted
    /// before are dropped (the last [`POLL_SEEN_IDS`] ids are kept).
    pub id: Option<Value>,
    /// An expression over `item` giving its position in the feed (an update time, a sequence
    /// number): the new cursor is the value of the last new record. Without `id`, a record is
    /// new when its cursor is greater than the stored one.
    pub cursor: Option<Value>,
    /// `true`: one execution whose `trigger.body` is the list of new records; `false`: one
    /// execution per record, `trigger.body` = the record.
    pub batch: bool,
}

/// Where a poll trigger's records come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PollSource {
    /// Any component action (`http.request`, `acme-crm.list_contacts`): `items` is a single
    /// expression over `output` (the action's output) giving the list of records; new ones are
    /// told apart by the trigger's `id` and/or `cursor` expressions.
    Action { action: String, items: Value },
    /// A custom component's poll trigger (`acme-crm.new_contacts`): it returns the new records
    /// itself and the cursor to call it with next time, which the scheduler stores. `id` may
    /// still drop repeats.
    Trigger(String),
}

impl PollSource {
    /// The component operation called: `<component>.<action or trigger>`.
    pub fn operation(&self) -> &str {
        match self {
            PollSource::Action { action, .. } => action,
            PollSource::Trigger(name) => name,
        }
    }
}

/// How many emitted record ids a poll trigger remembers to drop repeats.
pub const POLL_SEEN_IDS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTrigger {
    pub mode: WebhookMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookMode {
    /// The HTTP response is the flow's result (or its `respond` step).
    Sync,
    /// 202 with the execution id, at once.
    Async,
}

/// A step: a key unique within its flow, what it does, and how failures are handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub key: String,
    pub kind: StepKind,
    pub retry: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
    pub on_error: OnError,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// A component action (`http.request`) with its input mapping (expressions evaluated).
    Action { action: String, inputs: Map<String, Value> },
    /// Pure data mapping: the evaluated value is the output.
    Transform(Value),
    /// A JavaScript function body run with the step's context bound (`trigger`, `steps`,
    /// `config`, …); what it returns is the output. Run by the built-in `code.javascript`.
    Code { script: String },
    /// First arm whose `when` is true, else `otherwise`.
    Branch { arms: Vec<BranchArm>, otherwise: Option<Vec<Step>> },
    /// Runs `steps` once per element of the evaluated `items`, with `item`/`index` bound.
    ForEach { items: Value, steps: Vec<Step>, concurrency: Option<u32> },
    /// Runs another flow of the same instance with `input` as its trigger body.
    CallFlow { flow: String, input: Value },
    /// Shapes the sync webhook response early; the flow goes on.
    Respond { status: Value, headers: Value, body: Value },
    /// Ends the flow successfully; `result` (if any) replaces the flow's result.
    Stop { result: Option<Value> },
    /// Ends the flow with a failure whose message is evaluated.
    Fail { message: Value },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BranchArm {
    /// An expression; truthy selects this arm.
    pub when: Value,
    pub steps: Vec<Step>,
}

/// What a step failure does once retries are exhausted.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OnError {
    /// Fail the flow (default).
    #[default]
    Fail,
    /// Record the error as the step's output (`{"error": {...}}`) and go on.
    Continue,
    /// Run these steps with `error` bound; their last output becomes the step's output.
    Steps(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first (>= 1).
    pub attempts: u32,
    /// Delay before the second attempt.
    pub initial: Duration,
    /// Multiplier applied to the delay after each failed attempt (1.0 = fixed).
    pub factor: f64,
    /// Upper bound of a single delay.
    pub max: Duration,
    /// Error kinds that are retried (see [`crate::ErrorKind`]); empty = every retryable kind.
    pub on: Vec<crate::ErrorKind>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(300),
            on: Vec::new(),
        }
    }
}

/// A flow's `queue`: the mode and the concurrency limit, both per instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDef {
    pub mode: QueueMode,
    /// At most this many executions of the flow run at once per instance: optional for
    /// `parallel`, required for `throttled`, absent for `fifo` (which is one).
    pub max_concurrency: Option<u32>,
}

impl QueueDef {
    /// Whether the flow's executions must wait for a runner slot: only the queue's claim can
    /// enforce that, so such executions are never run in-process by the node that accepted them.
    pub fn is_limited(&self) -> bool {
        self.mode == QueueMode::Fifo || self.max_concurrency.is_some()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueMode {
    /// Any number at once (or up to `max_concurrency`), in no particular order.
    #[default]
    Parallel,
    /// One at a time per instance, strictly in arrival order.
    Fifo,
    /// At most `max_concurrency` at once per instance.
    Throttled,
}

impl QueueMode {
    pub const ALL: [QueueMode; 3] = [QueueMode::Parallel, QueueMode::Fifo, QueueMode::Throttled];

    pub fn name(self) -> &'static str {
        match self {
            QueueMode::Parallel => "parallel",
            QueueMode::Fifo => "fifo",
            QueueMode::Throttled => "throttled",
        }
    }
}

/// A flow's execution-level `retry`: a failed execution is queued again, due after a backoff
/// that grows exponentially, and resumes after its last completed step (like after a crash),
/// until `attempts` tries are used up; then it fails as usual.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRetry {
    /// Total tries including the first (>= 1).
    pub attempts: u32,
    /// Delay before the second try (whole seconds, >= 1 s).
    pub backoff: Duration,
    /// Multiplier applied to the delay after each failed try (>= 1).
    pub factor: f64,
    /// Upper bound of a single delay.
    pub max_backoff: Duration,
}

impl ExecutionRetry {
    /// The delay after the `tries`-th failed try (1-based): `backoff * factor^(tries-1)`,
    /// capped at `max_backoff` and rounded up to whole seconds (the queue is second-granular).
    pub fn delay_after(&self, tries: u32) -> Duration {
        let exp = i32::try_from(tries.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = (self.backoff.as_secs_f64() * self.factor.powi(exp)).min(self.max_backoff.as_secs_f64());
        Duration::from_secs(secs.ceil().max(1.0) as u64)
    }
}
