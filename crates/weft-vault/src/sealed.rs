//! [`Sealed`]: one encrypted secret and its stable text form
//! `v1.<key id>.<wrapped data key>.<encrypted data>`, fit for a TEXT column.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::VaultError;
use crate::keyring::check_key_id;

/// The version tag that opens every text form this build writes (and the only one it reads).
pub(crate) const VERSION: &str = "v1";
/// Length of the AES-256-GCM nonce in front of the wrapped data key.
pub(crate) const WRAP_NONCE_LEN: usize = 12;
/// Length of a data key (XChaCha20-Poly1305 key) and of a master key (AES-256-GCM key).
pub(crate) const KEY_LEN: usize = 32;
/// Length of the authentication tag of both ciphers.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the whole wrapped part: nonce, encrypted data key, tag.
pub(crate) const WRAPPED_LEN: usize = WRAP_NONCE_LEN + KEY_LEN + TAG_LEN;
/// Length of the XChaCha20-Poly1305 nonce in front of the data ciphertext.
pub(crate) const DATA_NONCE_LEN: usize = 24;

/// One sealed secret: the id of the master key that wraps its data key, the wrapped data key,
/// and the data encrypted under that data key.
///
/// Its text form ([`Display`](fmt::Display), [`Sealed::parse`]) is
///
/// ```text
/// v1.<key id>.<base64url(wrap nonce ‖ wrapped data key ‖ tag)>.<base64url(data nonce ‖ ciphertext ‖ tag)>
/// ```
///
/// with base64url without padding (RFC 4648 §5). The third part is always 60 bytes (80
/// characters): a 12-byte AES-256-GCM nonce, the 32-byte data key encrypted, a 16-byte tag. The
/// fourth is a 24-byte XChaCha20-Poly1305 nonce, the ciphertext (as long as the plaintext) and a
/// 16-byte tag. Key ids are 1–32 characters of `A-Z a-z 0-9 _ -`, so `.` never occurs in one.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Which master key wraps the data key.
    pub(crate) key_id: String,
    /// `wrap nonce ‖ AES-256-GCM(master key, data key) ‖ tag`.
    pub(crate) wrapped: [u8; WRAPPED_LEN],
    /// `data nonce ‖ XChaCha20-Poly1305(data key, plaintext) ‖ tag`.
    pub(crate) data: Vec<u8>,
}

impl Sealed {
    /// Parses the text form written by [`Display`](fmt::Display).
    ///
    /// # Errors
    /// [`VaultError::Malformed`] naming the part that is wrong: the number of parts, the version,
    /// the key id, or a part that is not base64url or has the wrong length.
    pub fn parse(text: &str) -> Result<Sealed, VaultError> {
        let malformed = |problem: String| VaultError::Malformed { problem };
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [version, key_id, wrapped, data] = parts[..] else {
            return Err(malformed(format!(
                "expected 4 parts separated by `.` (v1.<key id>.<wrapped data key>.<encrypted data>), found {}",
                parts.len()
            )));
        };
        if version != VERSION {
            let shown: String = version.chars().take(16).collect();
            return Err(malformed(format!("unsupported version `{shown}` (this build reads `{VERSION}`)")));
        }
        check_key_id(key_id).map_err(|problem| malformed(format!("the key id {problem}")))?;
        let wrapped = URL_SAFE_NO_PAD
            .decode(wrapped)
            .map_err(|_| malformed("the wrapped data key (part 3) is not unpadded base64url".into()))?;
        let wrapped: [u8; WRAPPED_LEN] = wrapped.try_into().map_err(|w: Vec<u8>| {
            malformed(format!(
                "the wrapped data key (part 3) is {} bytes, expected {WRAPPED_LEN} \
                 ({WRAP_NONCE_LEN}-byte nonce, {KEY_LEN}-byte key, {TAG_LEN}-byte tag)",
                w.len()
            ))
        })?;
        let data = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| malformed("the encrypted data (part 4) is not unpadded base64url".into()))?;
        if data.len() < DATA_NONCE_LEN + TAG_LEN {
            return Err(malformed(format!(
                "the encrypted data (part 4) is {} bytes, shorter than its {DATA_NONCE_LEN}-byte nonce and \
                 {TAG_LEN}-byte tag",
                data.len()
            )));
        }
        Ok(Sealed { key_id: key_id.to_owned(), wrapped, data })
    }

    /// The id of the master key that wraps this value's data key: values whose id is not the
    /// keyring's current one are the ones to [`crate::Vault::rewrap`] after a rotation.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl fmt::Display for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (wrapped, data) = (URL_SAFE_NO_PAD.encode(self.wrapped), URL_SAFE_NO_PAD.encode(&self.data));
        write!(f, "{VERSION}.{}.{wrapped}.{data}", self.key_id)
    }
}

impl FromStr for Sealed {
    type Err = VaultError;

    fn from_str(text: &str) -> Result<Sealed, VaultError> {
        Sealed::parse(text)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("ciphertext_len", &self.data.len().saturating_sub(DATA_NONCE_LEN + TAG_LEN))
            .finish_non_exhaustive()
    }
}
