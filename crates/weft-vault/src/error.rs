//! The one error type of the crate, [`VaultError`]: each variant names what went wrong and,
//! where there is one, the fix. No message ever contains key material or plaintext.

use std::path::PathBuf;

/// What went wrong while sealing, opening or re-wrapping a secret, or loading master keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The text form of a sealed value could not be parsed.
    #[error("malformed sealed value: {problem}")]
    Malformed {
        /// What is wrong with it (never the value itself).
        problem: String,
    },

    /// The value was sealed under a master key that this keyring does not hold.
    #[error(
        "the value is sealed under master key `{key_id}`, which is not in the keyring (it has: {available}); \
         load that key again, or re-wrap the value before retiring the key"
    )]
    UnknownKey {
        /// The key id named by the sealed value.
        key_id: String,
        /// The ids the keyring does hold, comma-separated.
        available: String,
    },

    /// The wrapped data key did not authenticate under its master key.
    #[error(
        "the data key wrapped under master key `{key_id}` failed authentication: the wrapped key or its \
         nonce was altered, the key id was changed, or the value belongs to another organization, owner \
         or field"
    )]
    KeyUnwrap {
        /// The key id named by the sealed value.
        key_id: String,
    },

    /// The data ciphertext did not authenticate under its (correctly unwrapped) data key.
    #[error(
        "the encrypted data failed authentication: the ciphertext or its nonce was altered, or it was \
         moved to another value's wrapped key"
    )]
    Decrypt,

    /// Encryption itself failed (the plaintext exceeds what the cipher can encrypt at once).
    #[error("encryption failed: the plaintext is too large for one sealed value")]
    Encrypt,

    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),

    /// `WEFT_MASTER_KEY` could not be parsed.
    #[error("WEFT_MASTER_KEY: {problem}")]
    MasterKeyEnv {
        /// What is wrong with it (ids and positions only, never key material).
        problem: String,
    },

    /// The key file could not be parsed or holds invalid keys.
    #[error("key file {}: {problem}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it (ids and positions only, never key material).
        problem: String,
    },

    /// The key file can be read or written by its group or by others.
    #[error(
        "key file {} has mode {mode:04o}, which gives its group or others access to the master keys; \
         refusing to use it. Fix it with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileMode {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o7777`).
        mode: u32,
    },

    /// Reading or writing the key file (or its temporary sibling) failed.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file the operation was on.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}
