//! [`WasmHost`] (one wasmtime engine, its pool, its runtime, its cache) and
//! [`LoadedComponent`] (a validated, pre-instantiated component and its description).
//!
//! Threading: guests never run on a thread that serves the caller's runtime. The host owns a
//! multi-thread tokio runtime; every `load` compiles there (blocking pool). An invocation from a
//! worker thread of a multi-thread runtime starts on that thread after `block_in_place` has
//! handed the thread's other tasks to another worker, and runs there until the guest first
//! yields; from then on (and for callers on other runtimes, from the start) it is a task on the
//! host's runtime that the caller awaits. A busy guest yields at every epoch tick, so it ends up
//! sharing the host's threads with other guests, and the caller's runtime (HTTP serving, the
//! worker's database work) keeps its threads. A semaphore sized like the instance pool sits in
//! front of instantiation: when every slot is taken, invocations wait instead of failing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use weft_model::{ErrorKind, StepError};

use crate::bindings::{self, ComponentInfo};
use crate::cache::{DiskCache, LoadOutcome};
use crate::config::{Limits, WasmHostConfig};
use crate::invoke::{StoreState, check_output, guest_error, parse_output};
use crate::outbound::Outbound;
use crate::services::HostServices;
use crate::{WasmError, validate};

/// Where and why a component is called (the WIT `context` record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallContext {
    pub execution_id: String,
    pub instance_id: String,
    pub customer_id: String,
    pub flow_key: String,
    pub step_path: String,
    pub idempotency_key: String,
    pub attempt: u32,
    /// (flow key, webhook URL) of the instance's flows.
    pub webhook_urls: Vec<(String, String)>,
}

impl CallContext {
    fn to_wit(&self) -> bindings::Context {
        bindings::Context {
            execution_id: self.execution_id.clone(),
            instance_id: self.instance_id.clone(),
            customer_id: self.customer_id.clone(),
            flow_key: self.flow_key.clone(),
            step_path: self.step_path.clone(),
            idempotency_key: self.idempotency_key.clone(),
            attempt: self.attempt,
            webhook_urls: self.webhook_urls.clone(),
        }
    }
}

/// The data of one call: inputs, the step's connection values, the context.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The inputs (a JSON object).
    pub inputs: Value,
    /// The connection's values, when the step uses a connection.
    pub connection: Option<Value>,
    pub context: CallContext,
}

/// What a poll trigger returned.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOutput {
    pub records: Vec<Value>,
    pub next_cursor: Option<Value>,
}

/// Counters of the compiled-component cache since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub recompiled: u64,
}

/// Owns the runtime guests run on; shuts it down without blocking (allowed anywhere, also
/// inside another runtime).
struct RuntimeOwner(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeOwner {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

struct Shared {
    engine: Engine,
    linker: Linker<StoreState>,
    permits: Arc<Semaphore>,
    /// Held for its `Drop`: the runtime lives as long as the host and its loaded components.
    _runtime: RuntimeOwner,
    handle: tokio::runtime::Handle,
    cache: Option<DiskCache>,
    outbound: Arc<Outbound>,
    config: WasmHostConfig,
    ticker_stop: Arc<AtomicBool>,
    hits: AtomicU64,
    misses: AtomicU64,
    recompiled: AtomicU64,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// The WebAssembly host: loads components and runs their calls in fresh sandboxes.
#[derive(Clone)]
pub struct WasmHost {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WasmHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmHost").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl WasmHost {
    /// Builds the engine (component model, epoch interruption, pooling allocator, fuel if
    /// configured), starts the epoch ticker and the guests' runtime, opens the cache.
    pub fn new(config: WasmHostConfig) -> Result<WasmHost, WasmError> {
        let setup = |e: &dyn std::fmt::Display| WasmError::Setup(e.to_string());
        let n = config.max_concurrent.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .max_core_instances_per_component(16)
            .total_memories(n * 2)
            .max_memories_per_component(2)
            .total_tables(n * 16)
            .max_tables_per_component(16)
            .total_stacks(n)
            .max_memory_size(config.max_memory);
        if config.keep_resident > 0 && swap_is_off() {
            pool.pagemap_scan(Enabled::Auto)
                .linear_memory_keep_resident(config.keep_resident)
                .table_keep_resident(config.keep_resident.min(1 << 20));
        }
        let mut wc = Config::new();
        wc.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(config.fuel)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wc).map_err(|e| setup(&e))?;

        let mut linker = Linker::<StoreState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| setup(&e))?;
        bindings::Component::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |s| s)
            .map_err(|e| setup(&e))?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads.max(1))
            .thread_name("weft-wasm")
            // A busy guest is one scheduler tick per epoch (10 ms). Tokio's defaults look at
            // new tasks (spawned from outside) and at timers/IO only every 31–61 ticks: with
            // every thread busy with guests, a new call or an HTTP response would wait up to
            // 0.6 s. Look every other tick instead.
            .global_queue_interval(2)
            .event_interval(2)
            .enable_all()
            .build()
            .map_err(|e| setup(&e))?;
        let handle = runtime.handle().clone();

        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = ticker_stop.clone();
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("weft-wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| setup(&e))?;
        }

        let cache = match &config.cache_dir {
            Some(dir) => Some(
                DiskCache::new(dir, &engine)
                    .map_err(|e| WasmError::Setup(format!("cache directory {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        Ok(WasmHost {
            shared: Arc::new(Shared {
                engine,
                linker,
                permits: Arc::new(Semaphore::new(n as usize)),
                _runtime: RuntimeOwner(Some(runtime)),
                handle,
                cache,
                outbound: Arc::new(Outbound::new(config.egress.clone())),
                config,
                ticker_stop,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                recompiled: AtomicU64::new(0),
            }),
        })
    }

    /// Counters of the compiled-component cache.
    pub fn cache_stats(&self) -> CacheStats {
        let s = &self.shared;
        CacheStats {
            hits: s.hits.load(Ordering::Relaxed),
            misses: s.misses.load(Ordering::Relaxed),
            recompiled: s.recompiled.load(Ordering::Relaxed),
        }
    }

    /// The runtime guests run on: an invocation that yields (or one called from a
    /// current-thread runtime) continues as a task there; its timers and IO are the guests'.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.shared.handle
    }

    /// The cache file `bytes` compile to (whether or not it exists); `None` without a cache.
    pub fn cache_entry(&self, bytes: &[u8]) -> Option<std::path::PathBuf> {
        self.shared.cache.as_ref().map(|c| c.entry_for(bytes))
    }

    /// Validates and prepares a component: checks it is a component (not a core module, not
    /// garbage), compiles it (or loads it from the cache), checks it implements the Weft world,
    /// calls `describe()` in a sandbox and validates the description.
    pub async fn load(&self, bytes: &[u8]) -> Result<LoadedComponent, WasmError> {
        check_header(bytes)?;
        let shared = self.shared.clone();
        let owned = bytes.to_vec();
        let compiled = shared
            .handle
            .spawn_blocking({
                let shared = shared.clone();
                move || shared.compile(&owned)
            })
            .await
            .map_err(|e| WasmError::Compile(format!("the compiler task failed: {e}")))??;
        let (component, outcome) = compiled;
        let pre = shared.linker.instantiate_pre(&component).map_err(|e| WasmError::WrongWorld(format!("{e:#}")))?;
        let pre = bindings::ComponentPre::new(pre).map_err(|e| WasmError::WrongWorld(format!("{e:#}")))?;
        let loaded = LoadedComponent {
            inner: Arc::new(Inner { shared: shared.clone(), pre: pre.clone(), info: None, outcome }),
        };
        let limits = shared.config.describe_limits.clone();
        let services: Arc<dyn HostServices> = Arc::new(crate::services::MemoryServices::new("describe"));
        let info = loaded
            .call(&limits, services, |store, guest| Box::pin(guest.call_describe(store)))
            .await
            .map_err(|e| WasmError::Describe(e.message))?;
        let problems = validate::check(&info);
        if !problems.is_empty() {
            return Err(WasmError::InvalidDescription(problems));
        }
        Ok(LoadedComponent { inner: Arc::new(Inner { shared, pre, info: Some(info), outcome }) })
    }
}

/// `\0asm` + version: 1 for core modules, `0d 00 01 00` for components.
fn check_header(bytes: &[u8]) -> Result<(), WasmError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(WasmError::NotWasm(format!(
            "the {} bytes do not start with the WebAssembly magic number (\\0asm)",
            bytes.len()
        )));
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(WasmError::CoreModule),
        [0x0d, 0, 1, 0] => Ok(()),
        [a, b, c, d] => Err(WasmError::NotWasm(format!(
            "unknown WebAssembly version/layer {a:02x} {b:02x} {c:02x} {d:02x} (a component is 0d 00 01 00)"
        ))),
        _ => unreachable!("four bytes"),
    }
}

impl Shared {
    fn compile(&self, bytes: &[u8]) -> Result<(Component, LoadOutcome), WasmError> {
        let compile = || Component::new(&self.engine, bytes).map_err(|e| format!("{e:#}"));
        let Some(cache) = &self.cache else {
            return Ok((compile().map_err(WasmError::Compile)?, LoadOutcome::Compiled));
        };
        let (component, outcome) = cache.load(&self.engine, bytes, compile).map_err(WasmError::Compile)?;
        let counter = match outcome {
            LoadOutcome::CacheHit => &self.hits,
            LoadOutcome::Recompiled => &self.recompiled,
            LoadOutcome::CacheMiss | LoadOutcome::Compiled => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok((component, outcome))
    }
}

struct Inner {
    shared: Arc<Shared>,
    pre: bindings::ComponentPre<StoreState>,
    /// The validated description; `None` only in the instance `WasmHost::load` calls
    /// `describe()` through.
    info: Option<ComponentInfo>,
    outcome: LoadOutcome,
}

/// A future borrowing the store and the instance's exports.
type CallFuture<'a, R> = Pin<Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>>;

/// A validated component, ready to be invoked any number of times (cheap to clone).
#[derive(Clone)]
pub struct LoadedComponent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("key", &self.inner.info.as_ref().map(|i| &i.key))
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    /// The validated description.
    pub fn info(&self) -> &ComponentInfo {
        self.inner.info.as_ref().expect("a loaded component has its description")
    }

    /// Whether the load compiled the component or found it in the cache.
    pub fn load_outcome(&self) -> LoadOutcome {
        self.inner.outcome
    }

    /// Runs action `action`.
    pub async fn invoke_action(
        &self,
        action: &str,
        call: Invocation,
        limits: &Limits,
        services: Arc<dyn HostServices>,
    ) -> Result<Value, StepError> {
        if !self.info().actions.iter().any(|a| a.key == action) {
            return Err(self.unknown("action", action));
        }
        let action = action.to_string();
        let (inputs, connection, ctx) = wire(&call);
        let out = self
            .call(limits, services, move |store, guest| {
                Box::pin(async move { guest.call_run_action(store, &action, &inputs, connection.as_ref(), &ctx).await })
            })
            .await?
            .map_err(guest_error)?;
        check_output(limits, out.len())?;
        parse_output("an output", &out)
    }

    /// Runs poll trigger `trigger` from `cursor`.
    pub async fn poll(
        &self,
        trigger: &str,
        call: Invocation,
        cursor: Option<&Value>,
        limits: &Limits,
        services: Arc<dyn HostServices>,
    ) -> Result<PollOutput, StepError> {
        if !self.info().triggers.iter().any(|t| t.key == trigger) {
            return Err(self.unknown("trigger", trigger));
        }
        let trigger = trigger.to_string();
        let cursor = cursor.map(Value::to_string);
        let (inputs, connection, ctx) = wire(&call);
        let out = self
            .call(limits, services, move |store, guest| {
                Box::pin(async move {
                    guest.call_poll(store, &trigger, &inputs, connection.as_ref(), cursor.as_ref(), &ctx).await
                })
            })
            .await?
            .map_err(guest_error)?;
        let size = out.records.iter().map(String::len).sum::<usize>() + out.next_cursor.as_ref().map_or(0, String::len);
        check_output(limits, size)?;
        Ok(PollOutput {
            records: out.records.iter().map(|r| parse_output("a record", r)).collect::<Result<_, _>>()?,
            next_cursor: out.next_cursor.as_ref().map(|c| parse_output("a cursor", c)).transpose()?,
        })
    }

    /// Runs data source `key`.
    pub async fn data_source(
        &self,
        key: &str,
        call: Invocation,
        limits: &Limits,
        services: Arc<dyn HostServices>,
    ) -> Result<Value, StepError> {
        if !self.info().data_sources.iter().any(|d| d.key == key) {
            return Err(self.unknown("data source", key));
        }
        let key = key.to_string();
        let (inputs, connection, ctx) = wire(&call);
        let out = self
            .call(limits, services, move |store, guest| {
                Box::pin(async move { guest.call_data_source(store, &key, &inputs, connection.as_ref(), &ctx).await })
            })
            .await?
            .map_err(guest_error)?;
        check_output(limits, out.len())?;
        parse_output("a data source value", &out)
    }

    fn unknown(&self, what: &str, key: &str) -> StepError {
        StepError::new(ErrorKind::Input, format!("component '{}' has no {what} '{key}'", self.info().key))
    }

    /// Runs `f` against a fresh instance in a fresh store, within `limits`, off the caller's
    /// runtime; maps traps and limits to step errors.
    ///
    /// Called from a worker thread of a multi-thread runtime (the worker's, in `weft serve`), the
    /// call starts on the caller's thread inside `block_in_place` — the runtime first hands that
    /// thread's other tasks to another thread, so it keeps serving — in the host runtime's
    /// context, and runs there until the guest first yields (at an epoch tick, or waiting on a
    /// host call): most calls end before that, without the two thread hand-offs of a task on the
    /// host's runtime. A call that yields goes on as such a task, where busy guests share the
    /// host's threads. Called from anywhere else, it is such a task from the start. Either way it
    /// first waits for an instance slot, without holding a thread.
    async fn call<R, F>(&self, limits: &Limits, services: Arc<dyn HostServices>, f: F) -> Result<R, StepError>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a mut Store<StoreState>, &'a bindings::Guest) -> CallFuture<'a, R> + Send + 'static,
    {
        let shutting_down = || StepError::new(ErrorKind::Component, "the WebAssembly host is shutting down");
        let panicked = || StepError::new(ErrorKind::Component, "the WebAssembly host task panicked");
        let shared = &self.inner.shared;
        let permit = shared.permits.clone().acquire_owned().await.map_err(|_| shutting_down())?;
        let inner = self.inner.clone();
        let limits = limits.clone();
        let mut run: Pin<Box<dyn Future<Output = Result<R, StepError>> + Send>> =
            Box::pin(async move { inner.run(&limits, services, f).await });
        let on_worker_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if on_worker_thread {
            let first = tokio::task::block_in_place(|| {
                let _context = shared.handle.enter();
                // No waker is needed: a call that is not done now is polled again at once, by
                // its task below.
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.as_mut().poll(&mut cx)))
            });
            match first {
                Ok(std::task::Poll::Ready(r)) => return r,
                Ok(std::task::Poll::Pending) => {}
                Err(_) => return Err(panicked()),
            }
        }
        let task = shared.handle.spawn(async move {
            let _permit = permit;
            run.await
        });
        let abort = AbortOnDrop(task.abort_handle());
        let result = task.await;
        drop(abort);
        match result {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(panicked()),
            Err(_) => Err(shutting_down()),
        }
    }
}

/// Whether the machine has no swap space (`SwapTotal: 0 kB`), the condition for resetting
/// pooled memory in place (see [`WasmHostConfig::keep_resident`]). Unreadable: assume swap.
fn swap_is_off() -> bool {
    std::fs::read_to_string("/proc/meminfo").is_ok_and(|m| {
        m.lines().any(|l| l.strip_prefix("SwapTotal:").is_some_and(|v| v.split_whitespace().next() == Some("0")))
    })
}

/// Aborts the invocation's task when the caller stops waiting for it (the guest yields every
/// epoch tick, so the abort takes effect promptly).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn wire(call: &Invocation) -> (String, Option<String>, bindings::Context) {
    (call.inputs.to_string(), call.connection.as_ref().map(Value::to_string), call.context.to_wit())
}

impl Inner {
    async fn run<R, F>(&self, limits: &Limits, services: Arc<dyn HostServices>, f: F) -> Result<R, StepError>
    where
        F: for<'a> FnOnce(&'a mut Store<StoreState>, &'a bindings::Guest) -> CallFuture<'a, R>,
    {
        let shared = &self.shared;
        let mut limits = limits.clone();
        limits.memory = limits.memory.min(shared.config.max_memory);
        let mut store =
            StoreState::store(&shared.engine, &limits, services, shared.outbound.clone(), shared.config.fuel)?;
        // A backstop for a guest blocked in a host call: the epoch deadline handles guest code.
        let backstop = limits.time + shared.config.epoch_tick * 2 + Duration::from_millis(50);
        let outcome = tokio::time::timeout(backstop, async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            f(&mut store, instance.weft_component_guest()).await
        })
        .await;
        match outcome {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(store.data().failure(&e)),
            Err(_) => Err(store.data().limit_error(crate::invoke::LimitHit::Time)),
        }
    }
}
