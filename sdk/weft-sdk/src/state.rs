//! Persisted key-value state of the component's scope (which instance, flow or customer it
//! belongs to is decided by the host). Values are JSON; use it for cursors and de-duplication.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// Reads `key`; `None` when it was never set (or was deleted).
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match crate::sys::state_get(key)? {
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::internal(format!("state key '{key}' does not hold the expected value: {e}"))),
        None => Ok(None),
    }
}

/// Writes `key`.
pub fn set<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    let text = serde_json::to_string(value)?;
    crate::sys::state_set(key, &text)
}

/// Deletes `key` (no error when it is absent).
pub fn delete(key: &str) -> Result<(), Error> {
    crate::sys::state_delete(key)
}
