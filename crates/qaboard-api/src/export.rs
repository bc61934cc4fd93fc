//! Export of a commit's outputs to a shared folder (`GET /api/v1/export/`,
//! OPERATIONS.md §9, as the original's `export_to_folder`).
//!
//! The pure rules (folder name, reference matching, common data, labels,
//! names, links back to the webapp) are `qaboard_model::export`; this module
//! reads the outputs, lists their files and links them through
//! `qaboard_storage` only. Choices where the contract is silent: deleted
//! outputs are not exported (their files are gone); a `path` glob that is
//! absolute or has a `..` component is refused (403); only regular files are
//! linked (a matched folder is skipped); an existing file in the export
//! folder is replaced, so the same request gives the same folder; files that
//! cannot be linked are listed in `errors`, files copied because they sit on
//! another file system are counted in `nb_files_copied`.
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use qaboard_db::read::{self, BatchWithOutputs, CommitTree, OutputRead};
use qaboard_db::DbConn;
use qaboard_model::export::{
    choose_reference, export_dir_name, export_file_name, qa_html, qa_url_file,
    reference_is_new_selection, CommonData, ExportLink, ExportOutput, ExportSelection,
    LabelMappings, DEFAULT_QABOARD_URL,
};
use qaboard_model::filter::{api_json, FilterableOutput, OutputFilter};
use qaboard_model::{paths, DEFAULT_BATCH_LABEL};
use qaboard_storage::{LinkOutcome, Storage, StorageError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The query of `GET /api/v1/export/` (as the webapp's `ExportPlugin.js`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExportQuery {
    /// Project of the new commit (required).
    pub project: Option<String>,
    /// Project of the reference commit (default: `project`).
    pub ref_project: Option<String>,
    /// Full hash of the new commit (required).
    pub new_commit_id: Option<String>,
    /// Hash of the reference commit; none: no reference.
    pub ref_commit_id: Option<String>,
    /// Batch label of the new commit (default `default`).
    pub batch_new: Option<String>,
    /// Batch label of the reference commit (default `default`).
    pub batch_ref: Option<String>,
    /// Output filter of the new batch (OPERATIONS.md §1.1).
    pub filter_new: Option<String>,
    /// Output filter of the reference batch.
    pub filter_ref: Option<String>,
    /// Glob of the files to export, relative to each output folder
    /// (default `*`; `*` stays in one folder, `**` crosses folders).
    pub path: Option<String>,
}

/// The answer: where the files went and how many outputs were exported.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ExportAnswer {
    /// The export folder (absolute, on the server).
    pub export_dir: String,
    /// New outputs exported (after the filter).
    pub nb_outputs: usize,
    /// Reference outputs considered (after the filter).
    pub nb_outputs_ref: usize,
    /// Files placed in the export folder (links and copies).
    pub nb_files_exported: usize,
    /// Of those, files copied because they are on another file system.
    pub nb_files_copied: usize,
    /// Files or outputs that could not be exported, one message each.
    pub errors: Vec<String>,
}

/// Deepest folder level a `**` glob descends to.
const MAX_GLOB_DEPTH: usize = 16;
/// Most files looked at in one output folder.
const MAX_FILES_PER_OUTPUT: usize = 100_000;

/// One side (new or reference) with its outputs after the filter.
struct Side {
    tree: CommitTree,
    batch_id: qaboard_model::BatchId,
    outputs: Vec<(ExportOutput, String)>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("the query parameter `{name}` is required")))
}

/// Compiles the `path` glob, refusing absolute globs and `..` (rule [FS]).
fn compile_glob(glob: &str) -> Result<(GlobMatcher, usize), ApiError> {
    if glob.starts_with('/') || glob.split('/').any(|c| c == "..") || glob.contains('\0') {
        return Err(ApiError::Forbidden(format!(
            "the path {glob:?} must stay inside the output folders (no leading `/`, no `..`)"
        )));
    }
    let matcher = GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .map_err(|e| ApiError::BadRequest(format!("the path {glob:?} is not a glob: {e}")))?
        .compile_matcher();
    let depth = if glob.contains("**") {
        MAX_GLOB_DEPTH
    } else {
        glob.split('/').filter(|c| !c.is_empty()).count()
    };
    Ok((matcher, depth))
}

/// Loads one side's commit and batch, and its outputs that pass `filter`.
fn load_side(
    conn: &mut DbConn,
    sel: &ExportSelection<'_>,
    default_root: &str,
) -> Result<Side, ApiError> {
    let tree = read::commit_tree(conn, sel.project, sel.hexsha, Some(sel.batch_label), &[])?
        .ok_or_else(|| ApiError::NotFound(format!("ERROR: Commit {} not found", sel.hexsha)))?;
    let Some(batch) = tree
        .batches
        .iter()
        .find(|b| b.batch.label == sel.batch_label)
    else {
        return Err(ApiError::NotFound(format!(
            "ERROR: commit {} has no batch {:?}",
            sel.hexsha, sel.batch_label
        )));
    };
    let paths = paths::commit_paths_of(tree.project.as_ref(), &tree.commit, default_root);
    let batch_dir = paths::batch_dir(&paths.outputs_dir, &batch.batch);
    let outputs = side_outputs(batch, &tree.commit.hexsha, &batch_dir, sel.filter);
    let batch_id = batch.batch.id;
    Ok(Side {
        tree,
        batch_id,
        outputs,
    })
}

fn side_outputs(
    batch: &BatchWithOutputs,
    hexsha: &str,
    batch_dir: &str,
    filter: Option<&str>,
) -> Vec<(ExportOutput, String)> {
    let filter = OutputFilter::parse_optional(filter);
    let mut out = Vec::new();
    for o in batch.outputs.iter().filter(|o| !o.deleted) {
        if !filter.matches(&filterable(o)) {
            continue;
        }
        let configurations: Value = serde_json::from_str(&o.configurations).unwrap_or(Value::Null);
        let extra: Value = serde_json::from_str(&o.extra_parameters).unwrap_or(Value::Null);
        let dir = paths::output_dir_from(
            batch_dir,
            o.output_dir_override.as_deref(),
            o.platform.as_deref(),
            &configurations,
            &extra,
            o.test_input_path.as_deref(),
        );
        let export = ExportOutput {
            id: o.id,
            hexsha: hexsha.to_string(),
            test_input_path: o.test_input_path.clone().unwrap_or_default(),
            platform: o.platform.clone(),
            configurations: match configurations {
                Value::Array(a) => a,
                _ => Vec::new(),
            },
            extra_parameters: match extra {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            is_pending: o.is_pending,
        };
        out.push((export, dir));
    }
    out
}

/// An output as the webapp's filter sees it.
fn filterable(o: &OutputRead) -> FilterableOutput {
    let data = api_json(&o.data, '{');
    FilterableOutput {
        test_input_path: o.test_input_path.clone(),
        platform: o.platform.clone(),
        configurations: api_json(&o.configurations, '['),
        extra_parameters: api_json(&o.extra_parameters, '{'),
        data_params: FilterableOutput::data_params_of(&data),
        test_input_metadata: api_json(
            o.test_input_metadata.as_ref().map_or("", |m| m.0.as_str()),
            '{',
        ),
        is_failed: o.is_failed,
        is_pending: o.is_pending,
    }
}

/// `<repo outputs dir>`: the commit's outputs folder without the
/// sub-project folder.
fn repo_outputs_dir(tree: &CommitTree, default_root: &str) -> String {
    let p = paths::commit_paths_of(tree.project.as_ref(), &tree.commit, default_root);
    let null = Value::Null;
    let data = tree.project.as_ref().map_or(&null, |p| &p.data);
    let project = &tree.commit.project_id;
    let rel = paths::id_relative(project, &paths::id_git(project, data));
    if rel.is_empty() {
        return p.outputs_dir;
    }
    p.outputs_dir
        .strip_suffix(rel.as_str())
        .map(|s| s.trim_end_matches('/').to_string())
        .unwrap_or(p.outputs_dir)
}

/// The regular files under `dir` whose relative path matches `glob`
/// (sorted, `/`-separated), at most `depth` levels down.
fn matching_files(
    storage: &Storage,
    dir: &Path,
    glob: &GlobMatcher,
    depth: usize,
) -> Result<Vec<String>, StorageError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 1usize)];
    while let Some((path, prefix, level)) = stack.pop() {
        let entries = match storage.read_dir(&path) {
            Ok(e) => e,
            Err(e) if level == 1 => return Err(e),
            Err(_) => continue,
        };
        for e in entries {
            let Some(name) = e.name.to_str() else {
                continue;
            };
            let rel = format!("{prefix}{name}");
            if e.is_dir {
                if level < depth {
                    stack.push((path.join(name), format!("{rel}/"), level + 1));
                }
            } else if glob.is_match(&rel) {
                out.push(rel);
                if out.len() >= MAX_FILES_PER_OUTPUT {
                    return Ok(out);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs an export request: reads the outputs, writes the export folder.
///
/// Errors: 400 (missing `project` / `new_commit_id`, bad glob), 403 (glob
/// leaving the output folders; export folder outside the storage roots or
/// not creatable), 404 (unknown commit or batch), 503 (database).
pub fn export(
    conn: &mut DbConn,
    storage: &Storage,
    default_root: &str,
    q: &ExportQuery,
) -> Result<ExportAnswer, ApiError> {
    let project = required(&q.project, "project")?;
    let new_sha = required(&q.new_commit_id, "new_commit_id")?;
    let (glob, depth) = compile_glob(q.path.as_deref().unwrap_or("*"))?;
    let new_sel = ExportSelection {
        project,
        hexsha: new_sha,
        batch_label: q.batch_new.as_deref().unwrap_or(DEFAULT_BATCH_LABEL),
        filter: q.filter_new.as_deref(),
    };
    let ref_sel = q
        .ref_commit_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|hexsha| ExportSelection {
            project: q.ref_project.as_deref().unwrap_or(project),
            hexsha,
            batch_label: q.batch_ref.as_deref().unwrap_or(DEFAULT_BATCH_LABEL),
            filter: q.filter_ref.as_deref(),
        })
        .filter(|r| !reference_is_new_selection(&new_sel, r));
    let new = load_side(conn, &new_sel, default_root)?;
    let reference = match &ref_sel {
        Some(sel) => Some(load_side(conn, sel, default_root)?),
        None => None,
    };

    let name = export_dir_name(
        project,
        &new.tree.commit.hexsha,
        new.batch_id,
        reference
            .as_ref()
            .map(|r| (r.tree.commit.hexsha.as_str(), r.batch_id)),
        q.filter_new.as_deref(),
        q.filter_ref.as_deref(),
    );
    let export_dir = PathBuf::from(repo_outputs_dir(&new.tree, default_root))
        .join("share")
        .join(name);
    storage.create_dir_all(&export_dir).map_err(|e| {
        ApiError::Forbidden(format!(
            "ERROR: when creating '{}': {e}",
            export_dir.display()
        ))
    })?;

    let ref_outputs: Vec<ExportOutput> = reference
        .as_ref()
        .map(|r| r.outputs.iter().map(|(o, _)| o.clone()).collect())
        .unwrap_or_default();
    let chosen: Vec<Option<usize>> = new
        .outputs
        .iter()
        .map(|(o, _)| {
            choose_reference(o, &ref_outputs)
                .and_then(|c| ref_outputs.iter().position(|r| std::ptr::eq(r, c)))
        })
        .collect();
    let same_commit = reference
        .as_ref()
        .is_none_or(|r| r.tree.commit.id == new.tree.commit.id);
    let mut all: Vec<&ExportOutput> = new.outputs.iter().map(|(o, _)| o).collect();
    all.extend(chosen.iter().flatten().map(|&i| &ref_outputs[i]));
    let common = CommonData::compute(same_commit.then_some(new.tree.commit.hexsha.as_str()), &all);
    let write = |file: &str, text: &str| -> Result<(), ApiError> {
        storage
            .write(export_dir.join(file), text.as_bytes())
            .map_err(|e| ApiError::Forbidden(format!("ERROR: when writing '{file}': {e}")))
    };
    write("0.common.json", &common.render())?;

    let mut mappings = LabelMappings::default();
    let mut answer = ExportAnswer {
        export_dir: export_dir.display().to_string(),
        nb_outputs: new.outputs.len(),
        nb_outputs_ref: ref_outputs.len(),
        nb_files_exported: 0,
        nb_files_copied: 0,
        errors: Vec::new(),
    };
    for ((output, dir), chosen) in new.outputs.iter().zip(&chosen) {
        let label_new = common.labels(output, &mut mappings);
        let matched = chosen.map(|i| {
            let (o, d) = &reference.as_ref().expect("chosen from it").outputs[i];
            (o, d, common.labels(o, &mut mappings))
        });
        let files = match matching_files(storage, Path::new(dir), &glob, depth) {
            Ok(f) => f,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                answer.errors.push(format!("output {}: {e}", output.id));
                continue;
            }
        };
        for rel in files {
            let mut link = |o: &ExportOutput, from_dir: &str, labels: &str, must_exist: bool| {
                let from = Path::new(from_dir).join(&rel);
                let to = export_dir.join(export_file_name(&o.test_input_path, &rel, labels));
                match storage.hard_link(&from, &to) {
                    Ok(outcome) => {
                        answer.nb_files_exported += 1;
                        if outcome == LinkOutcome::Copied {
                            answer.nb_files_copied += 1;
                        }
                    }
                    Err(e) if !must_exist && e.is_not_found() => {}
                    Err(e) => answer.errors.push(format!("{}: {e}", from.display())),
                }
            };
            link(output, dir, &label_new, true);
            if let Some((o, d, labels)) = &matched {
                link(o, d, labels, false);
            }
        }
    }
    if !mappings.is_empty() {
        write("0.mappings.json", &mappings.render())?;
    }
    let qaboard_url =
        std::env::var("QABOARD_URL").unwrap_or_else(|_| DEFAULT_QABOARD_URL.to_string());
    let url = ExportLink {
        project,
        hexsha: &new.tree.commit.hexsha,
        batch: new_sel.batch_label,
        reference: reference.as_ref().map(|r| r.tree.commit.hexsha.as_str()),
        batch_ref: ref_sel.as_ref().map(|r| r.batch_label),
        filter: q.filter_new.as_deref(),
        filter_ref: q.filter_ref.as_deref(),
    }
    .url(&qaboard_url);
    for (file, text) in [
        ("0.qa.html", qa_html(&url)),
        ("0.qa.url", qa_url_file(&url)),
    ] {
        if storage.open(export_dir.join(file)).is_err() {
            write(file, &text)?;
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_stay_inside_the_output_folders() {
        assert!(matches!(compile_glob("../x"), Err(ApiError::Forbidden(_))));
        assert!(matches!(
            compile_glob("a/../../x"),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            compile_glob("/etc/*"),
            Err(ApiError::Forbidden(_))
        ));
        let (g, d) = compile_glob("*.bmp").unwrap();
        assert_eq!(d, 1);
        assert!(g.is_match("a.bmp") && !g.is_match("sub/a.bmp"));
        let (g, d) = compile_glob("**/*.bmp").unwrap();
        assert_eq!(d, MAX_GLOB_DEPTH);
        assert!(g.is_match("sub/a.bmp") && g.is_match("a.bmp"));
        // `..x` is a name, not a parent.
        assert!(compile_glob("..x").is_ok());
    }
}
