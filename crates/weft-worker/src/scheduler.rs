//! The scheduler role: every tick it reads the schedules that are due, decides each one's
//! firing with the pure cron logic in [`crate::schedule`], and fires it through
//! [`Db::fire_schedule`], which queues the execution and moves the schedule forward in one
//! transaction guarded by a compare-and-set on the due time. Any number of schedulers may run
//! on one database: a due time is fired by exactly one of them, the others' attempts match
//! nothing. No leader, no lock held between ticks.
//!
//! Missed runs (the scheduler was down, or the instance's row stayed due for several fire
//! times): *run once* — one execution for the latest fire time that passed, then the schedule
//! continues with the first fire time after now (see [`CronSchedule::plan`]).
//!
//! The executions are queued, not driven here: `worker.notify()` wakes this process's claim loop
//! (when it runs the runner role too); other runners find them on their next claim.
//!
//! Poll triggers are schedules too: when one is due the scheduler runs its component action, or
//! its custom component's poll trigger (through the worker, so the egress policy and the
//! sandbox apply; a component trigger returns its records and the cursor to store), picks the records it has not
//! emitted before with [`select_new`] (a pure function over the records and the stored
//! poll state) and fires the schedule with [`Db::fire_poll`], which stores the executions and
//! the new cursor in the same transaction as the compare-and-set: a crash or a racing scheduler
//! can neither lose a record nor start one twice. A failed poll starts nothing and keeps the
//! cursor; the schedule moves on and the next fire time polls again.
//!
//! The scheduler also prunes finished executions past their retention ([`Db::prune`]), every
//! [`PruneConfig::every`], in a task of its own so a long pass never delays a fire time: batches
//! of [`PruneConfig::batch`] executions, each one short transaction, until a batch comes back
//! short or [`PruneConfig::budget`] is spent (the rest waits for the next pass). With several
//! schedulers they may prune the same rows at once; a row deleted by one is simply not counted
//! by the other.

use std::collections::BTreeMap;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::time::MissedTickBehavior;
use weft_components::ActionContext;
use weft_db::{CustomerRef, Db, DbError, NewExecution, PruneReport, QueuePolicy, Schedule};
use weft_model::expr::eval_value;
use weft_model::{POLL_SEEN_IDS, PollSource, PollTrigger, StepError, Trigger};

use crate::Worker;
use crate::schedule::{CronSchedule, Millis, rfc3339};

/// How often and how much the scheduler reads.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Time between two reads of due schedules; also the worst-case lateness of a fire time.
    pub tick: Duration,
    /// Due schedules read per query; a tick keeps reading while batches come back full.
    pub batch: u32,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig { tick: Duration::from_secs(1), batch: 100 }
    }
}

/// How the scheduler prunes finished executions past their retention (see the module docs).
/// Kept apart from [`SchedulerConfig`] so that struct's literal users need not change.
#[derive(Debug, Clone)]
pub struct PruneConfig {
    /// Time between two pruning passes.
    pub every: Duration,
    /// Executions deleted per transaction: small, so queue writes wait at most for one batch.
    pub batch: u32,
    /// Most time one pass spends; what is left is pruned by the next pass.
    pub budget: Duration,
}

impl Default for PruneConfig {
    fn default() -> PruneConfig {
        PruneConfig { every: Duration::from_secs(60), batch: 500, budget: Duration::from_secs(10) }
    }
}

/// Fires due schedules; see the module docs.
pub struct Scheduler {
    db: Db,
    worker: Worker,
    cfg: SchedulerConfig,
    /// `None`: this scheduler does not prune.
    prune: Option<PruneConfig>,
}

/// How often the scheduler looks for OAuth tokens about to expire.
const OAUTH_REFRESH_EVERY: Duration = Duration::from_secs(30);
/// How far ahead of its expiry the scheduler refreshes a token.
pub const OAUTH_REFRESH_AHEAD: Duration = Duration::from_secs(300);

fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

impl Scheduler {
    /// A scheduler that also prunes with the default [`PruneConfig`].
    pub fn new(db: Db, worker: Worker, cfg: SchedulerConfig) -> Scheduler {
        Scheduler { db, worker, cfg, prune: Some(PruneConfig::default()) }
    }

    /// Replaces the pruning settings; `None` turns pruning off.
    pub fn with_pruning(mut self, prune: Option<PruneConfig>) -> Scheduler {
        self.prune = prune;
        self
    }

    /// Fires due schedules every tick until `shutdown` resolves. A database error is logged and
    /// retried on the next tick (nothing is lost: the schedule stays due).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(self.cfg.tick.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let every = self.prune.as_ref().map_or(Duration::from_secs(86_400), |p| p.every.max(Duration::from_millis(10)));
        let mut prune_ticks = tokio::time::interval(every);
        prune_ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pruning: Option<tokio::task::JoinHandle<PruneReport>> = None;
        let mut refresh_ticks = tokio::time::interval(OAUTH_REFRESH_EVERY);
        refresh_ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    // An aborted pass loses at most its open batch (rolled back).
                    if let Some(p) = pruning.take() {
                        p.abort();
                    }
                    return;
                }
                _ = ticks.tick() => {}
                _ = prune_ticks.tick(), if self.prune.is_some() => {
                    if pruning.as_ref().is_none_or(|p| p.is_finished()) && let Some(cfg) = self.prune.clone() {
                        pruning = Some(tokio::spawn(prune_pass(self.db.clone(), cfg)));
                    }
                    continue;
                }
                _ = refresh_ticks.tick() => {
                    if let Err(e) = self.refresh_oauth().await {
                        tracing::warn!(error = %e, "scheduler: refreshing expiring OAuth tokens failed; retrying later");
                    }
                    continue;
                }
            }
            if let Err(e) = self.fire_due(now_ms()).await {
                tracing::warn!(error = %e, "scheduler: reading or firing due schedules failed; retrying next tick");
            }
        }
    }

    /// Refreshes the OAuth tokens that expire within [`OAUTH_REFRESH_AHEAD`], so steps seldom
    /// wait for a refresh (a refresh made by another node meanwhile is not repeated).
    pub async fn refresh_oauth(&self) -> Result<usize, crate::OAuthError> {
        let w = &self.worker;
        let load = |org: String, id: String| async move {
            let Some(instance) = w.db().get_instance(&org, &id).await? else { return Ok(None) };
            let loaded = w
                .load_version(&org, &instance.integration_id, instance.version)
                .await
                .map_err(|e| crate::OAuthError::Config(e.to_string()))?;
            Ok(Some((instance, loaded.def.clone())))
        };
        w.oauth().refresh_expiring(OAUTH_REFRESH_AHEAD, 100, load).await
    }

    /// One tick: fires every schedule due at `now`. Returns how many executions this scheduler
    /// queued (schedules fired by a concurrent scheduler are not counted).
    pub async fn fire_due(&self, now: Millis) -> Result<usize, DbError> {
        let mut fired = 0;
        loop {
            let due = self.db.due_schedules(now, self.cfg.batch).await?;
            let full = due.len() as u32 >= self.cfg.batch;
            let mut moved = 0;
            for s in &due {
                match self.fire(s, now).await {
                    Ok(Some(true)) => {
                        fired += 1;
                        moved += 1;
                    }
                    Ok(Some(false)) => moved += 1,
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
            }
            if fired > 0 {
                self.worker.notify();
            }
            // Stop when the batch was not full, or when nothing in it could be moved (broken
            // rows would otherwise be read again and again in this tick).
            if !full || moved == 0 {
                return Ok(fired);
            }
        }
    }

    /// Fires one due schedule. `Some(true)`: queued an execution; `Some(false)`: someone else
    /// fired it (or its instance was paused meanwhile); `None`: its cron cannot be evaluated
    /// (logged; it stays due until a deploy or upgrade replaces it).
    async fn fire(&self, s: &Schedule, now: Millis) -> Result<Option<bool>, DbError> {
        let firing = match CronSchedule::parse(&s.cron, Some(&s.timezone)).and_then(|c| {
            let f = c.plan(s.next_fire_at, now)?;
            Ok((f, c.timezone()))
        }) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(schedule = %s.id, instance = %s.instance_id, flow = %s.flow_key, error = %e,
                    "scheduler: cannot compute the schedule's next fire time; it does not fire");
                return Ok(None);
            }
        };
        let (firing, tz) = firing;
        // The flow's queue mode travels on the execution rows: only the claim enforces it.
        let (poll, policy) = match self.worker.load_version(&s.org_id, &s.integration_id, s.version).await {
            Ok(loaded) => match loaded.def.flow(&s.flow_key) {
                Some(f) => {
                    let poll = match &f.trigger {
                        Trigger::Poll(p) => Some((p.clone(), loaded.components.clone())),
                        _ => None,
                    };
                    (poll, QueuePolicy::from(&f.queue))
                }
                None => (None, QueuePolicy::PARALLEL),
            },
            Err(e) => {
                tracing::warn!(schedule = %s.id, instance = %s.instance_id, flow = %s.flow_key, error = %e,
                    "scheduler: cannot load the flow's definition; retrying next tick");
                return Ok(None);
            }
        };
        if let Some((p, pins)) = poll {
            return self.poll(s, &p, &pins, policy, firing.next_fire_at, now).await.map(Some);
        }
        let new = NewExecution {
            org_id: s.org_id.clone(),
            instance_id: s.instance_id.clone(),
            customer_id: s.customer_id.clone(),
            integration_id: s.integration_id.clone(),
            version: s.version,
            flow_key: s.flow_key.clone(),
            trigger: json!({
                "body": {"scheduled_at": rfc3339(firing.scheduled_at, tz), "due_at": firing.scheduled_at},
                "headers": {},
                "query": {},
                "method": "SCHEDULE",
            }),
            replay_of: None,
            claimed_by: None,
            lease_ms: 0,
            idempotency_key: None,
        };
        let exe = self.db.fire_schedule(&s.id, s.next_fire_at, firing.next_fire_at, &new, policy, now).await?;
        if let Some(exe) = &exe {
            tracing::info!(schedule = %s.id, instance = %s.instance_id, flow = %s.flow_key, execution = %exe.id,
                scheduled_at = firing.scheduled_at, missed = firing.scheduled_at != s.next_fire_at, "scheduler: fired");
        }
        Ok(Some(exe.is_some()))
    }
}

/// How long a poll trigger's action may take: the scheduler fires schedules one after another.
const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// A failed poll: logged, and the next fire time polls again from the same cursor.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("the action failed: {0}")]
    Action(String),
    #[error("{0}")]
    Records(String),
}

impl Scheduler {
    /// Runs a due poll trigger and fires its schedule with the new records; `Ok(true)`: this
    /// scheduler fired it (a failed poll too, which only moves the schedule on).
    async fn poll(
        &self,
        s: &Schedule,
        p: &PollTrigger,
        pins: &BTreeMap<String, String>,
        policy: QueuePolicy,
        next_fire_at: Millis,
        now: Millis,
    ) -> Result<bool, DbError> {
        let state = self.db.poll_state(&s.instance_id, &s.flow_key).await?.unwrap_or(Value::Null);
        let (new_state, records) = match self.run_poll(s, p, pins, &state).await? {
            Ok(selected) => selected,
            Err(e) => {
                tracing::warn!(schedule = %s.id, instance = %s.instance_id, flow = %s.flow_key, error = %e,
                    "scheduler: poll failed; the cursor stays, the next fire time polls again");
                let fired = self.db.fire_poll(&s.id, s.next_fire_at, next_fire_at, None, &[], policy, now).await?;
                return Ok(fired.is_some());
            }
        };
        let bodies = match (p.batch, records.is_empty()) {
            (true, false) => vec![Value::Array(records)],
            (true, true) => Vec::new(),
            (false, _) => records,
        };
        let news: Vec<NewExecution> = bodies
            .into_iter()
            .map(|body| NewExecution {
                org_id: s.org_id.clone(),
                instance_id: s.instance_id.clone(),
                customer_id: s.customer_id.clone(),
                integration_id: s.integration_id.clone(),
                version: s.version,
                flow_key: s.flow_key.clone(),
                trigger: json!({"body": body, "headers": {}, "query": {}, "method": "POLL"}),
                replay_of: None,
                claimed_by: None,
                lease_ms: 0,
                idempotency_key: None,
            })
            .collect();
        let fired =
            self.db.fire_poll(&s.id, s.next_fire_at, next_fire_at, Some(&new_state), &news, policy, now).await?;
        if let Some(exes) = &fired {
            tracing::info!(schedule = %s.id, instance = %s.instance_id, flow = %s.flow_key, executions = exes.len(),
                "scheduler: polled");
        }
        Ok(fired.is_some())
    }

    /// Runs the poll action and selects the new records: `Ok(Err(_))` is a failed poll.
    async fn run_poll(
        &self,
        s: &Schedule,
        p: &PollTrigger,
        pins: &BTreeMap<String, String>,
        state: &Value,
    ) -> Result<Result<(Value, Vec<Value>), PollError>, DbError> {
        let Some(mut instance) = self.db.get_instance(&s.org_id, &s.instance_id).await? else {
            return Ok(Err(PollError::Records(format!("instance {} was deleted", s.instance_id))));
        };
        let loaded = self.worker.load_version(&s.org_id, &instance.integration_id, instance.version).await;
        if let Ok(loaded) = loaded
            && let Err(e) = crate::oauth::resolve_customer_connections(&self.db, &loaded.def, &mut instance).await
        {
            return Ok(Err(PollError::Records(e.message)));
        }
        let customer = self.db.get_customer(&s.org_id, &CustomerRef::Id(s.customer_id.clone())).await?;
        let mut ctx = json!({
            "config": instance.config,
            "instance": {"id": instance.id, "name": instance.name, "version": instance.version},
            "customer": customer
                .map(|c| json!({"id": c.id, "external_id": c.external_id, "name": c.name, "labels": c.labels}))
                .unwrap_or(Value::Null),
            "cursor": state.get("cursor").cloned().unwrap_or(Value::Null),
        });
        let input = match eval_value(&Value::Object(p.inputs.clone()), &ctx) {
            Ok(v) => v,
            Err(e) => return Ok(Err(PollError::Records(format!("inputs: {e}")))),
        };
        let mut cx = ActionContext::new(format!("poll-{}", s.id), "trigger");
        cx.idempotency_key = format!("poll:{}:{}", s.id, s.next_fire_at);
        cx.timeout = Some(POLL_TIMEOUT);
        let cursor = ctx.as_object_mut().and_then(|m| m.remove("cursor")).unwrap_or(Value::Null);
        let w = &self.worker;
        let (items, next_cursor) = match &p.source {
            PollSource::Action { action, items } => {
                let run = w.run_action(&instance, &s.flow_key, pins, action, input, &cx);
                let output = match within_poll_timeout(run).await {
                    Ok(out) => out,
                    Err(e) => return Ok(Err(e)),
                };
                match eval_value(items, &with(&ctx, "output", &output)) {
                    Ok(Value::Array(items)) => (items, None),
                    Ok(other) => {
                        return Ok(Err(PollError::Records(format!("`items` gave {}, not a list", kind_of(&other)))));
                    }
                    Err(e) => return Ok(Err(PollError::Records(format!("items: {e}")))),
                }
            }
            PollSource::Trigger(trigger) => {
                let stored = (!cursor.is_null()).then_some(&cursor);
                let run = w.run_poll_trigger(&instance, &s.flow_key, pins, trigger, input, stored, &cx);
                match within_poll_timeout(run).await {
                    Ok(out) => (out.records, out.next_cursor),
                    Err(e) => return Ok(Err(e)),
                }
            }
        };
        let selected = select_new(p, &ctx, state, items).map_err(PollError::Records);
        // A component trigger keeps its own cursor: the one it returned (none: the previous).
        Ok(selected.map(|(mut new_state, records)| {
            if let Some(c) = next_cursor {
                new_state["cursor"] = c;
            }
            (new_state, records)
        }))
    }
}

async fn within_poll_timeout<T>(run: impl Future<Output = Result<T, StepError>>) -> Result<T, PollError> {
    match tokio::time::timeout(POLL_TIMEOUT, run).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(PollError::Action(e.message)),
        Err(_) => Err(PollError::Action(format!("no answer within {POLL_TIMEOUT:?}"))),
    }
}

/// `ctx` with `name` bound to `v`.
fn with(ctx: &Value, name: &str, v: &Value) -> Value {
    let mut c = ctx.clone();
    if let Value::Object(m) = &mut c {
        m.insert(name.to_string(), v.clone());
    }
    c
}

/// Picks the records of a poll (an action's `items`, or a component trigger's records) that
/// were not emitted before, in order, and the poll state to store with them. `ctx` holds
/// `config`, `instance` and `customer`; `state` is the stored state (null at first):
/// `{"cursor": …, "seen": [ids …]}`. Pure, so every rule is testable without a scheduler: a
/// record is new when its `id` is not among the remembered ones (the last [`POLL_SEEN_IDS`]),
/// or, without `id`, when its cursor is greater than the stored cursor; the new cursor is the
/// last new record's. Without either (a component trigger) every record is new. Any expression
/// error fails the poll.
fn select_new(p: &PollTrigger, ctx: &Value, state: &Value, items: Vec<Value>) -> Result<(Value, Vec<Value>), String> {
    let mut cursor = state.get("cursor").cloned().unwrap_or(Value::Null);
    let mut seen: Vec<Value> = state.get("seen").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut records = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ictx = with(ctx, "item", &item);
        let eval = |field: &Option<Value>, name: &str| -> Result<Option<Value>, String> {
            field.as_ref().map(|e| eval_value(e, &ictx).map_err(|e| format!("{name} of record {i}: {e}"))).transpose()
        };
        let (id, cur) = (eval(&p.id, "id")?, eval(&p.cursor, "cursor")?);
        let new = match (&id, &cur) {
            (Some(id), _) => !seen.contains(id),
            (None, Some(c)) => is_after(c, &cursor),
            (None, None) => true,
        };
        if !new {
            continue;
        }
        if let Some(id) = id {
            seen.push(id);
        }
        if let Some(c) = cur {
            cursor = c;
        }
        records.push(item);
    }
    let drop = seen.len().saturating_sub(POLL_SEEN_IDS);
    seen.drain(..drop);
    Ok((json!({"cursor": cursor, "seen": seen}), records))
}

/// Whether cursor value `v` comes after the stored cursor: numbers as numbers, strings as text;
/// anything is after null. Values that cannot be compared count as new (a feed that changes
/// its cursor's type would otherwise stop for good).
fn is_after(v: &Value, stored: &Value) -> bool {
    match (v, stored) {
        (_, Value::Null) => true,
        (Value::Number(a), Value::Number(b)) => a.as_f64().zip(b.as_f64()).is_none_or(|(a, b)| a > b),
        (Value::String(a), Value::String(b)) => a > b,
        _ => true,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// One pruning pass: batches until one comes back short or the budget is spent. Returns what
/// it deleted in total.
pub async fn prune_pass(db: Db, cfg: PruneConfig) -> PruneReport {
    let started = Instant::now();
    let mut total = PruneReport::default();
    loop {
        match db.prune(now_ms(), cfg.batch).await {
            Ok(r) => {
                total.executions += r.executions;
                total.steps += r.steps;
                total.logs += r.logs;
                if r.executions < u64::from(cfg.batch) || started.elapsed() >= cfg.budget {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention: pruning failed; retrying next pass");
                break;
            }
        }
    }
    if total.executions > 0 {
        tracing::info!(
            executions = total.executions,
            steps = total.steps,
            logs = total.logs,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "retention: pruned finished executions"
        );
    }
    total
}
