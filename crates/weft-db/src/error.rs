//! The storage error type: what went wrong, in terms a caller can match on (missing, conflicting,
//! lease lost, invalid input) plus the underlying driver and migration errors.

/// An error from a storage operation.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The named object does not exist (in this organization), e.g. `"customer cus_…"`.
    #[error("{0} not found")]
    NotFound(String),
    /// The write would break a uniqueness or referential rule; the message says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller no longer holds the execution's lease (it expired and another runner claimed
    /// it, or the execution finished): its results must be discarded.
    #[error("lease lost: {0}")]
    LeaseLost(String),
    /// The input cannot be stored as given (bad URL, bad cursor, bad status, …).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A secret could not be sealed or opened: no master key, a missing key id, or a sealed
    /// value that does not belong where it was found. The message names the instance and key.
    #[error("secret: {0}")]
    Secret(String),
    /// An execution that started before its creation committed was not stored (see
    /// [`crate::Creation`]); the message says why.
    #[error("{0}")]
    NotCreated(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Whether the driver error is a unique-constraint violation (mapped to [`DbError::Conflict`]
    /// by the operations that can cause one).
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
    }

    pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(e) if e.is_foreign_key_violation())
    }
}
