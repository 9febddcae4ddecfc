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

use tokio::sync::OnceCell;
use weft_db::{Db, DbError};
use weft_model::{ActionSpec, ErrorKind, IntegrationDef, StepError};
use weft_wasm::{Description, Limits, LoadedComponent, WasmError, WasmHost, WasmHostConfig};

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

    /// The actions of the organization's components at their latest versions: with the
    /// built-in ones, what a draft is validated against.
    pub async fn latest_actions(&self, org: &str) -> Result<Vec<ActionSpec>, DbError> {
        let mut specs = Vec::new();
        for (key, version) in self.db.latest_component_versions(org).await? {
            specs.extend(description(&key, &version.version, version.info)?.action_specs());
        }
        Ok(specs)
    }

    /// The actions of the pinned component versions.
    pub async fn pinned_actions(&self, org: &str, pins: &BTreeMap<String, String>) -> Result<Vec<ActionSpec>, DbError> {
        let mut specs = Vec::new();
        for (key, version) in pins {
            let Some((stored, _)) = self.db.component_version_by_key(org, key, version, false).await? else {
                return Err(DbError::NotFound(format!("component `{key}` version {version}")));
            };
            specs.extend(description(key, version, stored.info)?.action_specs());
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
