//! The pure parts of "export to a shared folder": the folder name, which
//! reference output goes with each new output, what all exported outputs
//! share (`0.common.json`), the labels in exported file names
//! (`0.mappings.json`) and the `0.qa.html` / `0.qa.url` links back to the
//! webapp.
//!
//! Rule source: the original's `export_to_folder`, `matching_output`,
//! `copy_path_rel` (`backend/backend/api/export_to_folder.py`); contract in
//! OPERATIONS.md §9. Every set is sorted so that the same request always
//! gives the same names. Where the original was ambiguous or wrong (see each
//! item): same platform is preferred when choosing a reference, common
//! prefixes are computed over all configurations, labels are stripped
//! item-wise, mappings only list labels that are used.

use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use crate::conventions::{
    python_json_dumps, serialize_config, slugify_hash, DEFAULT_SLUG_MAXLENGTH,
};

/// `QABOARD_URL` when the environment sets none.
pub const DEFAULT_QABOARD_URL: &str = "http://qaboard";

/// Name of the export folder under `<repo outputs dir>/share/`: the first 8
/// hex digits of the MD5 of `"<project> <new sha> <ref sha|''> <new batch id>
/// <ref batch id|''> <filter_new> <filter_ref>"`, where an absent filter is
/// written `None` (as the original's f-string did), so a request gives the
/// folder the original server would have used.
pub fn export_dir_name(
    project: &str,
    new_sha: &str,
    new_batch_id: crate::BatchId,
    reference: Option<(&str, crate::BatchId)>,
    filter_new: Option<&str>,
    filter_ref: Option<&str>,
) -> String {
    let (ref_sha, ref_batch) = match reference {
        Some((sha, id)) => (sha.to_string(), id.to_string()),
        None => (String::new(), String::new()),
    };
    let text = format!(
        "{project} {new_sha} {ref_sha} {new_batch_id} {ref_batch} {} {}",
        filter_new.unwrap_or("None"),
        filter_ref.unwrap_or("None")
    );
    hex(&Md5::digest(text.as_bytes()))[..8].to_string()
}

/// One side of an export request: which outputs are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSelection<'a> {
    /// Project id (`project` / `ref_project`).
    pub project: &'a str,
    /// Commit hash as requested (`new_commit_id` / `ref_commit_id`).
    pub hexsha: &'a str,
    /// Batch label (`batch_new` / `batch_ref`, default `default`).
    pub batch_label: &'a str,
    /// Filter (`filter_new` / `filter_ref`), absent when not sent.
    pub filter: Option<&'a str>,
}

/// Whether the requested reference is the new selection itself (same
/// project, commit, batch label and filter): then there is no reference.
pub fn reference_is_new_selection(
    new: &ExportSelection<'_>,
    reference: &ExportSelection<'_>,
) -> bool {
    new == reference
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// What export needs to know about one output (plain values).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOutput {
    /// Output id.
    pub id: crate::OutputId,
    /// Hash of the output's commit.
    pub hexsha: String,
    /// `test_input.path`.
    pub test_input_path: String,
    /// `output.platform`.
    pub platform: Option<String>,
    /// `output.configurations`.
    pub configurations: Vec<Value>,
    /// `output.extra_parameters` (a non-object counts as `{}`).
    pub extra_parameters: Map<String, Value>,
    /// `output.is_pending`.
    pub is_pending: bool,
}

fn reduce_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"workspace|[{}", '/.-_]|config|raw|bmp"#).expect("the pattern compiles")
    })
}

/// The reduced JSON compared when matching outputs: Python's
/// `json.dumps(v, sort_keys=True)` without `workspace`, `config`, `raw`,
/// `bmp`, the characters `{}", '/` and the range `.`–`_` (digits, `:`–`@`,
/// uppercase letters, `[\]^_`), leftmost alternative first like Python's
/// `re.sub`. Shortens the strings the quadratic edit distance runs on.
pub fn reduced_json(v: &Value) -> String {
    reduce_re()
        .replace_all(&python_json_dumps(v), "")
        .into_owned()
}

/// The output of `candidates` (reference outputs) to compare `output` with:
/// same test input path, not pending, with the smallest (edit distance of
/// the reduced configurations, edit distance of the reduced extra
/// parameters, different platform); the first such candidate on ties. The
/// original ranked a different platform first (`False < True`); OPERATIONS
/// §9 asks for the same platform first.
pub fn choose_reference<'a>(
    output: &ExportOutput,
    candidates: &'a [ExportOutput],
) -> Option<&'a ExportOutput> {
    let configurations = reduced_json(&Value::Array(output.configurations.clone()));
    let extra = reduced_json(&Value::Object(output.extra_parameters.clone()));
    candidates
        .iter()
        .filter(|c| c.test_input_path == output.test_input_path && !c.is_pending)
        .min_by_key(|c| {
            (
                strsim::levenshtein(
                    &reduced_json(&Value::Array(c.configurations.clone())),
                    &configurations,
                ),
                strsim::levenshtein(
                    &reduced_json(&Value::Object(c.extra_parameters.clone())),
                    &extra,
                ),
                c.platform != output.platform,
            )
        })
}

/// What every exported output shares, written to `0.common.json`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommonData {
    /// The commit, when the export has a single one.
    pub commit: Option<String>,
    /// The platform, when all outputs have the same (which may be none).
    pub platform: Option<Option<String>>,
    /// The configurations, when all outputs have the same.
    pub configurations: Option<Vec<Value>>,
    /// Otherwise the longest common leading items…
    pub configurations_prefix: Option<Vec<Value>>,
    /// …and the longest common trailing items.
    pub configurations_suffix: Option<Vec<Value>>,
    /// Parameters with the same value in every output (missing = null).
    pub extra_parameters: BTreeMap<String, Value>,
    /// Longest common prefix of all parameter names (used in labels).
    pub extra_parameters_key_prefix: String,
}

impl CommonData {
    /// Computes what `outputs` (new outputs and their chosen references)
    /// share. `single_commit` is the new commit's hash when there is no
    /// reference commit or it is the same commit.
    pub fn compute(single_commit: Option<&str>, outputs: &[&ExportOutput]) -> CommonData {
        let mut common = CommonData {
            commit: single_commit.map(str::to_string),
            ..CommonData::default()
        };
        let Some(first) = outputs.first() else {
            return common;
        };
        if outputs.iter().all(|o| o.platform == first.platform) {
            common.platform = Some(first.platform.clone());
        }
        let serialized: BTreeSet<String> = outputs
            .iter()
            .map(|o| serialize_config(&o.configurations))
            .collect();
        if serialized.len() == 1 {
            common.configurations = Some(first.configurations.clone());
        } else {
            let lists: Vec<&[Value]> = outputs
                .iter()
                .map(|o| o.configurations.as_slice())
                .collect();
            let prefix = common_prefix_len(lists.iter().map(|l| l.iter()));
            let suffix = common_prefix_len(lists.iter().map(|l| l.iter().rev()));
            common.configurations_prefix = Some(first.configurations[..prefix].to_vec());
            let n = first.configurations.len();
            common.configurations_suffix = Some(first.configurations[n - suffix..].to_vec());
        }
        let keys: BTreeSet<&String> = outputs
            .iter()
            .flat_map(|o| o.extra_parameters.keys())
            .collect();
        for key in &keys {
            let value =
                |o: &ExportOutput| o.extra_parameters.get(*key).cloned().unwrap_or(Value::Null);
            let v0 = value(first);
            if outputs.iter().all(|o| value(o) == v0) {
                common.extra_parameters.insert((*key).clone(), v0);
            }
        }
        let keys: Vec<Vec<char>> = keys.iter().map(|k| k.chars().collect()).collect();
        let n = common_prefix_len(keys.iter().map(|k| k.iter()));
        common.extra_parameters_key_prefix = keys
            .first()
            .map(|k| k[..n].iter().collect())
            .unwrap_or_default();
        common
    }

    /// The JSON object of `0.common.json` (keys absent when not common).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(c) = &self.commit {
            m.insert("commit".into(), Value::String(c.clone()));
        }
        if let Some(p) = &self.platform {
            m.insert(
                "platform".into(),
                p.clone().map_or(Value::Null, Value::String),
            );
        }
        for (k, v) in [
            ("configurations", &self.configurations),
            ("configurations_prefix", &self.configurations_prefix),
            ("configurations_suffix", &self.configurations_suffix),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), Value::Array(v.clone()));
            }
        }
        if !self.extra_parameters.is_empty() {
            let e: Map<String, Value> = self.extra_parameters.clone().into_iter().collect();
            m.insert("extra_parameters".into(), Value::Object(e));
        }
        Value::Object(m)
    }

    /// The text of `0.common.json`: sorted keys, indent 2, like Python's
    /// `json.dump(…, sort_keys=True, indent=2)` (non-ASCII escaped).
    pub fn render(&self) -> String {
        python_json_pretty(&self.to_json(), 2)
    }

    /// The `@`-joined labels that tell an output apart in exported file
    /// names (`""` when none), recording each configuration or parameter
    /// label used in `mappings`:
    /// * `sha[:4]` when the commit is not the common one;
    /// * the platform when it is not the common one;
    /// * when configurations differ: [`slugify_hash`] of the output's
    ///   configurations without the common leading and trailing items
    ///   (serialised like the CLI), minus `workspace-configurations-`;
    /// * [`slugify_hash`] of the sorted set of `(name without the common
    ///   name prefix, Python str(value))` pairs of its parameters that are
    ///   not common, written like a Python set.
    pub fn labels(&self, output: &ExportOutput, mappings: &mut LabelMappings) -> String {
        let mut labels = Vec::new();
        if self.commit.as_deref() != Some(output.hexsha.as_str()) {
            labels.push(output.hexsha.chars().take(4).collect());
        }
        if self.platform.as_ref() != Some(&output.platform) {
            if let Some(p) = &output.platform {
                labels.push(p.clone());
            }
        }
        if self.configurations.is_none() {
            let n = output.configurations.len();
            let start = self
                .configurations_prefix
                .as_ref()
                .map_or(0, Vec::len)
                .min(n);
            let end = n
                .saturating_sub(self.configurations_suffix.as_ref().map_or(0, Vec::len))
                .max(start);
            let middle = serialize_config(&output.configurations[start..end]);
            let label = slugify_hash(&Value::String(middle), DEFAULT_SLUG_MAXLENGTH)
                .replace("workspace-configurations-", "");
            if !label.is_empty() {
                mappings
                    .configurations
                    .insert(label.clone(), Value::Array(output.configurations.clone()));
                labels.push(label);
            }
        }
        let tame = |k: &str| {
            k.strip_prefix(&self.extra_parameters_key_prefix)
                .unwrap_or(k)
                .to_string()
        };
        let common: BTreeSet<(String, String)> = self
            .extra_parameters
            .iter()
            .map(|(k, v)| (tame(k), python_str(v)))
            .collect();
        let own: BTreeSet<(String, String)> = output
            .extra_parameters
            .iter()
            .map(|(k, v)| (tame(k), python_str(v)))
            .filter(|pair| !common.contains(pair))
            .collect();
        if !own.is_empty() {
            let items: Vec<String> = own
                .iter()
                .map(|(k, v)| format!("({}, {})", python_repr_str(k), python_repr_str(v)))
                .collect();
            let text = format!("{{{}}}", items.join(", "));
            let label = slugify_hash(&Value::String(text), DEFAULT_SLUG_MAXLENGTH);
            mappings.extra_parameters.insert(
                label.clone(),
                Value::Object(output.extra_parameters.clone()),
            );
            labels.push(label);
        }
        if labels.is_empty() {
            String::new()
        } else {
            format!("@{}", labels.join("@"))
        }
    }
}

/// Length of the longest common prefix of several sequences.
fn common_prefix_len<'a, T: PartialEq + 'a, I: Iterator<Item = &'a T>>(
    lists: impl Iterator<Item = I>,
) -> usize {
    let lists: Vec<Vec<&T>> = lists.map(Iterator::collect).collect();
    let Some(first) = lists.first() else {
        return 0;
    };
    let mut n = 0;
    while n < first.len() && lists.iter().all(|l| l.get(n) == Some(&first[n])) {
        n += 1;
    }
    n
}

/// Labels → full values, written to `0.mappings.json` when not empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelMappings {
    /// Configuration label → configurations.
    pub configurations: BTreeMap<String, Value>,
    /// Parameter label → extra parameters.
    pub extra_parameters: BTreeMap<String, Value>,
}

impl LabelMappings {
    /// Whether no label was recorded (then no `0.mappings.json`).
    pub fn is_empty(&self) -> bool {
        self.configurations.is_empty() && self.extra_parameters.is_empty()
    }

    /// The text of `0.mappings.json`: `{"configurations": {…},
    /// "extra_parameters": {…}}`, sorted keys, indent 4 (as the original).
    pub fn render(&self) -> String {
        let section = |m: &BTreeMap<String, Value>| {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        };
        let mut m = Map::new();
        m.insert("configurations".into(), section(&self.configurations));
        m.insert("extra_parameters".into(), section(&self.extra_parameters));
        python_json_pretty(&Value::Object(m), 4)
    }
}

/// Name of an exported file: `<test input path>/<path relative to the
/// output dir>` normalised like a Python `Path`, with `labels` inserted
/// before the extension of the last component, then every `/` turned into
/// `_` (as the original's `copy_path_rel`).
pub fn export_file_name(test_input_path: &str, relative_path: &str, labels: &str) -> String {
    let joined = format!("{test_input_path}/{relative_path}");
    let absolute = joined.starts_with('/');
    let parts: Vec<&str> = joined
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let Some((name, parents)) = parts.split_last() else {
        return labels.to_string();
    };
    let (stem, suffix) = match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => name.split_at(i),
        _ => (*name, ""),
    };
    let mut out = String::new();
    if absolute {
        out.push('/');
    }
    for p in parents {
        out.push_str(p);
        out.push('/');
    }
    out.push_str(stem);
    out.push_str(labels);
    out.push_str(suffix);
    out.replace('/', "_")
}

/// Characters Python's `urllib.parse.quote` (and `requests.utils.quote`)
/// leaves alone: letters, digits, `_.-~` and `/`.
const QUOTE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// The webapp page an export links back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportLink<'a> {
    /// Project id.
    pub project: &'a str,
    /// New commit hash.
    pub hexsha: &'a str,
    /// New batch label.
    pub batch: &'a str,
    /// Reference commit hash.
    pub reference: Option<&'a str>,
    /// Reference batch label.
    pub batch_ref: Option<&'a str>,
    /// Filter of the new outputs.
    pub filter: Option<&'a str>,
    /// Filter of the reference outputs.
    pub filter_ref: Option<&'a str>,
}

impl ExportLink<'_> {
    /// `<qaboard_url>/<project>/commit/<sha>?batch=…&reference=…&batch_ref=…
    /// &filter=…&filter_ref=…` with only the non-empty parameters, each
    /// percent-encoded like Python's `quote`. A trailing `/` of
    /// `qaboard_url` is dropped.
    pub fn url(&self, qaboard_url: &str) -> String {
        let params: Vec<String> = [
            ("batch", Some(self.batch)),
            ("reference", self.reference),
            ("batch_ref", self.batch_ref),
            ("filter", self.filter),
            ("filter_ref", self.filter_ref),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUOTE_SET)))
        .collect();
        format!(
            "{}/{}/commit/{}?{}",
            qaboard_url.trim_end_matches('/'),
            self.project,
            self.hexsha,
            params.join("&")
        )
    }
}

/// Text of `0.qa.html`: a page that sends the browser to `url` (meta
/// refresh and script) and shows a plain link otherwise. The URL is escaped
/// for HTML and for the script.
pub fn qa_html(url: &str) -> String {
    let attr = html_escape(url);
    let js = serde_json::to_string(url)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"0; url={attr}\">\n\
         <script>window.location.href = {js};</script>\n\
         <title>QA-Board results</title>\n</head>\n<body>\n\
         <p>These files were exported from QA-Board: <a href=\"{attr}\">open the results</a>.</p>\n\
         </body>\n</html>\n"
    )
}

/// Text of `0.qa.url` (a Windows Internet shortcut).
pub fn qa_url_file(url: &str) -> String {
    format!("[InternetShortcut]\nURL={url}\n")
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

mod python;

use python::python_repr_str;
pub use python::{python_json_pretty, python_str};

#[cfg(test)]
mod tests;
