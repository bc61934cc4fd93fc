//! One test binary for the database crate against real databases: migrations, adopting an original database, JSON numbers,
//! one module per area, linked once.
mod adopt_legacy;
mod ingest_paths;
mod json_numbers;
mod migrations;
mod original_schema;
mod support;
