//! Deleting an output's files (OPERATIONS.md §1.2 and §2, rule **[FS]**):
//! the whole folder ("hard"), or the files its manifest lists ("soft").
//!
//! Nothing here follows a symbolic link below the output folder: every
//! sub-folder is entered through an `O_NOFOLLOW` handle, a link is removed
//! as a link (never its target), and a listed path going through a link is
//! left alone. The output folder itself is resolved like every other path
//! (links inside the root followed, see the crate documentation); when it
//! is itself a link, only the link goes (hard) or nothing is deleted (soft).
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::DirExt;
use cap_std::fs::Dir;

use crate::{ManifestLimits, Result, Storage, StorageError};

/// The manifests an output keeps when its files are deleted.
pub const MANIFESTS: [&str; 2] = ["manifest.outputs.json", "manifest.inputs.json"];

/// Largest `manifest.outputs.json` read for a soft delete.
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// What a deletion did.
#[derive(Debug, Default)]
pub struct Deleted {
    /// Files, links and folders removed.
    pub removed: u64,
    /// Paths that could not be deleted, with why. Empty on success.
    pub failures: Vec<(PathBuf, StorageError)>,
}

impl Storage {
    /// Hard delete: removes the folder `dir` and everything in it (links
    /// removed, never followed), then the empty folders above it up to the
    /// root. A missing folder is not an error.
    pub fn delete_output_dir(&self, dir: impl AsRef<Path>) -> Deleted {
        let dir = dir.as_ref();
        let mut out = Deleted::default();
        match self.remove_tree(dir) {
            Ok(n) => out.removed += n,
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                out.failures.push((dir.to_path_buf(), e));
                return out;
            }
        }
        if let Ok(n) = self.prune_empty_parents(dir) {
            out.removed += n;
        }
        out
    }

    /// Soft delete: removes the files listed in `dir/manifest.outputs.json`
    /// (all of them when it is missing or unreadable: the regular files of
    /// the folder, found without following links), except the manifests
    /// and those for which `select(key)` is false. Folders emptied by it
    /// inside `dir` are removed; `dir` itself stays. A missing folder is
    /// not an error.
    pub fn delete_output_files(
        &self,
        dir: impl AsRef<Path>,
        select: &dyn Fn(&str) -> bool,
    ) -> Deleted {
        let dir = dir.as_ref();
        let mut out = Deleted::default();
        let keys = match self.listed_files(dir) {
            Ok(k) => k,
            Err(e) if e.is_not_found() => return out,
            Err(e) => {
                out.failures.push((dir.to_path_buf(), e));
                return out;
            }
        };
        let top = match self
            .root_of(dir)
            .and_then(|(root, loc)| open_dir_nofollow(&root, &loc.relative, &loc.path))
        {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return out,
            Err(e) => {
                out.failures.push((dir.to_path_buf(), e));
                return out;
            }
        };
        for key in keys {
            if MANIFESTS.contains(&key.as_str()) || !select(&key) {
                continue;
            }
            if let Err(e) = remove_listed(&top, &key, &mut out.removed) {
                if !e.is_not_found() {
                    out.failures.push((dir.join(&key), e));
                }
            }
        }
        out
    }

    /// The manifest's keys, else the folder's regular files.
    fn listed_files(&self, dir: &Path) -> Result<Vec<String>> {
        let manifest = dir.join(MANIFESTS[0]);
        match self.read_small(&manifest, MAX_MANIFEST_BYTES) {
            Ok(bytes) => {
                if let Ok(serde_map) = parse_keys(&bytes) {
                    return Ok(serde_map);
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(StorageError::TooLarge { .. }) => {}
            Err(e) => return Err(e),
        }
        let limits = ManifestLimits {
            md5_max_file_bytes: 0,
            md5_budget_bytes: 0,
            ..ManifestLimits::default()
        };
        Ok(self
            .manifest(dir, &limits, |_, _| false)?
            .into_keys()
            .collect())
    }
}

/// The keys of a manifest object (`{relpath: {...}}`); errors when it is
/// not such an object.
fn parse_keys(bytes: &[u8]) -> std::result::Result<Vec<String>, ()> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m.into_iter().map(|(k, _)| k).collect()),
        _ => Err(()),
    }
}

/// Opens `rel` under `root` without following a link in its last component.
fn open_dir_nofollow(root: &Dir, rel: &Path, shown: &Path) -> Result<Dir> {
    if rel.as_os_str().is_empty() {
        return Err(StorageError::forbidden(
            shown,
            "cannot delete in a root itself",
        ));
    }
    root.open_dir_nofollow(rel)
        .map_err(|e| StorageError::io(shown, e))
}

/// Removes the file `key` (a `/`-separated path) below `top`, walking each
/// folder with `O_NOFOLLOW`, then the folders it emptied (up to `top`).
fn remove_listed(top: &Dir, key: &str, removed: &mut u64) -> Result<()> {
    let shown = Path::new(key);
    let mut parts = Vec::new();
    for c in shown.components() {
        match c {
            Component::Normal(s) => parts.push(s),
            Component::CurDir => {}
            _ => {
                return Err(StorageError::forbidden(
                    shown,
                    "not a relative path below the output",
                ))
            }
        }
    }
    let Some((name, folders)) = parts.split_last() else {
        return Err(StorageError::NotFound(shown.to_path_buf()));
    };
    let mut handles: Vec<Dir> = Vec::with_capacity(folders.len());
    for f in folders {
        let parent = handles.last().unwrap_or(top);
        // A link (ELOOP / ENOTDIR) is refused: nothing behind it is touched.
        let d = parent
            .open_dir_nofollow(f)
            .map_err(|e| StorageError::io(shown, e))?;
        handles.push(d);
    }
    let parent = handles.last().unwrap_or(top);
    let md = parent
        .symlink_metadata(name)
        .map_err(|e| StorageError::io(shown, e))?;
    if md.is_dir() {
        return Err(StorageError::WrongKind {
            path: shown.to_path_buf(),
            reason: "is a folder",
        });
    }
    parent
        .remove_file_or_symlink(name)
        .map_err(|e| StorageError::io(shown, e))?;
    *removed += 1;
    // Emptied folders, deepest first; rmdir fails on a non-empty one.
    for i in (0..folders.len()).rev() {
        let parent = if i == 0 { top } else { &handles[i - 1] };
        if parent.remove_dir(folders[i]).is_err() {
            break;
        }
        *removed += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn manifest_keys() {
        assert_eq!(
            parse_keys(br#"{"a.txt": {"st_size": 1, "md5": "x"}, "s/b \"q\".png": {}}"#).unwrap(),
            ["a.txt", "s/b \"q\".png"]
        );
        assert!(parse_keys(b"[1]").is_err());
        assert!(parse_keys(b"{\"a\": ").is_err());
    }

    #[test]
    fn soft_and_hard_never_follow_links() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("keep.txt"), "x").unwrap();
        let out = root.join("p/c/o");
        fs::create_dir_all(out.join("sub/deep")).unwrap();
        fs::create_dir_all(root.join("other")).unwrap();
        fs::write(root.join("other/keep.txt"), "x").unwrap();
        fs::write(out.join("a.txt"), "x").unwrap();
        fs::write(out.join("sub/deep/b.png"), "x").unwrap();
        fs::write(out.join("log.txt"), "x").unwrap();
        symlink(root.join("other"), out.join("link")).unwrap();
        symlink("../../other", out.join("rel")).unwrap();
        fs::write(
            out.join("manifest.outputs.json"),
            r#"{"a.txt":{},"sub/deep/b.png":{},"link/keep.txt":{},"rel/keep.txt":{},"../x":{},"manifest.outputs.json":{},"log.txt":{}}"#,
        )
        .unwrap();
        let st = Storage::new(vec![root.clone()]).unwrap();
        let d = st.delete_output_files(&out, &|k| k != "log.txt");
        assert!(!out.join("a.txt").exists());
        assert!(!out.join("sub").exists(), "emptied folders pruned");
        assert!(out.join("log.txt").exists(), "not selected");
        assert!(out.join("manifest.outputs.json").exists());
        assert!(root.join("other/keep.txt").exists());
        // `../x` is refused; paths through links are not there (not followed).
        assert_eq!(d.failures.len(), 1, "{:?}", d.failures);
        // Hard: links removed as links, parents pruned up to the root.
        symlink(outside.path(), out.join("out")).unwrap();
        let d = st.delete_output_dir(&out);
        assert!(d.failures.is_empty(), "{:?}", d.failures);
        assert!(!root.join("p").exists());
        assert!(root.join("other/keep.txt").exists());
        assert!(outside.path().join("keep.txt").exists());
        // Outside the roots: refused, reported.
        let d = st.delete_output_dir(outside.path());
        assert_eq!(d.failures.len(), 1);
        assert!(outside.path().join("keep.txt").exists());
    }

    #[test]
    fn without_manifest_the_folder_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let out = root.join("o");
        fs::create_dir_all(out.join("s")).unwrap();
        fs::write(out.join("s/a"), "x").unwrap();
        fs::write(out.join("manifest.inputs.json"), "{}").unwrap();
        let st = Storage::new(vec![root.clone()]).unwrap();
        let d = st.delete_output_files(&out, &|_| true);
        assert!(d.failures.is_empty(), "{:?}", d.failures);
        assert!(!out.join("s").exists());
        assert!(out.join("manifest.inputs.json").exists());
        // Missing folder: nothing to do.
        assert!(st
            .delete_output_files(root.join("none"), &|_| true)
            .failures
            .is_empty());
        assert!(st.delete_output_dir(root.join("none")).failures.is_empty());
    }
}
