//! Unit tests of the export rules; expected strings were computed with the
//! original Python code (`hashlib`, `re.sub`, `json.dump`, `slugify_hash`).

use super::python::python_repr_str;
use super::*;
use crate::BatchId;
use serde_json::json;

fn out(id: i32, sha: &str, path: &str, platform: &str, conf: Value, extra: Value) -> ExportOutput {
    ExportOutput {
        id: crate::OutputId(id),
        hexsha: sha.into(),
        test_input_path: path.into(),
        platform: Some(platform.into()),
        configurations: conf.as_array().cloned().unwrap_or_default(),
        extra_parameters: extra.as_object().cloned().unwrap_or_default(),
        is_pending: false,
    }
}

#[test]
fn folder_name_is_the_md5_of_the_request() {
    assert_eq!(
        export_dir_name(
            "g/r",
            "abc",
            BatchId(12),
            Some(("def", BatchId(13))),
            None,
            Some("f")
        ),
        "ffde4994"
    );
    assert_eq!(
        export_dir_name("g/r", "abc", BatchId(12), None, None, None),
        "efb74d57"
    );
}

#[test]
fn reference_equal_to_new_selection_is_dropped() {
    let new = ExportSelection {
        project: "g/r",
        hexsha: "abc",
        batch_label: "default",
        filter: Some("cat"),
    };
    assert!(reference_is_new_selection(&new, &new));
    let unfiltered = ExportSelection {
        filter: None,
        ..new
    };
    assert!(!reference_is_new_selection(&new, &unfiltered));
    let tuning = ExportSelection {
        batch_label: "tuning",
        ..new
    };
    assert!(!reference_is_new_selection(&new, &tuning));
}

#[test]
fn reduced_json_drops_noise_like_the_original() {
    assert_eq!(
        reduced_json(&json!(["workspace/configs/raw.yaml", {"Gain": 2.5, "bmp_out": true}])),
        "syamlainouttrue"
    );
    assert_eq!(reduced_json(&json!({})), "");
}

#[test]
fn reference_is_the_closest_same_input_output_preferring_the_platform() {
    let new = out(
        1,
        "n",
        "a.jpg",
        "linux",
        json!(["base", {"gain": 2}]),
        json!({}),
    );
    let refs = vec![
        out(
            10,
            "r",
            "b.jpg",
            "linux",
            json!(["base", {"gain": 2}]),
            json!({}),
        ),
        out(
            11,
            "r",
            "a.jpg",
            "linux",
            json!(["other", {"gain": 7}]),
            json!({}),
        ),
        out(
            12,
            "r",
            "a.jpg",
            "arm",
            json!(["base", {"gain": 2}]),
            json!({}),
        ),
        out(
            13,
            "r",
            "a.jpg",
            "linux",
            json!(["base", {"gain": 2}]),
            json!({}),
        ),
        out(
            14,
            "r",
            "a.jpg",
            "linux",
            json!(["base", {"gain": 2}]),
            json!({}),
        ),
    ];
    assert_eq!(choose_reference(&new, &refs).map(|o| o.id.0), Some(13));
    let mut pending = refs.clone();
    pending[3].is_pending = true;
    assert_eq!(choose_reference(&new, &pending).map(|o| o.id.0), Some(14));
    // Closer parameters win over the platform.
    let refs = vec![
        out(
            20,
            "r",
            "a.jpg",
            "linux",
            json!(["base", {"gain": 2}]),
            json!({"t": 999999}),
        ),
        out(
            21,
            "r",
            "a.jpg",
            "arm",
            json!(["base", {"gain": 2}]),
            json!({}),
        ),
    ];
    assert_eq!(choose_reference(&new, &refs).map(|o| o.id.0), Some(21));
    assert!(choose_reference(&new, &[]).is_none());
}

#[test]
fn common_data_of_identical_outputs() {
    let a = out(
        1,
        "abc",
        "a.jpg",
        "linux",
        json!(["base", {"é": 1}]),
        json!({"x": [1, 2], "y": {}}),
    );
    let b = out(
        2,
        "abc",
        "b.jpg",
        "linux",
        json!(["base", {"é": 1}]),
        json!({"x": [1, 2], "y": {}}),
    );
    let common = CommonData::compute(Some("abc"), &[&a, &b]);
    assert_eq!(
        common.render(),
        "{\n  \"commit\": \"abc\",\n  \"configurations\": [\n    \"base\",\n    {\n      \"\\u00e9\": 1\n    }\n  ],\n  \"extra_parameters\": {\n    \"x\": [\n      1,\n      2\n    ],\n    \"y\": {}\n  },\n  \"platform\": \"linux\"\n}"
    );
    let mut mappings = LabelMappings::default();
    assert_eq!(common.labels(&a, &mut mappings), "");
    assert!(mappings.is_empty());
}

#[test]
fn common_data_with_differences() {
    let a = out(
        1,
        "abcdef",
        "a.jpg",
        "linux",
        json!(["base", "fast", "end"]),
        json!({"p_gain": 2, "p_thr": 0.5}),
    );
    let b = out(
        2,
        "012345",
        "a.jpg",
        "arm",
        json!(["base", "slow", "x", "end"]),
        json!({"p_gain": 3, "p_thr": 0.5}),
    );
    let common = CommonData::compute(None, &[&a, &b]);
    assert_eq!(
        common.to_json(),
        json!({
            "configurations_prefix": ["base"],
            "configurations_suffix": ["end"],
            "extra_parameters": {"p_thr": 0.5}
        })
    );
    assert_eq!(common.extra_parameters_key_prefix, "p_");
    let mut mappings = LabelMappings::default();
    // ('gain', '2') → slugify_hash("{('gain', '2')}") = "gain-2".
    assert_eq!(common.labels(&a, &mut mappings), "@abcd@linux@fast@gain-2");
    assert_eq!(common.labels(&b, &mut mappings), "@0123@arm@slow-x@gain-3");
    assert_eq!(
        mappings.configurations["slow-x"],
        json!(["base", "slow", "x", "end"])
    );
    assert_eq!(
        mappings.extra_parameters["gain-2"],
        json!({"p_gain": 2, "p_thr": 0.5})
    );
    let text = mappings.render();
    assert!(
        text.starts_with("{\n    \"configurations\": {\n        \"fast\": [\n"),
        "{text}"
    );
}

#[test]
fn parameter_labels_follow_python_set_repr() {
    // A single differing parameter: the whole name is the common prefix.
    let a = out(1, "s", "a", "linux", json!([]), json!({"gain": 2}));
    let b = out(2, "s", "a", "linux", json!([]), json!({"gain": 3}));
    let common = CommonData::compute(Some("s"), &[&a, &b]);
    let mut m = LabelMappings::default();
    assert_eq!(common.labels(&a, &mut m), "@2");
    // Several: sorted pairs, like "{('gain', '2'), ('thr', '0.5')}".
    let a = out(
        1,
        "s",
        "a",
        "linux",
        json!([]),
        json!({"gain": 2, "thr": 0.5}),
    );
    let b = out(
        2,
        "s",
        "a",
        "linux",
        json!([]),
        json!({"gain": 3, "thr": 0.7}),
    );
    let common = CommonData::compute(Some("s"), &[&a, &b]);
    assert_eq!(common.labels(&a, &mut m), "@gain-2-thr-0.5");
    // Long labels are hashed by slugify_hash.
    let a = out(
        1,
        "s",
        "a",
        "linux",
        json!([]),
        json!({"a_very_long_parameter_name": "0.123456", "another_one": "value"}),
    );
    let b = out(2, "s", "a", "linux", json!([]), json!({}));
    let common = CommonData::compute(Some("s"), &[&a, &b]);
    assert_eq!(common.extra_parameters_key_prefix, "a");
    let c = CommonData {
        extra_parameters_key_prefix: String::new(),
        ..common
    };
    assert_eq!(c.labels(&a, &mut m), "@d148cccd-another-one-value");
}

#[test]
fn empty_export_has_only_the_commit() {
    let common = CommonData::compute(Some("abc"), &[]);
    assert_eq!(common.render(), "{\n  \"commit\": \"abc\"\n}");
}

#[test]
fn python_values_as_strings() {
    assert_eq!(python_str(&json!("x")), "x");
    assert_eq!(python_str(&json!(null)), "None");
    assert_eq!(python_str(&json!(true)), "True");
    assert_eq!(python_str(&json!(1.0)), "1.0");
    assert_eq!(python_str(&json!({"a": [1, "b'"]})), "{'a': [1, \"b'\"]}");
    assert_eq!(python_repr_str("it's \"x\"\n"), "'it\\'s \"x\"\\n'");
}

#[test]
fn exported_file_names() {
    assert_eq!(
        export_file_name("images/cat.jpg", "out/result.png", "@ab12@arm"),
        "images_cat.jpg_out_result@ab12@arm.png"
    );
    assert_eq!(
        export_file_name("cat.jpg", "log.txt", ""),
        "cat.jpg_log.txt"
    );
    assert_eq!(
        export_file_name("/abs//in", "./a/.hidden", "@x"),
        "_abs_in_a_.hidden@x"
    );
    assert_eq!(
        export_file_name("in", "archive.tar.gz", "@x"),
        "in_archive.tar@x.gz"
    );
    assert_eq!(export_file_name("in", "noext", "@x"), "in_noext@x");
    assert_eq!(export_file_name("in", "dot.", "@x"), "in_dot.@x");
}

#[test]
fn link_back_to_the_webapp() {
    let link = ExportLink {
        project: "g/r",
        hexsha: "abc",
        batch: "my batch",
        reference: Some("def"),
        batch_ref: Some("default"),
        filter: Some("gain=2 -x&y"),
        filter_ref: Some(""),
    };
    let url = link.url(DEFAULT_QABOARD_URL);
    assert_eq!(
        url,
        "http://qaboard/g/r/commit/abc?batch=my%20batch&reference=def&batch_ref=default&filter=gain%3D2%20-x%26y"
    );
    assert_eq!(
        qa_url_file(&url),
        format!("[InternetShortcut]\nURL={url}\n")
    );
    let html = qa_html("http://q/x?a=1&b=</script>");
    assert!(html.contains("content=\"0; url=http://q/x?a=1&amp;b=&lt;/script&gt;\""));
    assert!(html.contains("window.location.href = \"http://q/x?a=1&b=\\u003c/script\\u003e\";"));
    assert!(!html.contains("</script>\";"));
    let bare = ExportLink {
        batch: "",
        reference: None,
        batch_ref: None,
        filter: None,
        filter_ref: None,
        ..link
    };
    assert_eq!(bare.url("http://qa/"), "http://qa/g/r/commit/abc?");
}

/// Cases whose expected values come from running the original export code.
#[test]
fn matching_and_labels_agree_with_the_original() {
    let (n, r) = ("a".repeat(40), "b".repeat(40));
    let new = [
        out(
            1,
            &n,
            "a.jpg",
            "linux",
            json!(["base", "fast", "end"]),
            json!({"p_gain": 2, "p_thr": 0.5}),
        ),
        out(
            2,
            &n,
            "b.jpg",
            "linux",
            json!(["base", "fast", "end"]),
            json!({"p_gain": 2, "p_thr": 0.5}),
        ),
    ];
    let mut pending = out(
        12,
        &r,
        "a.jpg",
        "linux",
        json!(["base", "slow", "end"]),
        json!({"p_gain": 3, "p_thr": 0.5}),
    );
    pending.is_pending = true;
    let refs = [
        out(
            10,
            &r,
            "a.jpg",
            "linux",
            json!(["base", "slow", "end"]),
            json!({"p_gain": 3, "p_thr": 0.5}),
        ),
        out(
            11,
            &r,
            "b.jpg",
            "linux",
            json!(["base", "slowest", "end"]),
            json!({"p_gain": 3, "p_thr": 0.5}),
        ),
        pending,
    ];
    let chosen: Vec<&ExportOutput> = new
        .iter()
        .map(|o| choose_reference(o, &refs).unwrap())
        .collect();
    assert_eq!(chosen.iter().map(|o| o.id.0).collect::<Vec<_>>(), [10, 11]);
    let all: Vec<&ExportOutput> = new.iter().chain(chosen.iter().copied()).collect();
    let common = CommonData::compute(None, &all);
    assert_eq!(
        common.to_json(),
        json!({"platform": "linux", "configurations_prefix": ["base"], "configurations_suffix": ["end"], "extra_parameters": {"p_thr": 0.5}})
    );
    let mut m = LabelMappings::default();
    let labels: Vec<String> = [&new[0], chosen[0], &new[1], chosen[1]]
        .iter()
        .map(|o| common.labels(o, &mut m))
        .collect();
    assert_eq!(
        labels,
        [
            "@aaaa@fast@gain-2",
            "@bbbb@slow@gain-3",
            "@aaaa@fast@gain-2",
            "@bbbb@slowest@gain-3"
        ]
    );
    assert_eq!(
        serde_json::from_str::<Value>(&m.render()).unwrap(),
        json!({
            "extra_parameters": {"gain-2": {"p_gain": 2, "p_thr": 0.5}, "gain-3": {"p_gain": 3, "p_thr": 0.5}},
            "configurations": {"fast": ["base", "fast", "end"], "slow": ["base", "slow", "end"], "slowest": ["base", "slowest", "end"]}
        })
    );
    // Same commit as reference: the commit is common, only the parameter labels remain.
    let new = out(1, &n, "in", "linux", json!([]), json!({"alpha": 1}));
    let refs = [
        out(10, &n, "in", "linux", json!([]), json!({"alpha": 2})),
        out(11, &n, "in", "linux", json!([]), json!({"beta": 2})),
    ];
    let chosen = choose_reference(&new, &refs).unwrap();
    assert_eq!(chosen.id.0, 10);
    let common = CommonData::compute(Some(&n), &[&new, chosen]);
    let mut m = LabelMappings::default();
    assert_eq!(
        (common.labels(&new, &mut m), common.labels(chosen, &mut m)),
        ("@1".into(), "@2".into())
    );
}

/// Where the original built labels by string replacement, an empty common
/// prefix serialised as `-` removed every dash (and a suffix `z` every `z`);
/// items are stripped instead.
#[test]
fn configuration_labels_strip_whole_items() {
    let a = out(1, "s", "in", "linux", json!(["my-conf", "z"]), json!({}));
    let b = out(2, "s", "in", "linux", json!(["other-conf", "z"]), json!({}));
    let common = CommonData::compute(Some("s"), &[&a, &b]);
    let mut m = LabelMappings::default();
    assert_eq!(common.labels(&a, &mut m), "@my-conf");
    assert_eq!(common.labels(&b, &mut m), "@other-conf");
    assert!(
        m.extra_parameters.is_empty(),
        "no mapping for an unused label"
    );
}
