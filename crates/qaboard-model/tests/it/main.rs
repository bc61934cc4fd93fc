//! One test binary for the model's rules on shared fixtures (aggregation, conventions, webapp filters, time),
//! one module per area, linked once.
mod aggregate;
mod conventions;
mod filter_webapp;
mod time;
