//! One test binary for confinement and hard links on real directories,
//! one module per area, linked once.
mod confinement;
mod link;
