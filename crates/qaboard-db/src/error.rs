//! Errors of the persistence layer.
use thiserror::Error;

/// What can go wrong talking to the database. Variants carry data; the
/// English text is their `Display` (the API layer chooses the status).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DbError {
    /// The row asked for does not exist (404 at the API).
    #[error("{what} not found: {key}")]
    NotFound {
        /// What was looked for, e.g. `"output"`.
        what: &'static str,
        /// Its key as given, e.g. the id.
        key: String,
    },
    /// A key (e.g. a commit sha prefix) matches several rows (400 at the API).
    #[error("the {what} prefix {key} is ambiguous, it matches: {}", candidates.join(", "))]
    Ambiguous {
        /// What was looked for, e.g. `"commit"`.
        what: &'static str,
        /// The key as given.
        key: String,
        /// Full keys of (some of) the matching rows.
        candidates: Vec<String>,
    },
    /// The change conflicts with what is stored (409 at the API).
    #[error("{0}")]
    Conflict(String),
    /// Input that the database layer refuses (e.g. a value it cannot store).
    #[error("{0}")]
    Invalid(String),
    /// No connection could be taken from the pool in time.
    #[error("the database is busy: no connection available ({0})")]
    PoolExhausted(String),
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// A query failed. (diesel's `NotFound` becomes [`DbError::NotFound`].)
    #[error("database query failed")]
    Query(diesel::result::Error),
    /// Connecting failed.
    #[error("could not connect to the database")]
    Connection(#[from] diesel::ConnectionError),
    /// Running migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
}

impl DbError {
    /// True when the error is the caller's to fix (not found / invalid / conflict).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            DbError::NotFound { .. }
                | DbError::Ambiguous { .. }
                | DbError::Conflict(_)
                | DbError::Invalid(_)
        )
    }
}

impl From<diesel::result::Error> for DbError {
    /// A row that a query expected and did not find is a `NotFound` (404 at
    /// the API), whatever query asked for it; anything else is a `Query` error.
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => DbError::NotFound {
                what: "record",
                key: String::new(),
            },
            diesel::result::Error::DatabaseError(_, ref info)
                if is_unstorable_value(info.message()) =>
            {
                DbError::Invalid(format!(
                    "the database cannot store a value of this request: {}",
                    info.message()
                ))
            }
            e => DbError::Query(e),
        }
    }
}

/// Messages of the errors that mean "this value cannot be stored or
/// compared", not "the server is broken": PostgreSQL's data exceptions
/// (SQLSTATE class 22: NUL bytes, bad escapes, out-of-range numbers and
/// dates, over-long values) and program limits (class 54: an index row
/// over the btree maximum, nesting too deep), and SQLite's `SQLITE_TOOBIG`.
/// diesel does not expose the SQLSTATE, so the message is matched; the API
/// validates values before they reach the database, this is the safety net
/// that keeps one it missed a 400 instead of a 500 (docs/robustness.md,
/// "Values the databases cannot store").
const UNSTORABLE_MESSAGES: &[&str] = &[
    // class 22
    "invalid byte sequence",
    "unsupported unicode escape sequence",
    "untranslatable character",
    "out of range",
    "value too long",
    "numeric field overflow",
    "invalid input syntax",
    "invalid input value",
    "character with byte sequence",
    "invalid escape sequence",
    "cannot be represented",
    "string data right truncation",
    // class 54
    "index row size",
    "index row requires",
    "stack depth limit exceeded",
    "too many columns",
    "total size of jsonb",
    "exceeds the maximum",
    // SQLite
    "string or blob too big",
    "too big",
];

/// True when a database error message is one of [`UNSTORABLE_MESSAGES`].
pub fn is_unstorable_value(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    UNSTORABLE_MESSAGES.iter().any(|p| m.contains(p))
}

#[cfg(test)]
mod tests {
    use super::is_unstorable_value;

    #[test]
    fn data_exceptions_and_limits_are_recognised() {
        assert!(is_unstorable_value(
            "invalid byte sequence for encoding \"UTF8\": 0x00"
        ));
        assert!(is_unstorable_value(
            "index row size 3016 exceeds btree version 4 maximum 2704 for index \"x\""
        ));
        assert!(is_unstorable_value("timestamp out of range"));
        assert!(!is_unstorable_value(
            "duplicate key value violates unique constraint"
        ));
    }
}
