//! [`Vault`]: seals, opens and re-wraps secrets with envelope encryption over a [`Keyring`].

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use zeroize::Zeroizing;

use crate::keyring::random_key;
use crate::sealed::{DATA_NONCE_LEN, KEY_LEN, WRAP_NONCE_LEN, WRAPPED_LEN};
use crate::{Aad, Keyring, Sealed, VaultError};

/// Domain separation of the two associated data strings, so that neither cipher's input can be
/// mistaken for the other's.
const WRAP_CONTEXT: &[u8] = b"weft-vault/v1/data-key\0";
const DATA_CONTEXT: &[u8] = b"weft-vault/v1/data\0";

/// Seals and opens secrets: a fresh data key per value, encrypted under the keyring's current
/// master key. See the crate documentation for the scheme.
#[derive(Debug, Clone)]
pub struct Vault {
    /// The master keys; the current one wraps new data keys.
    keyring: Keyring,
}

impl Vault {
    /// A vault over these master keys.
    pub fn new(keyring: Keyring) -> Vault {
        Vault { keyring }
    }

    /// The master keys of this vault.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Encrypts `plaintext` under a fresh random data key (XChaCha20-Poly1305, random 24-byte
    /// nonce) and wraps that data key under the current master key (AES-256-GCM, random 12-byte
    /// nonce). Both are bound to `aad`, the wrap also to the master key's id.
    ///
    /// # Errors
    /// [`VaultError::Random`] if the system random number generator fails;
    /// [`VaultError::Encrypt`] if the plaintext is beyond the cipher's limit (256 GiB).
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Sealed, VaultError> {
        let dek = random_key()?;
        let nonce = random_nonce::<XChaCha20Poly1305>()?;
        let ciphertext = XChaCha20Poly1305::new_from_slice(dek.as_ref())
            .expect("a data key is 32 bytes")
            .encrypt(&nonce, Payload { msg: plaintext, aad: &data_aad(aad) })
            .map_err(|_| VaultError::Encrypt)?;
        let mut data = Vec::with_capacity(DATA_NONCE_LEN + ciphertext.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&ciphertext);
        let (key_id, _) = self.keyring.current();
        Ok(Sealed { key_id: key_id.to_owned(), wrapped: self.wrap(&dek, aad)?, data })
    }

    /// Decrypts a sealed value, checking that it was sealed with this very `aad`.
    ///
    /// # Errors
    /// - [`VaultError::UnknownKey`] if its master key is not in the keyring (naming its id);
    /// - [`VaultError::KeyUnwrap`] if the wrapped data key does not authenticate: altered wrapped
    ///   key, wrap nonce or key id, or another record's, field's or organization's `aad`;
    /// - [`VaultError::Decrypt`] if the data does not authenticate: altered ciphertext or nonce.
    pub fn open(&self, sealed: &Sealed, aad: &Aad) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let dek = self.unwrap(sealed, aad)?;
        let (nonce, ciphertext) = sealed.data.split_at(DATA_NONCE_LEN);
        let nonce = <&Nonce<XChaCha20Poly1305>>::try_from(nonce).expect("the data nonce is 24 bytes");
        XChaCha20Poly1305::new_from_slice(dek.as_ref())
            .expect("a data key is 32 bytes")
            .decrypt(nonce, Payload { msg: ciphertext, aad: &data_aad(aad) })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Decrypt)
    }

    /// Re-wraps the value's data key under the current master key, leaving the encrypted data
    /// as it is (the data is not decrypted, so re-wrapping costs the same for any size). The
    /// result opens with the same `aad`, also in a vault that no longer holds the old key.
    ///
    /// # Errors
    /// As [`Vault::open`]'s [`VaultError::UnknownKey`] and [`VaultError::KeyUnwrap`] (the data
    /// itself is not checked), and [`VaultError::Random`].
    pub fn rewrap(&self, sealed: &Sealed, aad: &Aad) -> Result<Sealed, VaultError> {
        let dek = self.unwrap(sealed, aad)?;
        let (key_id, _) = self.keyring.current();
        Ok(Sealed { key_id: key_id.to_owned(), wrapped: self.wrap(&dek, aad)?, data: sealed.data.clone() })
    }

    /// `wrap nonce ‖ AES-256-GCM(current master key, dek) ‖ tag`.
    fn wrap(&self, dek: &[u8; KEY_LEN], aad: &Aad) -> Result<[u8; WRAPPED_LEN], VaultError> {
        let (key_id, kek) = self.keyring.current();
        let nonce = random_nonce::<Aes256Gcm>()?;
        let wrapped = Aes256Gcm::new_from_slice(kek.as_ref())
            .expect("a master key is 32 bytes")
            .encrypt(&nonce, Payload { msg: dek, aad: &wrap_aad(key_id, aad) })
            .map_err(|_| VaultError::Encrypt)?;
        let mut out = [0u8; WRAPPED_LEN];
        out[..WRAP_NONCE_LEN].copy_from_slice(&nonce);
        out[WRAP_NONCE_LEN..].copy_from_slice(&wrapped);
        Ok(out)
    }

    /// The value's data key, unwrapped with the master key it names.
    fn unwrap(&self, sealed: &Sealed, aad: &Aad) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        let key_id = sealed.key_id();
        let Some(kek) = self.keyring.get(key_id) else {
            return Err(VaultError::UnknownKey { key_id: key_id.to_owned(), available: self.keyring.ids().join(", ") });
        };
        let (nonce, wrapped) = sealed.wrapped.split_at(WRAP_NONCE_LEN);
        let nonce = <&Nonce<Aes256Gcm>>::try_from(nonce).expect("the wrap nonce is 12 bytes");
        let dek = Aes256Gcm::new_from_slice(kek.as_ref())
            .expect("a master key is 32 bytes")
            .decrypt(nonce, Payload { msg: wrapped, aad: &wrap_aad(key_id, aad) })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::KeyUnwrap { key_id: key_id.to_owned() })?;
        let dek: &[u8; KEY_LEN] = dek.as_slice().try_into().expect("a wrapped data key holds 32 bytes");
        Ok(Zeroizing::new(*dek))
    }
}

/// A fresh random nonce for cipher `A`.
fn random_nonce<A: aes_gcm::aead::AeadCore>() -> Result<Nonce<A>, VaultError> {
    Nonce::<A>::try_generate().map_err(|e| VaultError::Random(e.to_string()))
}

/// What the data key's wrap authenticates: context, master key id (length-prefixed), aad.
fn wrap_aad(key_id: &str, aad: &Aad) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAP_CONTEXT.len() + 8 + key_id.len() + aad.as_bytes().len());
    out.extend_from_slice(WRAP_CONTEXT);
    out.extend_from_slice(&(key_id.len() as u64).to_be_bytes());
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(aad.as_bytes());
    out
}

/// What the data's encryption authenticates: context, aad.
fn data_aad(aad: &Aad) -> Vec<u8> {
    [DATA_CONTEXT, aad.as_bytes()].concat()
}
