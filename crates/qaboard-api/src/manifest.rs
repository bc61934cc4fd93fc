//! `GET /api/v1/output/<id>/manifest/[?refresh=true]`: the files of an
//! output's folder as `{relative path: {st_size, md5}}`, cached in the
//! folder's `manifest.outputs.json` (the file the `qa` CLI writes at the end
//! of a run, and that the webapp reads directly when the output is done).
//!
//! Safety of the walk: the output folder itself may be reached through a
//! symbolic link (storage mounts often are), but nothing inside it is ever
//! followed: symbolic links are left out of the manifest, files are hashed
//! only after checking that the opened file is the one listed, and every
//! sub-folder is checked to still lie inside the output folder before it is
//! read. Only regular files are opened (never FIFOs or devices).
//! See `docs/webapp-api.md` for the choices (md5 limits, exclusions).
use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{web, HttpResponse};
use md5::{Digest, Md5};
use qaboard_db::read;
use qaboard_model::paths;
use serde::{Deserialize, Serialize};

use crate::auth::ReadAccess;
use crate::state::AppState;
use crate::views::batch_dir_of;
use crate::{json_bytes, run_db, ApiError};

/// Name of the cached manifest inside an output folder.
pub const MANIFEST_FILE: &str = "manifest.outputs.json";
/// Files larger than this get no `md5` (only `st_size`).
pub const MD5_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// At most this many bytes are hashed for one manifest; files met after
/// that (in path order) get no `md5`.
pub const MD5_BUDGET_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// At most this many files are listed.
pub const MAX_FILES: usize = 200_000;
/// Folders nested deeper than this are not listed.
pub const MAX_DEPTH: usize = 64;
/// A cached manifest larger than this is recomputed rather than served.
const MAX_CACHED_BYTES: u64 = 256 * 1024 * 1024;

/// One file of a manifest.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// Size in bytes.
    pub st_size: u64,
    /// Hex md5 of the content, when computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// Query parameters of the manifest read.
#[derive(Debug, Deserialize)]
pub struct ManifestQuery {
    refresh: Option<String>,
}

fn flag(v: Option<&str>) -> bool {
    matches!(v, Some(s) if !s.is_empty() && s != "false" && s != "0")
}

fn parse_id(id: &str) -> Result<qaboard_model::OutputId, ApiError> {
    id.parse::<qaboard_model::OutputId>()
        .ok()
        .filter(|i| i.0 > 0)
        .ok_or_else(|| ApiError::NotFound(format!("no output has the id {id}")))
}

/// `GET /api/v1/output/<id>/manifest/`
pub async fn get_manifest(
    _: ReadAccess,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<ManifestQuery>,
) -> Result<HttpResponse, ApiError> {
    let (pool, cfg) = (state.pool.clone(), state.config.clone());
    let id = parse_id(&id)?;
    let refresh = flag(q.refresh.as_deref());
    let body = run_db(move || {
        let mut conn = pool.get()?;
        let o = read::get_output(&mut conn, id)?
            .ok_or_else(|| ApiError::NotFound(format!("no output has the id {id}")))?;
        let dir = match o
            .output
            .output_dir_override
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            Some(d) => d.to_string(),
            None => {
                let (project, commit, batch) =
                    read::output_context(&mut conn, qaboard_model::BatchId(o.output.batch_id))?
                        .ok_or_else(|| ApiError::NotFound(format!("output {id} has no folder")))?;
                let batch_dir = batch_dir_of(project.as_ref(), &commit, &batch, &cfg.storage_root);
                paths::output_dir(&batch_dir, &o.output, o.test_input.as_ref())
            }
        };
        drop(conn);
        let state = OutputState {
            is_running: o.output.is_running,
            is_pending: o.output.is_pending,
        };
        manifest_response(Path::new(&dir), state, refresh)
    })
    .await?;
    Ok(json_bytes(body))
}

/// What the manifest logic needs to know of the output.
#[derive(Debug, Clone, Copy)]
pub struct OutputState {
    /// Still writing files: no cache, no hashes.
    pub is_running: bool,
    /// Not finished (queued or running): a missing folder is not an error.
    pub is_pending: bool,
}

/// The JSON body of the manifest of `dir`: the cached file when usable,
/// else a fresh listing (written back into `dir` when possible).
pub fn manifest_response(
    dir: &Path,
    state: OutputState,
    refresh: bool,
) -> Result<Vec<u8>, ApiError> {
    check_output_dir(dir)?;
    let root = match fs::canonicalize(dir) {
        Ok(r) if r.is_dir() => r,
        _ if state.is_pending => return Ok(b"{}".to_vec()),
        _ => {
            return Err(ApiError::NotFound(format!(
                "the output folder {} does not exist (or is not readable)",
                dir.display()
            )))
        }
    };
    if !state.is_running && !refresh {
        if let Some(cached) = read_cached(&root) {
            return Ok(cached);
        }
    }
    let manifest = compute_manifest(&root, !state.is_running);
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| ApiError::Internal(Box::new(e)))?;
    if let Err(e) = write_atomically(&root, MANIFEST_FILE, &body, true) {
        log::info!("could not save the manifest of {}: {e}", root.display());
    }
    Ok(body)
}

/// Refuses folders that are relative, contain `..` or are the filesystem root.
fn check_output_dir(dir: &Path) -> Result<(), ApiError> {
    let bad = !dir.is_absolute()
        || dir.components().any(|c| matches!(c, Component::ParentDir))
        || dir
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Prefix(_)));
    if bad {
        return Err(ApiError::NotFound(format!(
            "the output folder {} is not an absolute folder this server can list",
            dir.display()
        )));
    }
    Ok(())
}

/// True when `opened` is the very file `listed` described (no swap since).
#[cfg(unix)]
fn same_file(listed: &Metadata, opened: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    listed.dev() == opened.dev() && listed.ino() == opened.ino()
}

#[cfg(not(unix))]
fn same_file(listed: &Metadata, opened: &Metadata) -> bool {
    listed.len() == opened.len()
}

/// Opens a regular file that is not a symbolic link, checking that what
/// was opened is what was listed.
fn open_regular(path: &Path, listed: &Metadata) -> Option<File> {
    if !listed.file_type().is_file() {
        return None;
    }
    let f = File::open(path).ok()?;
    let opened = f.metadata().ok()?;
    (opened.file_type().is_file() && same_file(listed, &opened)).then_some(f)
}

/// The cached manifest, when it is a regular file (not a link) holding a JSON object.
fn read_cached(root: &Path) -> Option<Vec<u8>> {
    let path = root.join(MANIFEST_FILE);
    let listed = fs::symlink_metadata(&path).ok()?;
    if listed.len() > MAX_CACHED_BYTES {
        return None;
    }
    let f = open_regular(&path, &listed)?;
    let mut buf = Vec::with_capacity(usize::try_from(listed.len()).unwrap_or(0));
    f.take(MAX_CACHED_BYTES).read_to_end(&mut buf).ok()?;
    match serde_json::from_slice::<serde_json::Value>(&buf) {
        Ok(serde_json::Value::Object(_)) => Some(buf),
        _ => None,
    }
}

/// Hex md5 of an open file.
fn md5_hex(mut f: File) -> Option<String> {
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
    let digest = h.finalize();
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether a file at `rel` (relative, `/`-separated) is left out.
fn excluded(rel: &str, name: &str) -> bool {
    // The manifest itself and our temporary files, at the top level.
    let top = !rel.contains('/');
    (top && (name == MANIFEST_FILE || (name.starts_with(TMP_PREFIX) && name.ends_with(".tmp"))))
        // Like the CLI: logs with timestamps and NFS placeholder files.
        || name == "log.txt"
        || name.starts_with(".nfs00000")
}

/// Lists the regular files under `root` (already canonical). `hash`: compute
/// md5 within the limits.
pub fn compute_manifest(root: &Path, hash: bool) -> BTreeMap<String, FileInfo> {
    let mut out = BTreeMap::new();
    let mut hashed: u64 = 0;
    // Folders to list: (path, relative prefix, depth). Sorted walk so that
    // the md5 budget is spent in a stable order.
    let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, prefix, depth)) = stack.pop() {
        if depth > 0 {
            // Still inside the output folder (not swapped for a link since listed)?
            match fs::canonicalize(&dir) {
                Ok(c) if c.starts_with(root) && c != root => {}
                _ => continue,
            }
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let ft = e.file_type().ok()?;
                Some((name, ft, e.path()))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, ft, path) in entries {
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if ft.is_symlink() {
                continue;
            }
            if ft.is_dir() {
                if depth + 1 < MAX_DEPTH {
                    subdirs.push((path, rel, depth + 1));
                }
                continue;
            }
            if !ft.is_file() || excluded(&rel, &name) {
                continue;
            }
            if out.len() >= MAX_FILES {
                return out;
            }
            let Ok(listed) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !listed.file_type().is_file() {
                continue;
            }
            let size = listed.len();
            let mut md5 = None;
            if hash && size <= MD5_MAX_FILE_BYTES && hashed.saturating_add(size) <= MD5_BUDGET_BYTES
            {
                // Unreadable (or swapped since listed): listed without md5.
                if let Some(f) = open_regular(&path, &listed) {
                    md5 = md5_hex(f);
                    hashed += size;
                }
            }
            out.insert(rel, FileInfo { st_size: size, md5 });
        }
        // Pushed in reverse so that they are listed in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    out
}

const TMP_PREFIX: &str = ".qaboard-";

/// Writes `dir/name` by writing a temporary file in `dir` and renaming it
/// over the target (a link at the target is replaced, never followed).
/// `shared`: leave the file writable by everyone, as shared output folders
/// need (the `qa` CLI of another user rewrites the manifest at the end of
/// its run).
pub fn write_atomically(
    dir: &Path,
    name: &str,
    content: &[u8],
    shared: bool,
) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        #[cfg(unix)]
        if shared {
            use std::os::unix::fs::PermissionsExt;
            let _ = f.set_permissions(fs::Permissions::from_mode(0o666));
        }
        #[cfg(not(unix))]
        let _ = shared;
        drop(f);
        fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions() {
        assert!(excluded("manifest.outputs.json", "manifest.outputs.json"));
        assert!(!excluded(
            "sub/manifest.outputs.json",
            "manifest.outputs.json"
        ));
        assert!(excluded("a/log.txt", "log.txt"));
        assert!(excluded(".nfs000001234", ".nfs000001234"));
        assert!(excluded(
            ".qaboard-manifest.outputs.json.1.2.tmp",
            ".qaboard-manifest.outputs.json.1.2.tmp"
        ));
        assert!(!excluded("output.png", "output.png"));
    }

    #[test]
    fn output_dir_checks() {
        assert!(check_output_dir(Path::new("/")).is_err());
        assert!(check_output_dir(Path::new("relative/dir")).is_err());
        assert!(check_output_dir(Path::new("/a/../etc")).is_err());
        assert!(check_output_dir(Path::new("/mnt/qaboard/x")).is_ok());
    }

    #[test]
    fn flags() {
        assert!(flag(Some("true")));
        assert!(flag(Some("1")));
        assert!(!flag(Some("false")));
        assert!(!flag(Some("")));
        assert!(!flag(None));
    }
}
