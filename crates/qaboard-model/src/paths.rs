//! Where a project's commits, batches and outputs live on the shared storage,
//! following the conventions of the `qa` CLI.
use serde_json::Value;

use crate::conventions::{batch_conf_folder, batch_folder_name, commit_dirs, output_folder};
use crate::{Batch, CiCommit, Output, Project, TestInput};

/// The git repository of a project: `data.git.path_with_namespace`, else the
/// first two components of its id (`group/repo/sub` → `group/repo`).
pub fn id_git(project_id: &str, project_data: &Value) -> String {
    if let Some(p) = project_data
        .pointer("/git/path_with_namespace")
        .and_then(Value::as_str)
    {
        if !p.is_empty() {
            return p.to_string();
        }
    }
    let mut parts = project_id.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => format!("{a}/{b}"),
        _ => project_id.to_string(),
    }
}

/// A sub-project's folder inside its repository (empty for a whole repository).
pub fn id_relative(project_id: &str, id_git: &str) -> String {
    if project_id == id_git {
        return String::new();
    }
    match project_id.strip_prefix(id_git) {
        Some(rest) => rest.trim_start_matches('/').to_string(),
        None => project_id.get(id_git.len() + 1..).unwrap_or("").to_string(),
    }
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        return a.to_string();
    }
    if a.is_empty() {
        return b.to_string();
    }
    format!("{}/{}", a.trim_end_matches('/'), b.trim_start_matches('/'))
}

/// Resolves a `storage` spec of qaboard.yaml for one kind (`outputs` or `artifacts`).
fn storage_spec(config: &Value, kind: &str, project: &str, subproject: &str) -> Option<String> {
    let spec = config.get("storage").or_else(|| config.get("ci_root"))?;
    let spec = match spec {
        Value::Object(m) => m.get(kind).unwrap_or(spec),
        _ => spec,
    };
    let s = match spec {
        Value::String(s) => s.clone(),
        Value::Object(m) => m.get("linux")?.as_str()?.to_string(),
        _ => return None,
    };
    let s = s
        .replace("{project}", project)
        .replace("{subproject}", subproject);
    (!s.is_empty() && s.starts_with('/')).then_some(s)
}

/// Storage locations of one commit of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPaths {
    /// Outputs of the commit (sub-project folder included).
    pub outputs_dir: String,
    /// Artifacts of the commit (sub-project folder included).
    pub artifacts_dir: String,
    /// Artifacts of the whole repository at that commit.
    pub repo_artifacts_dir: String,
}

/// Computes where a commit's data lives. `project_data` is the project's
/// `data`; the commit's own config snapshot is used when the project's has
/// no `storage`; `default_root` applies when neither says.
pub fn commit_paths(
    project_id: &str,
    project_data: &Value,
    commit: &CiCommit,
    default_root: &str,
) -> CommitPaths {
    let git = id_git(project_id, project_data);
    let rel = id_relative(project_id, &git);
    let project_config = project_data
        .get("qatools_config")
        .filter(|c| c.get("storage").is_some());
    let config = project_config
        .or_else(|| commit.data.get("qatools_config"))
        .cloned()
        .unwrap_or(Value::Null);
    let dirs = commit_dirs(&commit.hexsha);
    let root_for = |kind: &str| {
        storage_spec(&config, kind, project_id, &rel).unwrap_or_else(|| default_root.to_string())
    };
    let repo_outputs_dir = join(&join(&root_for("outputs"), &git), &dirs);
    let repo_artifacts_dir = match commit
        .commit_dir_override
        .as_deref()
        .filter(|d| !d.is_empty())
    {
        Some(over) if !rel.is_empty() => over
            .strip_suffix(rel.as_str())
            .unwrap_or(over)
            .trim_end_matches('/')
            .to_string(),
        Some(over) => over.to_string(),
        None => join(&join(&root_for("artifacts"), &git), &dirs),
    };
    CommitPaths {
        outputs_dir: join(&repo_outputs_dir, &rel),
        artifacts_dir: join(&repo_artifacts_dir, &rel),
        repo_artifacts_dir,
    }
}

/// A batch's folder.
pub fn batch_dir(commit_outputs_dir: &str, batch: &Batch) -> String {
    match batch
        .batch_dir_override
        .as_deref()
        .filter(|d| !d.is_empty())
    {
        Some(d) => d.to_string(),
        None => join(commit_outputs_dir, &batch_folder_name(&batch.label)),
    }
}

/// An output's folder.
pub fn output_dir(batch_dir: &str, output: &Output, input: Option<&TestInput>) -> String {
    output_dir_from(
        batch_dir,
        output.output_dir_override.as_deref(),
        output.platform.as_deref(),
        &output.configurations,
        &output.extra_parameters,
        input.map(|i| i.path.as_str()),
    )
}

/// An output's folder from its parts: the stored folder when there is one,
/// else `<batch dir>/<configuration folder>/<input folder>` as the CLI names it.
pub fn output_dir_from(
    batch_dir: &str,
    output_dir_override: Option<&str>,
    platform: Option<&str>,
    configurations: &Value,
    extra_parameters: &Value,
    input_path: Option<&str>,
) -> String {
    if let Some(d) = output_dir_override.filter(|d| !d.is_empty()) {
        return d.to_string();
    }
    let configurations = configurations.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let conf = batch_conf_folder(
        platform.unwrap_or("linux"),
        configurations,
        extra_parameters,
    );
    let input = input_path.map(output_folder).unwrap_or_default();
    join(&join(batch_dir, &conf), &input)
}

/// Convenience: every folder of a project's commit from the stored records.
pub fn commit_paths_of(
    project: Option<&Project>,
    commit: &CiCommit,
    default_root: &str,
) -> CommitPaths {
    let null = Value::Null;
    let data = project.map(|p| &p.data).unwrap_or(&null);
    commit_paths(&commit.project_id, data, commit, default_root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn commit(sha: &str, data: Value, over: Option<&str>) -> CiCommit {
        CiCommit {
            id: crate::CommitId(1),
            hexsha: sha.into(),
            project_id: String::new(),
            data,
            authored_datetime: None,
            committer_name: None,
            message: None,
            branch: None,
            parents: None,
            commit_dir_override: over.map(Into::into),
            commit_type: None,
            latest_output_datetime: None,
            deleted: false,
        }
    }

    #[test]
    fn repository_and_subproject_ids() {
        assert_eq!(id_git("a/b/c/d", &json!({})), "a/b");
        assert_eq!(
            id_git("a/b/c", &json!({"git": {"path_with_namespace": "a/b/c"}})),
            "a/b/c"
        );
        assert_eq!(id_relative("a/b/c/d", "a/b"), "c/d");
        assert_eq!(id_relative("a/b", "a/b"), "");
    }

    #[test]
    fn commit_folders_follow_the_cli_layout() {
        let data = json!({"git": {"path_with_namespace": "acme/smoke"}, "qatools_config": {"storage": "/mnt/qaboard"}});
        let c = commit("462a23fc9356a1fa3f792828b530ea6d4eeb9803", json!({}), None);
        let p = commit_paths("acme/smoke", &data, &c, "/default");
        assert_eq!(p.outputs_dir, "/mnt/qaboard/acme/smoke/46/2a23fc9356a1fa");
        assert_eq!(p.artifacts_dir, p.outputs_dir);
    }

    #[test]
    fn subprojects_and_overrides() {
        let c = commit(
            "abcdef0123456789abcd",
            json!({"qatools_config": {"storage": {"linux": "/s"}}}),
            None,
        );
        let p = commit_paths("g/r/sub/p", &json!({}), &c, "/default");
        assert_eq!(p.outputs_dir, "/s/g/r/ab/cdef0123456789/sub/p");
        assert_eq!(p.repo_artifacts_dir, "/s/g/r/ab/cdef0123456789");
        let c = commit("abcdef0123456789abcd", json!({}), Some("/over/ab/cd/sub/p"));
        let p = commit_paths("g/r/sub/p", &json!({}), &c, "/default");
        assert_eq!(p.repo_artifacts_dir, "/over/ab/cd");
        assert_eq!(p.artifacts_dir, "/over/ab/cd/sub/p");
        assert_eq!(p.outputs_dir, "/default/g/r/ab/cdef0123456789/sub/p");
    }
}
