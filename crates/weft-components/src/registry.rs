//! The registry: every component the worker can run, looked up by action name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use weft_model::{ActionSpec, ErrorKind, StepError};

use crate::{ActionContext, Component, EgressGuard};

/// All components by key, and which component serves each action.
#[derive(Clone, Default)]
pub struct Registry {
    components: BTreeMap<&'static str, Arc<dyn Component>>,
    /// Action name → its spec and the key of the component serving it; computed once at
    /// registration because `Component::actions` builds its specs on every call.
    actions: BTreeMap<String, (ActionSpec, &'static str)>,
}

impl Registry {
    /// An empty registry (add components with [`Registry::register`]).
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The built-in components: `http`, `data`, `datetime`, `crypto`, `log`, `code`.
    pub fn builtin(egress: EgressGuard) -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(crate::http::HttpComponent::new(egress)));
        r.register(Arc::new(crate::data::DataComponent));
        r.register(Arc::new(crate::datetime::DatetimeComponent));
        r.register(Arc::new(crate::crypto::CryptoComponent));
        r.register(Arc::new(crate::log::LogComponent));
        r.register(Arc::new(crate::code::CodeComponent));
        r
    }

    /// Adds (or replaces) a component under its key.
    pub fn register(&mut self, component: Arc<dyn Component>) {
        let key = component.key();
        self.actions.retain(|_, (_, k)| *k != key);
        for spec in component.actions() {
            self.actions.insert(spec.name.clone(), (spec, key));
        }
        self.components.insert(key, component);
    }

    pub fn component(&self, key: &str) -> Option<&Arc<dyn Component>> {
        self.components.get(key)
    }

    pub fn action_spec(&self, action: &str) -> Option<&ActionSpec> {
        self.actions.get(action).map(|(s, _)| s)
    }

    /// Every action of every component, sorted by name.
    pub fn action_specs(&self) -> Vec<ActionSpec> {
        // BTreeMap iteration is already sorted by action name.
        self.actions.values().map(|(s, _)| s.clone()).collect()
    }

    /// Runs an action by its fully qualified name; an unknown action is an `input` error.
    pub async fn run(&self, action: &str, input: Value, cx: &ActionContext) -> Result<Value, StepError> {
        let Some((_, key)) = self.actions.get(action) else {
            return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
        };
        let component = &self.components[key];
        component.run(action, input, cx).await
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("actions", &self.actions.keys().collect::<Vec<_>>()).finish()
    }
}
