//! The one confinement rule of QA-Board for file access (contract
//! `OPERATIONS.md`, rule **[FS]**): every path served, read, written or
//! deleted for a client lies under one of the configured `storage_roots`,
//! after resolving symbolic links.
//!
//! # How a path is resolved
//! 1. The caller gives an absolute path, **already percent-decoded exactly
//!    once** (the HTTP edge decodes; this crate never decodes, so a file
//!    literally named `%2e%2e` stays reachable and `%252e` is not `.`).
//! 2. The path is checked lexically: NUL bytes and `..` components are
//!    refused ([`StorageError::Forbidden`]); `.` and repeated `/` are dropped.
//! 3. The longest root that is a component-wise prefix is chosen (none:
//!    [`StorageError::OutsideRoots`]); the rest is the relative path.
//! 4. The root is opened (following links in the root's own path: the roots
//!    are the administrator's choice) and the relative path is resolved by
//!    `cap-std` relative to that open handle: symbolic links are followed
//!    only while they stay under the root; an absolute link target, or one
//!    climbing above the root, is refused. The kernel does this walk
//!    (`openat2(RESOLVE_BENEATH)`) or cap-std does it component by component
//!    with `O_NOFOLLOW`; either way no string check precedes the use, so a
//!    folder swapped for a link mid-request cannot expose outside files.
//!
//! Roots are opened on every call (cheap), so a root mounted after start-up
//! works and no state is kept between calls: several server processes may
//! share the storage. The one exception is [`Storage::open_reusing_root`],
//! for the many small reads of one client connection: it reuses a root's
//! handle for up to a second ([`RootCache`], owned by the caller).
//!
//! ```no_run
//! use qaboard_storage::Storage;
//! # fn main() -> Result<(), qaboard_storage::StorageError> {
//! let storage = Storage::new(vec!["/mnt/qaboard".into()])?;
//! let opened = storage.open("/mnt/qaboard/project/output/log.txt")?;
//! println!("{} bytes", opened.metadata.len());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod delete;
mod error;
mod link;
mod manifest;
mod write;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

pub use delete::{Deleted, MANIFESTS};
pub use error::StorageError;
pub use link::LinkOutcome;
pub use manifest::{FileDigest, ManifestLimits};
pub use write::{DIR_MODE, FILE_MODE};

/// Result of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The storage roots and every confined operation on them.
#[derive(Debug, Clone)]
pub struct Storage {
    roots: Vec<PathBuf>,
    /// Each root's components (after `/`), split once for [`Storage::locate`].
    root_parts: Vec<Vec<OsString>>,
}

/// A path resolved lexically to one root: `root.join(relative)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The storage root (as configured, normalised).
    pub root: PathBuf,
    /// The path below the root; empty for the root itself. Only `Normal`
    /// components.
    pub relative: PathBuf,
    /// The normalised absolute path (`root` joined with `relative`).
    pub path: PathBuf,
}

/// A file or folder opened for reading.
#[derive(Debug)]
pub struct Opened {
    /// The open handle (for a folder: a directory handle, see
    /// [`Storage::read_dir`] to list it).
    pub file: std::fs::File,
    /// Its metadata, from the handle (`fstat`), so it describes what was
    /// opened, not what the path points to now.
    pub metadata: std::fs::Metadata,
    /// The normalised absolute path that was opened.
    pub path: PathBuf,
}

/// One entry of a folder listing.
#[derive(Debug, Clone)]
pub struct DirEntryInfo {
    /// The file name (raw bytes on Unix; may not be UTF-8).
    pub name: OsString,
    /// Whether it is a folder (after following a link that stays in the root).
    pub is_dir: bool,
    /// Size in bytes (0 for folders).
    pub size: u64,
    /// Last modification time, when the file system gives one.
    pub modified: Option<SystemTime>,
}

/// The root handles [`Storage::open_reusing_root`] keeps: the last root
/// opened and when. Meant to live as long as one client connection (it
/// holds an open directory handle, so keep it short-lived: a kept handle
/// keeps its file system busy).
#[derive(Debug, Default)]
pub struct RootCache {
    last: Option<(PathBuf, Dir, std::time::Instant)>,
}

impl RootCache {
    /// How long a root handle is reused.
    pub const REUSE: std::time::Duration = std::time::Duration::from_secs(1);
}

/// Opens `loc.relative` for reading relative to `root` (links followed
/// only inside it; `O_NONBLOCK` so a FIFO never blocks).
fn open_beneath(root: &Dir, loc: &Location) -> Result<std::fs::File> {
    let mut opts = cap_std::fs::OpenOptions::new();
    opts.read(true);
    // O_NONBLOCK: opening a FIFO must not hang; no effect on files.
    #[cfg(target_os = "linux")]
    cap_std::fs::OpenOptionsExt::custom_flags(&mut opts, 0o4000);
    Ok(root
        .open_with(&loc.relative, &opts)
        .map_err(|e| StorageError::io(&loc.path, e))?
        .into_std())
}

/// `file` opened at `loc` with its metadata: refused (`WrongKind`) unless
/// a regular file or a folder.
fn opened(file: std::fs::File, loc: Location) -> Result<Opened> {
    let metadata = file
        .metadata()
        .map_err(|e| StorageError::io(&loc.path, e))?;
    if !metadata.is_file() && !metadata.is_dir() {
        return Err(StorageError::WrongKind {
            path: loc.path,
            reason: "not a regular file or folder",
        });
    }
    Ok(Opened {
        file,
        metadata,
        path: loc.path,
    })
}

/// Checks a client path lexically: NUL bytes and `..` are refused, `.` and
/// repeated slashes dropped. Returns the `Normal` components; the path must
/// be absolute.
fn normal_components(path: &Path) -> Result<Vec<&OsStr>> {
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(StorageError::forbidden(path, "NUL byte in path"));
    }
    if !path.is_absolute() {
        return Err(StorageError::OutsideRoots(path.to_path_buf()));
    }
    let mut out = Vec::with_capacity(16);
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                return Err(StorageError::forbidden(path, "`..` is not allowed"))
            }
            Component::Prefix(_) => return Err(StorageError::OutsideRoots(path.to_path_buf())),
        }
    }
    Ok(out)
}

fn join_components<'a>(base: PathBuf, parts: impl IntoIterator<Item = &'a OsStr>) -> PathBuf {
    parts.into_iter().fold(base, |mut p, c| {
        p.push(c);
        p
    })
}

impl Storage {
    /// The storage of these roots (absolute paths without `..`; `.` and
    /// repeated slashes are normalised away; duplicates are dropped).
    ///
    /// Errors: [`StorageError::InvalidRoot`] for a relative root or one with
    /// `..`. The roots need not exist yet.
    pub fn new(roots: Vec<PathBuf>) -> Result<Self> {
        let mut out: Vec<PathBuf> = Vec::with_capacity(roots.len());
        for r in roots {
            let comps = normal_components(&r).map_err(|_| StorageError::InvalidRoot(r.clone()))?;
            let norm = join_components(PathBuf::from("/"), comps);
            if !out.contains(&norm) {
                out.push(norm);
            }
        }
        let root_parts = out
            .iter()
            .map(|r| {
                r.components()
                    .skip(1) // RootDir
                    .map(|c| c.as_os_str().to_os_string())
                    .collect()
            })
            .collect();
        Ok(Storage {
            roots: out,
            root_parts,
        })
    }

    /// The configured roots, normalised.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Resolves `path` lexically to a root and a relative path, choosing the
    /// longest matching root. Touches no file.
    ///
    /// Errors: `Forbidden` (NUL byte, `..`), `OutsideRoots`.
    pub fn locate(&self, path: impl AsRef<Path>) -> Result<Location> {
        let path = path.as_ref();
        let comps = normal_components(path)?;
        let mut best: Option<(&PathBuf, usize)> = None;
        for (root, parts) in self.roots.iter().zip(&self.root_parts) {
            let n = parts.len();
            let matches = n <= comps.len()
                && parts
                    .iter()
                    .zip(comps.iter())
                    .all(|(a, b)| a.as_os_str() == *b);
            if matches && best.is_none_or(|(_, m)| n > m) {
                best = Some((root, n));
            }
        }
        let (root, n) = best.ok_or_else(|| StorageError::OutsideRoots(path.to_path_buf()))?;
        let relative = join_components(PathBuf::new(), comps[n..].iter().copied());
        Ok(Location {
            root: root.clone(),
            path: root.join(&relative),
            relative,
        })
    }

    /// Whether `path` lies (lexically) under a root; see [`Storage::locate`].
    pub fn contains(&self, path: impl AsRef<Path>) -> bool {
        self.locate(path).is_ok()
    }

    /// Locates `path` and opens its root.
    fn root_of(&self, path: &Path) -> Result<(Dir, Location)> {
        let loc = self.locate(path)?;
        let dir = Dir::open_ambient_dir(&loc.root, ambient_authority())
            .map_err(|e| StorageError::io(&loc.path, e))?;
        Ok((dir, loc))
    }

    /// Opens a file or folder for reading (links followed only inside the
    /// root). FIFOs, sockets and devices are refused (`WrongKind`), and
    /// never block the call.
    ///
    /// Errors: `OutsideRoots`, `Forbidden`, `NotFound`, `WrongKind`, `Io`.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Opened> {
        let (root, loc) = self.root_of(path.as_ref())?;
        let file = if loc.relative.as_os_str().is_empty() {
            root.into_std_file()
        } else {
            open_beneath(&root, &loc)?
        };
        opened(file, loc)
    }

    /// [`Storage::open`] of a path below a root (not a root itself), with
    /// the root's handle taken from `roots` when it was opened there less
    /// than [`RootCache::REUSE`] ago: for the many small reads of one client
    /// connection, which then skip opening the root each time. Confinement
    /// is the same (the walk is relative to the root's handle either way);
    /// a root renamed or remounted meanwhile is seen within `REUSE`.
    ///
    /// Errors: those of [`Storage::open`]; a root itself gives `WrongKind`.
    pub fn open_reusing_root(
        &self,
        path: impl AsRef<Path>,
        roots: &mut RootCache,
    ) -> Result<Opened> {
        let loc = self.locate(path.as_ref())?;
        if loc.relative.as_os_str().is_empty() {
            return Err(StorageError::WrongKind {
                path: loc.path,
                reason: "is a storage root",
            });
        }
        let now = std::time::Instant::now();
        let fresh = matches!(&roots.last, Some((p, _, at)) if *p == loc.root && now.duration_since(*at) < RootCache::REUSE);
        if !fresh {
            let dir = Dir::open_ambient_dir(&loc.root, ambient_authority())
                .map_err(|e| StorageError::io(&loc.path, e))?;
            roots.last = Some((loc.root.clone(), dir, now));
        }
        let Some((_, root, _)) = &roots.last else {
            unreachable!("set above");
        };
        let file = open_beneath(root, &loc)?;
        opened(file, loc)
    }

    /// Opens a regular file for reading; a folder gives `WrongKind`.
    pub fn open_file(&self, path: impl AsRef<Path>) -> Result<Opened> {
        let opened = self.open(path)?;
        if !opened.metadata.is_file() {
            return Err(StorageError::WrongKind {
                path: opened.path,
                reason: "is a folder",
            });
        }
        Ok(opened)
    }

    /// Reads a whole file of at most `max_bytes` bytes (manifests, logs).
    ///
    /// Errors: as [`Storage::open_file`], plus `TooLarge`.
    pub fn read_small(&self, path: impl AsRef<Path>, max_bytes: u64) -> Result<Vec<u8>> {
        let opened = self.open_file(path)?;
        if opened.metadata.len() > max_bytes {
            return Err(StorageError::TooLarge {
                path: opened.path,
                limit: max_bytes,
            });
        }
        let mut buf = Vec::with_capacity(opened.metadata.len() as usize);
        // `take`: the file may grow between fstat and read.
        (&opened.file)
            .take(max_bytes + 1)
            .read_to_end(&mut buf)
            .map_err(|e| StorageError::io(&opened.path, e))?;
        if buf.len() as u64 > max_bytes {
            return Err(StorageError::TooLarge {
                path: opened.path,
                limit: max_bytes,
            });
        }
        Ok(buf)
    }

    /// Lists a folder, sorted by name. Entries that are links leading out of
    /// the root, or dangling, are left out; links staying inside are
    /// described by their target.
    ///
    /// Errors: as [`Storage::open`], `WrongKind` for a file.
    pub fn read_dir(&self, path: impl AsRef<Path>) -> Result<Vec<DirEntryInfo>> {
        let (root, loc) = self.root_of(path.as_ref())?;
        let dir = if loc.relative.as_os_str().is_empty() {
            root
        } else {
            root.open_dir(&loc.relative).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotADirectory => StorageError::WrongKind {
                    path: loc.path.clone(),
                    reason: "not a folder",
                },
                _ => StorageError::io(&loc.path, e),
            })?
        };
        let mut out = Vec::new();
        for entry in dir.entries().map_err(|e| StorageError::io(&loc.path, e))? {
            let entry = entry.map_err(|e| StorageError::io(&loc.path, e))?;
            let name = entry.file_name();
            let ft = entry
                .file_type()
                .map_err(|e| StorageError::io(&loc.path, e))?;
            let md = if ft.is_symlink() {
                // Followed by cap-std only while it stays inside `dir`.
                match dir.metadata(&name) {
                    Ok(md) => md,
                    Err(_) => continue,
                }
            } else {
                match entry.metadata() {
                    Ok(md) => md,
                    Err(_) => continue, // removed meanwhile
                }
            };
            out.push(DirEntryInfo {
                is_dir: md.is_dir(),
                size: if md.is_dir() { 0 } else { md.len() },
                modified: md.modified().ok().map(|t| t.into_std()),
                name,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(roots: &[&str]) -> Storage {
        Storage::new(roots.iter().map(PathBuf::from).collect()).unwrap()
    }

    #[test]
    fn locate_picks_the_longest_root() {
        let st = s(&["/mnt", "/mnt/qaboard/", "/algo"]);
        let l = st.locate("/mnt/qaboard/a//b/./c.txt").unwrap();
        assert_eq!(l.root, PathBuf::from("/mnt/qaboard"));
        assert_eq!(l.relative, PathBuf::from("a/b/c.txt"));
        assert_eq!(l.path, PathBuf::from("/mnt/qaboard/a/b/c.txt"));
        let l = st.locate("/mnt/other").unwrap();
        assert_eq!(l.root, PathBuf::from("/mnt"));
        let l = st.locate("/algo").unwrap();
        assert_eq!(l.relative, PathBuf::new());
    }

    #[test]
    fn locate_refuses_outside_dotdot_nul_relative() {
        let st = s(&["/mnt/qaboard"]);
        assert!(matches!(
            st.locate("/mnt/qaboardx/a"),
            Err(StorageError::OutsideRoots(_))
        ));
        assert!(matches!(
            st.locate("/etc/passwd"),
            Err(StorageError::OutsideRoots(_))
        ));
        assert!(matches!(
            st.locate("mnt/qaboard/a"),
            Err(StorageError::OutsideRoots(_))
        ));
        assert!(matches!(
            st.locate("/mnt/qaboard/../../etc/passwd"),
            Err(StorageError::Forbidden { .. })
        ));
        assert!(matches!(
            st.locate("/mnt/qaboard/a/.."),
            Err(StorageError::Forbidden { .. })
        ));
        assert!(matches!(
            st.locate(OsStr::from_bytes(b"/mnt/qaboard/a\0b")),
            Err(StorageError::Forbidden { .. })
        ));
        // Not decoded here: a literal `%2e%2e` is a file name.
        assert_eq!(
            st.locate("/mnt/qaboard/%2e%2e/x").unwrap().relative,
            PathBuf::from("%2e%2e/x")
        );
    }

    #[test]
    fn roots_must_be_absolute_without_dotdot() {
        assert!(Storage::new(vec!["rel".into()]).is_err());
        assert!(Storage::new(vec!["/a/../b".into()]).is_err());
        assert_eq!(s(&["/a/", "/a"]).roots(), &[PathBuf::from("/a")]);
    }
}
