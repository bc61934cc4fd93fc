//! One test binary for the API crate's own integration tests (`/metrics` middleware, `/s/` static files) against real HTTP servers,
//! one module per area, linked once.
mod metrics;
mod static_files;
