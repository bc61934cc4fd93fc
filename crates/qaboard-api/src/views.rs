//! JSON shapes of the API, as the `qa` CLI and the webapp read them
//! (field names, nesting and null-ness of the original backend).
use qaboard_db::ingest::OutputWithInput;
use qaboard_db::read::{BatchWithOutputs, CommitTree, OutputRead};
use qaboard_model::aggregate::{value_as_metric, MetricsAggregator};
use qaboard_model::conventions::{dir_to_url, strip_origin};
use qaboard_model::paths::{self, CommitPaths};
use qaboard_model::time::{iso_date_utc, iso_naive, iso_utc};
use qaboard_model::{Batch, CiCommit, Project};
use serde::Serialize;
use serde_json::{Map, Value};

static EMPTY_OBJECT: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Object(Map::new()));

fn object_or_empty(v: &Value) -> &Value {
    if v.is_object() {
        v
    } else {
        &EMPTY_OBJECT
    }
}

/// An output as the API shows it.
#[derive(Serialize)]
pub struct OutputView<'a> {
    id: qaboard_model::OutputId,
    output_type: &'a str,
    platform: Option<&'a str>,
    configurations: &'a Value,
    extra_parameters: &'a Value,
    metrics: &'a Value,
    is_failed: bool,
    is_pending: bool,
    is_running: bool,
    data: &'a Value,
    deleted: bool,
    created_date: Option<String>,
    output_dir_url: Option<String>,
    test_input_database: Option<&'a str>,
    test_input_path: Option<&'a str>,
    test_input_metadata: &'a Value,
}

static EMPTY_ARRAY: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| Value::Array(Vec::new()));

impl<'a> OutputView<'a> {
    /// Builds the view; `batch_dir` is needed only when the output has no
    /// stored folder of its own.
    pub fn new(o: &'a OutputWithInput, batch_dir: Option<&str>) -> Self {
        let out = &o.output;
        let input = o.test_input.as_ref();
        let dir = match (out.output_dir_override.as_deref(), batch_dir) {
            (Some(d), _) if !d.is_empty() => Some(d.to_string()),
            (_, Some(b)) => Some(paths::output_dir(b, out, input)),
            _ => None,
        };
        OutputView {
            id: out.id,
            output_type: out.output_type.as_deref().unwrap_or(""),
            platform: out.platform.as_deref(),
            configurations: if out.configurations.is_array() {
                &out.configurations
            } else {
                &EMPTY_ARRAY
            },
            extra_parameters: object_or_empty(&out.extra_parameters),
            metrics: object_or_empty(&out.metrics),
            is_failed: out.is_failed,
            is_pending: out.is_pending,
            is_running: out.is_running,
            data: object_or_empty(&out.data),
            deleted: out.deleted,
            created_date: out.created_date.as_ref().map(iso_naive),
            output_dir_url: dir.and_then(|d| dir_to_url(&d)),
            test_input_database: input.map(|i| i.database.as_str()),
            test_input_path: input.map(|i| i.path.as_str()),
            test_input_metadata: input
                .and_then(|i| i.data.get("metadata"))
                .filter(|m| m.is_object())
                .unwrap_or(&EMPTY_OBJECT),
        }
    }
}

/// Reads the requested metrics out of one output's metrics JSON text in a
/// single pass: keys are compared in place and only requested values parsed.
struct MetricPicker<'a> {
    names: &'a [String],
    agg: &'a mut MetricsAggregator,
}

/// Which requested metric a key is, if any.
struct KeyIndex<'a>(&'a [String]);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a metric name")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| n == k))
    }
}

impl<'de> serde::de::Visitor<'de> for MetricPicker<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a metrics object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(index) = map.next_key_seed(KeyIndex(self.names))? {
            match index {
                Some(i) => {
                    let v: Value = map.next_value()?;
                    if let Some(x) = value_as_metric(&v) {
                        self.agg.push_value(i, x);
                    }
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Pushes the requested metrics of one output's metrics JSON text.
fn push_metrics(agg: &mut MetricsAggregator, names: &[String], metrics: &str) {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_str(metrics);
    // Metrics that are not a JSON object hold nothing to aggregate.
    let _ = de.deserialize_map(MetricPicker { names, agg });
}

/// Aggregates the requested metrics over the metrics (JSON text) of valid outputs.
pub fn aggregate<'a>(
    valid_metrics: impl IntoIterator<Item = &'a str>,
    metric_names: &[String],
) -> Map<String, Value> {
    if metric_names.is_empty() {
        return Map::new();
    }
    let mut agg = MetricsAggregator::new(metric_names.iter().cloned());
    for m in valid_metrics {
        push_metrics(&mut agg, metric_names, m);
    }
    agg.finish()
}

fn push_json_str(buf: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, s);
}

fn push_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// Appends stored JSON text when it is of the expected kind (`{` or `[`),
/// else the fallback: the webapp needs objects/arrays, never null.
fn push_raw_or(buf: &mut Vec<u8>, raw: &str, open: u8, fallback: &[u8]) {
    let t = raw.trim_start();
    if t.as_bytes().first() == Some(&open) {
        buf.extend_from_slice(t.as_bytes());
    } else {
        buf.extend_from_slice(fallback);
    }
}

/// The folder of an output read in bulk.
fn output_dir_of(o: &OutputRead, batch_dir: &str) -> String {
    if let Some(d) = o.output_dir_override.as_deref().filter(|d| !d.is_empty()) {
        return d.to_string();
    }
    // Rare (the CLI always stores the folder): only then parse the parameters.
    let configurations: Value = serde_json::from_str(&o.configurations).unwrap_or(Value::Null);
    let extra: Value = serde_json::from_str(&o.extra_parameters).unwrap_or(Value::Null);
    paths::output_dir_from(
        batch_dir,
        None,
        o.platform.as_deref(),
        &configurations,
        &extra,
        o.test_input_path.as_deref(),
    )
}

/// Writes one output object, passing its JSON columns through as stored.
pub fn write_output(buf: &mut Vec<u8>, o: &OutputRead, batch_dir: &str) {
    buf.extend_from_slice(b"{\"id\":");
    buf.extend_from_slice(o.id.to_string().as_bytes());
    buf.extend_from_slice(b",\"output_type\":");
    push_json_str(buf, o.output_type.as_deref().unwrap_or(""));
    buf.extend_from_slice(b",\"platform\":");
    push_opt_str(buf, o.platform.as_deref());
    buf.extend_from_slice(b",\"configurations\":");
    push_raw_or(buf, &o.configurations, b'[', b"[]");
    buf.extend_from_slice(b",\"extra_parameters\":");
    push_raw_or(buf, &o.extra_parameters, b'{', b"{}");
    buf.extend_from_slice(b",\"metrics\":");
    push_raw_or(buf, &o.metrics, b'{', b"{}");
    for (k, v) in [
        ("is_failed", o.is_failed),
        ("is_pending", o.is_pending),
        ("is_running", o.is_running),
    ] {
        buf.extend_from_slice(b",\"");
        buf.extend_from_slice(k.as_bytes());
        buf.extend_from_slice(if v { b"\":true" } else { b"\":false" });
    }
    buf.extend_from_slice(b",\"data\":");
    push_raw_or(buf, &o.data, b'{', b"{}");
    buf.extend_from_slice(if o.deleted {
        b",\"deleted\":true"
    } else {
        b",\"deleted\":false"
    });
    buf.extend_from_slice(b",\"created_date\":");
    match &o.created_date {
        Some(t) => push_json_str(buf, &iso_naive(t)),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"output_dir_url\":");
    push_opt_str(buf, dir_to_url(&output_dir_of(o, batch_dir)).as_deref());
    buf.extend_from_slice(b",\"test_input_database\":");
    push_opt_str(buf, o.test_input_database.as_deref());
    buf.extend_from_slice(b",\"test_input_path\":");
    push_opt_str(buf, o.test_input_path.as_deref());
    buf.extend_from_slice(b",\"test_input_metadata\":");
    push_raw_or(
        buf,
        o.test_input_metadata.as_deref().unwrap_or(""),
        b'{',
        b"{}",
    );
    buf.push(b'}');
}

/// A batch as the API shows it.
#[derive(Serialize)]
pub struct BatchView<'a> {
    id: qaboard_model::BatchId,
    commit_id: &'a str,
    label: &'a str,
    created_date: String,
    data: &'a Value,
    batch_dir_url: Option<String>,
    aggregated_metrics: Map<String, Value>,
    valid_outputs: i64,
    pending_outputs: i64,
    running_outputs: i64,
    failed_outputs: i64,
    deleted_outputs: i64,
}

impl<'a> BatchView<'a> {
    fn new(
        b: &'a BatchWithOutputs,
        commit: &'a CiCommit,
        batch_dir: &'a str,
        metric_names: &[String],
    ) -> Self {
        let c = &b.counts;
        BatchView {
            id: b.batch.id,
            commit_id: &commit.hexsha,
            label: &b.batch.label,
            created_date: iso_naive(&b.batch.created_date),
            data: object_or_empty(&b.batch.data),
            batch_dir_url: dir_to_url(batch_dir),
            aggregated_metrics: aggregate(b.valid_metrics.iter().map(String::as_str), metric_names),
            valid_outputs: c.valid,
            pending_outputs: c.pending,
            running_outputs: c.running,
            failed_outputs: c.failed,
            deleted_outputs: c.deleted,
        }
    }
}

/// Options of a commit view.
#[derive(Debug, Clone, Default)]
pub struct CommitViewOptions {
    /// Metrics to aggregate per batch.
    pub metric_names: Vec<String>,
    /// Include each batch's outputs.
    pub with_outputs: bool,
    /// Only these batch labels (all when `None`).
    pub only_batches: Option<Vec<String>>,
    /// Storage root when a project's config names none.
    pub default_storage_root: String,
}

/// Serialises a commit with its batches into JSON bytes.
pub fn commit_json(
    tree: &CommitTree,
    project: Option<&Project>,
    opts: &CommitViewOptions,
) -> Vec<u8> {
    let commit = &tree.commit;
    let project = project.or(tree.project.as_ref());
    // Lists hand the commit's data over as text; it is parsed only when the
    // storage folders depend on it (a project config without `storage`).
    let project_has_storage =
        project.is_some_and(|p| p.data.pointer("/qatools_config/storage").is_some());
    let parsed;
    let for_paths = match &tree.data_text {
        Some(text) if commit.data.is_null() && !project_has_storage => {
            parsed = CiCommit {
                data: serde_json::from_str(text).unwrap_or(Value::Null),
                ..commit.clone()
            };
            &parsed
        }
        _ => commit,
    };
    let paths: CommitPaths = paths::commit_paths_of(project, for_paths, &opts.default_storage_root);
    let view = CommitView {
        id: &commit.hexsha,
        branch: strip_origin(commit.branch.as_deref().unwrap_or("")),
        message: commit.message.as_deref(),
        committer_name: commit.committer_name.as_deref(),
        committer_avatar_url: "",
        authored_datetime: commit.authored_datetime.as_ref().map(iso_utc),
        authored_date: commit.authored_datetime.as_ref().map(iso_date_utc),
        latest_output_datetime: commit.latest_output_datetime.as_ref().map(iso_utc),
        deleted: commit.deleted,
        data: tree
            .data_text
            .is_none()
            .then(|| object_or_empty(&commit.data)),
        outputs_url: dir_to_url(&paths.outputs_dir),
        artifacts_url: dir_to_url(&paths.artifacts_dir),
        repo_artifacts_url: dir_to_url(&paths.repo_artifacts_dir),
    };
    // The small parts go through serde; outputs are appended by hand so that
    // their stored JSON text is passed through without a parse.
    let size: usize = tree
        .batches
        .iter()
        .map(|b| 1024 + b.outputs.len() * 768)
        .sum();
    let mut buf = Vec::with_capacity(if opts.with_outputs { size } else { 2048 });
    push_object_open(&mut buf, &view);
    if let Some(text) = &tree.data_text {
        buf.extend_from_slice(b",\"data\":");
        push_raw_or(&mut buf, text, b'{', b"{}");
    }
    buf.extend_from_slice(b",\"batches\":{");
    let mut first = true;
    for b in &tree.batches {
        if !opts
            .only_batches
            .as_ref()
            .is_none_or(|only| only.contains(&b.batch.label))
        {
            continue;
        }
        if !first {
            buf.push(b',');
        }
        first = false;
        let dir = paths::batch_dir(&paths.outputs_dir, &b.batch);
        push_json_str(&mut buf, &b.batch.label);
        buf.push(b':');
        push_object_open(
            &mut buf,
            &BatchView::new(b, commit, &dir, &opts.metric_names),
        );
        if opts.with_outputs {
            buf.extend_from_slice(b",\"outputs\":{");
            for (i, o) in b.outputs.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.push(b'"');
                buf.extend_from_slice(o.id.to_string().as_bytes());
                buf.extend_from_slice(b"\":");
                write_output(&mut buf, o, &dir);
            }
            buf.push(b'}');
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"}}");
    buf
}

/// Serialises a struct without its closing brace, so that fields can follow.
/// (Every struct passed here has fields, so a comma may follow.)
fn push_object_open<T: Serialize>(buf: &mut Vec<u8>, v: &T) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, v).is_err() || buf.last() != Some(&b'}') {
        buf.truncate(start);
        buf.extend_from_slice(b"{\"_\":null}");
    }
    buf.pop();
}

#[derive(Serialize)]
struct CommitView<'a> {
    id: &'a str,
    branch: String,
    message: Option<&'a str>,
    committer_name: Option<&'a str>,
    committer_avatar_url: &'static str,
    authored_datetime: Option<String>,
    authored_date: Option<String>,
    latest_output_datetime: Option<String>,
    deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    outputs_url: Option<String>,
    artifacts_url: Option<String>,
    repo_artifacts_url: Option<String>,
}

/// The batch folder of an output that has no folder of its own: needs its
/// batch, commit and project.
pub fn batch_dir_of(
    project: Option<&Project>,
    commit: &CiCommit,
    batch: &Batch,
    default_root: &str,
) -> String {
    let p = paths::commit_paths_of(project, commit, default_root);
    paths::batch_dir(&p.outputs_dir, batch)
}
