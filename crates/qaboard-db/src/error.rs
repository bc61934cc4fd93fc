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
            e => DbError::Query(e),
        }
    }
}
