//! Python renderings the export files use: `str()`/`repr()` of decoded JSON
//! values (parameter labels) and `json.dump(…, indent=n, sort_keys=True)`
//! (`0.common.json`, `0.mappings.json`).

use serde_json::Value;
use std::fmt::Write as _;

use crate::conventions::python_json_dumps;

/// Python's `str(v)` of a decoded JSON value: strings as they are, `None`,
/// `True`/`False`, numbers like `repr`, lists and dicts like their `repr`.
pub fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(_) => python_json_dumps(v),
        Value::String(s) => python_repr_str(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", python_repr_str(k), python_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`;
/// backslash, the quote, `\n`, `\r`, `\t` escaped, other control characters
/// as `\xNN`.
pub(super) fn python_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `json.dumps(v, sort_keys=True, indent=n)`: one item per line,
/// `": "` after keys, `","` at line ends, empty containers as `{}` / `[]`,
/// non-ASCII escaped, no final newline.
pub fn python_json_pretty(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_pretty(&mut out, v, indent, 0);
    out
}

fn write_pretty(out: &mut String, v: &Value, indent: usize, depth: usize) {
    let pad = |out: &mut String, d: usize| {
        out.push('\n');
        out.push_str(&" ".repeat(indent * d));
    };
    match v {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                write_pretty(out, item, indent, depth + 1);
            }
            pad(out, depth);
            out.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            out.push('{');
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                pad(out, depth + 1);
                out.push_str(&python_json_dumps(&Value::String(k.clone())));
                out.push_str(": ");
                write_pretty(out, item, indent, depth + 1);
            }
            pad(out, depth);
            out.push('}');
        }
        other => out.push_str(&python_json_dumps(other)),
    }
}
