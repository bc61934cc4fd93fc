//! A folder tree's files with size and md5: the content of an output's
//! `manifest.outputs.json` (`{relative path: {st_size, md5}}`, as the `qa`
//! CLI's `save_outputs_manifest` writes it).
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::Dir;
use md5::{Digest, Md5};

use crate::{Result, Storage, StorageError};

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// Size in bytes.
    pub st_size: u64,
    /// Lower-case hex md5 of the content; `None` when a limit of
    /// [`ManifestLimits`] was reached.
    pub md5: Option<String>,
}

/// Bounds of one manifest walk (a manifest request must not read terabytes).
#[derive(Debug, Clone, Copy)]
pub struct ManifestLimits {
    /// Files larger than this get no md5.
    pub md5_max_file_bytes: u64,
    /// Once this many bytes were hashed, later files (in walk order) get no md5.
    pub md5_budget_bytes: u64,
    /// At most this many files are listed; the walk stops there.
    pub max_files: usize,
    /// Folders nested deeper than this are not entered.
    pub max_depth: usize,
}

impl Default for ManifestLimits {
    /// 256 MiB per file, 4 GiB in all, 200,000 files, depth 64.
    fn default() -> Self {
        ManifestLimits {
            md5_max_file_bytes: 256 * 1024 * 1024,
            md5_budget_bytes: 4 * 1024 * 1024 * 1024,
            max_files: 200_000,
            max_depth: 64,
        }
    }
}

impl Storage {
    /// Lists the regular files under the folder `dir` with size and md5.
    /// Keys are `/`-separated paths relative to `dir` (non-UTF-8 bytes
    /// replaced by U+FFFD). Symbolic links are left out and never followed;
    /// sub-folders are entered through `O_NOFOLLOW` handles; only regular
    /// files are opened (never FIFOs or devices). `skip(rel, name)` leaves
    /// out files (e.g. the manifest itself, `log.txt`).
    ///
    /// Errors: `OutsideRoots`, `Forbidden`, `NotFound`, `WrongKind` (not a
    /// folder), `Io` on the top folder; unreadable files or sub-folders met
    /// during the walk are left out.
    pub fn manifest(
        &self,
        dir: impl AsRef<Path>,
        limits: &ManifestLimits,
        skip: impl Fn(&str, &str) -> bool,
    ) -> Result<BTreeMap<String, FileDigest>> {
        let (root, loc) = self.root_of(dir.as_ref())?;
        let top = if loc.relative.as_os_str().is_empty() {
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
        let mut walk = Walk {
            limits,
            skip: &skip,
            hashed: 0,
            out: BTreeMap::new(),
        };
        walk.dir(&top, "", 0)
            .map_err(|e| StorageError::io(&loc.path, e))?;
        Ok(walk.out)
    }
}

struct Walk<'a, F> {
    limits: &'a ManifestLimits,
    skip: &'a F,
    hashed: u64,
    out: BTreeMap<String, FileDigest>,
}

impl<F: Fn(&str, &str) -> bool> Walk<'_, F> {
    fn dir(&mut self, dir: &Dir, prefix: &str, depth: usize) -> std::io::Result<()> {
        let mut entries: Vec<_> = dir.entries()?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if self.out.len() >= self.limits.max_files {
                return Ok(());
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if depth < self.limits.max_depth {
                    if let Ok(sub) = dir.open_dir_nofollow(entry.file_name()) {
                        // Errors below the top folder only leave files out.
                        let _ = self.dir(&sub, &format!("{rel}/"), depth + 1);
                    }
                }
            } else if ft.is_file() && !(self.skip)(&rel, &name) {
                if let Some(d) = self.file(dir, &entry.file_name()) {
                    self.out.insert(rel, d);
                }
            }
        }
        Ok(())
    }

    fn file(&mut self, dir: &Dir, name: &std::ffi::OsStr) -> Option<FileDigest> {
        let mut opts = cap_std::fs::OpenOptions::new();
        opts.read(true).follow(FollowSymlinks::No);
        #[cfg(target_os = "linux")]
        cap_std::fs::OpenOptionsExt::custom_flags(&mut opts, 0o4000); // O_NONBLOCK
        let file = dir.open_with(name, &opts).ok()?.into_std();
        let md = file.metadata().ok()?;
        if !md.is_file() {
            return None;
        }
        let size = md.len();
        let md5 = if size <= self.limits.md5_max_file_bytes
            && self.hashed + size <= self.limits.md5_budget_bytes
        {
            self.hashed += size;
            md5_of(file)
        } else {
            None
        };
        Some(FileDigest { st_size: size, md5 })
    }
}

fn md5_of(mut file: std::fs::File) -> Option<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}
