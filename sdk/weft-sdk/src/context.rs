//! [`Context`]: where and why an action is being called.

use serde_json::Value;

use crate::bindings::weft::component::types as wit;

/// Where and why the component is being called, and the step's connection values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// The execution this call belongs to.
    pub execution_id: String,
    /// The deployed instance (one customer's copy of an integration).
    pub instance_id: String,
    /// The customer the instance belongs to.
    pub customer_id: String,
    /// The flow being run.
    pub flow_key: String,
    /// The step's path in the flow (`sync.contacts`).
    pub step_path: String,
    /// Stable across retries of the same step: send it to APIs that de-duplicate requests.
    pub idempotency_key: String,
    /// 1 for the first attempt; retries count up.
    pub attempt: u32,
    /// The instance's webhook URLs, as (flow key, URL) pairs.
    pub webhook_urls: Vec<(String, String)>,
    /// The step's connection values (a JSON object), when the step uses a connection.
    pub connection: Option<Value>,
}

impl Context {
    /// A context for tests: fixed ids, first attempt, no connection.
    pub fn test() -> Context {
        Context {
            execution_id: "exe_test".into(),
            instance_id: "ins_test".into(),
            customer_id: "cus_test".into(),
            flow_key: "test".into(),
            step_path: "step".into(),
            idempotency_key: "exe_test:step".into(),
            attempt: 1,
            webhook_urls: Vec::new(),
            connection: None,
        }
    }

    /// The same context with `connection` as the step's connection values.
    pub fn with_connection(mut self, connection: Value) -> Context {
        self.connection = Some(connection);
        self
    }

    /// A string field of the connection values (`api_key`, `base_url`, ...).
    pub fn connection_field(&self, field: &str) -> Option<&str> {
        self.connection.as_ref()?.get(field)?.as_str()
    }

    /// The webhook URL of flow `flow_key`, if the instance has one.
    pub fn webhook_url(&self, flow_key: &str) -> Option<&str> {
        self.webhook_urls.iter().find(|(k, _)| k == flow_key).map(|(_, u)| u.as_str())
    }

    pub(crate) fn from_wit(ctx: wit::Context, connection: Option<Value>) -> Context {
        Context {
            execution_id: ctx.execution_id,
            instance_id: ctx.instance_id,
            customer_id: ctx.customer_id,
            flow_key: ctx.flow_key,
            step_path: ctx.step_path,
            idempotency_key: ctx.idempotency_key,
            attempt: ctx.attempt,
            webhook_urls: ctx.webhook_urls,
            connection,
        }
    }
}
