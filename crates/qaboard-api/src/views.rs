//! JSON shapes of the API, as the `qa` CLI and the webapp read them
//! (field names, nesting and null-ness of the original backend).
use qaboard_db::ingest::OutputWithInput;
use qaboard_db::read::{BatchWithOutputs, CommitTree};
use qaboard_model::aggregate::MetricsAggregator;
use qaboard_model::conventions::{dir_to_url, strip_origin};
use qaboard_model::paths::{self, CommitPaths};
use qaboard_model::time::{iso_date_utc, iso_naive, iso_utc};
use qaboard_model::{Batch, CiCommit, Project};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

static EMPTY_OBJECT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(Map::new()));

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
    id: i32,
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
    created_date: String,
    output_dir_url: Option<String>,
    test_input_database: Option<&'a str>,
    test_input_path: Option<&'a str>,
    test_input_metadata: &'a Value,
}

static EMPTY_ARRAY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Array(Vec::new()));

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
            configurations: if out.configurations.is_array() { &out.configurations } else { &EMPTY_ARRAY },
            extra_parameters: object_or_empty(&out.extra_parameters),
            metrics: object_or_empty(&out.metrics),
            is_failed: out.is_failed,
            is_pending: out.is_pending,
            is_running: out.is_running,
            data: object_or_empty(&out.data),
            deleted: out.deleted,
            created_date: iso_naive(&out.created_date),
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

/// Counters of a batch's outputs by status.
#[derive(Default, Clone, Copy)]
struct Counters {
    valid: u32,
    pending: u32,
    running: u32,
    failed: u32,
    deleted: u32,
}

fn count(outputs: &[OutputWithInput]) -> Counters {
    let mut c = Counters::default();
    for o in outputs {
        let o = &o.output;
        c.valid += u32::from(!o.is_failed && !o.is_pending);
        c.pending += u32::from(o.is_pending);
        c.running += u32::from(o.is_running);
        c.failed += u32::from(o.is_failed);
        c.deleted += u32::from(o.deleted);
    }
    c
}

/// Aggregates the requested metrics over a batch's valid outputs.
pub fn aggregate(outputs: &[OutputWithInput], metric_names: &[String]) -> Map<String, Value> {
    if metric_names.is_empty() {
        return Map::new();
    }
    let mut agg = MetricsAggregator::new(metric_names.iter().cloned());
    for o in outputs {
        if o.output.is_valid() {
            if let Value::Object(m) = &o.output.metrics {
                agg.push_output(m);
            }
        }
    }
    agg.finish()
}

struct OutputsById<'a> {
    outputs: &'a [OutputWithInput],
    batch_dir: &'a str,
}

impl Serialize for OutputsById<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.outputs.len()))?;
        for o in self.outputs {
            m.serialize_entry(&o.output.id.to_string(), &OutputView::new(o, Some(self.batch_dir)))?;
        }
        m.end()
    }
}

/// A batch as the API shows it.
#[derive(Serialize)]
pub struct BatchView<'a> {
    id: i32,
    commit_id: &'a str,
    label: &'a str,
    created_date: String,
    data: &'a Value,
    batch_dir_url: Option<String>,
    aggregated_metrics: Map<String, Value>,
    valid_outputs: u32,
    pending_outputs: u32,
    running_outputs: u32,
    failed_outputs: u32,
    deleted_outputs: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<OutputsById<'a>>,
}

impl<'a> BatchView<'a> {
    fn new(
        b: &'a BatchWithOutputs,
        commit: &'a CiCommit,
        batch_dir: &'a str,
        metric_names: &[String],
        with_outputs: bool,
    ) -> Self {
        let c = count(&b.outputs);
        BatchView {
            id: b.batch.id,
            commit_id: &commit.hexsha,
            label: &b.batch.label,
            created_date: iso_naive(&b.batch.created_date),
            data: object_or_empty(&b.batch.data),
            batch_dir_url: dir_to_url(batch_dir),
            aggregated_metrics: aggregate(&b.outputs, metric_names),
            valid_outputs: c.valid,
            pending_outputs: c.pending,
            running_outputs: c.running,
            failed_outputs: c.failed,
            deleted_outputs: c.deleted,
            outputs: with_outputs.then_some(OutputsById { outputs: &b.outputs, batch_dir }),
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
pub fn commit_json(tree: &CommitTree, project: Option<&Project>, opts: &CommitViewOptions) -> Vec<u8> {
    let commit = &tree.commit;
    let paths: CommitPaths = paths::commit_paths_of(project.or(tree.project.as_ref()), commit, &opts.default_storage_root);
    let batch_dirs: Vec<String> = tree.batches.iter().map(|b| paths::batch_dir(&paths.outputs_dir, &b.batch)).collect();
    let batches: Vec<(&str, BatchView<'_>)> = tree
        .batches
        .iter()
        .zip(batch_dirs.iter())
        .filter(|(b, _)| {
            opts.only_batches.as_ref().is_none_or(|only| only.iter().any(|l| *l == b.batch.label))
        })
        .map(|(b, dir)| {
            (b.batch.label.as_str(), BatchView::new(b, commit, dir, &opts.metric_names, opts.with_outputs))
        })
        .collect();
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
        data: object_or_empty(&commit.data),
        outputs_url: dir_to_url(&paths.outputs_dir),
        artifacts_url: dir_to_url(&paths.artifacts_dir),
        repo_artifacts_url: dir_to_url(&paths.repo_artifacts_dir),
        batches: BatchesByLabel(batches),
    };
    serde_json::to_vec(&view).unwrap_or_else(|_| b"{}".to_vec())
}

struct BatchesByLabel<'a>(Vec<(&'a str, BatchView<'a>)>);

impl Serialize for BatchesByLabel<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (label, b) in &self.0 {
            m.serialize_entry(label, b)?;
        }
        m.end()
    }
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
    data: &'a Value,
    outputs_url: Option<String>,
    artifacts_url: Option<String>,
    repo_artifacts_url: Option<String>,
    batches: BatchesByLabel<'a>,
}

/// The batch folder of an output that has no folder of its own: needs its
/// batch, commit and project.
pub fn batch_dir_of(project: Option<&Project>, commit: &CiCommit, batch: &Batch, default_root: &str) -> String {
    let p = paths::commit_paths_of(project, commit, default_root);
    paths::batch_dir(&p.outputs_dir, batch)
}
