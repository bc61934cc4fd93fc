//! JSON values as the webapp's JavaScript sees them.
//!
//! The webapp filters outputs on text built with `JSON.stringify` of values
//! it received from the API and parsed with `JSON.parse`. To rebuild that
//! text byte for byte we need JavaScript's view of JSON, which differs from
//! `serde_json::Value` in three ways:
//!
//! * object keys keep the order of the JSON text (serde_json sorts them
//!   unless its `preserve_order` feature is on, which this workspace does not
//!   enable), except that array-index-like keys (`"0"`, `"17"`) come first in
//!   numeric order (ECMAScript `OrdinaryOwnPropertyKeys`);
//! * every number is an IEEE double, printed by `Number.prototype.toString`
//!   (`1.0` → `1`, `1e21` → `1e+21`, `1e-7` → `1e-7`);
//! * strings are printed without escaping non-ASCII characters.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt::{self, Write as _};

/// A JSON value with JavaScript semantics: numbers are `f64`, object
/// entries keep the order in which they were parsed or inserted.
#[derive(Debug, Clone, PartialEq)]
pub enum JsValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any number, as a double.
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<JsValue>),
    /// An object: entries in insertion order, keys unique.
    Object(Vec<(String, JsValue)>),
}

impl JsValue {
    /// Parses JSON text like `JSON.parse`, keeping the key order of the
    /// text (a repeated key keeps its first position and its last value).
    /// Returns `None` for text that is not JSON.
    pub fn parse(text: &str) -> Option<JsValue> {
        serde_json::from_str(text).ok()
    }

    /// `JSON.stringify(value)`: compact, keys in JavaScript property order,
    /// non-finite numbers as `null`, non-ASCII characters unescaped.
    pub fn stringify(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self);
        out
    }

    /// The entries `{...value}` contributes to an object literal: an
    /// object's entries, an array's `index → item`, a string's
    /// `index → character` (indexes count UTF-16 code units, like
    /// JavaScript), nothing for other values.
    pub fn spread_entries(&self) -> Vec<(String, JsValue)> {
        match self {
            JsValue::Object(entries) => entries.clone(),
            JsValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect(),
            JsValue::String(s) => {
                let mut out = Vec::new();
                let mut index = 0;
                for c in s.chars() {
                    out.push((index.to_string(), JsValue::String(c.to_string())));
                    index += c.len_utf16();
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// `Object.keys(value).length > 0` for a value that is not null.
    pub fn has_own_keys(&self) -> bool {
        match self {
            JsValue::Object(e) => !e.is_empty(),
            JsValue::Array(a) => !a.is_empty(),
            JsValue::String(s) => !s.is_empty(),
            _ => false,
        }
    }
}

/// Inserts `key` like a JavaScript property assignment: an existing key keeps
/// its position and takes the new value, a new key goes last.
pub(crate) fn js_insert(entries: &mut Vec<(String, JsValue)>, key: String, value: JsValue) {
    if let Some(slot) = entries.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else {
        entries.push((key, value));
    }
}

impl From<&serde_json::Value> for JsValue {
    /// Converts a serde_json value; object entries are taken in the map's
    /// iteration order (sorted keys in this workspace).
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => JsValue::Null,
            Value::Bool(b) => JsValue::Bool(*b),
            Value::Number(n) => JsValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => JsValue::String(s.clone()),
            Value::Array(a) => JsValue::Array(a.iter().map(JsValue::from).collect()),
            Value::Object(m) => {
                let mut entries = Vec::with_capacity(m.len());
                for (k, v) in m {
                    js_insert(&mut entries, k.clone(), JsValue::from(v));
                }
                JsValue::Object(entries)
            }
        }
    }
}

impl<'de> Deserialize<'de> for JsValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsVisitor)
    }
}

struct JsVisitor;

impl<'de> Visitor<'de> for JsVisitor {
    type Value = JsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<JsValue, E> {
        Ok(JsValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JsValue, E> {
        Ok(JsValue::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JsValue, E> {
        Ok(JsValue::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<JsValue, E> {
        Ok(JsValue::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<JsValue, E> {
        Ok(JsValue::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<JsValue, E> {
        Ok(JsValue::String(v))
    }
    fn visit_unit<E>(self) -> Result<JsValue, E> {
        Ok(JsValue::Null)
    }
    fn visit_none<E>(self) -> Result<JsValue, E> {
        Ok(JsValue::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsValue, D::Error> {
        JsValue::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(JsValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsValue, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, JsValue>()? {
            js_insert(&mut entries, k, v);
        }
        Ok(JsValue::Object(entries))
    }
}

/// ECMAScript array index: a canonical decimal integer below 2^32 − 1.
fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u32>().ok().filter(|i| *i != u32::MAX)
}

fn write_value(out: &mut String, v: &JsValue) {
    match v {
        JsValue::Null => out.push_str("null"),
        JsValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsValue::Number(n) if n.is_finite() => out.push_str(&js_number(*n)),
        JsValue::Number(_) => out.push_str("null"),
        JsValue::String(s) => write_string(out, s),
        JsValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        JsValue::Object(entries) => {
            // Index-like keys first, ascending; then the others in order.
            let mut indexed: Vec<(u32, &(String, JsValue))> = entries
                .iter()
                .filter_map(|e| array_index(&e.0).map(|i| (i, e)))
                .collect();
            indexed.sort_by_key(|(i, _)| *i);
            let named = entries.iter().filter(|e| array_index(&e.0).is_none());
            out.push('{');
            for (n, (k, item)) in indexed.into_iter().map(|(_, e)| e).chain(named).enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
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
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `Number.prototype.toString()` of a finite double (ECMAScript
/// `Number::toString`, radix 10).
pub fn js_number(x: f64) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    if x < 0.0 {
        return format!("-{}", js_number(-x));
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde±x".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().unwrap_or(0) + 1;
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let e = (n - 1).abs();
        if k == 1 {
            format!("{digits}e{sign}{e}")
        } else {
            format!("{}.{}e{sign}{e}", &digits[..1], &digits[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_javascript() {
        for (x, s) in [
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456.789, "123456.789"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (2.5e25, "2.5e+25"),
            (-0.0, "0"),
        ] {
            assert_eq!(js_number(x), s, "{x}");
        }
    }

    #[test]
    fn parse_keeps_text_order_and_stringify_puts_indexes_first() {
        let v = JsValue::parse(r#"{"b":1,"a":[1.0,true,null],"10":"x","2":"y","b":3}"#).unwrap();
        assert_eq!(
            v.stringify(),
            r#"{"2":"y","10":"x","b":3,"a":[1,true,null]}"#
        );
    }

    #[test]
    fn strings_escape_controls_but_not_unicode() {
        let v = JsValue::String("é\"\\\n\u{1}😀".into());
        assert_eq!(v.stringify(), "\"é\\\"\\\\\\n\\u0001😀\"");
    }

    #[test]
    fn from_serde_value() {
        let v = JsValue::from(&serde_json::json!({"z": 1, "a": 2.0}));
        assert_eq!(v.stringify(), r#"{"a":2,"z":1}"#);
        assert!(JsValue::parse("{").is_none());
    }

    #[test]
    fn spreads_like_object_literals() {
        assert_eq!(
            JsValue::String("a😀b".into()).spread_entries(),
            vec![
                ("0".into(), JsValue::String("a".into())),
                ("1".into(), JsValue::String("😀".into())),
                ("3".into(), JsValue::String("b".into())),
            ]
        );
        assert!(JsValue::Number(3.0).spread_entries().is_empty());
        assert!(!JsValue::Number(3.0).has_own_keys());
        assert!(JsValue::parse("[0]").unwrap().has_own_keys());
    }
}
