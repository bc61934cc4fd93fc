//! SQLite's binary JSON (JSONB, <https://sqlite.org/jsonb.html>) written as
//! JSON text directly, without building a `serde_json::Value` on the way:
//! the read paths pass JSON columns through into answers, and decoding every
//! document into a tree only to print it again was most of the CPU of an
//! uncached commit page on SQLite.
//!
//! SQLite's own `json()` cannot be used instead: diesel 2.3 stores strings
//! that need escaping (`"`, `\`) as plain TEXT elements, which `json()` prints
//! unescaped. Here every TEXT element is escaped on output, so those strings
//! come out right.
//!
//! Handled: the element types diesel and SQLite's canonical encoder write
//! (null, true, false, INT, FLOAT, TEXT, TEXTJ, TEXTRAW, ARRAY, OBJECT). The
//! JSON5 forms (INT5, FLOAT5, TEXT5), malformed sizes and nesting deeper than
//! [`MAX_DEPTH`] give `None`; callers then decode through diesel as before.
//! Object members keep their stored order.

/// Deeper documents are left to diesel's (iterative) decoder.
const MAX_DEPTH: usize = 256;

const NULL: u8 = 0x0;
const TRUE: u8 = 0x1;
const FALSE: u8 = 0x2;
const INT: u8 = 0x3;
const FLOAT: u8 = 0x5;
const TEXT: u8 = 0x7;
const TEXTJ: u8 = 0x8;
const TEXTRAW: u8 = 0xA;
const ARRAY: u8 = 0xB;
const OBJECT: u8 = 0xC;

/// One element: its type, and where its payload is within the input.
struct Element {
    kind: u8,
    payload: std::ops::Range<usize>,
}

/// Reads the header of the element at the start of `b`.
fn element(b: &[u8]) -> Option<Element> {
    let first = *b.first()?;
    let be = |n: usize| -> Option<u64> {
        let bytes = b.get(1..1 + n)?;
        Some(bytes.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    };
    let (size, header): (u64, usize) = match first >> 4 {
        n @ 0..=11 => (u64::from(n), 1),
        12 => (be(1)?, 2),
        13 => (be(2)?, 3),
        14 => (be(4)?, 5),
        _ => (be(8)?, 9),
    };
    let end = header.checked_add(usize::try_from(size).ok()?)?;
    (end <= b.len()).then_some(Element {
        kind: first & 0x0F,
        payload: header..end,
    })
}

/// `blob` as JSON text, or `None` (see the module docs).
pub fn to_json_text(blob: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(blob.len() + blob.len() / 8 + 2);
    let used = write(blob, &mut out, 0)?;
    if used != blob.len() {
        return None;
    }
    String::from_utf8(out).ok()
}

/// Calls `f(name, element)` for each member of the object `blob` until it
/// returns `Some(true)` (stop). `Some(false)` when `blob` is not an object,
/// `None` when it cannot be read here (or `f` returned `None`).
fn for_each_member<'a>(
    blob: &'a [u8],
    mut f: impl FnMut(&str, &'a [u8]) -> Option<bool>,
) -> Option<bool> {
    let top = element(blob)?;
    if top.kind != OBJECT {
        return Some(false);
    }
    let mut rest = &blob[top.payload];
    while !rest.is_empty() {
        let k = element(rest)?;
        let raw = std::str::from_utf8(&rest[k.payload.clone()]).ok()?;
        let name: std::borrow::Cow<'_, str> = match k.kind {
            TEXT | TEXTRAW => raw.into(),
            // Escaped for JSON: unescaped to compare (rare).
            TEXTJ => serde_json::from_str::<String>(&format!("\"{raw}\""))
                .ok()?
                .into(),
            _ => return None,
        };
        let after_key = &rest[k.payload.end..];
        let v = element(after_key)?;
        if f(&name, &after_key[..v.payload.end])? {
            break;
        }
        rest = &after_key[v.payload.end..];
    }
    Some(true)
}

/// The member `key` of the object `blob`, as JSON text: `Some(None)` when the
/// object has no such member (or `blob` is not an object), `None` when the
/// blob cannot be read here.
pub fn member_as_json_text(blob: &[u8], key: &str) -> Option<Option<String>> {
    let mut found = None;
    for_each_member(blob, |name, value| {
        if name != key {
            return Some(false);
        }
        let mut out = Vec::with_capacity(value.len());
        write(value, &mut out, 0)?;
        found = Some(String::from_utf8(out).ok()?);
        Some(true)
    })?;
    Some(found)
}

/// A JSON object text of the members of `blob` named in `names` (in stored
/// order; `{}` when `blob` is not an object), or `None` when the blob cannot
/// be read here.
pub fn pick_members(blob: &[u8], names: &[String]) -> Option<String> {
    let mut out = vec![b'{'];
    for_each_member(blob, |name, value| {
        if names.iter().any(|n| n == name) {
            if out.len() > 1 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, name).ok()?;
            out.push(b':');
            write(value, &mut out, 0)?;
        }
        Some(false)
    })?;
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// Writes the element at the start of `b`; returns its size.
fn write(b: &[u8], out: &mut Vec<u8>, depth: usize) -> Option<usize> {
    let e = element(b)?;
    let payload = &b[e.payload.clone()];
    match e.kind {
        NULL => out.extend_from_slice(b"null"),
        TRUE => out.extend_from_slice(b"true"),
        FALSE => out.extend_from_slice(b"false"),
        // Canonical JSON numbers (RFC 8259), stored as their text.
        INT | FLOAT => {
            let ok = !payload.is_empty()
                && payload
                    .iter()
                    .all(|c| c.is_ascii_digit() || b"+-.eE".contains(c));
            if !ok {
                return None;
            }
            out.extend_from_slice(payload);
        }
        // Raw text: escaped here.
        TEXT | TEXTRAW => {
            let s = std::str::from_utf8(payload).ok()?;
            serde_json::to_writer(&mut *out, s).ok()?;
        }
        // Text already escaped for JSON.
        TEXTJ => {
            std::str::from_utf8(payload).ok()?;
            out.push(b'"');
            out.extend_from_slice(payload);
            out.push(b'"');
        }
        ARRAY | OBJECT => {
            if depth >= MAX_DEPTH {
                return None;
            }
            let object = e.kind == OBJECT;
            out.push(if object { b'{' } else { b'[' });
            let mut rest = payload;
            let mut first = true;
            while !rest.is_empty() {
                if !first {
                    out.push(b',');
                }
                first = false;
                if object {
                    let key = element(rest)?;
                    if !matches!(key.kind, TEXT | TEXTJ | TEXTRAW) {
                        return None;
                    }
                    let n = write(rest, out, depth + 1)?;
                    rest = &rest[n..];
                    out.push(b':');
                    if rest.is_empty() {
                        return None;
                    }
                }
                let n = write(rest, out, depth + 1)?;
                rest = &rest[n..];
            }
            out.push(if object { b'}' } else { b']' });
        }
        _ => return None,
    }
    Some(e.payload.end)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;
    use diesel::prelude::*;
    use diesel::sql_types::{Binary, Jsonb, Text};
    use serde_json::{json, Value};

    fn samples() -> Vec<Value> {
        vec![
            json!(null),
            json!(true),
            json!({}),
            json!([]),
            json!({"psnr": 31.1, "ssim": 0.81, "n": 3, "neg": -2, "big": 1e300, "tiny": 5e-324, "u": 18446744073709551615u64}),
            json!({"say": "he said \"hi\" \\ back", "ctl": "tab\tnew\nline\u{1}", "uni": "é 漢字 🎉", "empty": ""}),
            json!([1, [2, [3, [4, {"a": [5, {"b": null}]}]]], "x", false]),
            json!({"long": "x".repeat(70_000), "list": (0..300).collect::<Vec<_>>()}),
            json!({"nested": {"metadata": {"sensor": "imx586", "iso": 100}}, "metadata": {"iso": 200}}),
        ]
    }

    fn conn() -> SqliteConnection {
        SqliteConnection::establish(":memory:").unwrap()
    }

    /// What diesel writes for a value.
    fn diesel_blob(c: &mut SqliteConnection, v: &Value) -> Vec<u8> {
        diesel::select(
            diesel::dsl::sql::<Binary>("CAST(")
                .bind::<Jsonb, _>(v)
                .sql(" AS BLOB)"),
        )
        .get_result(c)
        .unwrap()
    }

    /// What SQLite's own encoder writes for a JSON text.
    fn sqlite_blob(c: &mut SqliteConnection, text: &str) -> Vec<u8> {
        diesel::select(
            diesel::dsl::sql::<Binary>("jsonb(")
                .bind::<Text, _>(text)
                .sql(")"),
        )
        .get_result(c)
        .unwrap()
    }

    #[test]
    fn diesel_and_sqlite_blobs_read_back_as_the_same_json() {
        let mut c = conn();
        for v in samples() {
            for blob in [diesel_blob(&mut c, &v), sqlite_blob(&mut c, &v.to_string())] {
                let text = to_json_text(&blob).unwrap_or_else(|| panic!("{v}"));
                let back: Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                assert_eq!(back, v);
            }
        }
    }

    #[test]
    fn members_are_found_at_the_top_level_only() {
        let mut c = conn();
        let v = json!({"nested": {"metadata": 1}, "metadata": {"iso": 200, "s": "a\"b"}});
        let blob = diesel_blob(&mut c, &v);
        let m = member_as_json_text(&blob, "metadata").unwrap().unwrap();
        assert_eq!(serde_json::from_str::<Value>(&m).unwrap(), v["metadata"]);
        assert_eq!(member_as_json_text(&blob, "absent"), Some(None));
        let arr = diesel_blob(&mut c, &json!([1]));
        assert_eq!(member_as_json_text(&arr, "metadata"), Some(None));
    }

    #[test]
    fn requested_members_are_picked() {
        let mut c = conn();
        let v = json!({"psnr": 31.5, "q\"uote": 2, "s": "say \"hi\"", "nested": {"psnr": 1}, "flag": true});
        let names: Vec<String> = ["psnr", "q\"uote", "s", "flag", "absent"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for blob in [diesel_blob(&mut c, &v), sqlite_blob(&mut c, &v.to_string())] {
            let picked: Value =
                serde_json::from_str(&pick_members(&blob, &names).unwrap()).unwrap();
            assert_eq!(
                picked,
                json!({"psnr": 31.5, "q\"uote": 2, "s": "say \"hi\"", "flag": true})
            );
        }
        assert_eq!(
            pick_members(&diesel_blob(&mut c, &json!([1])), &names).as_deref(),
            Some("{}")
        );
    }

    #[test]
    fn what_is_not_handled_is_refused_not_misread() {
        let mut c = conn();
        // JSON5 forms (SQLite keeps hex integers as INT5).
        let hex = sqlite_blob(&mut c, "{\"a\": 0x1F}");
        assert_eq!(to_json_text(&hex), None);
        // Truncated and trailing bytes, an empty blob, text that is not JSONB.
        let good = diesel_blob(&mut c, &json!({"a": [1, 2, 3]}));
        assert_eq!(to_json_text(&good[..good.len() - 1]), None);
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(to_json_text(&longer), None);
        assert_eq!(to_json_text(&[]), None);
        // Too deep for the recursive writer.
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(to_json_text(&sqlite_blob(&mut c, &deep)), None);
    }
}
