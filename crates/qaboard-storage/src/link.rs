//! Confined hard links (exports), with a copy when source and destination
//! are on different file systems.
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::write::mkdirs;
use crate::{Result, Storage, StorageError};

/// How [`Storage::hard_link`] made the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// A hard link: same file, no extra space.
    Linked,
    /// A copy: the source is on another file system (`EXDEV`).
    Copied,
}

/// `EXDEV`: a link across file systems.
const EXDEV: i32 = 18;

static LINK_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Storage {
    /// Makes `dst` a hard link to the regular file `src` (both under the
    /// storage roots, each resolved in its own root without leaving it),
    /// creating `dst`'s missing parents (mode [`crate::DIR_MODE`]). An
    /// existing `dst` is replaced atomically (a temporary link, then
    /// `rename`), so exporting twice gives the same folder. When the two
    /// paths are on different file systems (`EXDEV`) the content is copied
    /// instead ([`LinkOutcome::Copied`]). A symbolic link as `src` is
    /// refused (`WrongKind`): only regular files are linked.
    ///
    /// Errors: `OutsideRoots`, `Forbidden` (`..`, a root, a link leaving
    /// its root), `NotFound`, `WrongKind`, `Io`.
    pub fn hard_link(&self, src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Result<LinkOutcome> {
        let (src_root, src_loc) = self.root_of(src.as_ref())?;
        let (dst_root, dst_loc) = self.root_of(dst.as_ref())?;
        let md = src_root
            .symlink_metadata(&src_loc.relative)
            .map_err(|e| StorageError::io(&src_loc.path, e))?;
        if !md.is_file() {
            return Err(StorageError::WrongKind {
                path: src_loc.path,
                reason: "not a regular file",
            });
        }
        let (Some(parent), Some(name)) = (dst_loc.relative.parent(), dst_loc.relative.file_name())
        else {
            return Err(StorageError::forbidden(
                &dst_loc.path,
                "cannot replace a root",
            ));
        };
        mkdirs(&dst_root, parent, &dst_loc.path)?;
        let tmp = parent.join(format!(
            ".{}.{}-{}.link",
            name.to_string_lossy(),
            std::process::id(),
            LINK_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let outcome = match src_root.hard_link(&src_loc.relative, &dst_root, &tmp) {
            Ok(()) => LinkOutcome::Linked,
            Err(e) if e.raw_os_error() == Some(EXDEV) => {
                src_root
                    .copy(&src_loc.relative, &dst_root, &tmp)
                    .map_err(|e| {
                        let _ = dst_root.remove_file(&tmp);
                        StorageError::io(&dst_loc.path, e)
                    })?;
                LinkOutcome::Copied
            }
            Err(e) => return Err(StorageError::io(&dst_loc.path, e)),
        };
        let renamed = dst_root.rename(&tmp, &dst_root, &dst_loc.relative);
        // When `dst` already was a link to the same file, rename(2) leaves
        // both names in place: the temporary one is removed either way.
        let _ = dst_root.remove_file(&tmp);
        renamed.map_err(|e| StorageError::io(&dst_loc.path, e))?;
        Ok(outcome)
    }
}
