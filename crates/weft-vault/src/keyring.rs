//! [`Keyring`]: the master keys (key encryption keys) a vault may unwrap with, one of them
//! current, and how `WEFT_MASTER_KEY` is parsed. The key file lives in `keyfile.rs`.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use crate::VaultError;
use crate::sealed::KEY_LEN;

/// The id given to a master key that `WEFT_MASTER_KEY` holds alone, without an id.
pub const ENV_SINGLE_KEY_ID: &str = "env1";

/// The longest key id accepted.
const MAX_KEY_ID_LEN: usize = 32;

/// One master key: 32 bytes, wiped from memory when dropped.
pub(crate) type MasterKey = Zeroizing<[u8; KEY_LEN]>;

/// The master keys of a vault, in the order they were listed, one of them current.
///
/// New values are wrapped under the current key; any key in the ring can unwrap. Keys are
/// wiped from memory when the keyring is dropped, and `Debug` shows ids only.
#[derive(Clone)]
pub struct Keyring {
    /// `(id, key)` in the order of the source; ids are unique and valid ([`check_key_id`]).
    keys: Vec<(String, MasterKey)>,
    /// Index into `keys` of the key new values are wrapped under.
    current: usize,
}

impl Keyring {
    /// Builds a keyring from checked entries; `current` must be one of their ids.
    pub(crate) fn new(keys: Vec<(String, MasterKey)>, current: &str) -> Option<Keyring> {
        let current = keys.iter().position(|(id, _)| id == current)?;
        Some(Keyring { keys, current })
    }

    /// Parses the value of `WEFT_MASTER_KEY`: either one base64 32-byte key (standard or
    /// URL-safe alphabet, padding optional), whose id is `env1`, or a comma-separated list of
    /// `id:base64` entries whose **last** entry is the current key, e.g. `k1:…,k2:…`.
    ///
    /// # Errors
    /// [`VaultError::MasterKeyEnv`] naming the problem and the entry (by position or id): empty
    /// value or entry, missing `id:`, empty or invalid id, duplicate id, bad base64, a key that is
    /// not 32 bytes. Key material never appears in the message.
    pub fn from_env_value(value: &str) -> Result<Keyring, VaultError> {
        let err = |problem: String| VaultError::MasterKeyEnv { problem };
        let value = value.trim();
        if value.is_empty() {
            return Err(err("is empty; expected a base64 32-byte key or `id:base64,…` entries".into()));
        }
        if !value.contains([',', ':']) {
            let key = decode_key(value).map_err(|problem| err(format!("the key {problem}")))?;
            return Ok(Keyring { keys: vec![(ENV_SINGLE_KEY_ID.to_owned(), key)], current: 0 });
        }
        let mut keys: Vec<(String, MasterKey)> = Vec::new();
        for (n, entry) in value.split(',').map(str::trim).enumerate().map(|(i, e)| (i + 1, e)) {
            if entry.is_empty() {
                return Err(err(format!("entry {n} is empty (a stray comma?)")));
            }
            let Some((id, key)) = entry.split_once(':') else {
                return Err(err(format!(
                    "entry {n} has no `id:` prefix; expected `id:base64` entries separated by commas"
                )));
            };
            let id = id.trim();
            check_key_id(id).map_err(|problem| err(format!("the key id of entry {n} {problem}")))?;
            if keys.iter().any(|(seen, _)| seen == id) {
                return Err(err(format!("key id `{id}` appears more than once")));
            }
            let key = decode_key(key.trim()).map_err(|problem| err(format!("key `{id}` {problem}")))?;
            keys.push((id.to_owned(), key));
        }
        let current = keys.len() - 1;
        Ok(Keyring { keys, current })
    }

    /// The id of the key new values are wrapped under.
    pub fn current_id(&self) -> &str {
        &self.keys[self.current].0
    }

    /// The ids of all keys, in the order of their source (env list or key file).
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The current key and its id.
    pub(crate) fn current(&self) -> (&str, &MasterKey) {
        let (id, key) = &self.keys[self.current];
        (id, key)
    }

    /// The key with this id.
    pub(crate) fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }

    /// All `(id, key)` entries, in order.
    pub(crate) fn entries(&self) -> &[(String, MasterKey)] {
        &self.keys
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current_id()).field("ids", &self.ids()).finish()
    }
}

/// Checks a key id: 1–32 characters of `A-Z a-z 0-9 _ -` (so it can never contain the `.` of
/// the sealed text form, nor the `,`/`:` of `WEFT_MASTER_KEY`). The error completes a sentence
/// ("the key id …") and never quotes the id, which might be misplaced key material.
pub(crate) fn check_key_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    if id.len() > MAX_KEY_ID_LEN {
        return Err(format!("is longer than {MAX_KEY_ID_LEN} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("may only contain A-Z, a-z, 0-9, `_` and `-`".into());
    }
    Ok(())
}

/// Decodes one base64 master key, standard or URL-safe alphabet, padded or not. The error
/// completes a sentence ("key `k1` …") and never contains the input.
pub(crate) fn decode_key(text: &str) -> Result<MasterKey, String> {
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let alphabet = if text.contains(['-', '_']) { &alphabet::URL_SAFE } else { &alphabet::STANDARD };
    // Sized up front so that decoding never reallocates and leaves a copy behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(text.len() / 4 * 3 + 3));
    GeneralPurpose::new(alphabet, LENIENT)
        .decode_vec(text, &mut bytes)
        .map_err(|_| "is not valid base64 (standard or URL-safe alphabet)".to_owned())?;
    let key: &[u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "decodes to {} bytes; a master key is {KEY_LEN} random bytes (e.g. `openssl rand -base64 32`)",
            bytes.len()
        )
    })?;
    Ok(Zeroizing::new(*key))
}

/// A fresh random master key or data key.
pub(crate) fn random_key() -> Result<MasterKey, VaultError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(key.as_mut()).map_err(|e| VaultError::Random(e.to_string()))?;
    Ok(key)
}
