//! The error type of every storage operation.
use std::io;
use std::path::{Path, PathBuf};

/// Why a storage operation failed. The path in each variant is the path the
/// caller gave (lexically normalised), never a resolved target, so messages
/// reveal nothing the client did not already send.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The path lies under none of the storage roots (or is not absolute).
    /// HTTP: 404, so that the layout of the host is not revealed.
    #[error("{0} is not under a storage root")]
    OutsideRoots(PathBuf),
    /// The path is refused: `..` component, NUL byte, a symbolic link that
    /// leads out of its root, a deletion of a root itself, or the operating
    /// system denied access. HTTP: 403.
    #[error("{path}: {reason}")]
    Forbidden {
        /// The path as given.
        path: PathBuf,
        /// Why, in a few words.
        reason: String,
    },
    /// Nothing at this path (or a component is not a folder). HTTP: 404.
    #[error("{0}: not found")]
    NotFound(PathBuf),
    /// The path exists but is not of the kind the operation needs (a folder
    /// where a file is read, a FIFO or device...). HTTP: 404 for reads.
    #[error("{path}: {reason}")]
    WrongKind {
        /// The path as given.
        path: PathBuf,
        /// What was expected.
        reason: &'static str,
    },
    /// A file read with a size bound is larger than the bound.
    #[error("{path}: larger than {limit} bytes")]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// The bound, in bytes.
        limit: u64,
    },
    /// Invalid configuration: a root that is not an absolute, `..`-free path.
    #[error("invalid storage root {0}: roots must be absolute paths without `..`")]
    InvalidRoot(PathBuf),
    /// Any other I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// `ELOOP`: what opening with `O_NOFOLLOW` answers on a symbolic link.
#[cfg(target_os = "linux")]
const ELOOP: i32 = 40;
#[cfg(not(target_os = "linux"))]
const ELOOP: i32 = 62;

impl StorageError {
    /// Translates an I/O error met while accessing `path`.
    ///
    /// `cap-std` reports an escape from the root (`..` or a link leading
    /// out) as `PermissionDenied`; refusing to follow a link gives `ELOOP`.
    pub(crate) fn io(path: &Path, e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
                StorageError::NotFound(path.to_path_buf())
            }
            io::ErrorKind::PermissionDenied => StorageError::Forbidden {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
            _ if e.raw_os_error() == Some(ELOOP) => StorageError::Forbidden {
                path: path.to_path_buf(),
                reason: "symbolic link not followed".into(),
            },
            _ => StorageError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        }
    }

    pub(crate) fn forbidden(path: &Path, reason: impl Into<String>) -> Self {
        StorageError::Forbidden {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Whether the error means "nothing there" (`NotFound`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound(_))
    }
}
