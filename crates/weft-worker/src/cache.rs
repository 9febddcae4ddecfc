//! Compiled flows per integration version: versions are immutable, so a compiled flow never goes
//! stale and is cached for the life of the process.

use crate::custom::CustomComponents;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use weft_db::Db;
use weft_flow::CompiledFlow;
use weft_model::{ActionSpec, IntegrationDef};

/// One published version, parsed and with every flow compiled.
pub struct LoadedVersion {
    pub def: IntegrationDef,
    pub flows: HashMap<String, Arc<CompiledFlow>>,
    /// The custom component versions it runs with (key → version), pinned at publish.
    pub components: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("integration {integration} version {version} does not exist")]
    Missing { integration: String, version: i64 },
    #[error("integration {integration} version {version} is not a valid definition any more: {message}")]
    Invalid { integration: String, version: i64, message: String },
    #[error(transparent)]
    Db(#[from] weft_db::DbError),
}

pub struct FlowCache {
    actions: Vec<ActionSpec>,
    versions: RwLock<HashMap<(String, i64), Arc<LoadedVersion>>>,
}

impl FlowCache {
    pub fn new(actions: Vec<ActionSpec>) -> FlowCache {
        FlowCache { actions, versions: RwLock::new(HashMap::new()) }
    }

    /// The built-in actions (custom components' actions are added per organization).
    pub fn actions(&self) -> &[ActionSpec] {
        &self.actions
    }

    pub async fn load(
        &self,
        db: &Db,
        custom: &CustomComponents,
        org: &str,
        integration_id: &str,
        version: i64,
    ) -> Result<Arc<LoadedVersion>, LoadError> {
        let key = (integration_id.to_string(), version);
        if let Some(v) = self.versions.read().expect("flow cache lock").get(&key) {
            return Ok(v.clone());
        }
        let row = db
            .get_version(org, integration_id, version)
            .await?
            .ok_or_else(|| LoadError::Missing { integration: integration_id.to_string(), version })?;
        let invalid =
            |message: String| LoadError::Invalid { integration: integration_id.to_string(), version, message };
        let mut actions = self.actions.clone();
        if !row.components.is_empty() {
            actions.extend(custom.pinned_operations(org, &row.components).await.map_err(|e| invalid(e.to_string()))?);
        }
        let def = weft_model::validate::definition_from_json(&row.definition, &actions)
            .map_err(|diags| invalid(diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")))?;
        let mut flows = HashMap::new();
        for flow in &def.flows {
            let compiled = CompiledFlow::new(flow).map_err(|errs| {
                invalid(errs.iter().map(|e| format!("{}: {}", e.path, e.message)).collect::<Vec<_>>().join("; "))
            })?;
            flows.insert(flow.key.clone(), Arc::new(compiled));
        }
        let loaded = Arc::new(LoadedVersion { def, flows, components: row.components });
        self.versions.write().expect("flow cache lock").insert(key, loaded.clone());
        Ok(loaded)
    }
}
