//! One test binary for the server binary: command line, start-up and the real `qa` CLI end to end,
//! one module per area, linked once.
mod cli_e2e;
mod server;
