//! Pure builders of the `qa` arguments for each job the webapp starts
//! (OPERATIONS.md §3 and §4, with the "Intended" fixes).
//!
//! Every value is passed as ONE argv element in `--option=value` form, so a
//! value starting with `-` can never be read as another option, and the batch
//! or input name goes through `--batch=` rather than as a positional argument
//! (the original's `qa batch … "<path>"`: click takes the first positional as
//! the only batch, so the meaning is the same).

use std::path::{Path, PathBuf};

use qaboard_model::conventions::{python_json_dumps, serialize_config};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::JobError;

/// What a redo of one output needs (orig `Output.redo`), as plain values.
#[derive(Debug, Clone)]
pub struct RedoRun<'a> {
    /// The batch label (`--label`).
    pub label: &'a str,
    /// The output's configurations list, serialised like the CLI (`a:b:{"x": 1}`).
    pub configurations: &'a [Value],
    /// The test input's database (`--database`).
    pub database: &'a str,
    /// The output type (`--type`).
    pub output_type: &'a str,
    /// The output's `extra_parameters` (`--tuning`, Python `json.dumps(sort_keys=True)`).
    pub extra_parameters: &'a Value,
    /// The output's platform (intended: `--platform`); `None` leaves the CLI default.
    pub platform: Option<&'a str>,
    /// `output.data.job_options` (`null` or `{}` when absent).
    pub job_options: &'a Value,
    /// The test input path, relative to the database (the batch name `qa batch` globs).
    pub test_input_path: &'a str,
}

/// `qa` arguments to redo one output (orig `Output.redo`; batch redo calls it per
/// output with one shared command id):
/// `--label=L --configuration=C --database=D --type=T --tuning=<sorted JSON>
/// [--platform=P] batch --no-wait [--runner=R] <job opts> --action-on-existing=run
/// --action-on-pending=run --batch=<input path>`.
///
/// Job options (orig): none → `--lsf-max-memory=20000`; `type: lsf` → `--lsf-queue`,
/// `--lsf-max-memory` (≠ 0), `--lsf-resources` (non-empty), `--lsf-threads`
/// (`max_threads` ≠ 0); other runners none. Intended: `--runner=<type>` when known.
pub fn redo_output(run: &RedoRun<'_>) -> Vec<String> {
    let mut argv = vec![
        format!("--label={}", run.label),
        format!("--configuration={}", serialize_config(run.configurations)),
        format!("--database={}", run.database),
        format!("--type={}", run.output_type),
        format!(
            "--tuning={}",
            python_json_dumps(&empty_object_if_null(run.extra_parameters))
        ),
    ];
    if let Some(platform) = run.platform {
        argv.push(format!("--platform={platform}"));
    }
    argv.push("batch".into());
    argv.push("--no-wait".into());
    argv.extend(job_options_args(run.job_options));
    argv.push("--action-on-existing=run".into());
    argv.push("--action-on-pending=run".into());
    argv.push(format!("--batch={}", run.test_input_path));
    argv
}

fn empty_object_if_null(v: &Value) -> Value {
    if v.is_null() {
        Value::Object(Default::default())
    } else {
        v.clone()
    }
}

/// The runner options of [`redo_output`] from `output.data.job_options`.
pub fn job_options_args(job_options: &Value) -> Vec<String> {
    let Some(opts) = job_options.as_object().filter(|o| !o.is_empty()) else {
        return vec!["--lsf-max-memory=20000".into()];
    };
    let mut argv = Vec::new();
    let runner = opts.get("type").and_then(Value::as_str);
    if let Some(runner) = runner {
        argv.push(format!("--runner={runner}"));
    }
    if runner == Some("lsf") {
        let text = |key: &str| -> Option<String> {
            match opts.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let nonzero = |v: &String| v != "0" && v != "0.0" && !v.is_empty();
        if let Some(q) = text("queue") {
            argv.push(format!("--lsf-queue={q}"));
        }
        if let Some(m) = text("max_memory").filter(nonzero) {
            argv.push(format!("--lsf-max-memory={m}"));
        }
        if let Some(r) = text("resources").filter(|r| !r.is_empty()) {
            argv.push(format!("--lsf-resources={r}"));
        }
        if let Some(t) = text("max_threads").filter(nonzero) {
            argv.push(format!("--lsf-threads={t}"));
        }
    }
    argv
}

/// A tuning run from the webapp (OPERATIONS.md §4.2), as plain values.
#[derive(Debug, Clone)]
pub struct TuningRun<'a> {
    /// Platform (`--platform`, webapp default `lsf`).
    pub platform: &'a str,
    /// Batch label (`--label`).
    pub label: &'a str,
    /// The merged batches file the server wrote (`batches-<id8>.yaml`).
    pub batches_file: &'a Path,
    /// The selected group (`--batch`).
    pub group: &'a str,
    /// Re-run existing outputs (`--action-on-existing=run`) or reuse them (`sync`).
    pub overwrite: bool,
}

/// `qa` arguments of a grid or sampler search:
/// `--platform=P --label=L batch --batches-file=F --batch=G --tuning-search=<JSON>
/// --action-on-existing=run|sync --no-wait`; `tuning_search` is the webapp's
/// `{search_type, search_options, parameter_search}` object, sent as compact JSON.
pub fn tuning_search(run: &TuningRun<'_>, tuning_search: &Value) -> Vec<String> {
    vec![
        format!("--platform={}", run.platform),
        format!("--label={}", run.label),
        "batch".into(),
        format!("--batches-file={}", run.batches_file.display()),
        format!("--batch={}", run.group),
        format!("--tuning-search={tuning_search}"),
        format!(
            "--action-on-existing={}",
            if run.overwrite { "run" } else { "sync" }
        ),
        "--no-wait".into(),
    ]
}

/// `qa` arguments of an optimisation: `--platform=P --label=L optimize
/// --batches-file=F --batch=G --config-file=<batch_dir>/optim-config.yaml`
/// (blocks for the whole search; `overwrite` does not apply).
pub fn tuning_optimize(run: &TuningRun<'_>, config_file: &Path) -> Vec<String> {
    vec![
        format!("--platform={}", run.platform),
        format!("--label={}", run.label),
        "optimize".into(),
        format!("--batches-file={}", run.batches_file.display()),
        format!("--batch={}", run.group),
        format!("--config-file={}", config_file.display()),
    ]
}

/// `qa` arguments listing a group (OPERATIONS.md §4.1, intended: always):
/// `batch --batches-file=F… --batch=<name> --list`. Parse stdout with [`parse_list_output`].
pub fn list_group(batches_files: &[PathBuf], name: &str) -> Vec<String> {
    let mut argv = vec!["batch".to_string()];
    argv.extend(
        batches_files
            .iter()
            .map(|f| format!("--batches-file={}", f.display())),
    );
    argv.push(format!("--batch={name}"));
    argv.push("--list".into());
    argv
}

/// `qa` arguments restoring a commit's artifacts (OPERATIONS.md §4.3), run in
/// `<git worktree>/<subproject>`: `save-artifacts --out=<repo artifacts dir>`.
pub fn save_artifacts(repo_artifacts_dir: &Path) -> Vec<String> {
    vec![
        "save-artifacts".into(),
        format!("--out={}", repo_artifacts_dir.display()),
    ]
}

/// One test of a group as the webapp reads it (`tests[]` of §4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedTest {
    /// The input path relative to its database (`rel_input_path` of the CLI).
    pub input_path: String,
    /// The run's configurations list.
    pub configurations: Value,
}

/// Reads what `qa batch --list` printed: `json.dumps([RunContext.asdict()…], indent=2)`
/// (orig `qaboard/qa.py`), each with `input_path` (absolute), `rel_input_path`,
/// `configurations`, `database`, `platform`… Text printed before the JSON (some
/// `.envrc` files echo) is skipped: parsing starts at the last line that is `[`
/// or starts with `[]`. Mapped to `{input_path: rel_input_path, configurations}`.
/// Error: [`JobError::BadListOutput`].
pub fn parse_list_output(stdout: &str) -> Result<Vec<ListedTest>, JobError> {
    let bad = |reason: String| JobError::BadListOutput { reason };
    let parsed: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(first) => {
            let mut offset = 0;
            let mut start = None;
            for line in stdout.split_inclusive('\n') {
                let t = line.trim_end();
                if t == "[" || t.starts_with("[]") {
                    start = Some(offset);
                }
                offset += line.len();
            }
            let start = start.ok_or_else(|| bad(first.to_string()))?;
            serde_json::from_str(stdout[start..].trim()).map_err(|e| bad(e.to_string()))?
        }
    };
    let Value::Array(items) = parsed else {
        return Err(bad("expected a JSON list".into()));
    };
    items
        .into_iter()
        .map(|item| {
            let input_path = item
                .get("rel_input_path")
                .or_else(|| item.get("input_path"))
                .and_then(Value::as_str)
                .ok_or_else(|| bad("an item has no rel_input_path".into()))?
                .to_string();
            let configurations = item
                .get("configurations")
                .cloned()
                .unwrap_or(Value::Array(vec![]));
            Ok(ListedTest {
                input_path,
                configurations,
            })
        })
        .collect()
}

/// Checks a value bound for a `qa` option is passable at all: argv elements
/// cannot hold NUL bytes. Everything else (quotes, `$()`, newlines) is inert in argv.
pub fn check_argv(argv: &[String]) -> Result<(), JobError> {
    match argv.iter().find(|a| a.contains('\0')) {
        Some(a) => Err(JobError::invalid(
            a.split('=').next().unwrap_or("argument").to_string(),
            "contains a NUL byte",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
