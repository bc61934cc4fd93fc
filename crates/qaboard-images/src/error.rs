//! The one error type of this crate.

/// Everything that can go wrong while parsing an image request, decoding, or rendering.
///
/// Suggested HTTP statuses for the API layer: [`ImageError::BadRequest`] → 400,
/// [`ImageError::NotFound`] → 404, [`ImageError::Unsupported`] → 501 for IIIF features
/// (IIIF Image API 2.1 §7 "Error Conditions") and 415 for file formats,
/// [`ImageError::Decode`] → 422 or 500, [`ImageError::Io`] → 500. The pixel endpoint answers
/// 404 for both `Decode` and `Unsupported` ("not an image", OPERATIONS.md §8).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A request part is malformed or out of its allowed range.
    #[error("invalid {field}: {reason}")]
    BadRequest {
        /// The request part at fault (`region`, `size`, `x`, `threshold`, …).
        field: &'static str,
        /// Human-readable explanation.
        reason: String,
    },
    /// The requested pixel or area does not exist in the image.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// A well-formed request for a feature or format this crate does not implement.
    #[error("unsupported {what}")]
    Unsupported {
        /// The feature or format.
        what: String,
    },
    /// The bytes are not an image this crate can decode.
    #[error("cannot decode image: {reason}")]
    Decode {
        /// The decoder's explanation.
        reason: String,
    },
    /// Reading the file failed.
    #[error("i/o error while {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn bad(field: &'static str, reason: impl Into<String>) -> Self {
        ImageError::BadRequest {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn from_image(err: image::ImageError) -> Self {
        match err {
            image::ImageError::IoError(source) => ImageError::Io {
                context: "reading image bytes",
                source,
            },
            image::ImageError::Unsupported(e) => ImageError::Unsupported {
                what: format!("image: {e}"),
            },
            other => ImageError::Decode {
                reason: other.to_string(),
            },
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
