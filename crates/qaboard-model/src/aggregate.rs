//! Metrics aggregation.
//!
//! When listing a batch, the webapp asks for summaries of some metrics over
//! the batch's valid outputs (finished and not failed): for each requested
//! metric `m`, the result holds `m_median` and `m_average`.
//!
//! The original backend used numpy; the numbers here follow numpy's
//! arithmetic so that results agree to the last bit:
//!
//! * the average is the pairwise sum of the values (in insertion order,
//!   summed in blocks of 8192 when every value was an integer or a boolean,
//!   as numpy does when it casts an integer array) divided by their count;
//! * the median is the middle value, or the mean of the two middle values.
//!
//! Values that are not numbers (null, strings, arrays, objects) and
//! non-finite numbers are skipped one by one; booleans count as 1 and 0.
//! Metrics without any usable value are left out of the result, and so is
//! any non-finite result (e.g. an overflowing sum), so the map never holds
//! NaN or infinities.

use serde_json::{Map, Number, Value};

/// numpy sums blocks of up to this many values with unrolled accumulators.
const PAIRWISE_BLOCKSIZE: usize = 128;

/// numpy's default buffer size: integer arrays are cast to floats (and
/// summed) in chunks of this many values.
const NUMPY_BUFSIZE: usize = 8192;

/// The names of the metrics a request asks for: the keys of a JSON object
/// (`{"psnr": true, "time": {}}` → `["psnr", "time"]`), in key order.
/// Anything but an object asks for nothing.
pub fn metric_names(requested: &Value) -> Vec<String> {
    match requested {
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The number a metric value contributes, if any: finite JSON numbers as
/// `f64`, `true` as 1 and `false` as 0; `None` for everything else.
pub fn value_as_metric(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Whether a value makes numpy build an integer (not a float) array.
fn is_integer_like(v: &Value) -> bool {
    match v {
        Value::Bool(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// Values collected for one metric.
#[derive(Debug, Clone)]
struct MetricValues {
    name: String,
    values: Vec<f64>,
    /// Every value so far was an integer or a boolean.
    all_integers: bool,
}

/// Streaming computation of `<metric>_median` and `<metric>_average` over
/// many outputs.
///
/// Create it with the requested metric names, feed it the `metrics` object
/// of every valid output with [`push_output`](Self::push_output) (or single
/// numbers with [`push_value`](Self::push_value)), then call
/// [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct MetricsAggregator {
    metrics: Vec<MetricValues>,
}

impl MetricsAggregator {
    /// An aggregator for the given metric names; their positions are the
    /// `metric_index` of [`push_value`](Self::push_value).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let metrics = names
            .into_iter()
            .map(|name| MetricValues {
                name,
                values: Vec::new(),
                all_integers: true,
            })
            .collect();
        MetricsAggregator { metrics }
    }

    /// The metric names, in index order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().map(|m| m.name.as_str())
    }

    /// Whether no metric was requested (pushing outputs is then useless).
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// Adds the metrics of one output. Only call it for valid outputs
    /// (neither failed nor pending). Missing metrics and unusable values
    /// (see [`value_as_metric`]) are ignored.
    pub fn push_output(&mut self, metrics: &Map<String, Value>) {
        for metric in &mut self.metrics {
            let Some(raw) = metrics.get(&metric.name) else {
                continue;
            };
            if let Some(v) = value_as_metric(raw) {
                metric.all_integers &= is_integer_like(raw);
                metric.values.push(v);
            }
        }
    }

    /// Adds one float value to the metric at `metric_index` (position in the
    /// names given to [`new`](Self::new)). Non-finite values and unknown
    /// indices are ignored.
    pub fn push_value(&mut self, metric_index: usize, v: f64) {
        if !v.is_finite() {
            return;
        }
        if let Some(metric) = self.metrics.get_mut(metric_index) {
            metric.all_integers = false;
            metric.values.push(v);
        }
    }

    /// The summaries: `{"<m>_median": f64, "<m>_average": f64}` for every
    /// metric that received at least one value. Non-finite results are
    /// left out.
    pub fn finish(self) -> Map<String, Value> {
        let mut out = Map::new();
        for mut metric in self.metrics {
            if metric.values.is_empty() {
                continue;
            }
            let average = numpy_mean(&metric.values, metric.all_integers);
            let median = median_in_place(&mut metric.values);
            if let Some(n) = Number::from_f64(median).filter(|_| median.is_finite()) {
                out.insert(format!("{}_median", metric.name), Value::Number(n));
            }
            if let Some(n) = Number::from_f64(average).filter(|_| average.is_finite()) {
                out.insert(format!("{}_average", metric.name), Value::Number(n));
            }
        }
        out
    }
}

/// numpy's pairwise summation of a contiguous block (starting from 0).
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for x in a {
            res += x;
        }
        res
    } else if n <= PAIRWISE_BLOCKSIZE {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean` of the values: a float array is summed in one pairwise pass,
/// an integer array in buffered chunks.
fn numpy_mean(values: &[f64], integer_array: bool) -> f64 {
    let chunk = if integer_array {
        NUMPY_BUFSIZE
    } else {
        values.len().max(1)
    };
    let mut sum = 0.0;
    for block in values.chunks(chunk) {
        sum += pairwise_sum(block);
    }
    sum / values.len() as f64
}

/// `np.median` of a non-empty slice; reorders the slice.
fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    let upper = n / 2;
    let (lower_part, mid, _) = values.select_nth_unstable_by(upper, f64::total_cmp);
    let mid = *mid;
    if n % 2 == 1 {
        // np.mean of a single element.
        0.0 + mid
    } else {
        let below = lower_part
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(mid);
        (0.0 + below + mid) / 2.0
    }
}
