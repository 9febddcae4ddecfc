//! [`HostServices`]: what the caller (the worker) provides to one invocation — where log lines
//! go and the persisted state of the component's scope. The host never decides the scope: it
//! passes the guest's keys to the services it was given for this call, so a component cannot
//! name another instance's state.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;
use weft_components::BoxFuture;
use weft_model::LogLevel;

/// The services of one invocation. Object safe; async methods return boxed futures, as
/// `weft_components::Component` does.
pub trait HostServices: Send + Sync {
    /// A log line of the component (already capped in number and size by the host).
    fn log(&self, level: LogLevel, message: String);
    /// Reads `key` of the component's state.
    fn state_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, String>>;
    /// Writes `key` of the component's state.
    fn state_set<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), String>>;
    /// Deletes `key` of the component's state.
    fn state_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// In-memory services for tests and tools: keeps log lines and state, scoped by a name.
#[derive(Debug, Default)]
pub struct MemoryServices {
    /// The scope this instance stands for (e.g. `instance:ins_1`), recorded with every state
    /// access so tests can check which scope a component's calls went to.
    pub scope: String,
    logs: Mutex<Vec<(LogLevel, String)>>,
    state: Mutex<BTreeMap<String, Value>>,
    accesses: Mutex<Vec<String>>,
}

impl MemoryServices {
    pub fn new(scope: impl Into<String>) -> MemoryServices {
        MemoryServices { scope: scope.into(), ..MemoryServices::default() }
    }

    /// The log lines received so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs.lock().expect("lock").clone()
    }

    /// The state now.
    pub fn state(&self) -> BTreeMap<String, Value> {
        self.state.lock().expect("lock").clone()
    }

    /// Sets `key` directly (test setup).
    pub fn put(&self, key: &str, value: Value) {
        self.state.lock().expect("lock").insert(key.to_string(), value);
    }

    /// Every state access so far, as `<op> <scope>/<key>`.
    pub fn accesses(&self) -> Vec<String> {
        self.accesses.lock().expect("lock").clone()
    }

    fn record(&self, op: &str, key: &str) {
        self.accesses.lock().expect("lock").push(format!("{op} {}/{key}", self.scope));
    }
}

impl HostServices for MemoryServices {
    fn log(&self, level: LogLevel, message: String) {
        self.logs.lock().expect("lock").push((level, message));
    }

    fn state_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, String>> {
        self.record("get", key);
        let v = self.state.lock().expect("lock").get(key).cloned();
        Box::pin(async move { Ok(v) })
    }

    fn state_set<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), String>> {
        self.record("set", key);
        self.state.lock().expect("lock").insert(key.to_string(), value);
        Box::pin(async { Ok(()) })
    }

    fn state_delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), String>> {
        self.record("delete", key);
        self.state.lock().expect("lock").remove(key);
        Box::pin(async { Ok(()) })
    }
}
