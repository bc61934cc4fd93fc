//! The query code of [`crate::queries`](../queries/index.html), compiled once
//! per backend from the same files: [`pg`] and [`sqlite`] each set the
//! backend's connection type, schema and SQL differences, then mount the
//! shared `queries/` folder with `#[path]`. [`crate::dispatch!`] and
//! [`crate::dispatch_tx!`] pick the module of a connection (in the spirit of
//! vaultwarden's `db_run!`), so there are never two hand-kept copies.

#[cfg(feature = "postgres")]
pub(crate) mod pg;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

#[cfg(not(any(feature = "postgres", feature = "sqlite")))]
compile_error!("qaboard-db needs at least one backend: feature `postgres` or `sqlite`");
