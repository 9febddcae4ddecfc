//! Custom components as the worker sees them: the organization's WebAssembly components, run in
//! the sandbox of one [`WasmHost`] per process (created on first use, so a node that never runs
//! one pays nothing for it).
//!
//! A flow calls `<component key>.<action>`. Which version runs is decided when the integration
//! version is published: its `components` pins (key → version), see
//! [`CustomComponents::pins`]. Loaded versions are kept for the life of the process (versions
//! are immutable); a version is compiled once per machine thanks to the host's disk cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::OnceCell;
use weft_components::{ActionContext, LogSink};
use weft_db::{Db, DbError, Instance, ScopeKind, StateScope, StateWrite};
use weft_model::{ActionSpec, ErrorKind, IntegrationDef, LogLevel, StepError};
use weft_wasm::{
    CallContext, Description, HostServices, Invocation, Limits, LoadedComponent, PollOutput, WasmError, WasmHost,
    WasmHostConfig,
};

use crate::Worker;

/// Why an integration cannot use the custom components it names.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// Actions of components that are neither built in nor published in the organization.
    #[error("{}", unknown_message(.0))]
    Unknown(Vec<String>),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn unknown_message(actions: &[String]) -> String {
    let list = actions.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
    format!(
        "{list}: no built-in component and no custom component published in this organization has this key \
         (publish it with `weft component publish`)"
    )
}

/// (organization, component key, version).
type VersionKey = (String, String, String);

/// The organization's custom components, loaded on demand.
pub struct CustomComponents {
    db: Db,
    config: WasmHostConfig,
    limits: Limits,
    host: OnceCell<WasmHost>,
    /// (org, key, version) → the loaded component, one load at a time per version.
    loaded: Mutex<HashMap<VersionKey, Arc<OnceCell<LoadedComponent>>>>,
}

impl CustomComponents {
    pub fn new(db: Db, config: WasmHostConfig, limits: Limits) -> CustomComponents {
        CustomComponents { db, config, limits, host: OnceCell::new(), loaded: Mutex::new(HashMap::new()) }
    }

    /// The limits of one invocation (a step's `timeout` lowers the time limit).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The sandbox, created on first use.
    pub async fn host(&self) -> Result<&WasmHost, WasmError> {
        self.host.get_or_try_init(|| async { WasmHost::new(self.config.clone()) }).await
    }

    /// Checks and loads uploaded bytes (what publishing a component does before storing it).
    pub async fn load_bytes(&self, bytes: &[u8]) -> Result<LoadedComponent, WasmError> {
        self.host().await?.load(bytes).await
    }

    /// The pinned version `version` of the organization's component `key`, loaded.
    pub async fn get(&self, org: &str, key: &str, version: &str) -> Result<LoadedComponent, StepError> {
        let cell = {
            let mut loaded = self.loaded.lock().expect("loaded components lock");
            loaded.entry((org.to_string(), key.to_string(), version.to_string())).or_default().clone()
        };
        let component = cell
            .get_or_try_init(|| async {
                let fail = |m: String| StepError::new(ErrorKind::Component, m);
                let stored = self
                    .db
                    .component_version_by_key(org, key, version, true)
                    .await
                    .map_err(|e| fail(format!("cannot read component `{key}` {version}: {e}")))?;
                let Some((_, Some(bytes))) = stored else {
                    return Err(fail(format!("component `{key}` version {version} is not published")));
                };
                self.load_bytes(&bytes)
                    .await
                    .map_err(|e| fail(format!("component `{key}` version {version} cannot be loaded: {e}")))
            })
            .await?;
        Ok(component.clone())
    }

    /// The actions, triggers and data sources of the organization's components at their latest
    /// versions: with the built-in actions, what a draft is validated against.
    pub async fn latest_operations(&self, org: &str) -> Result<Vec<ActionSpec>, DbError> {
        let mut specs = Vec::new();
        for (key, version) in self.db.latest_component_versions(org).await? {
            specs.extend(description(&key, &version.version, version.info)?.operation_specs());
        }
        Ok(specs)
    }

    /// The actions, triggers and data sources of the pinned component versions.
    pub async fn pinned_operations(
        &self,
        org: &str,
        pins: &BTreeMap<String, String>,
    ) -> Result<Vec<ActionSpec>, DbError> {
        let mut specs = Vec::new();
        for (key, version) in pins {
            let Some((stored, _)) = self.db.component_version_by_key(org, key, version, false).await? else {
                return Err(DbError::NotFound(format!("component `{key}` version {version}")));
            };
            specs.extend(description(key, version, stored.info)?.operation_specs());
        }
        Ok(specs)
    }

    /// The component versions a definition runs with: for each custom component it calls, the
    /// latest published version. `builtin` names the actions that need no custom component.
    pub async fn pins(
        &self,
        org: &str,
        def: &IntegrationDef,
        builtin: &[ActionSpec],
    ) -> Result<BTreeMap<String, String>, PinError> {
        let latest: BTreeMap<String, String> =
            self.db.latest_component_versions(org).await?.into_iter().map(|(k, v)| (k, v.version)).collect();
        let mut pins = BTreeMap::new();
        let mut unknown = Vec::new();
        for action in def.actions_used() {
            if builtin.iter().any(|s| s.name == action) {
                continue;
            }
            let key = action.split_once('.').map_or(action, |(k, _)| k);
            match latest.get(key) {
                Some(v) => {
                    pins.insert(key.to_string(), v.clone());
                }
                None => unknown.push(action.to_string()),
            }
        }
        if unknown.is_empty() { Ok(pins) } else { Err(PinError::Unknown(unknown)) }
    }
}

fn description(key: &str, version: &str, info: serde_json::Value) -> Result<Description, DbError> {
    serde_json::from_value(info).map_err(|e| {
        DbError::Invalid(format!("the stored description of component `{key}` {version} is unreadable: {e}"))
    })
}

/// Whose a custom component call is: the ids of its context, and whose state it may reach.
#[derive(Clone, Copy)]
pub(crate) struct CallIds<'a> {
    pub org: &'a str,
    /// `None`: a wizard's data source, called before any instance exists.
    pub instance: Option<&'a str>,
    pub customer: &'a str,
    pub flow_key: &'a str,
    /// (flow key, URL) of the instance's webhooks.
    pub webhook_urls: &'a [(String, String)],
}

/// A call of a custom component, ready to run: the loaded component, the operation's own
/// name, the invocation (the step's connection values are its `connection` input) and the limits
/// (a step's `timeout` lowers the time limit).
pub(crate) struct Prepared<'a> {
    pub component: LoadedComponent,
    pub short: &'a str,
    pub invocation: Invocation,
    pub limits: Limits,
}

/// The state scope of custom component `key` in an instance: its own, never another's.
pub(crate) fn component_scope(org: &str, instance: &str, key: &str) -> StateScope {
    StateScope { org_id: org.to_string(), kind: ScopeKind::Component, id: format!("{instance}:{key}") }
}

impl CustomComponents {
    /// Loads the pinned version `version` of component `key` and prepares a call of
    /// `operation` (`<key>.<name>`).
    pub(crate) async fn prepare<'a>(
        &self,
        ids: CallIds<'_>,
        key: &str,
        version: &str,
        operation: &'a str,
        input: Value,
        cx: &ActionContext,
    ) -> Result<Prepared<'a>, StepError> {
        let component = self.get(ids.org, key, version).await?;
        let short = &operation[key.len() + 1..];
        let mut inputs = input;
        let connection = inputs.as_object_mut().and_then(|o| o.remove("connection"));
        let mut limits = self.limits.clone();
        if let Some(t) = cx.timeout {
            limits.time = limits.time.min(t);
        }
        let invocation = Invocation {
            inputs,
            connection,
            context: CallContext {
                execution_id: cx.execution_id.clone(),
                instance_id: ids.instance.unwrap_or_default().to_string(),
                customer_id: ids.customer.to_string(),
                flow_key: ids.flow_key.to_string(),
                step_path: cx.step_path.clone(),
                idempotency_key: cx.idempotency_key.clone(),
                attempt: cx.attempt,
                webhook_urls: ids.webhook_urls.to_vec(),
            },
        };
        Ok(Prepared { component, short, invocation, limits })
    }
}

/// The pinned component an operation belongs to: `(key, version)`, or `None` for a built-in.
fn pinned<'p>(operation: &'p str, pins: &'p BTreeMap<String, String>) -> Option<(&'p str, &'p str)> {
    operation.split_once('.').and_then(|(key, _)| Some((key, pins.get(key)?.as_str())))
}

impl Worker {
    /// (flow key, webhook URL) of an instance's webhook flows, under
    /// [`crate::WorkerConfig::public_url`] (none without it).
    pub fn webhook_urls(&self, instance: &Instance) -> Vec<(String, String)> {
        let Some(base) = &self.config().public_url else { return Vec::new() };
        let base = base.trim_end_matches('/');
        instance.webhooks.iter().map(|w| (w.flow_key.clone(), format!("{base}/hooks/{}", w.token))).collect()
    }

    /// A call of `operation` of the pinned component `key` for `instance` outside any execution,
    /// with the services that read and write the component's state of the instance at once.
    #[allow(clippy::too_many_arguments)]
    async fn prepare_outside<'a>(
        &self,
        instance: &Instance,
        flow_key: &str,
        key: &str,
        version: &str,
        operation: &'a str,
        input: Value,
        cx: &ActionContext,
    ) -> Result<(Prepared<'a>, Arc<DirectServices>), StepError> {
        let urls = self.webhook_urls(instance);
        let ids = CallIds {
            org: &instance.org_id,
            instance: Some(&instance.id),
            customer: &instance.customer_id,
            flow_key,
            webhook_urls: &urls,
        };
        let call = self.custom_components().prepare(ids, key, version, operation, input, cx).await?;
        let scope = Some(component_scope(&instance.org_id, &instance.id, key));
        Ok((call, Arc::new(DirectServices { db: self.db().clone(), scope, log: cx.log.clone() })))
    }

    /// A call's input outside an execution with an OAuth connection's token in place of its
    /// reference (see [`crate::oauth::with_token`]).
    async fn with_oauth_token(&self, instance: &Instance, input: Value) -> Result<Value, StepError> {
        if !crate::oauth::wants_token(&input) {
            return Ok(input);
        }
        let loaded = self
            .load_version(&instance.org_id, &instance.integration_id, instance.version)
            .await
            .map_err(|e| StepError::new(ErrorKind::Component, e.to_string()))?;
        Ok(crate::oauth::with_token(self.oauth(), instance, &loaded.def, input).await?.0)
    }

    /// Runs an action outside any execution (a poll trigger's): a built-in one through the
    /// registry; one of a custom component at the version `pins` names, in the sandbox, its
    /// state (of the instance) read and written at once.
    pub async fn run_action(
        &self,
        instance: &Instance,
        flow_key: &str,
        pins: &BTreeMap<String, String>,
        action: &str,
        input: Value,
        cx: &ActionContext,
    ) -> Result<Value, StepError> {
        let input = self.with_oauth_token(instance, input).await?;
        let Some((key, version)) = pinned(action, pins) else {
            return self.registry().run(action, input, cx).await;
        };
        let (call, services) = self.prepare_outside(instance, flow_key, key, version, action, input, cx).await?;
        call.component.invoke_action(call.short, call.invocation, &call.limits, services).await
    }

    /// Runs a custom component's poll trigger (`<key>.<trigger>`, at the pinned version) from
    /// `cursor`, its state (of the instance) read and written at once.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_poll_trigger(
        &self,
        instance: &Instance,
        flow_key: &str,
        pins: &BTreeMap<String, String>,
        trigger: &str,
        input: Value,
        cursor: Option<&Value>,
        cx: &ActionContext,
    ) -> Result<PollOutput, StepError> {
        let input = self.with_oauth_token(instance, input).await?;
        let Some((key, version)) = pinned(trigger, pins) else {
            return Err(not_pinned("trigger", trigger));
        };
        let (call, services) = self.prepare_outside(instance, flow_key, key, version, trigger, input, cx).await?;
        call.component.poll(call.short, call.invocation, cursor, &call.limits, services).await
    }

    /// Runs a custom component's data source (`<key>.<data source>`, at the pinned version) for
    /// a wizard of `customer`'s: no instance, no flow and no state (the wizard runs before the
    /// instance exists).
    pub async fn run_data_source(
        &self,
        org: &str,
        customer: &str,
        pins: &BTreeMap<String, String>,
        name: &str,
        input: Value,
        cx: &ActionContext,
    ) -> Result<Value, StepError> {
        let Some((key, version)) = pinned(name, pins) else {
            return Err(not_pinned("data source", name));
        };
        let ids = CallIds { org, instance: None, customer, flow_key: "", webhook_urls: &[] };
        let call = self.custom_components().prepare(ids, key, version, name, input, cx).await?;
        let services = Arc::new(DirectServices { db: self.db().clone(), scope: None, log: cx.log.clone() });
        call.component.data_source(call.short, call.invocation, &call.limits, services).await
    }
}

fn not_pinned(what: &str, name: &str) -> StepError {
    StepError::new(ErrorKind::Component, format!("the integration version pins no component for the {what} `{name}`"))
}

/// A custom component's state outside an execution: reads and writes go to the database at once.
/// `scope: None` (a wizard's data source) has no state.
struct DirectServices {
    db: Db,
    scope: Option<StateScope>,
    log: LogSink,
}

impl DirectServices {
    fn scope(&self) -> Result<&StateScope, String> {
        self.scope.as_ref().ok_or_else(|| "a data source has no state: it runs before the instance exists".to_string())
    }

    async fn write(&self, key: &str, value: Option<Value>) -> Result<(), String> {
        let scope = self.scope()?.clone();
        let w = StateWrite { scope, key: key.to_string(), value, at: chrono::Utc::now().timestamp_millis() };
        self.db.state_write(&w).await.map_err(|e| e.to_string())
    }
}

impl HostServices for DirectServices {
    fn log(&self, level: LogLevel, message: String) {
        self.log.write(level, message);
    }

    fn state_get<'a>(&'a self, key: &'a str) -> weft_components::BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async move { self.db.state_get(self.scope()?, key).await.map_err(|e| e.to_string()) })
    }

    fn state_set<'a>(&'a self, key: &'a str, value: Value) -> weft_components::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            check_state_value(key, &value)?;
            self.write(key, Some(value)).await
        })
    }

    fn state_delete<'a>(&'a self, key: &'a str) -> weft_components::BoxFuture<'a, Result<(), String>> {
        Box::pin(self.write(key, None))
    }
}

/// The state limits a component's `state-set` is held to (those of `state.set`).
pub(crate) fn check_state_value(key: &str, value: &Value) -> Result<(), String> {
    use weft_components::state::{MAX_KEY_CHARS, MAX_VALUE_BYTES};
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_KEY_CHARS {
        return Err(format!("a state key must have 1 to {MAX_KEY_CHARS} characters, not {chars}"));
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > MAX_VALUE_BYTES {
        return Err(format!(
            "the value for state key `{key}` is {size} bytes, over the state value limit of {MAX_VALUE_BYTES} bytes"
        ));
    }
    Ok(())
}
