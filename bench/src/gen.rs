//! Bodies of `POST /api/v1/output/`, based on the `qa` CLI request recorded
//! from the original backend (`data/post_output.json`, a copy of
//! `original-responses/01_post_output_request.json`).
use serde_json::{json, Map, Value};

/// The recorded request body of `qa run` (end of a run, with metrics).
pub const POST_OUTPUT_TEMPLATE: &str = include_str!("../data/post_output.json");

/// A tiny deterministic pseudo-random generator (xorshift64*), so that seeded
/// databases are the same from run to run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    /// Uniform in `[lo, hi)`, rounded to `decimals`.
    pub fn round(&mut self, lo: f64, hi: f64, decimals: i32) -> f64 {
        let f = 10f64.powi(decimals);
        (self.range(lo, hi) * f).round() / f
    }

    /// An index below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A 40-hex-digit commit sha derived from a tag and numbers.
pub fn fake_sha(tag: u64, a: u64, b: u64) -> String {
    let mut r = Rng::new(tag ^ a.rotate_left(21) ^ b.rotate_left(42) ^ 0x5eed);
    format!(
        "{:016x}{:016x}{:08x}",
        r.next_u64(),
        r.next_u64(),
        r.next_u64() as u32
    )
}

/// A sha unique to this moment and process.
pub fn unique_sha() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    fake_sha(nanos, std::process::id() as u64, 0)
}

/// The metrics of the realistic outputs: name, label, smaller-is-better, target, suffix.
pub const METRICS: &[(&str, &str, bool, f64, &str)] = &[
    ("psnr", "PSNR", false, 30.0, "dB"),
    ("ssim", "SSIM", false, 0.9, ""),
    ("compute_time", "Compute time", true, 10.0, "s"),
    ("snr_db", "SNR", false, 38.0, "dB"),
    ("bitrate_kbps", "Bitrate", true, 8000.0, "kbps"),
    ("file_size", "File size", true, 2_000_000.0, "B"),
    ("noise_sigma", "Noise sigma", true, 1.5, ""),
    ("sharpness", "Sharpness (MTF50)", false, 0.35, "cy/px"),
    ("delta_e", "Color error (ΔE2000)", true, 3.0, ""),
];

/// `qaboard_metrics` (metrics.yaml) declaring [`METRICS`].
pub fn metrics_definitions() -> Value {
    let mut available = Map::new();
    for (name, label, smaller, target, suffix) in METRICS {
        available.insert(
            name.to_string(),
            json!({"label": label, "short_label": name, "smaller_is_better": smaller,
                   "target": target, "scale": 1, "suffix": suffix}),
        );
    }
    json!({
        "available_metrics": available,
        "default_metric": "psnr",
        "summary_metrics": ["psnr", "ssim", "compute_time", "snr_db"],
        "main_metrics": ["psnr", "ssim"],
    })
}

/// Realistic metrics of one output (9 values plus `is_failed`).
pub fn realistic_metrics(rng: &mut Rng) -> Value {
    json!({
        "is_failed": false,
        "psnr": rng.round(26.0, 42.0, 2),
        "ssim": rng.round(0.7, 0.99, 3),
        "compute_time": rng.round(0.4, 12.0, 2),
        "snr_db": rng.round(30.0, 45.0, 2),
        "bitrate_kbps": 1500 + rng.below(10_500),
        "file_size": 400_000 + rng.below(3_000_000),
        "noise_sigma": rng.round(0.2, 3.0, 3),
        "sharpness": rng.round(0.15, 0.5, 3),
        "delta_e": rng.round(0.5, 6.0, 2),
    })
}

const SCENES: &[&str] = &[
    "indoor",
    "outdoor",
    "night",
    "portrait",
    "backlit",
    "lowlight",
    "macro",
    "landscape",
];
const SENSORS: &[&str] = &["imx586", "imx766", "s5kgn1", "ov64b"];
const CONFIGS: &[&[&str]] = &[
    &["base"],
    &["base", "denoise:strong"],
    &["base", "hdr"],
    &["base", "denoise:light", "sharpen"],
];

/// What identifies one realistic output of a seeded commit.
#[derive(Debug, Clone)]
pub struct OutputSpec<'a> {
    pub project: &'a str,
    pub sha: &'a str,
    pub branch: &'a str,
    pub committer: &'a str,
    /// ISO with offset, e.g. `2026-11-20T10:00:00+00:00`.
    pub authored: &'a str,
    pub message: &'a str,
    /// Index of the output in its commit (picks the input and configuration).
    pub index: u64,
    /// Seed of the metric values.
    pub seed: u64,
}

/// The path of the `index`-th test input of the seeded datasets.
pub fn input_path(index: u64) -> String {
    let scene = SCENES[(index % SCENES.len() as u64) as usize];
    format!("{scene}/{index:05}.dng")
}

/// A full `qa run` end-of-run body for a seeded output: the CLI envelope
/// (config, metrics definitions), input metadata, ~10 metrics and data.
pub fn realistic_output(template: &Value, s: &OutputSpec<'_>) -> Value {
    let mut rng = Rng::new(s.seed.wrapping_mul(7919) ^ s.index);
    let mut b = template.clone();
    let storage = format!(
        "/mnt/qaboard/{}/{}/{}",
        s.project,
        &s.sha[..2],
        &s.sha[2..16]
    );
    // A few configurations, each over its own quarter of the inputs.
    let configurations: Vec<&str> = CONFIGS[(s.index % CONFIGS.len() as u64) as usize].to_vec();
    let input = input_path(s.index);
    let stem = input.trim_end_matches(".dng");
    let conf_dir = configurations.join("/");
    let sensor = SENSORS[(s.index / 7 % SENSORS.len() as u64) as usize];
    let iso = [100, 200, 400, 800, 1600, 3200][(s.index % 6) as usize];
    let scene = SCENES[(s.index % SCENES.len() as u64) as usize];
    let o = b.as_object_mut().expect("the template is an object");
    for (k, v) in [
        ("project", json!(s.project)),
        ("project_root", json!(s.project)),
        ("commit_sha", json!(s.sha)),
        ("git_commit_sha", json!(s.sha)),
        ("commit_branch", json!(s.branch)),
        ("commit_committer_name", json!(s.committer)),
        ("commit_authored_datetime", json!(s.authored)),
        ("commit_message", json!(s.message)),
        ("outputs_commit", json!(storage)),
        ("artifacts_commit", json!(storage)),
        ("batch_dir", json!(format!("{storage}/output/default"))),
        (
            "batch_conf_dir",
            json!(format!("{storage}/output/default/linux/{conf_dir}")),
        ),
        (
            "output_directory",
            json!(format!("{storage}/output/default/linux/{conf_dir}/{stem}")),
        ),
        ("database", json!("/mnt/datasets/camera")),
        ("rel_input_path", json!(input)),
        ("input_path", json!(input)),
        ("configurations", json!(configurations)),
        ("configuration", json!(configurations.join(":"))),
        ("extra_parameters", json!({})),
        (
            "input_metadata",
            json!({"sensor": sensor, "iso": iso, "scene": scene}),
        ),
        ("metrics", realistic_metrics(&mut rng)),
        ("data", json!({"storage": 200_000 + rng.below(20_000_000)})),
    ] {
        o.insert(k.to_string(), v);
    }
    o.insert("qaboard_metrics".into(), metrics_definitions());
    b
}

/// A JSON text with slots: the JSON strings `"@@name@@"` of a template are
/// replaced by raw JSON text at render time, cheaply (no re-serialisation).
#[derive(Debug, Clone)]
pub struct SlotTemplate {
    parts: Vec<String>,
    slots: Vec<usize>,
}

impl SlotTemplate {
    /// Serialises `v`; every occurrence of the string `"@@name@@"` (for each
    /// `name` of `names`) becomes a slot.
    pub fn new(v: &Value, names: &[&str]) -> SlotTemplate {
        let text = v.to_string();
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut rest = text.as_str();
        loop {
            let next = names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| {
                    rest.find(&format!("\"@@{n}@@\""))
                        .map(|p| (p, i, n.len() + 6))
                })
                .min();
            match next {
                Some((pos, slot, len)) => {
                    parts.push(rest[..pos].to_string());
                    slots.push(slot);
                    rest = &rest[pos + len..];
                }
                None => {
                    parts.push(rest.to_string());
                    break;
                }
            }
        }
        SlotTemplate { parts, slots }
    }

    /// Renders into `out` with `values[i]` (raw JSON) in slot `names[i]`.
    pub fn render(&self, values: &[&str], out: &mut Vec<u8>) {
        out.clear();
        for (i, part) in self.parts.iter().enumerate() {
            out.extend_from_slice(part.as_bytes());
            if let Some(&slot) = self.slots.get(i) {
                out.extend_from_slice(values[slot].as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_template_renders() {
        let t = SlotTemplate::new(&json!({"a": "@@x@@", "b": ["@@y@@", "@@x@@"]}), &["x", "y"]);
        let mut out = Vec::new();
        t.render(&["1", "\"s\""], &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, json!({"a": 1, "b": ["s", 1]}));
    }

    #[test]
    fn realistic_output_is_complete() {
        let template: Value = serde_json::from_str(POST_OUTPUT_TEMPLATE).unwrap();
        let sha = fake_sha(1, 2, 3);
        assert_eq!(sha.len(), 40);
        let spec = OutputSpec {
            project: "bench/detail",
            sha: &sha,
            branch: "master",
            committer: "A",
            authored: "2026-11-20T10:00:00+00:00",
            message: "m",
            index: 5,
            seed: 1,
        };
        let b = realistic_output(&template, &spec);
        assert_eq!(b["metrics"].as_object().unwrap().len(), 10);
        assert_eq!(b["rel_input_path"], json!(input_path(5)));
    }
}
