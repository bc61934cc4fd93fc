//! QA-Board's rules on what a new result changes in its project's and
//! commit's metadata. Pure functions over JSON values.
use serde_json::{Map, Value};

use crate::DEFAULT_REFERENCE_BRANCH;

/// The branch a project config names as its reference (`project.reference_branch`),
/// `master` when it names none.
pub fn reference_branch(qaboard_config: &Value) -> &str {
    qaboard_config
        .pointer("/project/reference_branch")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_REFERENCE_BRANCH)
}

/// The new `data` of a project after a commit was first seen with the given
/// config snapshot, or `None` when nothing changes.
///
/// The project's `qatools_config`/`qatools_metrics` are (re)set when the
/// project has no config yet, or when the commit is on the reference branch.
/// `git.path_with_namespace` is filled from `project_root` (else the config's
/// `project.name`) when the project does not know it yet.
pub fn project_data_after_commit(
    project_data: &Value,
    commit_branch: Option<&str>,
    project_root: Option<&str>,
    qaboard_config: Option<&Value>,
    qaboard_metrics: Option<&Value>,
) -> Option<Value> {
    let config = qaboard_config.filter(|c| c.is_object())?;
    let mut data = match project_data {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let is_initialization = !data.contains_key("qatools_config");
    let is_reference = commit_branch.is_some_and(|b| b == reference_branch(config));
    if !(is_initialization || is_reference) {
        return None;
    }
    let root = project_root
        .filter(|r| !r.is_empty())
        .or_else(|| config.pointer("/project/name").and_then(Value::as_str));
    if let Some(root) = root {
        let git = data
            .entry("git")
            .or_insert_with(|| Value::Object(Map::new()));
        if !git.is_object() {
            *git = Value::Object(Map::new());
        }
        if let Value::Object(git) = git {
            git.entry("path_with_namespace")
                .or_insert_with(|| Value::String(root.to_string()));
        }
    }
    data.insert("qatools_config".into(), config.clone());
    if let Some(metrics) = qaboard_metrics.filter(|m| !m.is_null()) {
        data.insert("qatools_metrics".into(), metrics.clone());
    }
    let data = Value::Object(data);
    (data != *project_data).then_some(data)
}

/// The `data` a commit is created with: its own snapshot of the config and
/// metrics, and `git.path_with_namespace` when the project root is known.
pub fn new_commit_data(
    project_root: Option<&str>,
    qaboard_config: Option<&Value>,
    qaboard_metrics: Option<&Value>,
) -> Value {
    let mut data = Map::new();
    if let Some(root) = project_root.filter(|r| !r.is_empty()) {
        let mut git = Map::new();
        git.insert(
            "path_with_namespace".into(),
            Value::String(root.to_string()),
        );
        data.insert("git".into(), Value::Object(git));
    }
    if let Some(c) = qaboard_config.filter(|c| !c.is_null()) {
        data.insert("qatools_config".into(), c.clone());
    }
    if let Some(m) = qaboard_metrics.filter(|m| !m.is_null()) {
        data.insert("qatools_metrics".into(), m.clone());
    }
    Value::Object(data)
}

/// Shallow merge: keys of `patch` replace those of `base` (Python's `{**base, **patch}`).
pub fn merge_shallow(base: &Value, patch: &Map<String, Value>) -> Value {
    let mut out = match base {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in patch {
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// Python truthiness of a JSON value (as the original tested flags).
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// What a commit without a committer name is stored and shown with, as the
/// original's `CiCommit` (and its commit folder names) did.
pub const UNKNOWN_COMMITTER: &str = "unknown";
/// What a commit without a message is stored and shown with (the original's
/// `CiCommit`).
pub const MISSING_MESSAGE: &str = "<NA>";

/// The committer name to store or show: `name`, or [`UNKNOWN_COMMITTER`] when
/// it is missing or empty (the original tested Python truthiness, so `""`
/// counted as missing; the webapp shows an empty name as "loading" forever).
pub fn committer_name_or_unknown(name: Option<&str>) -> &str {
    name.filter(|s| !s.is_empty()).unwrap_or(UNKNOWN_COMMITTER)
}

/// The commit message to store or show: `message`, or [`MISSING_MESSAGE`]
/// when it is missing or empty (as [`committer_name_or_unknown`]).
pub fn message_or_missing(message: Option<&str>) -> &str {
    message.filter(|s| !s.is_empty()).unwrap_or(MISSING_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_config_initialises_the_project() {
        let cfg = json!({"project": {"name": "g/r", "reference_branch": "main"}});
        let d = project_data_after_commit(
            &json!({}),
            Some("feature"),
            Some("g/r"),
            Some(&cfg),
            Some(&json!({"m": 1})),
        )
        .unwrap();
        assert_eq!(d["qatools_config"], cfg);
        assert_eq!(d["qatools_metrics"], json!({"m": 1}));
        assert_eq!(d["git"]["path_with_namespace"], "g/r");
    }

    #[test]
    fn other_branches_do_not_overwrite_the_project_config() {
        let old = json!({"qatools_config": {"project": {"reference_branch": "main"}}});
        let cfg = json!({"project": {"reference_branch": "main"}, "x": 1});
        assert_eq!(
            project_data_after_commit(&old, Some("feature"), None, Some(&cfg), None),
            None
        );
        let d = project_data_after_commit(&old, Some("main"), None, Some(&cfg), None).unwrap();
        assert_eq!(d["qatools_config"]["x"], 1);
    }

    #[test]
    fn reference_branch_defaults_to_master() {
        assert_eq!(reference_branch(&json!({})), "master");
        assert_eq!(
            reference_branch(&json!({"project": {"reference_branch": "dev"}})),
            "dev"
        );
    }

    #[test]
    fn truthiness_matches_python() {
        assert!(!truthy(None));
        assert!(!truthy(Some(&json!(0))));
        assert!(!truthy(Some(&json!(""))));
        assert!(truthy(Some(&json!("x"))));
        assert!(truthy(Some(&json!(true))));
        assert!(!truthy(Some(&json!({}))));
    }

    #[test]
    fn merge_is_shallow() {
        let mut p = Map::new();
        p.insert("a".into(), json!({"y": 2}));
        assert_eq!(
            merge_shallow(&json!({"a": {"x": 1}, "b": 1}), &p),
            json!({"a": {"y": 2}, "b": 1})
        );
    }

    #[test]
    fn empty_committer_and_message_get_the_placeholders() {
        assert_eq!(committer_name_or_unknown(None), "unknown");
        assert_eq!(committer_name_or_unknown(Some("")), "unknown");
        assert_eq!(committer_name_or_unknown(Some("Ada")), "Ada");
        assert_eq!(message_or_missing(None), "<NA>");
        assert_eq!(message_or_missing(Some("")), "<NA>");
        assert_eq!(message_or_missing(Some("fix")), "fix");
    }
}
