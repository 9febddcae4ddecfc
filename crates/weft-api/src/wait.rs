//! Where a new execution runs, and how a request waits for its end.
//!
//! A node with the runner role runs what it accepts itself ([`Worker::dispatch`]: the fast path,
//! no round trip through the queue). An api-only node (`ApiConfig::run_locally` false) queues
//! it unclaimed and wakes the runners of every node (`weft_queued`); a sync webhook (or a manual
//! run with `wait=true`) then waits, bounded by `sync_timeout`, for the execution's end,
//! announced by whichever runner finished it (`weft_finished`), and answers from the stored row.
//!
//! One listener per process fans out to the waiting requests ([`Waiters`]: execution id →
//! the requests waiting for it). Notifications are hints (lost while the listener reconnects,
//! absent on SQLite), so every waiter also re-reads its execution on a slow poll, and once right
//! after registering, in case it ended before the registration.
//!
//! [`Worker::dispatch`]: weft_worker::Worker::dispatch

use crate::AppState;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use weft_db::{Db, Execution, Instance, Notification};
use weft_worker::SyncOutcome;

/// Fallback re-read of a waited-for execution while the listener is up: it only covers lost
/// notifications, so it can be slow.
const LISTENING_POLL: Duration = Duration::from_secs(1);
/// The same without a listener (SQLite, or PostgreSQL unreachable for `LISTEN`).
const POLL: Duration = Duration::from_millis(200);

/// How an execution was launched.
pub(crate) enum Launched {
    /// Driven by this process; the receiver yields the sync answer.
    Here(oneshot::Receiver<SyncOutcome>),
    /// Queued for any runner; its end is learnt from the database.
    Queued,
}

/// Runs `exe` here (it was created claimed by this node) or tells the runners it is queued.
pub(crate) async fn launch(s: &AppState, exe: &Execution, instance: Option<Instance>) -> Launched {
    // Created claimed by this node (the fast path): run it here. Otherwise it waits in the
    // queue — an api-only node, or a flow whose queue mode or limits only the claim enforces.
    if exe.lease_owner.as_deref() == Some(s.worker.config().node_id.as_str()) {
        return Launched::Here(s.worker.dispatch(exe.clone(), instance));
    }
    s.worker.notify();
    // Best effort: runners poll too, so a failed notification only delays the start.
    if let Err(e) = s.db.notify_queued().await {
        tracing::warn!(execution = %exe.id, error = %e, "cannot wake the runners");
    }
    Launched::Queued
}

/// The sync answer of `exe` within `sync_timeout`: a `respond` step's answer, else its end.
/// `None` when it is still running by then (the caller answers 202 with the execution id).
pub(crate) async fn outcome(s: &AppState, exe: &Execution, launched: Launched) -> Option<SyncOutcome> {
    match launched {
        Launched::Here(rx) => tokio::time::timeout(s.cfg.sync_timeout, rx).await.ok()?.ok(),
        Launched::Queued => {
            let e = s.waiters.wait_ended(&s.db, &exe.org_id, &exe.id, s.cfg.sync_timeout).await?;
            Some(match e.response {
                // A `respond` step shaped the answer: it wins over the result, as when run here.
                Some(r) => SyncOutcome::Responded {
                    status: r.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                    headers: r.get("headers").and_then(Value::as_object).cloned().unwrap_or_else(Map::new),
                    body: r.get("body").cloned().unwrap_or(Value::Null),
                },
                None => SyncOutcome::Finished { status: e.status, result: e.result, error: e.error },
            })
        }
    }
}

/// Waits, within `sync_timeout`, until `exe` ended (here: until the driving task answered).
/// The caller reads the execution afterwards either way.
pub(crate) async fn ended(s: &AppState, exe: &Execution, launched: Launched) {
    match launched {
        Launched::Here(rx) => {
            // A `respond` comes first and the end only later: accept either (as before).
            let _ = tokio::time::timeout(s.cfg.sync_timeout, rx).await;
        }
        Launched::Queued => {
            let _ = s.waiters.wait_ended(&s.db, &exe.org_id, &exe.id, s.cfg.sync_timeout).await;
        }
    }
}

/// The requests of this process waiting for executions to end, woken by one shared listener.
#[derive(Default)]
pub(crate) struct Waiters {
    /// Execution id → the requests waiting for it. Several requests may wait for one id.
    by_id: Mutex<HashMap<String, Vec<Waiter>>>,
    next: AtomicU64,
    /// Whether the listener task was started (lazily, by the first waiter).
    started: AtomicBool,
    /// Whether the listener is connected now: decides how often waiters poll.
    listening: Arc<AtomicBool>,
}

/// One waiting request: its number (to find it again) and its wake-up.
type Waiter = (u64, Arc<Notify>);

/// Removes a waiter from the map however its wait ends (answer, timeout, client gone).
struct Registration<'a> {
    waiters: &'a Waiters,
    id: String,
    n: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.by_id.lock().expect("waiters lock");
        if let Some(list) = map.get_mut(&self.id) {
            list.retain(|(n, _)| *n != self.n);
            if list.is_empty() {
                map.remove(&self.id);
            }
        }
    }
}

impl Waiters {
    /// The execution once it reached a final status, or `None` after `timeout` (or if it cannot
    /// be read).
    async fn wait_ended(self: &Arc<Self>, db: &Db, org: &str, id: &str, timeout: Duration) -> Option<Execution> {
        self.start(db);
        let wake = Arc::new(Notify::new());
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.by_id.lock().expect("waiters lock").entry(id.to_string()).or_default().push((n, wake.clone()));
        let _registration = Registration { waiters: self, id: id.to_string(), n };
        let deadline = Instant::now() + timeout;
        loop {
            // Registered before reading: an end announced after this read wakes us (Notify
            // keeps the permit), and one announced before it is seen by the read.
            match db.get_execution(org, id).await {
                Ok(Some(e)) if e.status.is_terminal() => return Some(e),
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => tracing::warn!(execution = %id, error = %e, "cannot read the execution waited for"),
            }
            let poll = if self.listening.load(Ordering::Relaxed) { LISTENING_POLL } else { POLL };
            let next = (Instant::now() + poll).min(deadline);
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep_until(next) => {}
            }
            if Instant::now() >= deadline {
                // One last look: it may have ended right at the deadline.
                return db.get_execution(org, id).await.ok().flatten().filter(|e| e.status.is_terminal());
            }
        }
    }

    /// Starts the process's listener task once.
    fn start(self: &Arc<Self>, db: &Db) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        // Only a weak reference: the task must not keep the state of a dropped app alive.
        let waiters = Arc::downgrade(self);
        let db = db.clone();
        let listening = self.listening.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            let mut listener = loop {
                match db.listen().await {
                    Ok(Some(l)) => break l,
                    Ok(None) => return, // SQLite: waiters poll
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for finished executions; polling meanwhile");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            };
            listening.store(true, Ordering::Relaxed);
            loop {
                let n = listener.recv().await;
                let Some(waiters) = waiters.upgrade() else { return };
                let map = waiters.by_id.lock().expect("waiters lock");
                match n {
                    Notification::Finished(id) => {
                        for (_, wake) in map.get(&id).into_iter().flatten() {
                            wake.notify_one();
                        }
                    }
                    // Some notifications may be lost: every waiter re-reads its execution.
                    Notification::Lagged => {
                        for (_, wake) in map.values().flatten() {
                            wake.notify_one();
                        }
                    }
                    Notification::Queued => {}
                }
            }
        });
    }
}
