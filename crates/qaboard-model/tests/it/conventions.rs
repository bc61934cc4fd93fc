//! Naming conventions, checked against values computed by the original
//! Python definitions (Python 3.11).

use qaboard_model::conventions::*;
use serde_json::{json, Value};

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

#[test]
fn slugify_matches_python() {
    let cases: &[(&str, Option<usize>, &str)] = &[
        ("Hello World!", Some(32), "hello-world"),
        ("  --Foo__Bar--  ", Some(32), "foo-bar"),
        (&"a".repeat(40), Some(32), &"a".repeat(31)),
        (&"a".repeat(40), None, &"a".repeat(40)),
        (&"a".repeat(40), Some(0), &"a".repeat(40)),
        ("ÉCOLE Été", Some(32), "cole-t"),
        ("x=1.5, y=2", Some(32), "x=1.5-y=2"),
        ("日本語", Some(32), ""),
        ("abc", Some(1), ""),
        ("abcdef", Some(2), "a"),
        ("A/B:C{d}", None, "a-b-c-d"),
        ("tuning.yaml", Some(32), "tuning.yaml"),
        ("ß", Some(32), ""),
        // 'İ' lowercases to two code points ("i" + combining dot).
        ("İstanbul", Some(5), "i-st"),
        ("", Some(32), ""),
    ];
    for (input, maxlength, expected) in cases {
        assert_eq!(
            slugify(input, *maxlength),
            *expected,
            "slugify({input:?}, {maxlength:?})"
        );
    }
}

#[test]
fn python_json_dumps_matches_python() {
    assert_eq!(
        python_json_dumps(&json!({"b": 1, "a": [1, 2.5, true, null]})),
        r#"{"a": [1, 2.5, true, null], "b": 1}"#
    );
    assert_eq!(
        python_json_dumps(&json!({"é": "日本😀", "\u{7f}": "\n\t\"\\\u{1}\u{8}\u{c}"})),
        r#"{"\u007f": "\n\t\"\\\u0001\b\f", "\u00e9": "\u65e5\u672c\ud83d\ude00"}"#
    );
    assert_eq!(
        python_json_dumps(&json!([
            31.0,
            1e-05,
            1e16,
            0.0001,
            123456789012345678.0,
            -0.0,
            1e15,
            0.1,
            1.0 / 3.0
        ])),
        "[31.0, 1e-05, 1e+16, 0.0001, 1.2345678901234568e+17, -0.0, 1000000000000000.0, 0.1, 0.3333333333333333]"
    );
    assert_eq!(
        python_json_dumps(&json!({"z": {}, "y": [], "x": ""})),
        r#"{"x": "", "y": [], "z": {}}"#
    );
    assert_eq!(
        python_json_dumps(&json!({"B": 1, "a": 2, "_": 3, "é": 4, "Z": 5})),
        r#"{"B": 1, "Z": 5, "_": 3, "a": 2, "\u00e9": 4}"#
    );
    assert_eq!(python_json_dumps(&json!(-12)), "-12");
    assert_eq!(python_json_dumps(&json!(u64::MAX)), "18446744073709551615");
    assert_eq!(python_json_dumps(&json!(1.5e300)), "1.5e+300");
    assert_eq!(python_json_dumps(&json!("plain")), r#""plain""#);
    assert_eq!(python_json_dumps(&Value::Null), "null");
}

#[test]
// The tie cases need their exact binary values, which clippy thinks are too precise.
#[allow(clippy::excessive_precision)]
fn float_repr_matches_python() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0.0"),
        (1.0, "1.0"),
        (-2.5, "-2.5"),
        (1e-4, "0.0001"),
        (1.2345e-4, "0.00012345"),
        (1e-5, "1e-05"),
        (-1e-7, "-1e-07"),
        (9999999999999998.0, "9999999999999998.0"),
        (1e21, "1e+21"),
        (1e22, "1e+22"),
        (123.456, "123.456"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        // Ties between two shortest candidates round half to even, like Python.
        (603005546980921.25, "603005546980921.2"),
        (-805138848010533.25, "-805138848010533.2"),
        (-92665837461519.125, "-92665837461519.12"),
    ];
    for (f, expected) in cases {
        assert_eq!(python_json_dumps(&json!(*f)), *expected, "repr({f:e})");
    }
}

#[test]
fn make_hash_matches_python() {
    assert_eq!(
        make_hash(&json!({"b": 1, "a": [1, 2.5, true, null]})),
        "a6545569d535889783585a9facf5fdb7"
    );
    assert_eq!(
        make_hash(&json!({"é": "日本😀", "\u{7f}": "\n\t\"\\\u{1}\u{8}\u{c}"})),
        "7f908b3b140ab4d4f2e6174e037449b7"
    );
    assert_eq!(
        make_hash(&json!({"z": {}, "y": [], "x": ""})),
        "24de74c4ac7eb3dac6a9755965aefb55"
    );
    assert_eq!(make_hash(&json!(-12)), "29fe3cef22985ae07803bf456b8947dc");
    assert_eq!(
        make_hash(&json!(1.5e300)),
        "2139ee3bcd43893ec117ca8c2dd00824"
    );
}

#[test]
fn slugify_hash_matches_python() {
    let x31 = "x".repeat(31);
    let cases: Vec<(Value, usize, &str)> = vec![
        (s("short label"), 32, "short-label"),
        (
            s("a very long experiment label that exceeds the limit"),
            32,
            "7f839d0d-l-that-exceeds-the-limit",
        ),
        (json!({"a": 1}), 32, "a-1"),
        (
            json!({"threshold": 0.5, "iterations": 1000, "mode": "fast"}),
            32,
            "99a80592-fast-threshold-0.5",
        ),
        (json!(["lsf", "base", {"a": 1}]), 16, "7bd5f871-a-1"),
        (
            s("exactly-32-characters-long-label"),
            32,
            "6ed58f2e-32-characters-long-label",
        ),
        (s(&x31), 32, &x31),
        (s("abcdefghij"), 8, "aff04a5f-abcdefghij"),
        (s("abcdefghij"), 5, "aff04a5f-defghij"),
        (
            s("Été au bord de la mer, avec des amis très chers"),
            16,
            "cd30a2f0-s-chers",
        ),
        (Value::Null, 32, "null"),
        (json!(12), 32, "12"),
    ];
    for (v, maxlength, expected) in cases {
        assert_eq!(
            slugify_hash(&v, maxlength),
            expected,
            "slugify_hash({v}, {maxlength})"
        );
    }
}

#[test]
fn serialize_config_matches_python() {
    assert_eq!(serialize_config(&[]), "-");
    assert_eq!(serialize_config(&[s("base")]), "base");
    assert_eq!(
        serialize_config(&[s("base"), json!({"b": 2, "a": 1})]),
        r#"base:{"a": 1, "b": 2}"#
    );
    assert_eq!(
        serialize_config(&[json!({"x": {"y": "a:b"}}), s("delta")]),
        r#"{"x": {"y": "a:b"}}:delta"#
    );
    assert_eq!(serialize_config(&[s("a"), s("b")]), "a:b");
}

#[test]
fn deserialize_config_matches_python() {
    let cases: Vec<(&str, Value)> = vec![
        ("-", json!([])),
        ("", json!([""])),
        ("base", json!(["base"])),
        ("base:delta", json!(["base", "delta"])),
        (
            r#"base:{"a": 1, "b": 2}"#,
            json!(["base", {"a": 1, "b": 2}]),
        ),
        (
            r#"{"x": {"y": "a:b"}}:delta"#,
            json!([{"x": {"y": "a:b"}}, "delta"]),
        ),
        (r#"{"a": 1}:{"b": 2}"#, json!([{"a": 1}, {"b": 2}])),
        ("{not json}:x", json!(["{not json}", "x"])),
        (r#"{"a": 1"#, json!([r#"{"a": 1"#])),
        (r#"{"a":{"b":1}}:c"#, json!([{"a": {"b": 1}}, "c"])),
        ("a::b", json!(["a", "", "b"])),
        (r#"{"a": "x:y:z"}"#, json!([{"a": "x:y:z"}])),
        ("{}", json!([{}])),
        ("{oops:}}:tail", json!(["{oops:}}:tail"])),
        ("C:\\windows", json!(["C", "\\windows"])),
        (r#"{"a": 1}}:x"#, json!([r#"{"a": 1}}:x"#])),
    ];
    for (input, expected) in cases {
        assert_eq!(
            Value::Array(deserialize_config(input)),
            expected,
            "deserialize_config({input:?})"
        );
    }
}

#[test]
fn config_round_trip() {
    let configs = vec![s("base"), json!({"x": {"y": "a:b"}, "n": 1.5}), s("delta")];
    assert_eq!(deserialize_config(&serialize_config(&configs)), configs);
    assert_eq!(
        deserialize_config(&serialize_config(&[])),
        Vec::<Value>::new()
    );
}

#[test]
fn commit_dirs_matches_python() {
    assert_eq!(
        commit_dirs("0123456789abcdef0123456789abcdef01234567"),
        "01/23456789abcdef"
    );
    assert_eq!(commit_dirs("ab"), "ab/");
    assert_eq!(commit_dirs("a"), "a/");
    assert_eq!(commit_dirs(""), "/");
    assert_eq!(commit_dirs("éàüöabcdefghijklmnop"), "éà/üöabcdefghijkl");
}

#[test]
fn batch_folder_name_matches_python() {
    assert_eq!(batch_folder_name("default"), "output");
    assert_eq!(batch_folder_name("Default"), "output/default");
    assert_eq!(batch_folder_name("my experiment"), "output/my-experiment");
    assert_eq!(
        batch_folder_name("a very long experiment label that exceeds the limit"),
        "output/7f839d0d-l-that-exceeds-the-limit"
    );
    assert_eq!(
        batch_folder_name("origin/feature/x"),
        "output/origin-feature-x"
    );
}

#[test]
fn dir_to_url_matches_python() {
    let cases: &[(&str, &str)] = &[
        ("/mnt/qaboard/a b/c", "/s/mnt/qaboard/a%20b/c"),
        ("/", "/s/"),
        ("//srv//x/", "/s//srv/x"),
        ("/a/./b/", "/s/a/b"),
        ("///a", "/s/a"),
        (
            "/été/日本#?&=+%",
            "/s/%C3%A9t%C3%A9/%E6%97%A5%E6%9C%AC%23%3F%26%3D%2B%25",
        ),
        ("/a/../b", "/s/a/../b"),
        ("/a~b_c-d.e", "/s/a~b_c-d.e"),
    ];
    for (path, expected) in cases {
        assert_eq!(
            dir_to_url(path).as_deref(),
            Some(*expected),
            "dir_to_url({path:?})"
        );
    }
    assert_eq!(dir_to_url("relative/path"), None);
    assert_eq!(dir_to_url(""), None);
}

#[test]
fn output_folder_matches_python() {
    let long_x = format!("{}.png", "x".repeat(80));
    let unicode = format!("été/日本/{}.raw", "é".repeat(70));
    let cases: &[(&str, &str)] = &[
        ("images/a.jpg", "images/a"),
        ("images/a.tar.gz", "images/a.tar"),
        ("images/.hidden", "images/.hidden"),
        ("dir.d/file", "dir.d/file"),
        ("a.", "a."),
        ("./x/y.png", "x/y"),
        ("a//b/c.raw", "a/b/c"),
        ("/abs/path/im.dng", "/abs/path/im"),
        (
            &long_x,
            "da34e3a3-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ),
        (
            "very/long/directory/structure/with/many/levels/and/an/image/named/image_0001.jpg",
            "dd739bff-ctory-structure-with-many-levels-and-an-image-named-image-0001",
        ),
        (&unicode, "50aafb29-"),
        // Python raises on an empty name; we keep the normalised path.
        ("", "."),
    ];
    for (path, expected) in cases {
        assert_eq!(output_folder(path), *expected, "output_folder({path:?})");
    }
}

#[test]
fn batch_conf_folder_matches_python() {
    assert_eq!(batch_conf_folder("linux", &[], &json!({})), "");
    assert_eq!(batch_conf_folder("linux", &[s("base")], &json!({})), "base");
    assert_eq!(
        batch_conf_folder("windows", &[s("base")], &json!({})),
        "e5634bc6-se"
    );
    assert_eq!(
        batch_conf_folder(
            "linux",
            &[s("base"), json!({"a": 1})],
            &json!({"threshold": 0.5})
        ),
        "40e73e59-0.5"
    );
    assert_eq!(
        batch_conf_folder(
            "lsf",
            &[s("base"), s("delta")],
            &json!({"iterations": 1000, "mode": "fast"})
        ),
        "1638d434-fast"
    );
    assert_eq!(batch_conf_folder("linux", &[], &Value::Null), "null");
}

#[test]
fn strip_origin_removes_every_occurrence() {
    assert_eq!(strip_origin("origin/master"), "master");
    assert_eq!(strip_origin("master"), "master");
    assert_eq!(strip_origin("origin/feature/origin/x"), "feature/x");
    assert_eq!(strip_origin("my-origin/x"), "my-x");
    assert_eq!(strip_origin(""), "");
}
