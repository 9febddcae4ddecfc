//! Small helpers shared by the per-object modules: id and secret generation, JSON columns,
//! row decoding and pagination.

use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{DbError, Page, Paged};

/// A new id: `prefix_` + UUIDv7 in simple form. UUIDv7 starts with the time, and `now_v7` is
/// monotonic within the process, so ids sort in creation order and work as cursors.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// `n` bytes from the OS random source, hex-encoded (2n characters).
pub(crate) fn random_hex(n: usize) -> Result<String, DbError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| {
        DbError::Sqlx(sqlx::Error::Io(std::io::Error::other(format!("the OS random number generator failed: {e}"))))
    })?;
    Ok(hex::encode(buf))
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A JSON value as stored in a TEXT column.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    // Serializing a `serde_json::Value` or a `Map` cannot fail (keys are strings).
    serde_json::to_string(v).expect("JSON values always serialize")
}

fn decode_err(col: &str, e: impl std::error::Error + Send + Sync + 'static) -> DbError {
    DbError::Sqlx(sqlx::Error::ColumnDecode { index: col.to_string(), source: Box::new(e) })
}

pub(crate) fn get_json<T: DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, DbError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| decode_err(col, e))
}

pub(crate) fn get_opt_json(row: &AnyRow, col: &str) -> Result<Option<Value>, DbError> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| decode_err(col, e))).transpose()
}

pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool, DbError> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Turns `limit + 1` fetched rows into a page: the extra row only proves there is a next page.
pub(crate) fn paginate<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> String) -> Paged<T> {
    let limit = limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor_of)
    } else {
        None
    };
    Paged { items, next_cursor }
}

/// The cursor of a listing ordered by id: the last id of the previous page, which must be an id
/// of that kind (`cus_` + 32 hex digits), so a mangled cursor is an error rather than a
/// silently wrong page.
pub(crate) fn id_cursor<'p>(page: &'p Page, prefix: &str) -> Result<Option<&'p str>, DbError> {
    let Some(c) = page.cursor.as_deref() else { return Ok(None) };
    let ok = c
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok { Ok(Some(c)) } else { Err(DbError::Invalid(format!("cursor `{c}` is not a cursor of this listing"))) }
}

/// The cursor of a listing ordered by a numeric column (versions, log lines).
pub(crate) fn numeric_cursor(page: &Page) -> Result<Option<i64>, DbError> {
    page.cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| DbError::Invalid(format!("cursor `{c}` is not a cursor of this listing")))
        })
        .transpose()
}

/// Builds `WHERE`-clause fragments with numbered placeholders for listings whose filters are
/// optional. Only fixed SQL text goes in; values are always bound.
pub(crate) struct Filters {
    pub(crate) sql: String,
    pub(crate) next: usize,
}

impl Filters {
    /// Starts after `used` placeholders already in the statement.
    pub(crate) fn new(used: usize) -> Filters {
        Filters { sql: String::new(), next: used + 1 }
    }

    /// Appends ` AND <column> <op> $n` and returns nothing; the caller binds in the same order.
    pub(crate) fn push(&mut self, column: &str, op: &str) {
        use std::fmt::Write;
        let _ = write!(self.sql, " AND {column} {op} ${}", self.next);
        self.next += 1;
    }

    /// The next free placeholder number (for LIMIT).
    pub(crate) fn placeholder(&mut self) -> String {
        let p = format!("${}", self.next);
        self.next += 1;
        p
    }
}

/// `($k, $k+1, …), (…)` for a multi-row INSERT of `rows` rows of `cols` columns, numbered from
/// placeholder `$first`.
pub(crate) fn values_placeholders(rows: usize, cols: usize, first: usize) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "${}", first + r * cols + c);
        }
        s.push(')');
    }
    s
}
