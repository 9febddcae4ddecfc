//! A short-lived cache of webhook targets (token → instance and flow), so a busy webhook does
//! not read its instance from the database on every delivery.
//!
//! Entries live at most [`TTL`]. Every change this node makes to an instance or a customer
//! (pause, resume, upgrade, delete, settings, customer edits) clears the cache at once, so this
//! node always answers from what it wrote. Changes made through ANOTHER api node reach this one
//! within [`TTL`]: for up to one second a paused instance may still accept a delivery here, or
//! an upgraded one run its previous version.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use weft_db::{Db, DbError, WebhookTarget};

/// How long a cached target is trusted.
pub const TTL: Duration = Duration::from_secs(1);
/// Tokens kept at most; past it the cache starts over (a burst of distinct tokens must not grow
/// memory without bound).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct Targets {
    map: Mutex<HashMap<String, (Instant, WebhookTarget)>>,
}

impl Targets {
    /// The target of `token`: from the cache when fresh, else read (and remembered).
    pub(crate) async fn get(&self, db: &Db, token: &str) -> Result<Option<WebhookTarget>, DbError> {
        if let Some((at, t)) = self.map.lock().expect("targets lock").get(token)
            && at.elapsed() < TTL
        {
            return Ok(Some(t.clone()));
        }
        let target = db.webhook_target(token).await?;
        if let Some(t) = &target {
            let mut map = self.map.lock().expect("targets lock");
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(token.to_string(), (Instant::now(), t.clone()));
        }
        Ok(target)
    }

    /// Forgets everything: called after every change to an instance or customer.
    pub(crate) fn clear(&self) {
        self.map.lock().expect("targets lock").clear();
    }
}
