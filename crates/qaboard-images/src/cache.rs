//! A bounded, thread-safe cache of decoded images.
//!
//! Replaces the original's 20 memory-mapped arrays keyed by sha1(path + mtime)
//! (`auto_rois.read_image`, OPERATIONS.md §8): IIIF tiles and pixel look-ups of one large
//! image share one decode. Entries are weighed by their decoded size in bytes; the least
//! recently and least frequently used go first (moka's TinyLFU). Each server process has its
//! own cache; a stale entry is impossible because the key holds the file's mtime and size.

use std::sync::Arc;
use std::time::SystemTime;

use crate::decode::Decoded;
use crate::error::{ImageError, Result};

/// Identity of one version of one file: path, modification time and length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The resolved path (any string the caller uses consistently).
    pub path: String,
    /// Modification time in nanoseconds since the Unix epoch (negative before it).
    pub mtime_nanos: i128,
    /// File length in bytes.
    pub len: u64,
}

impl CacheKey {
    /// Builds the key from a path and the file's metadata. Take the metadata of the file
    /// already opened (`file.metadata()?`), then hand that same file to
    /// [`ImageCache::get_or_decode`] (`move || Ok(file)`), so key and bytes cannot disagree.
    pub fn from_metadata(path: impl Into<String>, meta: &std::fs::Metadata) -> Self {
        let mtime_nanos = match meta.modified() {
            Ok(t) => match t.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(d) => d.as_nanos() as i128,
                Err(e) => -(e.duration().as_nanos() as i128),
            },
            Err(_) => 0,
        };
        CacheKey {
            path: path.into(),
            mtime_nanos,
            len: meta.len(),
        }
    }
}

/// Decoded images shared between threads, bounded by total decoded bytes.
#[derive(Clone)]
pub struct ImageCache {
    inner: moka::sync::Cache<CacheKey, Arc<Decoded>>,
}

impl std::fmt::Debug for ImageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageCache")
            .field("entries", &self.inner.entry_count())
            .field("weighted_bytes", &self.inner.weighted_size())
            .finish()
    }
}

/// Decoded size of an image in bytes, saturated to `u32` (moka's weight type).
fn weight(img: &Decoded) -> u32 {
    u32::try_from(img.byte_size()).unwrap_or(u32::MAX)
}

impl ImageCache {
    /// A cache holding at most `max_bytes` of decoded pixels (e.g. `1 << 30`).
    /// An image larger than the whole budget is decoded and returned but not kept.
    pub fn new(max_bytes: u64) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &CacheKey, v: &Arc<Decoded>| weight(v))
            .build();
        ImageCache { inner }
    }

    /// Returns the decoded image for `key`, calling `open` and decoding only on a miss.
    /// Concurrent misses for one key decode once; the others wait for that result.
    ///
    /// Errors: those of `open` and of [`crate::decode::decode_file`]; errors are not cached.
    pub fn get_or_decode<F>(&self, key: CacheKey, open: F) -> Result<Arc<Decoded>>
    where
        F: FnOnce() -> Result<std::fs::File>,
    {
        self.inner
            .try_get_with(key, || {
                let file = open()?;
                crate::decode::decode_file(file).map(Arc::new)
            })
            .map_err(unshare)
    }

    /// Number of cached images (approximate while writes are pending).
    pub fn entry_count(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.entry_count()
    }

    /// Total decoded bytes held (approximate while writes are pending).
    pub fn weighted_bytes(&self) -> u64 {
        self.inner.run_pending_tasks();
        self.inner.weighted_size()
    }
}

/// Turns the shared error moka hands to every waiter into an owned one.
fn unshare(err: Arc<ImageError>) -> ImageError {
    match Arc::try_unwrap(err) {
        Ok(e) => e,
        Err(shared) => match &*shared {
            ImageError::BadRequest { field, reason } => ImageError::BadRequest {
                field,
                reason: reason.clone(),
            },
            ImageError::NotFound { what } => ImageError::NotFound { what: what.clone() },
            ImageError::Unsupported { what } => ImageError::Unsupported { what: what.clone() },
            ImageError::Decode { reason } => ImageError::Decode {
                reason: reason.clone(),
            },
            ImageError::Io { context, source } => ImageError::Io {
                context,
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
        },
    }
}
