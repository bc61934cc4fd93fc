//! Project configurations (`qaboard.yaml`) of a repository and its
//! sub-projects, merged as the `qa` CLI does (`qaboard/config.py`
//! `find_configs` and `qaboard/utils.py` `merge`).
//!
//! A sub-project is a folder of the repository holding a `qaboard.yaml` (or,
//! for backward compatibility, a `qatools.yaml`; when a folder has both,
//! `qaboard.yaml` wins). Its configuration is the deep merge of the
//! configurations of its folder and of every ancestor folder that has one,
//! from the repository root down to the sub-project, stopping upwards at the
//! first configuration with a truthy `root` key. `project.name` of the result
//! is set to the sub-project's id (`<root id>/<folder>`), as the original
//! backend's `update_project` does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// File names of project configurations, by preference.
pub const CONFIG_FILE_NAMES: [&str; 2] = ["qaboard.yaml", "qatools.yaml"];

/// Deep-merges `src` into `dest` and returns the result, like the CLI's
/// `merge(src, dest)`: keys of `src` win; mappings are merged recursively; a
/// list in `src` containing the string `"super"` has that element replaced
/// by the items of the list `dest` had under the same key (nothing when it
/// had none). A `null` `src` leaves `dest` unchanged. Where `dest` is not a
/// mapping but `src` is, `src` replaces it.
pub fn deep_merge(dest: Value, src: &Value) -> Value {
    let Value::Object(src) = src else {
        return if src.is_null() { dest } else { src.clone() };
    };
    let mut dest = match dest {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in src {
        let merged = match value {
            Value::Object(_) => {
                let previous = dest.remove(key).unwrap_or(Value::Null);
                deep_merge(previous, value)
            }
            Value::Array(items) if items.iter().any(|v| v == "super") => {
                let previous = match dest.get(key) {
                    Some(Value::Array(previous)) => previous.clone(),
                    _ => Vec::new(),
                };
                let mut out = Vec::new();
                for item in items {
                    if item == "super" {
                        out.extend(previous.iter().cloned());
                    } else {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            other => other.clone(),
        };
        dest.insert(key.clone(), merged);
    }
    Value::Object(dest)
}

/// Python truthiness of a JSON value (used for `root:`).
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The folder of a repository-relative path (`""` for the root), `/`-separated.
pub fn parent_dir(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// The id of the sub-project in folder `dir` of the repository of the root
/// project `root_id`: `root_id` itself for the repository root, else
/// `<root_id>/<dir>` (as the original's `str(root_project_id / parent)`).
pub fn subproject_id(root_id: &str, dir: &str) -> String {
    if dir.is_empty() || dir == "." {
        root_id.to_string()
    } else {
        format!("{root_id}/{dir}")
    }
}

/// Picks the configuration files among the paths of a repository tree
/// (exact basename `qaboard.yaml` or `qatools.yaml`) and returns, for every
/// folder that has one, the path of the file to read (`qaboard.yaml` when
/// both exist). Keys are folders (`""` for the root), sorted.
pub fn config_files<'a>(paths: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for path in paths {
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        if !CONFIG_FILE_NAMES.contains(&name) {
            continue;
        }
        let better = match found.get(dir) {
            None => true,
            Some(existing) => existing.ends_with("qatools.yaml") && name == "qaboard.yaml",
        };
        if better {
            found.insert(dir.to_string(), path.to_string());
        }
    }
    found
}

/// The ancestors of `dir` from itself up to the root `""`: `a/b` gives
/// `["a/b", "a", ""]`.
pub fn ancestor_dirs(dir: &str) -> Vec<&str> {
    let mut out = vec![dir];
    let mut current = dir;
    while !current.is_empty() {
        current = parent_dir(current);
        out.push(current);
    }
    out
}

/// Why a sub-project's configuration cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Repository-relative path of the offending file.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A configuration file as read from the repository: its path and its parsed
/// content (or the parse error message).
pub type ParsedConfig = (String, Result<Value, String>);

/// The merged configuration of the sub-project in folder `dir`.
///
/// `configs` maps folders to their configuration file (see [`config_files`])
/// as parsed. The chain is `dir` and its ancestors with a configuration,
/// upwards, stopping after the first whose `root` is truthy; an empty file
/// (`null`) counts as `{}`. The chain is merged root→leaf with
/// [`deep_merge`] and `project.name` is set to `project_id`.
///
/// Errors: a file of the chain did not parse, or its top level is not a
/// mapping (the CLI would fail on it too).
pub fn merged_config(
    dir: &str,
    configs: &BTreeMap<String, ParsedConfig>,
    project_id: &str,
) -> Result<Value, ConfigError> {
    let mut chain: Vec<&Value> = Vec::new();
    let empty = Value::Object(Map::new());
    for ancestor in ancestor_dirs(dir) {
        let Some((path, parsed)) = configs.get(ancestor) else {
            continue;
        };
        let value = match parsed {
            Err(message) => {
                return Err(ConfigError {
                    path: path.clone(),
                    message: message.clone(),
                })
            }
            Ok(Value::Null) => &empty,
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                return Err(ConfigError {
                    path: path.clone(),
                    message: "the configuration is not a mapping".to_string(),
                })
            }
        };
        chain.push(value);
        if value.get("root").is_some_and(is_truthy) {
            break;
        }
    }
    let mut merged = Value::Object(Map::new());
    for config in chain.iter().rev() {
        merged = deep_merge(merged, config);
    }
    set_project_name(&mut merged, project_id);
    Ok(merged)
}

/// Sets `project.name` (creating `project` or replacing a non-mapping one).
pub fn set_project_name(config: &mut Value, project_id: &str) {
    if !config.is_object() {
        *config = Value::Object(Map::new());
    }
    let project = config
        .as_object_mut()
        .expect("config is an object")
        .entry("project")
        .or_insert_with(|| Value::Object(Map::new()));
    if !project.is_object() {
        *project = Value::Object(Map::new());
    }
    project
        .as_object_mut()
        .expect("project is an object")
        .insert("name".to_string(), Value::String(project_id.to_string()));
}

/// The repository-relative path of the metrics description named by a
/// merged configuration (`outputs.metrics`), if it is a non-empty string.
pub fn metrics_path(config: &Value) -> Option<&str> {
    config
        .get("outputs")?
        .get("metrics")?
        .as_str()
        .filter(|s| !s.trim().is_empty())
}

/// The reference branch of a merged configuration
/// (`project.reference_branch`, default `master`).
pub fn reference_branch(config: &Value) -> &str {
    config
        .get("project")
        .and_then(|p| p.get("reference_branch"))
        .and_then(Value::as_str)
        .unwrap_or(crate::DEFAULT_REFERENCE_BRANCH)
}

/// Parses the metrics description file `path` (JSON when it ends with
/// `.json`, YAML otherwise, as the original's `parsed_content`).
pub fn parse_metrics(path: &str, text: &str) -> Result<Value, String> {
    if path.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        crate::yaml::parse_yaml(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(entries: &[(&str, &str)]) -> BTreeMap<String, ParsedConfig> {
        let files = config_files(entries.iter().map(|(p, _)| *p));
        files
            .into_iter()
            .map(|(dir, path)| {
                let text = entries.iter().find(|(p, _)| *p == path).unwrap().1;
                let value = crate::yaml::parse_yaml(text).map_err(|e| e.to_string());
                (dir, (path, value))
            })
            .collect()
    }

    #[test]
    fn merge_is_deep_and_leaf_wins() {
        let root = json!({"project": {"name": "g/r", "url": "u"}, "inputs": {"types": {"default": "a"}}, "list": [1, 2]});
        let leaf = json!({"inputs": {"types": {"default": "b", "other": 1}}, "list": [3, "super"], "x": null});
        let merged = deep_merge(deep_merge(json!({}), &root), &leaf);
        assert_eq!(
            merged,
            json!({"project": {"name": "g/r", "url": "u"}, "inputs": {"types": {"default": "b", "other": 1}},
                   "list": [3, 1, 2], "x": null})
        );
        // A mapping replaces a scalar; a scalar replaces a mapping.
        assert_eq!(
            deep_merge(json!({"a": 1}), &json!({"a": {"b": 2}})),
            json!({"a": {"b": 2}})
        );
        assert_eq!(
            deep_merge(json!({"a": {"b": 2}}), &json!({"a": 1})),
            json!({"a": 1})
        );
        assert_eq!(deep_merge(json!({"a": 1}), &Value::Null), json!({"a": 1}));
    }

    #[test]
    fn config_files_use_exact_basenames_and_prefer_qaboard() {
        let files = config_files([
            "qatools.yaml",
            "qaboard.yaml",
            "a/qatools.yaml",
            "b/myqaboard.yaml",
            "c/qaboardXyaml",
            "c/qaboard.yaml.bak",
            "d/e/qaboard.yaml",
        ]);
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            vec![
                ("".to_string(), "qaboard.yaml".to_string()),
                ("a".to_string(), "a/qatools.yaml".to_string()),
                ("d/e".to_string(), "d/e/qaboard.yaml".to_string()),
            ]
        );
    }

    #[test]
    fn subprojects_merge_root_to_leaf_and_stop_at_root_true() {
        let configs = parsed(&[
            (
                "qaboard.yaml",
                "project: {name: g/r, reference_branch: develop}\nlevel: root\nroot_only: 1\n",
            ),
            ("a/qaboard.yaml", "level: a\n"),
            ("a/b/qaboard.yaml", ""),
            ("c/qaboard.yaml", "root: true\nlevel: c\n"),
            ("c/d/qaboard.yaml", "level: d\n"),
        ]);
        let ab = merged_config("a/b", &configs, "g/r/a/b").unwrap();
        assert_eq!(
            ab,
            json!({"project": {"name": "g/r/a/b", "reference_branch": "develop"}, "level": "a", "root_only": 1})
        );
        assert_eq!(reference_branch(&ab), "develop");
        let cd = merged_config("c/d", &configs, "g/r/c/d").unwrap();
        assert_eq!(
            cd,
            json!({"root": true, "level": "d", "project": {"name": "g/r/c/d"}})
        );
        assert_eq!(reference_branch(&cd), "master");
        let root = merged_config("", &configs, "g/r").unwrap();
        assert_eq!(root["project"]["name"], "g/r");
    }

    #[test]
    fn a_broken_file_fails_only_the_subprojects_that_use_it() {
        let configs = parsed(&[
            ("qaboard.yaml", "project: {name: g/r}\n"),
            ("bad/qaboard.yaml", "a: [1, 2\n"),
            ("bad/child/qaboard.yaml", "x: 1\n"),
            ("list/qaboard.yaml", "- 1\n- 2\n"),
            ("good/qaboard.yaml", "x: 2\n"),
        ]);
        let err = merged_config("bad", &configs, "g/r/bad").unwrap_err();
        assert_eq!(err.path, "bad/qaboard.yaml");
        assert!(merged_config("bad/child", &configs, "g/r/bad/child").is_err());
        assert!(merged_config("list", &configs, "g/r/list").is_err());
        assert_eq!(merged_config("good", &configs, "g/r/good").unwrap()["x"], 2);
    }

    #[test]
    fn ids_paths_and_metrics() {
        assert_eq!(subproject_id("g/r", ""), "g/r");
        assert_eq!(subproject_id("g/r", "a/b"), "g/r/a/b");
        assert_eq!(ancestor_dirs("a/b"), vec!["a/b", "a", ""]);
        assert_eq!(ancestor_dirs(""), vec![""]);
        assert_eq!(
            metrics_path(&json!({"outputs": {"metrics": "m.yaml"}})),
            Some("m.yaml")
        );
        assert_eq!(metrics_path(&json!({"outputs": {"metrics": 3}})), None);
        assert_eq!(
            parse_metrics("m.json", r#"{"a": 1}"#).unwrap(),
            json!({"a": 1})
        );
        assert!(parse_metrics("m.json", "a: 1").is_err());
        assert_eq!(parse_metrics("m.yaml", "a: 1").unwrap(), json!({"a": 1}));
        let mut v = json!({"project": "x"});
        set_project_name(&mut v, "p");
        assert_eq!(v, json!({"project": {"name": "p"}}));
    }
}
