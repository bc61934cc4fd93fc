//! One test binary for detached `qa` jobs with a recording fake `qa` and the LSF stop bridge,
//! one module per area, linked once.
mod common;
mod local_jobs;
mod lsf_stop;
