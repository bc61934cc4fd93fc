//! Confined writes and deletes.
//!
//! Modes: files are made `0o644`, folders `0o755`, set with `fchmod` on the
//! new handle after creation, so the result does not depend on the server's
//! umask (shared storage is read by the `qa` CLI and other users' tools;
//! write access stays with the server's account). Existing folders keep
//! their mode.
//!
//! Deletes never follow symbolic links: a link is unlinked, never its
//! target; a tree is walked through `O_NOFOLLOW` directory handles, so a
//! folder swapped for a link mid-walk is unlinked, not entered. Permission
//! errors are reported, never escalated (the original retried via `sudo`).
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cap_fs_ext::DirExt;
use cap_std::fs::Dir;

use crate::{Result, Storage, StorageError};

/// Mode of the files this crate creates.
pub const FILE_MODE: u32 = 0o644;
/// Mode of the folders this crate creates.
pub const DIR_MODE: u32 = 0o755;

fn chmod(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// Creates `rel` and its missing parents under `root`, chmod-ing each new
/// folder to [`DIR_MODE`].
pub(crate) fn mkdirs(root: &Dir, rel: &Path, shown: &Path) -> Result<()> {
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        match root.create_dir(&cur) {
            Ok(()) => root
                .set_permissions(
                    &cur,
                    cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode(DIR_MODE)),
                )
                .map_err(|e| StorageError::io(shown, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Must be a folder (or a link to one inside the root).
                let md = root
                    .metadata(&cur)
                    .map_err(|e| StorageError::io(shown, e))?;
                if !md.is_dir() {
                    return Err(StorageError::WrongKind {
                        path: shown.to_path_buf(),
                        reason: "a parent is not a folder",
                    });
                }
            }
            Err(e) => return Err(StorageError::io(shown, e)),
        }
    }
    Ok(())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Storage {
    /// Creates a folder and its missing parents (mode [`DIR_MODE`]).
    /// Existing folders are fine.
    ///
    /// Errors: `OutsideRoots`, `Forbidden`, `WrongKind` (a parent is a
    /// file), `Io`.
    pub fn create_dir_all(&self, path: impl AsRef<Path>) -> Result<()> {
        let (root, loc) = self.root_of(path.as_ref())?;
        mkdirs(&root, &loc.relative, &loc.path)
    }

    /// Writes a whole file atomically (a temporary file in the same folder,
    /// then `rename`), creating missing parents. The file gets
    /// [`FILE_MODE`]. Readers see the old or the new content, never a part.
    ///
    /// Errors: as [`Storage::create_dir_all`]; `Forbidden` for a root itself.
    pub fn write(&self, path: impl AsRef<Path>, contents: &[u8]) -> Result<()> {
        let (root, loc) = self.root_of(path.as_ref())?;
        let (Some(parent), Some(name)) = (loc.relative.parent(), loc.relative.file_name()) else {
            return Err(StorageError::forbidden(&loc.path, "cannot write a root"));
        };
        mkdirs(&root, parent, &loc.path)?;
        let tmp_name = format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = parent.join(tmp_name);
        let mut opts = cap_std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        let result = (|| {
            let file = root.open_with(&tmp, &opts)?.into_std();
            chmod(&file, FILE_MODE)?;
            (&file).write_all(contents)?;
            file.sync_data()?;
            root.rename(&tmp, &root, &loc.relative)
        })();
        if let Err(e) = result {
            let _ = root.remove_file(&tmp);
            return Err(StorageError::io(&loc.path, e));
        }
        Ok(())
    }

    /// Deletes one file or symbolic link (never its target). A folder gives
    /// `WrongKind`.
    ///
    /// Errors: `OutsideRoots`, `Forbidden`, `NotFound`, `WrongKind`, `Io`.
    pub fn remove_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let (root, loc) = self.root_of(path.as_ref())?;
        if loc.relative.as_os_str().is_empty() {
            return Err(StorageError::forbidden(&loc.path, "cannot delete a root"));
        }
        let md = root
            .symlink_metadata(&loc.relative)
            .map_err(|e| StorageError::io(&loc.path, e))?;
        if md.is_dir() {
            return Err(StorageError::WrongKind {
                path: loc.path,
                reason: "is a folder",
            });
        }
        root.remove_file_or_symlink(&loc.relative)
            .map_err(|e| StorageError::io(&loc.path, e))
    }

    /// Deletes a file, a link (not its target) or a whole folder tree,
    /// without following any symbolic link inside it. A root itself is
    /// never deleted. Returns the number of entries removed.
    ///
    /// Errors: `OutsideRoots`, `Forbidden` (a root), `NotFound`, `Io` (the
    /// first failure; what could be deleted before it is gone).
    pub fn remove_tree(&self, path: impl AsRef<Path>) -> Result<u64> {
        let (root, loc) = self.root_of(path.as_ref())?;
        if loc.relative.as_os_str().is_empty() {
            return Err(StorageError::forbidden(&loc.path, "cannot delete a root"));
        }
        let md = root
            .symlink_metadata(&loc.relative)
            .map_err(|e| StorageError::io(&loc.path, e))?;
        if !md.is_dir() {
            root.remove_file_or_symlink(&loc.relative)
                .map_err(|e| StorageError::io(&loc.path, e))?;
            return Ok(1);
        }
        let mut count = 0;
        match root.open_dir_nofollow(&loc.relative) {
            Ok(dir) => clear_dir(&dir, &loc.path, &mut count, 0)?,
            // Swapped for a link since the check: remove the link only.
            Err(e) if is_not_dir(&e) => {
                root.remove_file_or_symlink(&loc.relative)
                    .map_err(|e| StorageError::io(&loc.path, e))?;
                return Ok(1);
            }
            Err(e) => return Err(StorageError::io(&loc.path, e)),
        }
        root.remove_dir(&loc.relative)
            .map_err(|e| StorageError::io(&loc.path, e))?;
        Ok(count + 1)
    }

    /// Removes the empty folders above `path`, from its parent upwards,
    /// stopping at the first non-empty one and never removing a root (nor
    /// anything above it). `path` itself is not touched. Returns how many
    /// folders were removed.
    ///
    /// Errors: `OutsideRoots`, `Forbidden`; a folder that cannot be removed
    /// (not empty, gone, a link) just stops the walk.
    pub fn prune_empty_parents(&self, path: impl AsRef<Path>) -> Result<u64> {
        let (root, loc) = self.root_of(path.as_ref())?;
        let mut removed = 0;
        let mut cur = loc.relative.parent();
        while let Some(p) = cur {
            if p.as_os_str().is_empty() {
                break;
            }
            // rmdir: fails on a non-empty folder and on a link (ENOTDIR).
            if root.remove_dir(p).is_err() {
                break;
            }
            removed += 1;
            cur = p.parent();
        }
        Ok(removed)
    }
}

fn is_not_dir(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotADirectory || e.raw_os_error() == Some(40)
}

/// Deepest folder nesting `remove_tree` descends into.
const MAX_DEPTH: usize = 256;

/// Empties `dir` (an `O_NOFOLLOW` handle) recursively.
fn clear_dir(dir: &Dir, shown: &Path, count: &mut u64, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(StorageError::forbidden(shown, "folders nested too deep"));
    }
    let entries: Vec<_> = dir
        .entries()
        .map_err(|e| StorageError::io(shown, e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| StorageError::io(shown, e))?;
    for entry in entries {
        let name = entry.file_name();
        let ft = entry.file_type().map_err(|e| StorageError::io(shown, e))?;
        if ft.is_dir() {
            match dir.open_dir_nofollow(&name) {
                Ok(sub) => {
                    clear_dir(&sub, shown, count, depth + 1)?;
                    dir.remove_dir(&name)
                        .map_err(|e| StorageError::io(shown, e))?;
                }
                Err(e) if is_not_dir(&e) => dir
                    .remove_file_or_symlink(&name)
                    .map_err(|e| StorageError::io(shown, e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io(shown, e)),
            }
        } else {
            match dir.remove_file_or_symlink(&name) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io(shown, e)),
            }
        }
        *count += 1;
    }
    Ok(())
}
