//! Latency statistics.

/// Summary of a set of latencies (microseconds).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Percentiles, ms.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// Extremes, ms.
    pub min_ms: f64,
    pub max_ms: f64,
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises latencies given in microseconds (the slice is sorted in place).
pub fn summarize(samples_us: &mut [u64]) -> Summary {
    if samples_us.is_empty() {
        return Summary::default();
    }
    samples_us.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    let sum: u128 = samples_us.iter().map(|&v| v as u128).sum();
    Summary {
        count: samples_us.len(),
        mean_ms: sum as f64 / samples_us.len() as f64 / 1000.0,
        p50_ms: ms(percentile(samples_us, 50.0)),
        p90_ms: ms(percentile(samples_us, 90.0)),
        p99_ms: ms(percentile(samples_us, 99.0)),
        min_ms: ms(samples_us[0]),
        max_ms: ms(samples_us[samples_us.len() - 1]),
    }
}

/// Rounds to 3 decimals for reports.
pub fn r3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
