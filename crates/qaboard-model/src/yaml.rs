//! YAML text to [`serde_json::Value`], with the typing rules of PyYAML's
//! `SafeLoader` (YAML 1.1), which the `qa` CLI and the original backend use
//! to read `qaboard.yaml` files.
//!
//! Built on the event parser `saphyr-parser`. Supported: block and flow
//! collections, every scalar style, anchors and aliases, merge keys (`<<`),
//! the core tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`. Plain
//! scalars are typed as PyYAML does: `~`/`null`/empty → null;
//! `true`/`yes`/`on` (and `false`/`no`/`off`, in lower, Title or UPPER case)
//! → booleans; decimal, `0x` hex, leading-zero octal and `0b` binary
//! integers (with `_` separators); numbers with a dot (and an optional
//! signed exponent, `1.0e+3`; `1e3` stays a string as in PyYAML) → floats.
//! Not supported: sexagesimal numbers (`1:30`), timestamps (kept as
//! strings). `.inf` and `.nan` have no JSON form and stay strings. Non-string
//! mapping keys become their text (JSON keys are strings).

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};

/// A YAML text that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong, with the line and column when the parser gives them.
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for YamlError {}

fn err(message: impl Into<String>) -> YamlError {
    YamlError {
        message: message.into(),
    }
}

/// Aliases may expand to at most this many values in total (guards against
/// "billion laughs" documents).
const MAX_ALIAS_NODES: usize = 1_000_000;

/// Parses one YAML document into JSON. An empty text (or only comments)
/// gives `Value::Null`. Several documents in one text are an error, like
/// PyYAML's `yaml.load`.
pub fn parse_yaml(text: &str) -> Result<Value, YamlError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: Vec::new(),
        alias_budget: MAX_ALIAS_NODES,
    };
    let mut document: Option<Value> = None;
    loop {
        match builder.next()? {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if document.is_some() {
                    return Err(err("expected a single YAML document, found several"));
                }
                let first = builder.next()?;
                let value = match first {
                    Event::DocumentEnd | Event::StreamEnd => Value::Null,
                    event => builder.node(event)?,
                };
                document = Some(value);
            }
            other => return Err(err(format!("unexpected YAML event {other:?}"))),
        }
    }
    Ok(document.unwrap_or(Value::Null))
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Values by anchor id (ids start at 1; 0 means "no anchor").
    anchors: Vec<Option<Value>>,
    alias_budget: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Event<'a>, YamlError> {
        match self.parser.next_event() {
            None => Ok(Event::StreamEnd),
            Some(Ok((event, _span))) => Ok(event),
            Some(Err(e)) => Err(err(e.to_string())),
        }
    }

    fn remember(&mut self, anchor: usize, value: &Value) {
        if anchor == 0 {
            return;
        }
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, None);
        }
        self.anchors[anchor] = Some(value.clone());
    }

    fn node(&mut self, event: Event<'a>) -> Result<Value, YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref())?;
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(id)
                    .and_then(Option::as_ref)
                    .cloned()
                    .ok_or_else(|| err(format!("unknown YAML alias #{id}")))?;
                let size = count_nodes(&value);
                self.alias_budget = self
                    .alias_budget
                    .checked_sub(size)
                    .ok_or_else(|| err("YAML aliases expand to too many values"))?;
                Ok(value)
            }
            Event::SequenceStart(anchor, _tag) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        Event::StreamEnd => return Err(err("unterminated YAML sequence")),
                        event => items.push(self.node(event)?),
                    }
                }
                let value = Value::Array(items);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::MappingStart(anchor, _tag) => {
                let mut map = Map::new();
                // Values of merge keys (`<<`), applied after the explicit keys.
                let mut merges: Vec<Value> = Vec::new();
                loop {
                    let key_event = match self.next()? {
                        Event::MappingEnd => break,
                        Event::StreamEnd => return Err(err("unterminated YAML mapping")),
                        event => event,
                    };
                    let is_merge = matches!(
                        &key_event,
                        Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<"
                    );
                    let key = self.node(key_event)?;
                    let value_event = self.next()?;
                    let value = self.node(value_event)?;
                    if is_merge {
                        merges.push(value);
                    } else {
                        map.insert(key_text(&key), value);
                    }
                }
                for merged in merges {
                    let sources = match merged {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        let Value::Object(source) = source else {
                            return Err(err("a YAML merge key (<<) needs a mapping"));
                        };
                        for (k, v) in source {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
                let value = Value::Object(map);
                self.remember(anchor, &value);
                Ok(value)
            }
            other => Err(err(format!("unexpected YAML event {other:?}"))),
        }
    }
}

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        // Python would print True/False; JSON output of the CLI gives "true".
        other => other.to_string(),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Value, YamlError> {
    if let Some(tag) = tag {
        if tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!" {
            return match tag.suffix.as_str() {
                "str" => Ok(Value::String(text.to_string())),
                "null" => Ok(Value::Null),
                "bool" => bool_of(text)
                    .map(Value::Bool)
                    .ok_or_else(|| err(format!("not a boolean: {text:?}"))),
                "int" => int_of(text).ok_or_else(|| err(format!("not an integer: {text:?}"))),
                "float" => float_of(text)
                    .or_else(|| int_of(text).and_then(|v| v.as_f64()).and_then(float_value))
                    .ok_or_else(|| err(format!("not a float: {text:?}"))),
                _ => Ok(plain(text)),
            };
        }
        // Application tags (`!foo`): PyYAML's SafeLoader refuses them.
        return Err(err(format!(
            "unsupported YAML tag {}{}",
            tag.handle, tag.suffix
        )));
    }
    match style {
        ScalarStyle::Plain => Ok(plain(text)),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Types a plain (unquoted, untagged) scalar.
fn plain(text: &str) -> Value {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(b) = bool_of(text) {
        return Value::Bool(b);
    }
    if let Some(v) = int_of(text) {
        return v;
    }
    if let Some(v) = float_of(text) {
        return v;
    }
    Value::String(text.to_string())
}

fn bool_of(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn int_of(text: &str) -> Option<Value> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let digits: String = body.chars().filter(|c| *c != '_').collect();
    let (radix, digits) = if let Some(rest) = digits.strip_prefix("0x") {
        (16, rest.to_string())
    } else if let Some(rest) = digits.strip_prefix("0b") {
        (2, rest.to_string())
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, digits[1..].to_string())
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok();
    match magnitude {
        Some(m) if !negative => Some(Value::Number(m.into())),
        Some(m) if m <= i64::MAX as u64 + 1 => {
            Some(Value::Number((0i64.wrapping_sub_unsigned(m)).into()))
        }
        // Too large for 64 bits: keep it as a float, as JSON readers would.
        _ => {
            let f: f64 = digits.parse().ok().filter(|_| radix == 10)?;
            float_value(if negative { -f } else { f })
        }
    }
}

/// PyYAML's YAML 1.1 float: digits with a dot (`1.`, `1.5`, `.5`, with `_`
/// separators), and an optional exponent *with a sign* (`1.0e+3`); `1e3`
/// is a string there, and so here.
fn float_of(text: &str) -> Option<Value> {
    let signed = text.starts_with(['+', '-']);
    let body = if signed { &text[1..] } else { text };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.')?;
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '_');
    let whole_ok = if whole.is_empty() {
        // `.5` form: no sign, at least one fraction digit.
        !signed && !fraction.is_empty()
    } else {
        whole.starts_with(|c: char| c.is_ascii_digit()) && digits(whole)
    };
    if !whole_ok || !digits(fraction) {
        return None;
    }
    if let Some(exponent) = exponent {
        let rest = exponent.strip_prefix(['+', '-'])?;
        if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    float_value(cleaned.parse::<f64>().ok()?)
}

fn float_value(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_typed_like_pyyaml() {
        let v = parse_yaml(
            "a: 1\nb: -2\nc: 1.5\nd: 1e3\np: 1.5e+3\nq: .5\nr: 2.\ne: yes\nf: off\ng: ~\nh:\ni: '1'\nj: \"true\"\nk: 0x1f\nl: 010\nm: hello world\nn: 1_000\no: .inf\ns: 0o17\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": -2, "c": 1.5, "d": "1e3", "p": 1500.0, "q": 0.5, "r": 2.0, "e": true, "f": false, "g": null,
                   "h": null, "i": "1", "j": "true", "k": 31, "l": 8, "m": "hello world",
                   "n": 1000, "o": ".inf", "s": "0o17"})
        );
    }

    #[test]
    fn collections_anchors_and_merge_keys() {
        let text = "base: &b {x: 1, y: 2}\nlist: [a, 'b', 3]\nchild:\n  <<: *b\n  y: 5\nblock: |\n  line1\n  line2\nalias: *b\n";
        let v = parse_yaml(text).unwrap();
        assert_eq!(
            v,
            json!({"base": {"x": 1, "y": 2}, "list": ["a", "b", 3], "child": {"y": 5, "x": 1},
                   "block": "line1\nline2\n", "alias": {"x": 1, "y": 2}})
        );
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(parse_yaml("").unwrap(), Value::Null);
        assert_eq!(parse_yaml("# only a comment\n").unwrap(), Value::Null);
        assert!(parse_yaml("a: [1, 2\n").is_err());
        assert!(parse_yaml("a: 1\n---\nb: 2\n").is_err());
        assert!(parse_yaml("a: !custom 1\n").is_err());
        assert!(parse_yaml("key: value\n  bad: indent\n").is_err());
    }

    #[test]
    fn json_is_yaml() {
        let v = parse_yaml(r#"{"a": [1, 2.5, "x", null, true], "b": {"c": "d"}}"#).unwrap();
        assert_eq!(v, json!({"a": [1, 2.5, "x", null, true], "b": {"c": "d"}}));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse_yaml(&text).is_err());
    }
}
