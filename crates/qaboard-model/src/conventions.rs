//! Naming conventions shared with the `qa` CLI.
//!
//! The `qa` command line tool (Python package `qaboard`) and the backend must
//! agree on how configurations are serialised, how labels become folder
//! names and where outputs live on disk. Every function here reproduces the
//! behaviour of its Python counterpart, including its quirks, so that both
//! sides compute byte-identical strings:
//!
//! * lengths and slices count Unicode code points, like Python's `len()`;
//! * JSON is rendered like Python's `json.dumps(obj, sort_keys=True)`
//!   (see [`python_json_dumps`]);
//! * hashes are MD5 hex digests of that JSON rendering.

use md5::{Digest, Md5};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Number, Value};
use std::fmt::Write as _;

/// Default `maxlength` of [`slugify`] and [`slugify_hash`] in the Python tool.
pub const DEFAULT_SLUG_MAXLENGTH: usize = 32;

/// Paths of test inputs longer than this (in code points) are hashed by
/// [`output_folder`].
pub const OUTPUT_FOLDER_MAXLENGTH: usize = 70;

/// Turns a string into a lowercase slug made of `[0-9a-z.=-]`.
///
/// The string is lowercased (Unicode-aware), cut to `maxlength - 1` code
/// points when `maxlength` is `Some(n)` with `n > 0` (`None` or `Some(0)`
/// keep everything), then every character outside `[0-9a-z.=]` becomes `-`,
/// runs of `-` are merged and leading/trailing `-` are removed.
pub fn slugify(s: &str, maxlength: Option<usize>) -> String {
    let lower = s.to_lowercase();
    let limit = match maxlength {
        Some(n) if n > 0 => n - 1,
        _ => usize::MAX,
    };
    let mut slug = String::with_capacity(lower.len().min(limit));
    let mut last_dash = false;
    for c in lower.chars().take(limit) {
        let keep = c.is_ascii_digit() || c.is_ascii_lowercase() || c == '.' || c == '=';
        if keep {
            slug.push(c);
            last_dash = false;
        } else if !last_dash {
            slug.push('-');
            last_dash = true;
        }
    }
    slug.trim_matches('-').to_string()
}

/// Renders a JSON value exactly like Python's `json.dumps(v, sort_keys=True)`.
///
/// Separators are `", "` and `": "`, object keys are sorted by code point,
/// non-ASCII characters (and DEL) are escaped as `\uXXXX` (lowercase hex,
/// UTF-16 surrogate pairs for characters outside the BMP), integers are
/// printed as integers and floats like Python's `repr` (`31.0`, `1e-05`,
/// `1e+16`, `1.2345678901234568e+17`).
pub fn python_json_dumps(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's Map is a BTreeMap here: keys iterate in byte order,
            // which for UTF-8 is the same as code point order.
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_string(out, key);
                out.push_str(": ");
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_u64() {
        let _ = write!(out, "{i}");
    } else if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&python_float_repr(f));
    }
}

/// Formats a float like Python's `repr(float)` (and `json.dumps`).
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    // `{:e}` yields the shortest round-trip digits, e.g. "-1.2345e17". When
    // two candidates of that length are equally close, Rust may pick the
    // upper one while Python rounds half to even: re-rendering with that
    // many digits in exact mode (which rounds ties to even) matches Python.
    let shortest = format!("{:e}", f);
    let mantissa_len = shortest
        .split_once('e')
        .map_or(shortest.as_str(), |(m, _)| m)
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    let sci = format!("{:.*e}", mantissa_len.saturating_sub(1), f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
        }
    }
    out.push('"');
}

/// MD5 hex digest (lowercase) of [`python_json_dumps`]`(v)`.
///
/// Note that a JSON string is hashed with its quotes, like Python's
/// `hashlib.md5(json.dumps(s).encode())`.
pub fn make_hash(v: &Value) -> String {
    let digest = Md5::digest(python_json_dumps(v).as_bytes());
    let mut out = String::with_capacity(32);
    for byte in digest {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A short, filesystem-friendly name for a value.
///
/// A [`Value::String`] is used as is, anything else is first rendered with
/// [`python_json_dumps`]. Strings shorter than `maxlength` code points are
/// simply slugified (with the default length limit of 32, like the Python
/// tool). Longer ones become the first 8 hex digits of [`make_hash`]`(v)`,
/// a `-`, and the slug of the last `maxlength - 8` code points.
pub fn slugify_hash(v: &Value, maxlength: usize) -> String {
    let dumped;
    let s: &str = match v {
        Value::String(s) => s,
        other => {
            dumped = python_json_dumps(other);
            &dumped
        }
    };
    let len = s.chars().count();
    if len < maxlength {
        return slugify(s, Some(DEFAULT_SLUG_MAXLENGTH));
    }
    let hash = make_hash(v);
    // Python's `s[-(maxlength - 8):]`; a non-positive length means `s[k:]`.
    let skip = if maxlength > 8 {
        len - (maxlength - 8)
    } else {
        (8 - maxlength).min(len)
    };
    let tail: String = s.chars().skip(skip).collect();
    format!("{}-{}", &hash[..8], slugify(&tail, None))
}

/// Serialises a list of configurations the way the `qa` CLI does.
///
/// An empty list gives `-`; otherwise items are joined with `:`, strings
/// as is and anything else (objects in practice) rendered with
/// [`python_json_dumps`].
pub fn serialize_config(configurations: &[Value]) -> String {
    if configurations.is_empty() {
        return "-".to_string();
    }
    let mut out = String::new();
    for (i, c) in configurations.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        match c {
            Value::String(s) => out.push_str(s),
            other => write_json(&mut out, other),
        }
    }
    out
}

/// Parses what [`serialize_config`] produced back into a list.
///
/// `-` is the empty list. The string is split on `:`; tokens that do not
/// start a JSON object are kept as strings, while `{...}` tokens are glued
/// back together (JSON may itself contain `:`) until they parse as JSON. A
/// fragment with balanced braces that still does not parse is kept as a
/// string, as is any unterminated trailing fragment.
pub fn deserialize_config(configuration: &str) -> Vec<Value> {
    if configuration == "-" {
        return Vec::new();
    }
    let mut configurations = Vec::new();
    let mut part = String::new();
    for token in configuration.split(':') {
        let maybe_json = token.starts_with('{');
        if part.is_empty() && !maybe_json {
            configurations.push(Value::String(token.to_string()));
            continue;
        }
        if !part.is_empty() {
            part.push(':');
        }
        part.push_str(token);
        if let Ok(parsed) = serde_json::from_str::<Value>(&part) {
            configurations.push(parsed);
            part.clear();
        } else if part.matches('{').count() == part.matches('}').count() {
            configurations.push(Value::String(std::mem::take(&mut part)));
        }
    }
    if !part.is_empty() {
        configurations.push(Value::String(part));
    }
    configurations
}

/// Relative folder of a commit's results: `ab/cdef0123456789` (the first 2
/// characters of the hash, a `/`, then the next 14).
///
/// Short or odd input never panics: characters are sliced like Python does.
pub fn commit_dirs(hexsha: &str) -> String {
    let head: String = hexsha.chars().take(2).collect();
    let rest: String = hexsha.chars().skip(2).take(14).collect();
    format!("{head}/{rest}")
}

/// Folder of a batch inside a commit's folder: `output` for the `default`
/// batch, else `output/<slugify_hash(label)>`.
pub fn batch_folder_name(label: &str) -> String {
    if label == crate::DEFAULT_BATCH_LABEL {
        "output".to_string()
    } else {
        format!(
            "output/{}",
            slugify_hash(&Value::String(label.to_string()), DEFAULT_SLUG_MAXLENGTH)
        )
    }
}

/// Normalises a path like Python's `PurePosixPath(p).as_posix()`: repeated
/// slashes are merged (a leading `//` but not `///` is kept), `.` segments
/// and trailing slashes are dropped, `..` is kept. An empty result is `.`.
fn normalize_posix(path: &str) -> String {
    let root = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else if path.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut out = String::from(root);
    let mut first = true;
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        if !first {
            out.push('/');
        }
        out.push_str(segment);
        first = false;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Characters `urllib.parse.quote` leaves alone: ASCII letters, digits and
/// `_.-~/`.
const URL_QUOTE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// URL under which the webapp serves an absolute folder: `/s` followed by
/// the normalised path, percent-encoded like Python's `urllib.parse.quote`
/// (UTF-8, uppercase hex).
///
/// Returns `None` for relative paths (not starting with `/`).
pub fn dir_to_url(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let full = format!("/s{}", normalize_posix(path));
    Some(utf8_percent_encode(&full, URL_QUOTE_SET).to_string())
}

/// Folder name of a test input's outputs: its normalised path without the
/// last extension (like Python's `Path(p).with_suffix('')`), hashed with
/// [`slugify_hash`] (maxlength 70) when longer than 70 code points.
///
/// Leading-dot names (`.bashrc`) and names ending in a dot have no
/// extension. An empty path gives `.`.
pub fn output_folder(test_input_path: &str) -> String {
    let mut path = normalize_posix(test_input_path);
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let name = &path[name_start..];
    if name != "." {
        if let Some(dot) = name.rfind('.') {
            if dot > 0 && dot < name.len() - 1 {
                path.truncate(name_start + dot);
            }
        }
    }
    if path.chars().count() > OUTPUT_FOLDER_MAXLENGTH {
        slugify_hash(&Value::String(path), OUTPUT_FOLDER_MAXLENGTH)
    } else {
        path
    }
}

/// Folder of one (platform, configurations, parameters) combination inside a
/// batch: [`slugify_hash`] (maxlength 16) of the list
/// `[platform] + configurations + [extra_parameters]`, where the platform is
/// left out when it is `linux`.
pub fn batch_conf_folder(
    platform: &str,
    configurations: &[Value],
    extra_parameters: &Value,
) -> String {
    let mut items = Vec::with_capacity(configurations.len() + 2);
    if platform != "linux" {
        items.push(Value::String(platform.to_string()));
    }
    items.extend(configurations.iter().cloned());
    items.push(extra_parameters.clone());
    slugify_hash(&Value::Array(items), 16)
}

/// Removes every occurrence of `origin/` from a branch name
/// (`origin/feature` → `feature`), like the original `re.sub('origin/', '', branch)`.
pub fn strip_origin(branch: &str) -> String {
    branch.replace("origin/", "")
}
