//! Driving one execution: the loop that feeds the engine events and carries out its commands.

use crate::cache::{FlowCache, LoadError, LoadedVersion};
use crate::custom::{CallIds, CustomComponents, component_scope};
use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};
use weft_components::{ActionContext, LogSink, Registry};
use weft_db::{
    Checkpoint, Db, DbError, Execution, ExecutionStatus, Finish, Instance, LogRow, Notification, ScopeKind, StateError,
    StateOp, StateScope, StateWrite, StepRow,
};
use weft_flow::{CallId, Command, CompiledFlow, Event, Run, RunContext, RunStatus, StepRecord, advance, resume};
use weft_model::redact::{REDACTED, Redactor};
use weft_model::{ActionSpec, ErrorKind, LogLevel, StepError};
use weft_wasm::{HostServices, Limits, WasmHostConfig};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Limits and identity of this runner.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this process as lease owner; unique per process.
    pub node_id: String,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// Wall-clock bound of one execution.
    pub max_duration: Duration,
    /// Log lines stored per execution; further lines are dropped (and that is said once).
    pub max_log_lines: usize,
    /// Largest JSON output one step may produce.
    pub max_step_output_bytes: usize,
    /// How deep `call_flow` may nest.
    pub max_call_depth: u32,
    /// Executions this runner drives at once.
    pub concurrency: usize,
    /// How often an idle runner looks for queued work it was not told about.
    pub poll_interval: Duration,
    /// The same while a database listener (PostgreSQL `LISTEN`) wakes the runner whenever work
    /// is queued anywhere: then the poll only catches lost notifications, expired leases of
    /// dead runners and work that became due later, so it can be slow and keep idle nodes
    /// from loading the database.
    pub listening_poll_interval: Duration,
    /// On shutdown, how long [`Worker::run_loop`] waits for executions in flight before it
    /// stops them and hands their leases back for another node to resume.
    pub drain_timeout: Duration,
    /// The sandbox custom components run in (its egress guard decides what they may reach).
    pub wasm: WasmHostConfig,
    /// What one custom component invocation may use.
    pub component_limits: Limits,
    /// The base URL webhooks are reached at (`weft serve --public-url`): custom components get
    /// their instance's webhook URLs under it, to register callbacks. `None`: they get none.
    pub public_url: Option<String>,
}

impl WorkerConfig {
    pub fn new(node_id: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            node_id: node_id.into(),
            lease: Duration::from_secs(30),
            max_duration: Duration::from_secs(3600),
            max_log_lines: 10_000,
            max_step_output_bytes: 8 << 20,
            max_call_depth: 8,
            concurrency: 256,
            poll_interval: Duration::from_secs(1),
            listening_poll_interval: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(25),
            wasm: WasmHostConfig::default(),
            component_limits: Limits::default(),
            public_url: None,
        }
    }
}

/// How a sync webhook is answered: by a `respond` step, or by the flow's end.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    Responded { status: u16, headers: Map<String, Value>, body: Value },
    Finished { status: ExecutionStatus, result: Option<Value>, error: Option<Value> },
}

/// A runner: cheap to clone, shared by the HTTP layer (dispatch) and the claim loop.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Gives steps OAuth access tokens, refreshed single-flight across nodes.
    oauth: crate::oauth::OAuth,
    registry: Arc<Registry>,
    custom: CustomComponents,
    cache: FlowCache,
    cfg: WorkerConfig,
    /// Woken when work was queued in this process, so the claim loop need not wait for its poll.
    wake: Notify,
    /// Executions this process drives now: their leases are renewed by the heartbeat.
    inflight: Mutex<Inflight>,
    slots: Arc<Semaphore>,
    /// Set when a draining runner gives up on what is still running: each execution stops
    /// where it is and hands its lease back (see [`Worker::run_loop`]).
    abandon: watch::Sender<bool>,
}

#[derive(Default)]
struct Inflight {
    ids: HashSet<String>,
    /// Whether a heartbeat task is running. It runs while `ids` is non-empty, whichever way the
    /// executions came in: a process that only dispatches (an API-only node) must renew the
    /// leases of what it runs too, or a runner node would take them over mid-run.
    heartbeat: bool,
}

/// Keeps an execution in the heartbeat's set for as long as it is driven. Removing it on drop
/// (not after the drive returns) matters when the driving task is aborted: a lease renewed
/// forever would keep the execution from ever being taken over.
struct InflightGuard {
    worker: Worker,
    id: String,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.worker.inner.inflight.lock().expect("inflight lock").ids.remove(&self.id);
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Worker {
    pub fn new(db: Db, registry: Arc<Registry>, cfg: WorkerConfig) -> Worker {
        // The `state.*` actions are served here (see `state_call`), not by a registered component.
        let mut actions = registry.action_specs();
        actions.extend(weft_components::state::state_specs());
        actions.sort_by(|a, b| a.name.cmp(&b.name));
        let cache = FlowCache::new(actions);
        let slots = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        let custom = CustomComponents::new(db.clone(), cfg.wasm.clone(), cfg.component_limits.clone());
        // Building fails only on a broken TLS setup, as for the built-in HTTP component.
        let oauth = crate::oauth::OAuth::new(db.clone(), cfg.wasm.egress.clone(), cfg.node_id.clone())
            .expect("the OAuth HTTP client builds");
        Worker {
            inner: Arc::new(Inner {
                db,
                oauth,
                registry,
                custom,
                cache,
                cfg,
                wake: Notify::new(),
                inflight: Mutex::new(Inflight::default()),
                slots,
                abandon: watch::Sender::new(false),
            }),
        }
    }

    /// Seals the secret and connection values that instances still hold in plaintext (stored
    /// before secrets were sealed, migration 0011), instance by instance, each by compare-and-set.
    /// Returns how many instances it sealed values of. An instance whose version cannot be
    /// loaded is left alone and logged.
    pub async fn seal_plain_secrets(&self) -> Result<usize, DbError> {
        let db = &self.inner.db;
        if db.vault().is_none() {
            return Ok(0);
        }
        let (mut after, mut sealed) = (String::new(), 0);
        loop {
            let page = db.instances_without_sealed_secrets(&after, 200).await?;
            for (org, id, integration, version) in &page {
                match self.load_version(org, integration, *version).await {
                    Ok(loaded) => {
                        let keys = weft_model::config::secret_keys(&loaded.def);
                        if !keys.is_empty() && db.seal_plain_secrets(org, id, &keys).await? {
                            sealed += 1;
                        }
                    }
                    Err(e) => tracing::warn!(instance = %id, error = %e, "cannot check the instance's secrets"),
                }
            }
            match page.last() {
                Some((_, id, _, _)) if page.len() == 200 => after = id.clone(),
                _ => return Ok(sealed),
            }
        }
    }

    /// This node's OAuth 2.0 client (authorization, callback, tokens).
    pub fn oauth(&self) -> &crate::oauth::OAuth {
        &self.inner.oauth
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.inner.cfg
    }

    pub fn flow_cache(&self) -> &FlowCache {
        &self.inner.cache
    }

    /// The organizations' custom (WebAssembly) components.
    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn custom_components(&self) -> &CustomComponents {
        &self.inner.custom
    }

    /// An integration version, parsed, validated against the built-in actions and those of the
    /// component versions it pins, and compiled (cached: versions are immutable).
    pub async fn load_version(
        &self,
        org: &str,
        integration_id: &str,
        version: i64,
    ) -> Result<Arc<LoadedVersion>, LoadError> {
        self.inner.cache.load(&self.inner.db, &self.inner.custom, org, integration_id, version).await
    }

    /// What a draft of the organization is validated against: the built-in actions and the
    /// actions, triggers and data sources of its custom components at their latest versions.
    pub async fn operations_of(&self, org: &str) -> Result<Vec<ActionSpec>, DbError> {
        let mut actions = self.inner.cache.actions().to_vec();
        actions.extend(self.inner.custom.latest_operations(org).await?);
        Ok(actions)
    }

    /// The components this runner runs actions with (the scheduler's poll triggers use it too,
    /// so the same egress policy applies).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Drives an execution that was created already claimed by this node (`claimed_by` =
    /// node id). The receiver yields the sync webhook answer as soon as it is known. `instance`
    /// is the execution's instance when the caller has just read it (saves a read on the hot
    /// path); `None` reads it.
    pub fn dispatch(&self, exe: Execution, instance: Option<Instance>) -> oneshot::Receiver<SyncOutcome> {
        let (tx, rx) = oneshot::channel();
        let worker = self.clone();
        tokio::spawn(async move { worker.execute_in_slot(exe, Some(tx), None, instance).await });
        rx
    }

    /// Tells the claim loop that queued work exists.
    pub fn notify(&self) {
        self.inner.wake.notify_one();
    }

    /// Claims and drives queued executions until `shutdown` resolves. On shutdown it stops
    /// claiming and waits for every execution in flight in this process (dispatched ones too),
    /// for at most [`WorkerConfig::drain_timeout`]; what is still running then is stopped and
    /// its lease handed back, so another node resumes it at once from its last checkpoint.
    /// Leases are renewed by a heartbeat that runs whenever executions are in flight, with or
    /// without this loop.
    ///
    /// On PostgreSQL it wakes on `weft_queued` notifications from any node (one listener per
    /// loop) and polls only slowly as a fallback.
    pub async fn run_loop(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let listener = match self.inner.db.listen().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for queued work; polling instead");
                None
            }
        };
        let poll = match &listener {
            Some(_) => self.inner.cfg.listening_poll_interval.max(self.inner.cfg.poll_interval),
            None => self.inner.cfg.poll_interval,
        };
        // A task of its own owns the listener: `Listener::recv` must not be raced in the
        // `select!` below, where losing the race could drop a half-read notification.
        let forward = listener.map(|mut l| {
            let worker = self.clone();
            tokio::spawn(async move {
                loop {
                    match l.recv().await {
                        Notification::Queued | Notification::Lagged => worker.inner.wake.notify_one(),
                        Notification::Finished(_) => {}
                    }
                }
            })
        });
        loop {
            let free = self.inner.slots.available_permits().min(64) as u32;
            let mut claimed = 0;
            if free > 0 {
                let lease = self.inner.cfg.lease.as_millis() as i64;
                match self.inner.db.claim_executions(&self.inner.cfg.node_id, free, lease, now_ms()).await {
                    Ok(batch) => {
                        claimed = batch.len();
                        for exe in batch {
                            // Take the slot before spawning: the drain below must see every
                            // claimed execution, including ones whose task has not run yet.
                            let slot = match self.inner.slots.clone().try_acquire_owned() {
                                Ok(slot) => slot,
                                Err(_) => self.inner.slots.clone().acquire_owned().await.expect("slots never close"),
                            };
                            let worker = self.clone();
                            tokio::spawn(async move {
                                worker.execute_in_slot(exe, None, Some(slot), None).await;
                                // A claimed execution ending frees a slot, and may unblock queued
                                // work held back by a queue mode or limit: look again at once.
                                worker.notify();
                            });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "claiming executions failed"),
                }
            }
            if claimed as u32 == free && free > 0 {
                continue; // there may be more
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        if let Some(f) = forward {
            f.abort();
        }
        let all = self.inner.cfg.concurrency.max(1) as u32;
        let drained = tokio::time::timeout(self.inner.cfg.drain_timeout, self.inner.slots.acquire_many(all)).await;
        if drained.is_err() {
            let left = self.inner.inflight.lock().expect("inflight lock").ids.len();
            tracing::warn!(executions = left, "drain timeout reached: handing the executions in flight back");
            self.inner.abandon.send_replace(true);
            // Each execution hands its own lease back as it stops (see `execute_in_slot`).
            let _drained = self.inner.slots.acquire_many(all).await;
            if let Err(e) = self.inner.db.notify_queued().await {
                tracing::warn!(error = %e, "cannot tell other runners about the handed-back executions");
            }
        }
    }

    /// Renews the leases of every execution in flight, every third of a lease, in one statement;
    /// ends when none is left (the next execution starts a new one).
    async fn heartbeat(self) {
        let every = self.inner.cfg.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let before: HashSet<String> = {
                let mut inflight = self.inner.inflight.lock().expect("inflight lock");
                if inflight.ids.is_empty() {
                    inflight.heartbeat = false;
                    return;
                }
                // One whose creation has not committed yet has no row to renew (its fresh lease
                // is good for a whole lease anyway), so it is not expected among the renewed.
                inflight.ids.iter().filter(|id| !self.inner.db.is_creating(id)).cloned().collect()
            };
            let lease = self.inner.cfg.lease.as_millis() as i64;
            match self.inner.db.renew_leases(&self.inner.cfg.node_id, lease, now_ms()).await {
                Ok(renewed) => {
                    // Not renewed and still driven here (not just finished): taken over by another
                    // runner after the lease expired. Its next write fails and stops it.
                    let renewed: HashSet<String> = renewed.into_iter().collect();
                    let inflight = self.inner.inflight.lock().expect("inflight lock");
                    for id in before.iter().filter(|id| !renewed.contains(*id) && inflight.ids.contains(*id)) {
                        tracing::warn!(execution = %id, "lease lost");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
        }
    }

    /// Drives one claimed execution to its end (or until its lease is lost).
    pub async fn execute(&self, exe: Execution, respond: Option<oneshot::Sender<SyncOutcome>>) {
        self.execute_in_slot(exe, respond, None, None).await
    }

    async fn execute_in_slot(
        &self,
        exe: Execution,
        respond: Option<oneshot::Sender<SyncOutcome>>,
        slot: Option<OwnedSemaphorePermit>,
        instance: Option<Instance>,
    ) {
        let id = exe.id.clone();
        // Registered before waiting for a slot, so the lease is renewed while it waits.
        let _guard = {
            let mut inflight = self.inner.inflight.lock().expect("inflight lock");
            if !inflight.ids.insert(id.clone()) {
                // This process re-claimed its own execution (its lease ran out while renewal
                // lagged): the task already driving it carries on; a second one would repeat
                // its side effects.
                tracing::warn!(execution = %id, "execution is already running in this process");
                return;
            }
            if !inflight.heartbeat {
                inflight.heartbeat = true;
                tokio::spawn(self.clone().heartbeat());
            }
            InflightGuard { worker: self.clone(), id: id.clone() }
        };
        let _slot = match slot {
            Some(slot) => slot,
            None => self.inner.slots.clone().acquire_owned().await.expect("slots never close"),
        };
        let respond = Arc::new(Mutex::new(respond));
        let mut abandon = self.inner.abandon.subscribe();
        tokio::select! {
            // Checked first: once the runner gives up, nothing more should start.
            biased;
            _ = async { let _ = abandon.wait_for(|a| *a).await; } => {
                // Dropping the drive above cancelled the calls in flight; a sync caller gets no
                // answer from us (202: it can follow the execution by id on another node).
                drop(respond.lock().expect("respond lock").take());
                match self.inner.db.release_lease(&id, &self.inner.cfg.node_id, now_ms()).await {
                    Ok(true) => tracing::info!(execution = %id, "execution handed back for another runner"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(execution = %id, error = %e, "cannot hand the execution back; \
                        another runner resumes it when its lease expires"),
                }
                return;
            }
            r = self.execute_inner(exe, respond.clone(), instance) => {
                if let Err(e) = r {
                    tracing::error!(execution = %id, error = %e, "execution stopped");
                }
            }
        }
        // A sync caller still waiting learns the execution ended without an answer from us.
        if let Some(tx) = respond.lock().expect("respond lock").take() {
            let _ = tx.send(SyncOutcome::Finished {
                status: ExecutionStatus::Failed,
                result: None,
                error: Some(json!({"kind": "component", "message": "the execution stopped before it finished"})),
            });
        }
    }

    async fn execute_inner(
        &self,
        exe: Execution,
        respond: Arc<Mutex<Option<oneshot::Sender<SyncOutcome>>>>,
        instance: Option<Instance>,
    ) -> Result<(), DbError> {
        let db = &self.inner.db;
        let loaded = match self.load_version(&exe.org_id, &exe.integration_id, exe.version).await {
            Ok(l) => l,
            Err(e) => {
                return self.fail_early(&exe, &respond, StepError::new(ErrorKind::Component, e.to_string())).await;
            }
        };
        let Some(flow) = loaded.flows.get(&exe.flow_key).cloned() else {
            let msg = format!("flow `{}` does not exist in version {}", exe.flow_key, exe.version);
            return self.fail_early(&exe, &respond, StepError::new(ErrorKind::Component, msg)).await;
        };
        let instance = match instance.filter(|i| i.id == exe.instance_id) {
            Some(i) => Some(i),
            None => db.get_instance(&exe.org_id, &exe.instance_id).await?,
        };
        let Some(mut instance) = instance else {
            let msg = format!("instance {} was deleted", exe.instance_id);
            return self.fail_early(&exe, &respond, StepError::new(ErrorKind::Component, msg)).await;
        };
        if let Err(e) = crate::oauth::resolve_customer_connections(db, &loaded.def, &mut instance).await {
            return self.fail_early(&exe, &respond, e).await;
        }
        let config = instance.config.as_object().cloned().unwrap_or_default();
        let redactor = Redactor::new(&loaded.def, &config);
        let ctx = RunContext {
            config: Value::Object(config),
            instance: json!({"id": instance.id, "name": instance.name, "version": instance.version}),
            // Read along with the instance: no customer query per execution.
            customer: json!({"id": instance.customer_id, "external_id": instance.customer.external_id,
                             "name": instance.customer.name, "labels": instance.customer.labels}),
            execution: json!({"id": exe.id, "flow": exe.flow_key, "attempt": exe.attempts}),
        };
        // The checkpoint holds no trigger (see `stored_state`): the execution row has it whole.
        let restored = exe.state.clone().map(serde_json::from_value::<Run>);
        let start = match restored.map(|r| r.map(|run| run.with_trigger(exe.trigger.clone()))) {
            Some(Ok(run)) if run.status() != RunStatus::Pending => Start::Resume(Box::new(run)),
            Some(Err(e)) => {
                tracing::warn!(execution = %exe.id, error = %e, "checkpoint unreadable; starting over");
                Start::Fresh(exe.trigger.clone())
            }
            _ => Start::Fresh(exe.trigger.clone()),
        };
        let shared = Arc::new(Shared {
            worker: self.clone(),
            exe_id: exe.id.clone(),
            org_id: exe.org_id.clone(),
            instance_id: exe.instance_id.clone(),
            customer_id: exe.customer_id.clone(),
            flow_key: exe.flow_key.clone(),
            pending_state: Mutex::new(PendingState::default()),
            used_state_ops: std::sync::atomic::AtomicBool::new(false),
            flows: loaded.flows.clone(),
            components: loaded.components.clone(),
            // Only custom components see them: not built per execution of built-ins-only flows.
            webhook_urls: if loaded.components.is_empty() { Vec::new() } else { self.webhook_urls(&instance) },
            resumed: matches!(start, Start::Resume(_)),
            redactor: std::sync::RwLock::new(redactor),
            instance: instance.clone(),
            def: loaded.clone(),
            // A resumed run counts on from the lines stored before (the limit is per execution).
            buffers: Mutex::new(Buffers { log_count: exe.log_lines.max(0) as usize, ..Buffers::default() }),
            respond,
            store_payloads: instance.store_payloads,
        });
        let started = exe.started_at.unwrap_or_else(now_ms);
        let deadline = started + self.inner.cfg.max_duration.as_millis() as i64;
        let outcome = drive(shared.clone(), flow, ctx, start, 0, String::new(), Some(deadline)).await;
        let (status, result, error, state) = match outcome {
            Driven::Done { run, status, result, error } => (status, result, error, run),
            Driven::LeaseLost => return Ok(()),
            Driven::Db(e) => return Err(e),
        };
        let exe_status = match status {
            RunStatus::Succeeded => ExecutionStatus::Succeeded,
            RunStatus::Canceled => ExecutionStatus::Canceled,
            _ => ExecutionStatus::Failed,
        };
        let result = result.map(|r| shared.redactor().redact_value(&r));
        let error = error.map(|e| shared.redactor().redact_value(&serde_json::to_value(e).expect("step error json")));
        let (steps, logs, response) = shared.take_buffers();
        if exe_status == ExecutionStatus::Failed {
            let retry = loaded.def.flows.iter().find(|f| f.key == exe.flow_key).and_then(|f| f.retry.as_ref());
            if let Some(retry) = retry.filter(|r| exe.attempts < i64::from(r.attempts)) {
                // Execution-level retry: back to the queue, resuming from the last checkpoint
                // (the stored state, not the failed run's) like after a crash.
                let tries = u32::try_from(exe.attempts).unwrap_or(u32::MAX);
                let run_at = now_ms() + retry.delay_after(tries).as_millis() as i64;
                let checkpoint = db.get_execution(&exe.org_id, &exe.id).await?.and_then(|e| e.state);
                let owner = &self.inner.cfg.node_id;
                return match db.requeue_execution(&exe.id, owner, run_at, checkpoint.as_ref(), &steps, &logs).await {
                    Ok(()) | Err(DbError::LeaseLost(_)) => Ok(()),
                    Err(e) => Err(e),
                };
            }
        }
        let state = shared.stored_state(&state);
        let fin = Finish {
            id: &exe.id,
            owner: &self.inner.cfg.node_id,
            status: exe_status,
            result: result.as_ref(),
            error: error.as_ref(),
            state: &state,
            steps: &steps,
            logs: &logs,
            response: response.as_ref(),
            now: now_ms(),
        };
        let state_writes = shared.take_pending_state();
        match db.finish_execution_with_state(&fin, &state_writes).await {
            Ok(()) => {
                self.announce_finished(&exe.id).await;
                if shared.used_state_ops.load(std::sync::atomic::Ordering::Relaxed)
                    && let Err(e) = db.forget_state_ops(&exe.id).await
                {
                    tracing::warn!(execution = %exe.id, error = %e, "cannot forget recorded state answers");
                }
            }
            Err(DbError::LeaseLost(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        if let Some(tx) = shared.respond.lock().expect("respond lock").take() {
            let _ = tx.send(SyncOutcome::Finished { status: exe_status, result, error });
        }
        Ok(())
    }

    /// Tells api nodes waiting to answer a sync webhook that the execution ended. Best effort:
    /// they poll as well, so a lost notification only delays the answer.
    async fn announce_finished(&self, id: &str) {
        if let Err(e) = self.inner.db.notify_finished(id).await {
            tracing::warn!(execution = %id, error = %e, "cannot announce the end of the execution");
        }
    }

    async fn fail_early(
        &self,
        exe: &Execution,
        respond: &Mutex<Option<oneshot::Sender<SyncOutcome>>>,
        err: StepError,
    ) -> Result<(), DbError> {
        let error = serde_json::to_value(&err).expect("step error json");
        let log = LogRow { seq: 0, at: now_ms(), level: "error".into(), step_path: None, message: err.to_string() };
        let fin = Finish {
            id: &exe.id,
            owner: &self.inner.cfg.node_id,
            status: ExecutionStatus::Failed,
            result: None,
            error: Some(&error),
            state: &Value::Null,
            steps: &[],
            logs: std::slice::from_ref(&log),
            response: None,
            now: now_ms(),
        };
        match self.inner.db.finish_execution(&fin).await {
            Ok(()) => self.announce_finished(&exe.id).await,
            Err(DbError::LeaseLost(_)) => {}
            Err(e) => return Err(e),
        }
        if let Some(tx) = respond.lock().expect("respond lock").take() {
            let _ =
                tx.send(SyncOutcome::Finished { status: ExecutionStatus::Failed, result: None, error: Some(error) });
        }
        Ok(())
    }
}

/// What one execution's flows share while running (call_flow children included).
struct Shared {
    worker: Worker,
    exe_id: String,
    /// Where the `state.*` scopes of this execution are: taken from the execution row, never
    /// from step input, so a step reaches only its own instance's, flow's and customer's state.
    org_id: String,
    instance_id: String,
    customer_id: String,
    flow_key: String,
    /// `state.set` / `state.delete` writes not yet committed: they go with the next checkpoint.
    pending_state: Mutex<PendingState>,
    /// An `increment`/`compare_and_set` recorded its answer: forget the answers at the end.
    used_state_ops: std::sync::atomic::AtomicBool,
    flows: std::collections::HashMap<String, Arc<CompiledFlow>>,
    /// The custom component versions the integration version pinned (key → version).
    components: BTreeMap<String, String>,
    /// (flow key, URL) of the instance's webhooks, for custom components' context.
    webhook_urls: Vec<(String, String)>,
    /// The run continues from a checkpoint, whose secret values were redacted.
    resumed: bool,
    /// Grows when a step gets an OAuth access token (see `with_oauth_token`).
    redactor: std::sync::RwLock<Redactor>,
    /// The instance as read at the start (its config opened), for OAuth connections.
    instance: Instance,
    def: Arc<LoadedVersion>,
    buffers: Mutex<Buffers>,
    respond: Arc<Mutex<Option<oneshot::Sender<SyncOutcome>>>>,
    /// The instance's `store_payloads`: when false, step inputs and outputs are never written
    /// (the database drops the trigger and result at finish; see `weft_db`'s retention docs).
    store_payloads: bool,
}

/// Deferred state writes in call order, each with a sequence number so an increment that
/// applied one (see `state_call`) removes exactly what it applied.
#[derive(Default)]
struct PendingState {
    next: u64,
    writes: Vec<(u64, StateWrite)>,
}

impl PendingState {
    /// The latest pending write of a key, with its sequence number.
    fn latest(&self, scope: &StateScope, key: &str) -> Option<(u64, StateWrite)> {
        self.writes.iter().rev().find(|(_, w)| &w.scope == scope && w.key == key).cloned()
    }
}

#[derive(Default)]
struct Buffers {
    steps: Vec<StepRow>,
    logs: Vec<LogRow>,
    log_count: usize,
    response: Option<Value>,
}

impl Shared {
    fn redactor(&self) -> std::sync::RwLockReadGuard<'_, Redactor> {
        self.redactor.read().expect("redactor lock")
    }

    /// The call's input with an OAuth connection's token in place of its reference (see
    /// [`crate::oauth::with_token`]); the token is redacted from then on wherever it appears.
    async fn with_oauth_token(&self, input: Value) -> Result<Value, StepError> {
        let (input, token) =
            crate::oauth::with_token(&self.worker.inner.oauth, &self.instance, &self.def.def, input).await?;
        if let Some(t) = token {
            self.redactor.write().expect("redactor lock").add_secret(&t.token);
        }
        Ok(input)
    }

    fn log(&self, level: LogLevel, step_path: Option<String>, message: String) {
        let max = self.worker.inner.cfg.max_log_lines;
        let mut b = self.buffers.lock().expect("buffers lock");
        b.log_count += 1;
        if b.log_count > max + 1 {
            return;
        }
        let (level, message) = if b.log_count == max + 1 {
            (LogLevel::Warn, format!("log limit of {max} lines per execution reached; further lines are dropped"))
        } else {
            (level, self.redactor().redact_str(&message))
        };
        b.logs.push(LogRow { seq: 0, at: now_ms(), level: level.name().into(), step_path, message });
    }

    fn record_step(&self, prefix: &str, r: StepRecord) {
        let red = |v: Option<Value>| v.map(|v| self.redactor().redact_value(&v));
        let payload = |v: Option<Value>| if self.store_payloads { red(v) } else { None };
        let row = StepRow {
            seq: 0,
            path: format!("{prefix}{}", r.path),
            key: r.key,
            kind: r.kind,
            action: r.action,
            status: serde_json::to_value(r.status).ok().and_then(|s| s.as_str().map(String::from)).unwrap_or_default(),
            input: payload(r.input),
            output: payload(r.output),
            error: red(r.error.map(|e| serde_json::to_value(e).expect("step error json"))),
            attempts: r.attempts as i64,
            started_at: r.started_at,
            finished_at: r.finished_at,
        };
        self.buffers.lock().expect("buffers lock").steps.push(row);
    }

    fn take_buffers(&self) -> (Vec<StepRow>, Vec<LogRow>, Option<Value>) {
        let mut b = self.buffers.lock().expect("buffers lock");
        (std::mem::take(&mut b.steps), std::mem::take(&mut b.logs), b.response.clone())
    }

    /// The run state as stored: redacted like everything else, so no secret is ever written to
    /// the database. Resuming needs no secrets from it: config comes fresh with the
    /// [`RunContext`], [`resume`] evaluates the inputs of calls in flight again, and the trigger
    /// is left out (the execution row keeps it whole, and a webhook may well carry a value that
    /// is also a configured secret, a shared verification token say).
    fn stored_state(&self, run: &Run) -> Value {
        let mut state = serde_json::to_value(run).expect("run state json");
        if let Some(obj) = state.as_object_mut() {
            obj.remove("trigger");
        }
        self.redactor().redact_value(&state)
    }

    /// Says so when a call about to run after a restart carries a value redacted from the
    /// checkpoint: the outputs of steps that finished before the crash come from it, so a step
    /// reading a secret out of one of them sees `[redacted]`. (Secrets read from config are
    /// not affected: [`resume`] evaluates the inputs of calls in flight again with the real
    /// config.)
    fn warn_redacted_input(&self, path: &str, input: &Value) {
        if self.resumed && !self.redactor().is_empty() && contains_str(input, REDACTED) {
            self.log(
                LogLevel::Warn,
                Some(path.to_string()),
                format!(
                    "step `{path}` runs after a restart with {REDACTED} values in its input: secret values are \
                     never stored, so a checkpoint cannot restore them"
                ),
            );
        }
    }

    fn take_pending_state(&self) -> Vec<StateWrite> {
        let mut p = self.pending_state.lock().expect("pending state lock");
        std::mem::take(&mut p.writes).into_iter().map(|(_, w)| w).collect()
    }

    fn state_scope(&self, scope: weft_components::state::Scope) -> StateScope {
        use weft_components::state::Scope;
        let (kind, id) = match scope {
            Scope::Instance => (ScopeKind::Instance, self.instance_id.clone()),
            Scope::Flow => (ScopeKind::Flow, format!("{}:{}", self.instance_id, self.flow_key)),
            Scope::Customer => (ScopeKind::Customer, self.customer_id.clone()),
        };
        StateScope { org_id: self.org_id.clone(), kind, id }
    }

    fn pending_of(&self, scope: &StateScope, key: &str) -> Option<(u64, StateWrite)> {
        self.pending_state.lock().expect("pending state lock").latest(scope, key)
    }

    /// Serves one `state.*` call. Reads see this execution's own pending writes; `set` and
    /// `delete` are answered at once and committed with the next checkpoint (so with the step
    /// that made them); `increment` and `compare_and_set` commit at once, recorded under
    /// `op_key` so that the same step run again after a crash gets its first answer back.
    async fn state_call(&self, action: &str, input: Value, op_key: &str) -> Result<Value, StepError> {
        use weft_components::state::{MAX_KEYS_PER_SCOPE, StateCall, parse};
        let db = &self.worker.inner.db;
        let db_err = |e: DbError| StepError::new(ErrorKind::Component, format!("`{action}` failed: {e}"));
        let state_err = |e: StateError| match e {
            StateError::Limit(m) => StepError::new(ErrorKind::Limit, m),
            StateError::Type(m) => StepError::new(ErrorKind::Input, m),
            StateError::Db(e) => db_err(e),
        };
        let op = StateOp { execution_id: &self.exe_id, key: op_key };
        match parse(action, &input)? {
            StateCall::Get { scope, key, default } => {
                let scope = self.state_scope(scope);
                let value = match self.pending_of(&scope, &key) {
                    Some((_, w)) => w.value,
                    None => db.state_get(&scope, &key).await.map_err(db_err)?,
                };
                Ok(value.unwrap_or(default))
            }
            StateCall::Set { scope, key, value } => {
                let scope = self.state_scope(scope);
                let exists = match self.pending_of(&scope, &key) {
                    Some((_, w)) => w.value.is_some(),
                    None => db.state_get(&scope, &key).await.map_err(db_err)?.is_some(),
                };
                // Checked at call time against committed keys: concurrent executions adding
                // keys to one scope together may pass it by a few.
                if !exists && db.state_key_count(&scope).await.map_err(db_err)? >= MAX_KEYS_PER_SCOPE {
                    return Err(StepError::new(
                        ErrorKind::Limit,
                        format!(
                            "cannot add state key `{key}`: the {} scope already holds the limit of {MAX_KEYS_PER_SCOPE} keys",
                            scope.kind.as_str()
                        ),
                    ));
                }
                self.push_state(StateWrite { scope, key, value: Some(value.clone()), at: now_ms() });
                Ok(json!({"value": value}))
            }
            StateCall::Delete { scope, key } => {
                let scope = self.state_scope(scope);
                self.push_state(StateWrite { scope, key, value: None, at: now_ms() });
                Ok(json!({"deleted": true}))
            }
            StateCall::Increment { scope, key, by } => {
                self.used_state_ops.store(true, std::sync::atomic::Ordering::Relaxed);
                let scope = self.state_scope(scope);
                let pending = self.pending_of(&scope, &key);
                let out = db
                    .state_increment(
                        &scope,
                        &key,
                        &by,
                        pending.as_ref().map(|(_, w)| w),
                        MAX_KEYS_PER_SCOPE,
                        Some(op),
                        now_ms(),
                    )
                    .await
                    .map_err(state_err)?;
                self.applied(&scope, &key, pending.map(|(seq, _)| seq));
                Ok(out)
            }
            StateCall::CompareAndSet { scope, key, expected, value } => {
                self.used_state_ops.store(true, std::sync::atomic::Ordering::Relaxed);
                let scope = self.state_scope(scope);
                let pending = self.pending_of(&scope, &key);
                let out = db
                    .state_compare_and_set(
                        &scope,
                        &key,
                        expected.as_ref(),
                        &value,
                        pending.as_ref().map(|(_, w)| w),
                        MAX_KEYS_PER_SCOPE,
                        Some(op),
                        now_ms(),
                    )
                    .await
                    .map_err(state_err)?;
                self.applied(&scope, &key, pending.map(|(seq, _)| seq));
                Ok(json!({"swapped": out.swapped, "value": out.value.unwrap_or(Value::Null)}))
            }
        }
    }

    fn push_state(&self, w: StateWrite) {
        let mut p = self.pending_state.lock().expect("pending state lock");
        p.next += 1;
        let seq = p.next;
        p.writes.push((seq, w));
    }

    /// Drops the pending writes of a key up to `upto`: a call-time operation committed them.
    fn applied(&self, scope: &StateScope, key: &str, upto: Option<u64>) {
        let Some(upto) = upto else { return };
        let mut p = self.pending_state.lock().expect("pending state lock");
        p.writes.retain(|(seq, w)| !(*seq <= upto && &w.scope == scope && w.key == key));
    }

    /// Runs `action` of the pinned version `version` of custom component `key` in the sandbox:
    /// the step's connection values are its `connection` input; the component's state is its
    /// own scope in this instance (committed with the step's checkpoint, like `state.set`).
    async fn run_custom(
        self: &Arc<Self>,
        key: &str,
        version: &str,
        action: &str,
        input: Value,
        cx: &ActionContext,
    ) -> Result<Value, StepError> {
        let ids = CallIds {
            org: &self.org_id,
            instance: Some(&self.instance_id),
            customer: &self.customer_id,
            flow_key: &self.flow_key,
            webhook_urls: &self.webhook_urls,
        };
        let call = self.worker.inner.custom.prepare(ids, key, version, action, input, cx).await?;
        let scope = component_scope(&self.org_id, &self.instance_id, key);
        let services = Arc::new(GuestServices { shared: self.clone(), scope, log: cx.log.clone() });
        call.component.invoke_action(call.short, call.invocation, &call.limits, services).await
    }

    /// Stores the run's checkpoint; returns whether a cancel was asked meanwhile.
    async fn checkpoint(&self, run: &Run) -> Result<bool, DbError> {
        let (steps, logs, response) = self.take_buffers();
        let state_writes = self.take_pending_state();
        let state = self.stored_state(run);
        let cp = Checkpoint {
            id: &self.exe_id,
            owner: &self.worker.inner.cfg.node_id,
            state: &state,
            steps: &steps,
            logs: &logs,
            response: response.as_ref(),
        };
        self.worker.inner.db.checkpoint_with_state(&cp, &state_writes).await
    }
}

/// What a custom component reaches of one execution: the step's log, and the component's own
/// state scope in the execution's instance (never chosen by the guest: it only names keys).
/// Writes wait for the step's checkpoint, reads see them first, as for `state.*`.
struct GuestServices {
    shared: Arc<Shared>,
    scope: StateScope,
    log: LogSink,
}

impl HostServices for GuestServices {
    fn log(&self, level: LogLevel, message: String) {
        self.log.write(level, message);
    }

    fn state_get<'a>(&'a self, key: &'a str) -> weft_components::BoxFuture<'a, Result<Option<Value>, String>> {
        Box::pin(async move {
            match self.shared.pending_of(&self.scope, key) {
                Some((_, w)) => Ok(w.value),
                None => self.shared.worker.inner.db.state_get(&self.scope, key).await.map_err(|e| e.to_string()),
            }
        })
    }

    fn state_set<'a>(&'a self, key: &'a str, value: Value) -> weft_components::BoxFuture<'a, Result<(), String>> {
        use weft_components::state::MAX_KEYS_PER_SCOPE;
        Box::pin(async move {
            crate::custom::check_state_value(key, &value)?;
            let db = &self.shared.worker.inner.db;
            let exists = match self.shared.pending_of(&self.scope, key) {
                Some((_, w)) => w.value.is_some(),
                None => db.state_get(&self.scope, key).await.map_err(|e| e.to_string())?.is_some(),
            };
            if !exists && db.state_key_count(&self.scope).await.map_err(|e| e.to_string())? >= MAX_KEYS_PER_SCOPE {
                return Err(format!(
                    "cannot add state key `{key}`: the component's state already holds the limit of {MAX_KEYS_PER_SCOPE} keys"
                ));
            }
            let at = now_ms();
            self.shared.push_state(StateWrite {
                scope: self.scope.clone(),
                key: key.to_string(),
                value: Some(value),
                at,
            });
            Ok(())
        })
    }

    fn state_delete<'a>(&'a self, key: &'a str) -> weft_components::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let at = now_ms();
            self.shared.push_state(StateWrite { scope: self.scope.clone(), key: key.to_string(), value: None, at });
            Ok(())
        })
    }
}

fn contains_str(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|x| contains_str(x, needle)),
        Value::Object(map) => map.iter().any(|(k, x)| k.contains(needle) || contains_str(x, needle)),
        _ => false,
    }
}

/// A duration as limits are configured: whole seconds when it is some, else milliseconds.
fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

enum Start {
    Fresh(Value),
    Resume(Box<Run>),
}

enum Driven {
    Done { run: Box<Run>, status: RunStatus, result: Option<Value>, error: Option<StepError> },
    LeaseLost,
    Db(DbError),
}

type CallResult = (CallId, Result<Value, StepError>);

/// Runs one flow (the execution's own, or a `call_flow` child at `depth` > 0) to its end.
/// Only the execution's own flow checkpoints; a child runs again whole after a crash.
fn drive(
    shared: Arc<Shared>,
    flow: Arc<CompiledFlow>,
    ctx: RunContext,
    start: Start,
    depth: u32,
    prefix: String,
    deadline: Option<i64>,
) -> BoxFuture<Driven> {
    async move {
        let mut inflight: FuturesUnordered<BoxFuture<CallResult>> = FuturesUnordered::new();
        let mut finish: Option<(RunStatus, Option<Value>, Option<StepError>)> = None;
        let (mut run, cmds) = match start {
            Start::Fresh(trigger) => advance(&flow, Run::new(), &ctx, Event::Start { trigger }, now_ms()),
            // Re-issues the calls in flight at the crash, with their inputs evaluated again: the
            // checkpoint holds them redacted.
            Start::Resume(run) => resume(&flow, *run, &ctx, now_ms()),
        };
        // The run's own timers are the truth: `WakeAt` announces a timer when it is set, but a
        // `Wake` that fires one timer does not announce the others again (a loop's deadline
        // while a retry inside it backs off), so the next wake-up is read from the run.
        let mut wake_at = run.next_wake();
        handle(&shared, &ctx, &prefix, depth, cmds, &mut inflight, &mut finish);
        while finish.is_none() {
            let sleep_until = match (wake_at, deadline) {
                (Some(w), Some(d)) => Some(w.min(d)),
                (w, d) => w.or(d),
            };
            let sleep = async {
                match sleep_until {
                    Some(at) => tokio::time::sleep(Duration::from_millis((at - now_ms()).max(0) as u64)).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                Some((call, res)) = inflight.next() => match res {
                    Ok(output) => Some(Event::ActionSucceeded { call, output }),
                    Err(error) => Some(Event::ActionFailed { call, error }),
                },
                _ = sleep => None,
            };
            let now = now_ms();
            let is_call_result = event.is_some();
            let event = match event {
                Some(ev) => ev,
                None if deadline.is_some_and(|d| now >= d) => {
                    let limit = shared.worker.inner.cfg.max_duration;
                    let err = StepError::new(
                        ErrorKind::Limit,
                        format!("the execution ran over its time limit of {}", fmt_duration(limit)),
                    );
                    shared.log(LogLevel::Error, None, err.message.clone());
                    finish = Some((RunStatus::Failed, None, Some(err)));
                    break;
                }
                None => Event::Wake,
            };
            let (next, cmds) = advance(&flow, run, &ctx, event, now);
            run = next;
            wake_at = run.next_wake();
            handle(&shared, &ctx, &prefix, depth, cmds, &mut inflight, &mut finish);
            // A completed call is a side effect: checkpoint so it is never repeated after a crash.
            if depth == 0 && is_call_result && finish.is_none() {
                // A cancel asked while it ran (`Db::cancel_execution`) takes effect here, at a
                // checkpoint, which reads the flag as it writes.
                match shared.checkpoint(&run).await {
                    Ok(false) => {}
                    Ok(true) => {
                        shared.log(LogLevel::Info, None, "canceled on request".into());
                        let (next, cmds) = advance(&flow, run, &ctx, Event::Cancel, now_ms());
                        run = next;
                        handle(&shared, &ctx, &prefix, depth, cmds, &mut inflight, &mut finish);
                    }
                    Err(DbError::LeaseLost(_)) => return Driven::LeaseLost,
                    Err(e) => return Driven::Db(e),
                }
            }
        }
        let (status, result, error) = finish.expect("loop ends with an outcome");
        Driven::Done { run: Box::new(run), status, result, error }
    }
    .boxed()
}

/// `output` if its JSON is at most `max` bytes, else a `limit` error naming `what` produced it.
fn within_output_limit(output: Value, max: usize, what: &str) -> Result<Value, StepError> {
    let size = serde_json::to_vec(&output).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > max {
        let msg = format!("the output of {what} is {size} bytes, over the step output limit of {max} bytes");
        return Err(StepError::new(ErrorKind::Limit, msg));
    }
    Ok(output)
}

#[allow(clippy::too_many_arguments)]
fn handle(
    shared: &Arc<Shared>,
    ctx: &RunContext,
    prefix: &str,
    depth: u32,
    cmds: Vec<Command>,
    inflight: &mut FuturesUnordered<BoxFuture<CallResult>>,
    finish: &mut Option<(RunStatus, Option<Value>, Option<StepError>)>,
) {
    for cmd in cmds {
        match cmd {
            Command::RunAction { call, step_path, action, input, attempt, timeout_ms, idempotency_key } => {
                let shared2 = shared.clone();
                let path = format!("{prefix}{step_path}");
                shared.warn_redacted_input(&path, &input);
                let log_shared = shared.clone();
                let log_path = path.clone();
                let log = LogSink::new(move |level, msg| log_shared.log(level, Some(log_path.clone()), msg));
                let timeout = timeout_ms.map(Duration::from_millis);
                let cx = ActionContext {
                    execution_id: shared.exe_id.clone(),
                    step_path: path.clone(),
                    idempotency_key,
                    attempt,
                    timeout,
                    log,
                };
                if weft_components::state::is_state_action(&action) {
                    // Served by the worker: it needs the database and this execution's checkpoint.
                    let op_key = format!("{path}|{}", cx.idempotency_key);
                    inflight.push(async move { (call, shared2.state_call(&action, input, &op_key).await) }.boxed());
                    continue;
                }
                let custom = action
                    .split_once('.')
                    .and_then(|(key, _)| Some((key.to_string(), shared.components.get(key)?.clone())));
                inflight.push(
                    async move {
                        let input = match shared2.with_oauth_token(input).await {
                            Ok(i) => i,
                            Err(e) => return (call, Err(e)),
                        };
                        let run = async {
                            match custom {
                                Some((key, version)) => shared2.run_custom(&key, &version, &action, input, &cx).await,
                                None => shared2.worker.inner.registry.run(&action, input, &cx).await,
                            }
                        };
                        let res = match timeout {
                            Some(t) => match tokio::time::timeout(t, run).await {
                                Ok(r) => r,
                                Err(_) => Err(StepError::new(
                                    ErrorKind::Timeout,
                                    format!("`{action}` did not finish within its timeout of {}ms", t.as_millis()),
                                )),
                            },
                            None => run.await,
                        };
                        let max = shared2.worker.inner.cfg.max_step_output_bytes;
                        (call, res.and_then(|out| within_output_limit(out, max, &format!("`{action}`"))))
                    }
                    .boxed(),
                );
            }
            Command::CallFlow { call, step_path, flow, input, attempt: _, timeout_ms } => {
                let max_depth = shared.worker.inner.cfg.max_call_depth;
                let child = shared.flows.get(&flow).cloned();
                let shared2 = shared.clone();
                let max_output = shared.worker.inner.cfg.max_step_output_bytes;
                let mut child_ctx = ctx.clone();
                let child_prefix = format!("{prefix}{step_path}>");
                shared.warn_redacted_input(&format!("{prefix}{step_path}"), &input);
                inflight.push(
                    async move {
                        let Some(child) = child else {
                            return (
                                call,
                                Err(StepError::new(ErrorKind::Input, format!("flow `{flow}` does not exist"))),
                            );
                        };
                        if depth + 1 > max_depth {
                            let msg = format!("call_flow nested deeper than the limit of {max_depth}");
                            return (call, Err(StepError::new(ErrorKind::Limit, msg)));
                        }
                        if let Some(obj) = child_ctx.execution.as_object_mut() {
                            obj.insert("flow".into(), Value::String(flow.clone()));
                        }
                        let trigger = json!({"body": input, "headers": {}, "query": {}, "method": "CALL"});
                        let run =
                            drive(shared2, child, child_ctx, Start::Fresh(trigger), depth + 1, child_prefix, None);
                        let driven = match timeout_ms {
                            Some(t) => match tokio::time::timeout(Duration::from_millis(t), run).await {
                                Ok(d) => d,
                                Err(_) => {
                                    let msg = format!("flow `{flow}` did not finish within its timeout of {t}ms");
                                    return (call, Err(StepError::new(ErrorKind::Timeout, msg)));
                                }
                            },
                            None => run.await,
                        };
                        let res = match driven {
                            Driven::Done { status: RunStatus::Succeeded, result, .. } => within_output_limit(
                                result.unwrap_or(Value::Null),
                                max_output,
                                &format!("flow `{flow}`"),
                            ),
                            Driven::Done { error: Some(e), .. } => Err(e),
                            Driven::Done { .. } => {
                                Err(StepError::new(ErrorKind::Component, format!("flow `{flow}` was canceled")))
                            }
                            Driven::LeaseLost | Driven::Db(_) => {
                                Err(StepError::new(ErrorKind::Component, format!("flow `{flow}` could not be stored")))
                            }
                        };
                        (call, res)
                    }
                    .boxed(),
                );
            }
            // Timers are read from the run after each transition (see `drive`).
            Command::WakeAt { .. } => {}
            Command::Respond { status, headers, body } => {
                // Only the execution's own flow answers the webhook.
                if depth == 0 {
                    let body = shared.redactor().redact_value(&body);
                    shared.buffers.lock().expect("buffers lock").response =
                        Some(json!({"status": status, "headers": headers, "body": body}));
                    if let Some(tx) = shared.respond.lock().expect("respond lock").take() {
                        let _ = tx.send(SyncOutcome::Responded { status, headers, body });
                    }
                }
            }
            Command::Log { level, step_path, message } => {
                shared.log(level, step_path.map(|p| format!("{prefix}{p}")), message)
            }
            Command::StepFinished(record) => shared.record_step(prefix, record),
            Command::Finish { status, result, error } => *finish = Some((status, result, error)),
        }
    }
}
