//! One test binary for mirrors and commit reads against real git repositories made by the tests,
//! one module per area, linked once.
mod mirror;
mod repo;
mod support;
