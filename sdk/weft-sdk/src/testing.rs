//! Test helpers for components, on the native target: a [`FakeHost`] answers the host calls of
//! the current thread (HTTP from a responder closure, logs captured, state in memory), and
//! [`run_action`] calls an action the way the host would.
//!
//! ```ignore
//! let host = FakeHost::new()
//!     .respond(|req| Response::json_ok(&json!({"items": []})))
//!     .install();
//! let out = weft_sdk::testing::run_action::<MyComponent>("list", json!({}))?;
//! assert_eq!(host.requests()[0].url, "https://api.example.com/items");
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use crate::http::{Request, Response};
use crate::log::Level;
use crate::{Component, Context, Error, ErrorKind, PollResult};

type Responder = Rc<dyn Fn(&Request) -> Result<Response, Error>>;

/// A fake of the host's services, for one thread.
pub struct FakeHost {
    responder: Responder,
    logs: Vec<(Level, String)>,
    state: BTreeMap<String, Value>,
    requests: Vec<Request>,
}

thread_local! {
    static HOST: RefCell<Option<FakeHost>> = const { RefCell::new(None) };
}

impl Default for FakeHost {
    fn default() -> FakeHost {
        FakeHost::new()
    }
}

impl FakeHost {
    /// A fake host whose HTTP responder refuses every request (as a connection error).
    pub fn new() -> FakeHost {
        FakeHost {
            responder: Rc::new(|req: &Request| {
                Err(Error::new(
                    ErrorKind::Connection,
                    format!("FakeHost: no responder set for {} {}", req.method, req.url),
                ))
            }),
            logs: Vec::new(),
            state: BTreeMap::new(),
            requests: Vec::new(),
        }
    }

    /// Answers every outbound request with `f`.
    pub fn respond(self, f: impl Fn(&Request) -> Response + 'static) -> FakeHost {
        self.respond_result(move |r| Ok(f(r)))
    }

    /// Answers every outbound request with `f`, which may also fail like the host does
    /// (e.g. `Error::new(ErrorKind::EgressDenied, ..)`).
    pub fn respond_result(mut self, f: impl Fn(&Request) -> Result<Response, Error> + 'static) -> FakeHost {
        self.responder = Rc::new(f);
        self
    }

    /// Starts with `key` set to `value` in state.
    pub fn with_state(mut self, key: &str, value: Value) -> FakeHost {
        self.state.insert(key.to_string(), value);
        self
    }

    /// Makes this the current thread's host until the returned guard is dropped.
    pub fn install(self) -> Installed {
        HOST.with(|h| *h.borrow_mut() = Some(self));
        Installed { _not_send: std::marker::PhantomData }
    }

    pub(crate) fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_string()));
    }

    pub(crate) fn record_request(&mut self, req: &Request) -> Responder {
        self.requests.push(req.clone());
        self.responder.clone()
    }

    pub(crate) fn state_get(&mut self, key: &str) -> Option<String> {
        self.state.get(key).map(Value::to_string)
    }

    pub(crate) fn state_set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let v = serde_json::from_str(value).map_err(|e| Error::internal(format!("state: value is not JSON: {e}")))?;
        self.state.insert(key.to_string(), v);
        Ok(())
    }

    pub(crate) fn state_delete(&mut self, key: &str) {
        self.state.remove(key);
    }
}

/// Runs `f` with the thread's fake host; panics with a hint when none is installed.
pub(crate) fn with_host<R>(f: impl FnOnce(&mut FakeHost) -> R) -> R {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        let host = h.as_mut().expect(
            "a host call (http, log or state) ran natively without a fake host: install one with \
             weft_sdk::testing::FakeHost::new().install()",
        );
        f(host)
    })
}

/// The installed fake host: read what the component did through it. Uninstalls on drop.
pub struct Installed {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Installed {
    /// The log lines written so far.
    pub fn logs(&self) -> Vec<(Level, String)> {
        with_host(|h| h.logs.clone())
    }

    /// The outbound requests sent so far.
    pub fn requests(&self) -> Vec<Request> {
        with_host(|h| h.requests.clone())
    }

    /// The state now.
    pub fn state(&self) -> BTreeMap<String, Value> {
        with_host(|h| h.state.clone())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        HOST.with(|h| *h.borrow_mut() = None);
    }
}

/// Runs action `action` of `C` with `inputs` and a test context ([`Context::test`]). Host
/// calls go to the installed [`FakeHost`].
pub fn run_action<C: Component>(action: &str, inputs: Value) -> Result<Value, Error> {
    C::run_action(action, inputs, &Context::test())
}

/// Runs poll trigger `trigger` of `C` with a test context.
pub fn poll<C: Component>(trigger: &str, inputs: Value, cursor: Option<Value>) -> Result<PollResult, Error> {
    C::poll(trigger, inputs, cursor, &Context::test())
}

/// Runs data source `key` of `C` with a test context.
pub fn data_source<C: Component>(key: &str, inputs: Value) -> Result<Value, Error> {
    C::data_source(key, inputs, &Context::test())
}
