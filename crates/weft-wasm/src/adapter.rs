//! [`WasmComponent`]: a loaded component behind `weft_components::Component`, so the worker's
//! registry runs custom components like built-in ones.
//!
//! `Component::key` returns `&'static str` (built-in keys are literals). The adapter leaks its
//! key once, when it is built: one short string per component version put in a registry.
//! (Changing the trait to `&str` would avoid that; it is not this crate's to change.)

use std::sync::Arc;

use serde_json::Value;
use weft_components::{ActionContext, BoxFuture, Component, LogSink};
use weft_model::{ActionSpec, ErrorKind, InputType, LogLevel, StepError};

use crate::bindings::{self, InputSpec};
use crate::config::Limits;
use crate::host::{CallContext, Invocation, LoadedComponent};
use crate::services::HostServices;

/// A loaded component as a `weft_components::Component`: actions are `<key>.<action>`; the
/// step's log lines go to the action context's log; state goes to the services given here
/// (whose scope the caller chose); the step's `timeout` caps the time limit. A step passes its
/// connection values as the input `connection` (taken out of the inputs).
pub struct WasmComponent {
    loaded: LoadedComponent,
    key: &'static str,
    limits: Limits,
    state: Arc<dyn HostServices>,
}

impl WasmComponent {
    pub fn new(loaded: LoadedComponent, limits: Limits, state: Arc<dyn HostServices>) -> WasmComponent {
        let key: &'static str = Box::leak(loaded.info().key.clone().into_boxed_str());
        WasmComponent { loaded, key, limits, state }
    }

    /// The loaded component behind the adapter.
    pub fn loaded(&self) -> &LoadedComponent {
        &self.loaded
    }
}

/// How an input of the WIT contract is checked by definition validation.
fn input_type(input: &InputSpec) -> InputType {
    use bindings::InputType as T;
    match input.type_ {
        T::String | T::Secret | T::Date => InputType::String,
        T::Picklist if !input.choices.is_empty() && input.data_source.is_none() => {
            InputType::Enum(input.choices.iter().map(|c| c.value.clone()).collect())
        }
        T::Picklist => InputType::String,
        T::Number => InputType::Number,
        T::Boolean => InputType::Boolean,
        T::KeyValueList => InputType::Array,
        T::Json | T::Connection => InputType::Any,
    }
}

impl Component for WasmComponent {
    fn key(&self) -> &'static str {
        self.key
    }

    fn actions(&self) -> Vec<ActionSpec> {
        self.loaded
            .info()
            .actions
            .iter()
            .map(|a| ActionSpec {
                name: format!("{}.{}", self.key, a.key),
                description: a.description.clone(),
                inputs: a
                    .inputs
                    .iter()
                    .map(|i| weft_model::InputSpec {
                        key: i.key.clone(),
                        input_type: input_type(i),
                        required: i.required,
                        description: i.help.clone().unwrap_or_else(|| i.label.clone()),
                    })
                    .collect(),
            })
            .collect()
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let Some(short) = action.strip_prefix(self.key).and_then(|a| a.strip_prefix('.')) else {
                return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
            };
            let mut inputs = input;
            let connection = inputs.as_object_mut().and_then(|o| o.remove("connection"));
            let mut limits = self.limits.clone();
            if let Some(t) = cx.timeout {
                limits.time = limits.time.min(t);
            }
            let call = Invocation {
                inputs,
                connection,
                context: CallContext {
                    execution_id: cx.execution_id.clone(),
                    step_path: cx.step_path.clone(),
                    idempotency_key: cx.idempotency_key.clone(),
                    attempt: cx.attempt,
                    ..CallContext::default()
                },
            };
            let services = Arc::new(StepServices { log: cx.log.clone(), state: self.state.clone() });
            self.loaded.invoke_action(short, call, &limits, services).await
        })
    }
}

/// Logs to the step's sink, state to the adapter's services.
struct StepServices {
    log: LogSink,
    state: Arc<dyn HostServices>,
}

impl HostServices for StepServices {
    fn log(&self, level: LogLevel, message: String) {
        self.log.write(level, message);
    }

    fn state_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, String>> {
        self.state.state_get(key)
    }

    fn state_set<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), String>> {
        self.state.state_set(key, value)
    }

    fn state_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), String>> {
        self.state.state_delete(key)
    }
}
