//! [`Aad`]: the associated data that binds a sealed value to the place it belongs — organization,
//! owner and field — so that a ciphertext copied anywhere else fails to open.

use std::fmt;

/// The associated data of a sealed value: `(organization id, owner, field)`, for example
/// `("org_1", "connection:con_9", "api_key")`.
///
/// It is authenticated, not stored: the caller rebuilds it from where the value is read and
/// passes it to [`crate::Vault::open`], which fails unless it equals the one given to
/// [`crate::Vault::seal`]. The encoding ([`Aad::as_bytes`]) prefixes each part with its length
/// (8 bytes, big-endian), so no two different triples encode alike: `("a:b", "c")` and
/// `("a", "b:c")` differ, as would any plain join.
#[derive(Clone, PartialEq, Eq)]
pub struct Aad {
    /// The three parts, kept for `Debug`.
    parts: [String; 3],
    /// `len(organization) ‖ organization ‖ len(owner) ‖ owner ‖ len(field) ‖ field`.
    encoded: Vec<u8>,
}

impl Aad {
    /// The associated data of the secret `field` of `owner` (a kind and id, such as
    /// `connection:con_9`) in organization `organization`.
    pub fn new(organization: &str, owner: &str, field: &str) -> Aad {
        let mut encoded = Vec::with_capacity(24 + organization.len() + owner.len() + field.len());
        for part in [organization, owner, field] {
            encoded.extend_from_slice(&(part.len() as u64).to_be_bytes());
            encoded.extend_from_slice(part.as_bytes());
        }
        Aad { parts: [organization.to_owned(), owner.to_owned(), field.to_owned()], encoded }
    }

    /// The organization id.
    pub fn organization(&self) -> &str {
        &self.parts[0]
    }

    /// The owner of the secret (for example `connection:con_9`).
    pub fn owner(&self) -> &str {
        &self.parts[1]
    }

    /// The field that holds the secret (for example `api_key`).
    pub fn field(&self) -> &str {
        &self.parts[2]
    }

    /// The unambiguous encoding that the ciphers authenticate.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }
}

impl fmt::Debug for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aad")
            .field("organization", &self.parts[0])
            .field("owner", &self.parts[1])
            .field("field", &self.parts[2])
            .finish()
    }
}
