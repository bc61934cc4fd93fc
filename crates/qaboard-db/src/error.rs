//! Errors of the persistence layer.
use thiserror::Error;

/// What can go wrong talking to the database.
#[derive(Debug, Error)]
pub enum DbError {
    /// The row asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is inconsistent with what is stored (e.g. an ambiguous prefix).
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
            DbError::NotFound(_) | DbError::Conflict(_) | DbError::Invalid(_)
        )
    }
}

impl From<diesel::result::Error> for DbError {
    /// A row that a query expected and did not find is a `NotFound` (404 at
    /// the API), whatever query asked for it; anything else is a `Query` error.
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => DbError::NotFound("record not found".into()),
            e => DbError::Query(e),
        }
    }
}
