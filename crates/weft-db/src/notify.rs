//! Wake-ups across processes through PostgreSQL `LISTEN/NOTIFY`, so idle nodes need not poll
//! the database hard: an api node that enqueued work says so on `weft_queued`, a runner that
//! finished executions says so on `weft_finished` (payload: their ids, comma-separated), and a
//! [`Listener`] (one dedicated connection per process) hears both.
//!
//! Finished ids are not announced one statement each: they are gathered and announced by one
//! `pg_notify` inside the next group transaction (see `group`), which under load runs anyway.
//! PostgreSQL delivers it at that commit, after the finishes it announces were committed.
//!
//! Notifications are hints, never the source of truth: they are not delivered while a
//! listener's connection is down, and PostgreSQL delivers them to every database session
//! listening (channels are per database, not per schema). So whoever waits keeps a slow poll
//! as fallback and re-reads the database when woken; [`Notification::Lagged`] says that some
//! notifications may have been missed. On SQLite everything here is a no-op (one process owns
//! the file, so in-process wake-ups are enough) and [`Db::listen`] gives `None`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Executor;
use sqlx::postgres::PgListener;

use crate::{Backend, Db, DbError};

/// Channel of "an execution was queued (or handed back): claim".
const QUEUED: &str = "weft_queued";
/// Channel of "this execution ended" (payload: its id), for api nodes answering sync webhooks.
const FINISHED: &str = "weft_finished";
/// Longest wait between two reconnection attempts of a listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest payload of one `weft_finished` notification: PostgreSQL refuses payloads of 8000
/// bytes or more.
const MAX_PAYLOAD: usize = 7900;

/// What a [`Listener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// Work was queued somewhere: claim.
    Queued,
    /// The execution with this id reached a final status.
    Finished(String),
    /// The listener's connection was lost and is back: notifications sent meanwhile are gone,
    /// so re-check whatever was being waited for.
    Lagged,
}

/// A dedicated PostgreSQL connection listening on Weft's channels; reconnects by itself.
pub struct Listener {
    url: Arc<str>,
    /// `None` while disconnected: the next [`Listener::recv`] reconnects (with backoff).
    conn: Option<PgListener>,
    /// Ids of a `weft_finished` payload not yet handed out (one payload announces many).
    pending: VecDeque<String>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("connected", &self.conn.is_some()).finish_non_exhaustive()
    }
}

impl Listener {
    async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
        let mut l = PgListener::connect(url).await?;
        l.listen_all([QUEUED, FINISHED]).await?;
        Ok(l)
    }

    /// The next notification. Never fails: on a connection error it reconnects, backing off up
    /// to 5 s between attempts while the database is unreachable, and then yields
    /// [`Notification::Lagged`]. Cancel-safe only between notifications: keep one task
    /// calling it in a loop rather than racing it in a `select!`.
    pub async fn recv(&mut self) -> Notification {
        if let Some(id) = self.pending.pop_front() {
            return Notification::Finished(id);
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            let Some(conn) = self.conn.as_mut() else {
                match Self::connect(&self.url).await {
                    Ok(l) => {
                        self.conn = Some(l);
                        return Notification::Lagged;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reconnect the notification listener");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            };
            match conn.try_recv().await {
                Ok(Some(n)) => match n.channel() {
                    QUEUED => return Notification::Queued,
                    FINISHED => {
                        self.pending.extend(n.payload().split(',').filter(|id| !id.is_empty()).map(str::to_string));
                        match self.pending.pop_front() {
                            Some(id) => return Notification::Finished(id),
                            None => continue,
                        }
                    }
                    _ => continue,
                },
                // The connection dropped and sqlx reconnected (re-subscribing): some
                // notifications may have been sent in between.
                Ok(None) => return Notification::Lagged,
                Err(e) => {
                    // Not every failure makes sqlx drop its connection (a reset one, say), so
                    // start over with a fresh one rather than retrying a dead socket forever.
                    tracing::warn!(error = %e, "notification listener lost its connection");
                    self.conn = None;
                }
            }
        }
    }
}

impl Db {
    /// Opens a listener on Weft's channels: `None` on SQLite (nothing to listen to there).
    pub async fn listen(&self) -> Result<Option<Listener>, DbError> {
        let (Backend::Postgres, Some(url)) = (self.backend, &self.pg_url) else {
            return Ok(None);
        };
        let conn = Listener::connect(url).await?;
        Ok(Some(Listener { url: url.clone(), conn: Some(conn), pending: VecDeque::new() }))
    }

    /// Wakes the runners of every node: work was queued (call it after the commit, so a woken
    /// runner finds it). No-op on SQLite.
    pub async fn notify_queued(&self) -> Result<(), DbError> {
        self.notify(QUEUED, "").await
    }

    /// Tells api nodes waiting for `execution_id` that it ended (call it after the commit of its
    /// end). Returns at once: the id joins the others waiting to be announced, and the next
    /// group transaction announces them all with one statement (best effort, like every
    /// notification: a failure is logged). No-op on SQLite.
    pub async fn notify_finished(&self, execution_id: &str) -> Result<(), DbError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let first = {
            let mut ids = self.group.finished.lock().expect("finished ids lock");
            ids.push(execution_id.to_string());
            ids.len() == 1
        };
        // The first id of a round queues the job that will take all of them; later ones ride
        // along until that job runs.
        if first {
            let gathered = self.group.finished.clone();
            let taken: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
            self.group.send(Arc::new(move |conn| {
                // Taken once, so that a re-run (after a failed batch) announces the same ids.
                let ids = taken
                    .lock()
                    .expect("taken ids lock")
                    .get_or_insert_with(|| std::mem::take(&mut *gathered.lock().expect("finished ids lock")))
                    .clone();
                Box::pin(async move {
                    for payload in payloads(&ids) {
                        sqlx::query(NOTIFY).bind(FINISHED).bind(payload).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            }));
        }
        Ok(())
    }

    async fn notify(&self, channel: &str, payload: &str) -> Result<(), DbError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let query = sqlx::query(NOTIFY).bind(channel).bind(payload);
        self.write.execute(query).await?;
        Ok(())
    }
}

/// `pg_notify` returns `void`, a type the Any driver cannot decode: select a constant.
const NOTIFY: &str = "SELECT 1 AS sent FROM (SELECT pg_notify($1, $2)) AS n";

/// `ids` comma-joined into as few payloads as fit PostgreSQL's limit.
fn payloads(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        match out.last_mut() {
            Some(p) if p.len() + 1 + id.len() <= MAX_PAYLOAD => {
                p.push(',');
                p.push_str(id);
            }
            _ => out.push(id.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_the_limit_and_keep_every_id() {
        let ids: Vec<String> = (0..1000).map(|i| format!("exe_{i:030}")).collect();
        let p = payloads(&ids);
        assert!(p.len() > 1);
        assert!(p.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let back: Vec<String> = p.iter().flat_map(|p| p.split(',')).map(str::to_string).collect();
        assert_eq!(back, ids);
        assert!(payloads(&[]).is_empty());
    }
}
