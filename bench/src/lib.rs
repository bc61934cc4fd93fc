//! Benchmark harness of the QA-Board server (not a test: nothing here asserts
//! on timings). Shared pieces of the `qaboard-load` and `qaboard-seed` binaries:
//! a minimal keep-alive HTTP/1.1 client, latency statistics, `/proc` sampling
//! and the generators of realistic `POST /api/v1/output/` bodies.

pub mod args;
pub mod gen;
pub mod http;
pub mod procfs;
pub mod stats;
