//! One invocation: a fresh wasmtime `Store` with its limits, the host side of the `host`
//! interface, and the mapping of every way a call can end to a result or a `StepError`.
//!
//! Each store gets a memory limiter, an epoch deadline (wall time, checked every tick; the
//! guest yields to the runtime on every tick so it never pins a thread), fuel when the engine
//! meters it, a log budget, and a WASI context that denies everything (no environment, no
//! arguments, no files, no sockets, no inherited stdio; stderr is captured in memory so that a
//! panic's message can be reported).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weft_model::{ErrorKind, LogLevel, StepError};

use crate::bindings::{self, HttpError, HttpErrorKind, HttpRequest, HttpResponse, Level};
use crate::config::{Limits, show_bytes, show_duration};
use crate::outbound::Outbound;
use crate::services::HostServices;

/// Longest log line kept; longer lines are cut (and say so).
const MAX_LOG_LINE: usize = 8 << 10;
/// Stderr kept for trap messages (a panic message and its location).
const STDERR_CAPTURE: usize = 4 << 10;
/// Longest state key a guest may use.
const MAX_STATE_KEY: usize = 512;

/// A limit an invocation ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Memory,
    Time,
    Fuel,
}

/// Caps the guest's linear memories and tables.
pub(crate) struct Limiter {
    memory: usize,
    exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.exceeded = true;
            // An error (not `Ok(false)`) traps at once: a Rust guest would otherwise abort
            // with an opaque `unreachable`.
            wasmtime::bail!("memory limit of {} exceeded", show_bytes(self.memory));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        8
    }
}

/// What the store of one invocation holds.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    services: Arc<dyn HostServices>,
    outbound: Arc<Outbound>,
    limits: Limits,
    deadline: Instant,
    pub(crate) hit: Option<LimitHit>,
    log_lines: usize,
    log_bytes: usize,
    log_notice_sent: bool,
    stderr: MemoryOutputPipe,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl StoreState {
    /// A store for one invocation, limits set, epoch deadline armed.
    pub(crate) fn store(
        engine: &wasmtime::Engine,
        limits: &Limits,
        services: Arc<dyn HostServices>,
        outbound: Arc<Outbound>,
        fuel: bool,
    ) -> Result<Store<StoreState>, StepError> {
        let deadline = Instant::now() + limits.time;
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        // Nothing inherited, no environment, arguments, preopened directories or network.
        // (wasmtime-wasi's defaults already deny sockets; saying so here keeps it true.)
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = StoreState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter { memory: limits.memory, exceeded: false },
            services,
            outbound,
            limits: limits.clone(),
            deadline,
            hit: None,
            log_lines: 0,
            log_bytes: 0,
            log_notice_sent: false,
            stderr,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        match (fuel, limits.fuel) {
            (true, n) => store.set_fuel(n.unwrap_or(u64::MAX)).map_err(|e| internal(format!("setting fuel: {e}")))?,
            (false, Some(_)) => {
                return Err(internal("a fuel limit was asked for, but the host was built without fuel (fuel: true)"));
            }
            (false, None) => {}
        }
        // Every epoch tick: past the deadline → trap; otherwise yield to the runtime, so a busy
        // guest shares its thread and the timeout around the call can fire.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            if Instant::now() >= deadline {
                cx.data_mut().hit = Some(LimitHit::Time);
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Ok(store)
    }

    /// The error for a call that failed with `err` (a trap or a host error).
    pub(crate) fn failure(&self, err: &wasmtime::Error) -> StepError {
        if self.limiter.exceeded {
            return self.limit_error(LimitHit::Memory);
        }
        if let Some(hit) = self.hit {
            return self.limit_error(hit);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => self.limit_error(LimitHit::Fuel),
            Some(Trap::Interrupt) => self.limit_error(LimitHit::Time),
            Some(trap) => {
                let mut message = format!("the component trapped: {trap}");
                if matches!(trap, Trap::MemoryOutOfBounds) {
                    // Rust guests keep their stack at the bottom of linear memory: unbounded
                    // recursion runs off its end.
                    message.push_str(" (unbounded recursion overflowing the stack ends like this too)");
                }
                let stderr = self.stderr.contents();
                let text = String::from_utf8_lossy(&stderr);
                let text: Vec<&str> =
                    text.lines().filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE")).collect();
                let text = text.join("\n");
                let text = text.trim();
                if !text.is_empty() {
                    message.push_str(&format!(" (stderr: {text})"));
                }
                StepError::new(ErrorKind::Component, message)
            }
            None => StepError::new(ErrorKind::Component, format!("the component failed: {err:#}")),
        }
    }

    pub(crate) fn limit_error(&self, hit: LimitHit) -> StepError {
        let message = match hit {
            LimitHit::Memory => {
                format!("the component exceeded its memory limit of {}", show_bytes(self.limits.memory))
            }
            LimitHit::Time => format!("the component exceeded its time limit of {}", show_duration(self.limits.time)),
            LimitHit::Fuel => format!(
                "the component exceeded its fuel limit of {}",
                self.limits.fuel.map(|f| f.to_string()).unwrap_or_else(|| "unlimited".into())
            ),
        };
        StepError::new(ErrorKind::Limit, message)
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

fn internal(message: impl Into<String>) -> StepError {
    StepError::new(ErrorKind::Component, message)
}

/// The output-size check: `size` bytes of JSON returned.
pub(crate) fn check_output(limits: &Limits, size: usize) -> Result<(), StepError> {
    if size > limits.max_output {
        return Err(StepError::new(
            ErrorKind::Limit,
            format!(
                "the component's output ({size} bytes) exceeds its output limit of {}",
                show_bytes(limits.max_output)
            ),
        ));
    }
    Ok(())
}

/// Parses JSON text the guest returned.
pub(crate) fn parse_output(what: &str, text: &str) -> Result<Value, StepError> {
    serde_json::from_str(text).map_err(|e| internal(format!("the component returned {what} that is not JSON: {e}")))
}

/// A guest-reported error as a step error.
pub(crate) fn guest_error(e: bindings::Error) -> StepError {
    use bindings::ErrorKind as G;
    let (kind, tag) = match e.kind {
        G::Input => (ErrorKind::Input, None),
        G::Connection => (ErrorKind::Connection, None),
        G::Timeout => (ErrorKind::Timeout, None),
        G::RateLimited => (ErrorKind::RateLimited, None),
        G::ServerError => (ErrorKind::ServerError, None),
        G::HttpStatus => (ErrorKind::HttpStatus, None),
        // No step error kind of their own: kept in the details for `on_error` handlers.
        G::Auth => (ErrorKind::HttpStatus, Some("auth")),
        G::NotFound => (ErrorKind::HttpStatus, Some("not_found")),
        G::EgressDenied => (ErrorKind::EgressDenied, None),
        G::Internal => (ErrorKind::Component, None),
    };
    let mut details = e.details.map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d)));
    if let Some(tag) = tag {
        match &mut details {
            Some(Value::Object(m)) => {
                m.entry("reason").or_insert_with(|| Value::String(tag.into()));
            }
            Some(other) => details = Some(serde_json::json!({"reason": tag, "details": other.take()})),
            None => details = Some(serde_json::json!({"reason": tag})),
        }
    }
    let mut err = StepError::new(kind, e.message);
    err.details = details;
    err.retry_after_ms = e.retry_after_ms;
    err
}

impl bindings::weft::component::types::Host for StoreState {}

impl bindings::weft::component::host::Host for StoreState {
    async fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" … [line cut at 8 KiB]");
        }
        if self.log_lines >= self.limits.max_log_lines || self.log_bytes + message.len() > self.limits.max_log_bytes {
            if !self.log_notice_sent {
                self.log_notice_sent = true;
                self.services.log(
                    LogLevel::Warn,
                    format!(
                        "log limit reached ({} lines or {} per call): further lines of this call are dropped",
                        self.limits.max_log_lines,
                        show_bytes(self.limits.max_log_bytes)
                    ),
                );
            }
            return;
        }
        self.log_lines += 1;
        self.log_bytes += message.len();
        self.services.log(level, message);
    }

    async fn http_send(&mut self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let remaining = self.remaining();
        let asked = request.timeout_ms.map(|ms| Duration::from_millis(ms.into()));
        let timeout = asked.map_or(remaining, |a| a.min(remaining));
        if timeout.is_zero() {
            return Err(HttpError {
                kind: HttpErrorKind::Timeout,
                message: "no time left before the component's time limit".into(),
            });
        }
        self.outbound.clone().send(request, timeout, self.limits.max_http_body).await
    }

    async fn state_get(&mut self, key: String) -> Result<Option<String>, String> {
        check_key(&key)?;
        Ok(self.services.state_get(&key).await?.map(|v| v.to_string()))
    }

    async fn state_set(&mut self, key: String, value: String) -> Result<(), String> {
        check_key(&key)?;
        let value: Value =
            serde_json::from_str(&value).map_err(|e| format!("the value of '{key}' is not JSON: {e}"))?;
        self.services.state_set(&key, value).await
    }

    async fn state_delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        self.services.state_delete(&key).await
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_STATE_KEY {
        return Err(format!("a state key must have 1 to {MAX_STATE_KEY} bytes"));
    }
    Ok(())
}
