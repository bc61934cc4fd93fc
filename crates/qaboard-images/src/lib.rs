//! Images for the QA-Board backend, without HTTP and without path resolution.
//!
//! Callers (the API layer) resolve and confine paths, open files and hand over
//! `std::fs::File`s (or bytes) with a [`cache::CacheKey`]; this crate decodes, caches and
//! answers:
//! - [`iiif`]: the IIIF Image API 2.1 subset that replaces the original's Cantaloupe server;
//! - [`pixel`]: `GET /api/v1/output/image/pixel`;
//! - [`rois`]: `POST /api/v1/output/diff/image` (auto ROIs, scikit-image 0.18.3 `blob_dog`);
//! - [`report`]: `POST /api/v1/output/diff/report` (PDF bytes);
//! - [`wire`]: the request and response bodies as the webapp sends and reads them.
#![warn(missing_docs)]

pub mod cache;
pub mod decode;
pub mod error;
pub mod gauss;
pub mod iiif;
pub mod pixel;
pub mod report;
pub mod rois;
pub mod wire;

pub use cache::{CacheKey, ImageCache};
pub use decode::{Decoded, Gray32};
pub use error::{ImageError, Result};
