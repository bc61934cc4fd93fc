//! `GET /api/v1/output/<id>/manifest/[?refresh=true]`: the files of an
//! output's folder as `{relative path: {st_size, md5}}`, cached in the
//! folder's `manifest.outputs.json` (the file the `qa` CLI writes at the end
//! of a run, and that the webapp reads directly when the output is done).
//!
//! Safety of the walk (rule \[FS\], issue 9 item 9): every access goes
//! through [`qaboard_storage::Storage`]: the folder must lie under a
//! storage root (else 404, nothing read or written), it is walked relative
//! to open folder handles, symbolic links inside it are left out and never
//! followed, and only regular files are opened. The cached manifest is
//! written atomically with mode 0644.
//! See `docs/webapp-api.md` for the choices (md5 limits, exclusions).
use std::collections::BTreeMap;
use std::path::{Component, Path};

use actix_web::{web, HttpResponse};
use qaboard_db::read;
use qaboard_model::paths;
use qaboard_storage::{ManifestLimits, Storage, StorageError};
use serde::{Deserialize, Serialize};

use crate::extract::ReadAccess;
use crate::routes::images::storage_error;
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
    let storage = state.storage.clone();
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
                let (project, commit, batch) = read::output_context(&mut conn, o.output.batch_id)?
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
        manifest_response(&storage, Path::new(&dir), state, refresh)
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
/// else a fresh listing (written back into `dir` when possible). Every
/// access goes through `storage`: a folder outside the storage roots is a
/// 404, a refused one a 403, and nothing is written there.
pub fn manifest_response(
    storage: &Storage,
    dir: &Path,
    state: OutputState,
    refresh: bool,
) -> Result<Vec<u8>, ApiError> {
    check_output_dir(dir)?;
    match storage.open(dir) {
        Ok(o) if o.metadata.is_dir() => {}
        Err(StorageError::NotFound(_)) | Ok(_) if state.is_pending => return Ok(b"{}".to_vec()),
        Err(e @ StorageError::Forbidden { .. }) => return Err(storage_error(e)),
        Err(StorageError::OutsideRoots(_)) => {
            return Err(ApiError::NotFound(format!(
                "the output folder {} is not under a storage root of this server",
                dir.display()
            )))
        }
        _ => {
            return Err(ApiError::NotFound(format!(
                "the output folder {} does not exist (or is not readable)",
                dir.display()
            )))
        }
    }
    if !state.is_running && !refresh {
        if let Some(cached) = read_cached(storage, dir) {
            return Ok(cached);
        }
    }
    let manifest = compute_manifest(storage, dir, !state.is_running).map_err(storage_error)?;
    let body = serde_json::to_vec_pretty(&manifest).map_err(|e| ApiError::Internal(Box::new(e)))?;
    if let Err(e) = storage.write(dir.join(MANIFEST_FILE), &body) {
        log::info!("could not save the manifest of {}: {e}", dir.display());
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

/// The limits of the walk: [`MD5_MAX_FILE_BYTES`], [`MD5_BUDGET_BYTES`],
/// [`MAX_FILES`], [`MAX_DEPTH`]; `hash = false` hashes nothing.
fn limits(hash: bool) -> ManifestLimits {
    ManifestLimits {
        md5_max_file_bytes: MD5_MAX_FILE_BYTES,
        md5_budget_bytes: if hash { MD5_BUDGET_BYTES } else { 0 },
        max_files: MAX_FILES,
        max_depth: MAX_DEPTH,
    }
}

/// The cached manifest, when it is a regular file inside the folder (links
/// out are refused by the storage) holding a JSON object.
fn read_cached(storage: &Storage, dir: &Path) -> Option<Vec<u8>> {
    let buf = storage
        .read_small(dir.join(MANIFEST_FILE), MAX_CACHED_BYTES)
        .ok()?;
    match serde_json::from_slice::<serde_json::Value>(&buf) {
        Ok(serde_json::Value::Object(_)) => Some(buf),
        _ => None,
    }
}

/// Whether a file at `rel` (relative, `/`-separated) is left out.
fn excluded(rel: &str, name: &str) -> bool {
    // The manifest itself and temporary files of its writes, at the top
    // level (ours before the storage crate, and the storage's own).
    let top = !rel.contains('/');
    let tmp = name.ends_with(".tmp")
        && (name.starts_with(TMP_PREFIX) || name.starts_with(&format!(".{MANIFEST_FILE}.")));
    (top && (name == MANIFEST_FILE || tmp))
        // Like the CLI: logs with timestamps and NFS placeholder files.
        || name == "log.txt"
        || name.starts_with(".nfs00000")
}

/// Lists the regular files under the folder `dir` through `storage`
/// (symbolic links left out and never followed; rule \[FS\]). `hash`:
/// compute md5 within the limits.
///
/// Errors: the storage's (outside the roots, refused, missing, not a folder).
pub fn compute_manifest(
    storage: &Storage,
    dir: &Path,
    hash: bool,
) -> Result<BTreeMap<String, FileInfo>, StorageError> {
    let listed = storage.manifest(dir, &limits(hash), excluded)?;
    Ok(listed
        .into_iter()
        .map(|(rel, d)| {
            let md5 = if hash { d.md5 } else { None };
            (
                rel,
                FileInfo {
                    st_size: d.st_size,
                    md5,
                },
            )
        })
        .collect())
}

/// Prefix of the temporary files this module wrote before the storage crate.
const TMP_PREFIX: &str = ".qaboard-";

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
        assert!(excluded(
            ".manifest.outputs.json.1-2.tmp",
            ".manifest.outputs.json.1-2.tmp"
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
