//! Envelope encryption of secrets at rest: connection fields, secret config values, OAuth
//! tokens. Pure functions and types over bytes and files — no database, no HTTP; storage calls
//! [`Vault::seal`] before it writes a secret and [`Vault::open`] after it reads one.
//!
//! # The scheme
//!
//! A [`Keyring`] holds **master keys** (key encryption keys): 32 random bytes each, with a
//! short id (`k1`, `k2`, … or `env1`), one of them *current*. Sealing a value
//!
//! 1. draws a fresh random 32-byte **data key** for this one value;
//! 2. encrypts the plaintext with the data key under **XChaCha20-Poly1305** with a random
//!    24-byte nonce;
//! 3. **wraps** (encrypts) the data key with the current master key under **AES-256-GCM** with
//!    a random 12-byte nonce;
//! 4. keeps the master key's id, the wrapped data key and the encrypted data: a [`Sealed`].
//!
//! Opening reverses this with the master key the value names, so any key in the ring can still
//! open what it sealed. Data keys, master keys and decrypted plaintext live in
//! [`zeroize::Zeroizing`] buffers (and the ciphers' key schedules are wiped on drop), so they
//! are overwritten when dropped; this is best effort — a move may leave a copy on the stack.
//!
//! # What the associated data binds
//!
//! Both ciphers authenticate an [`Aad`] built from `(organization id, owner, field)`, e.g.
//! `("org_1", "connection:con_9", "api_key")`, encoded with length prefixes so no two triples
//! collide. A sealed value copied to another record, field or organization therefore fails to
//! open ([`VaultError::KeyUnwrap`]), as does one whose key id was edited: the data key's wrap
//! also authenticates the master key id. Each cipher's associated data starts with its own
//! context string (`weft-vault/v1/data-key`, `weft-vault/v1/data`), so neither input can stand
//! in for the other. The aad is not stored: the caller rebuilds it from where it read the value.
//!
//! # Text form
//!
//! A [`Sealed`] is stored in a TEXT column as (base64url, no padding):
//!
//! ```text
//! v1.<key id>.<wrap nonce (12) ‖ wrapped data key (32) ‖ tag (16)>.<data nonce (24) ‖ ciphertext ‖ tag (16)>
//! ```
//!
//! for example `v1.k1.<80 characters>.<at least 54 characters>` (surrounding whitespace is
//! ignored when parsing). [`Sealed::key_id`] tells which master key a stored value needs
//! without decrypting anything.
//!
//! # Why two ciphers
//!
//! Data is encrypted under **XChaCha20-Poly1305** because its 192-bit nonces can be drawn at
//! random at any volume: the chance of two random nonces colliding stays negligible however
//! many values are sealed, and a repeated nonce is what breaks an AEAD. (Each data key
//! encrypts one value anyway; the large nonce keeps that safe even if a data key were ever
//! reused.) It is also fast in software, without AES instructions. The data key is wrapped
//! under **AES-256-GCM**, the cipher DESIGN.md names for secrets at rest and the usual one
//! for key wrapping: a wrap is one 32-byte message per value, so its 96-bit random nonces stay
//! far below the 2³² messages per master key that NIST SP 800-38D allows with random nonces,
//! and a rotation starts a fresh master key long before that.
//!
//! # Master keys and rotation
//!
//! Master keys come from `WEFT_MASTER_KEY` ([`Keyring::from_env_value`]) or from a key file
//! created with mode 0600 on first start ([`Keyring::load_or_create_file`]). To rotate, add a
//! key and make it current ([`Keyring::rotate_file`], or a new last entry in
//! `WEFT_MASTER_KEY`: `env1:<old key>,k2:<new key>`), then [`Vault::rewrap`] every value whose
//! [`Sealed::key_id`] is not [`Keyring::current_id`]: only the 60-byte wrapped data key
//! changes, the data stays as it is. Once none is left under an old key, that key can be
//! removed.
#![forbid(unsafe_code)]

mod aad;
mod error;
mod keyfile;
mod keyring;
mod sealed;
mod vault;

pub use aad::Aad;
pub use error::VaultError;
pub use keyring::{ENV_SINGLE_KEY_ID, Keyring};
pub use sealed::Sealed;
pub use vault::Vault;
pub use zeroize::Zeroizing;
