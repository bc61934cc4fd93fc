//! The query code of [`crate::queries`](../queries/index.html), compiled once
//! per backend from the same files: [`pg`] and [`sqlite`] each set the
//! backend's connection type, schema and SQL differences, then mount the
//! shared `queries/` folder with `#[path]`. [`crate::dispatch!`] and
//! [`crate::dispatch_tx!`] pick the module of a connection (in the spirit of
//! vaultwarden's `db_run!`), so there are never two hand-kept copies.

pub(crate) mod pg;
pub(crate) mod sqlite;
