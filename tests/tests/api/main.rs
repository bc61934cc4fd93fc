//! The end-to-end tests of the API, one binary (linked once) with a module
//! per area. Each test serves the real API on `127.0.0.1:0` over fresh
//! databases: SQLite always, PostgreSQL when `QABOARD_TEST_DATABASE_URL` is
//! set (each database cloned from a template migrated once per run, see
//! `qaboard_db::testing`).

mod ingest_support;

mod actions;
mod auth;
mod bad_input;
mod concurrency;
mod export;
mod files;
mod files_front;
mod files_wire;
mod fuzz;
mod gc;
mod gc_artifacts;
mod integrations;
mod jobs;
mod jobs_artifacts;
mod jobs_cli_e2e;
mod jobs_limits;
mod json_numbers;
mod openapi;
mod operations;
mod read_after_write;
mod replay;
mod response_cache;
mod response_gzip;
mod robustness;
mod routes;
mod smoke;
mod users;
mod webapp_files;
mod webapp_reads;
mod webhook;
