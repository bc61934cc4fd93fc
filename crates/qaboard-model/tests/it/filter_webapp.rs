//! The server's output filter gives the webapp's answers.
//!
//! `fixtures/filter_webapp_cases.json` holds the answers of the webapp's own
//! filter code (run under Node.js) for tricky queries on several texts, and
//! the searched text it builds for a few unusual outputs.

use qaboard_model::filter::{FilterableOutput, JsValue, OutputFilter};
use serde_json::Value;

/// Valid JavaScript the `regex` crate cannot run: the filter falls back to
/// the "each non-word character becomes `.`" form (documented divergence).
const UNSUPPORTED: &[&str] = &["(a)\\1"];

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/filter_webapp_cases.json")).unwrap()
}

#[test]
fn queries_match_like_the_webapp() {
    let f = fixture();
    let texts: Vec<&str> = f["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let mut checked = 0;
    for case in f["queries"].as_array().unwrap() {
        let query = case[0].as_str().unwrap();
        let expected = case[1].as_str().unwrap();
        let filter = OutputFilter::parse(query);
        for (text, want) in texts.iter().zip(expected.chars()) {
            if UNSUPPORTED.contains(&query) && want == '1' {
                continue;
            }
            assert_eq!(
                filter.matches_text(text),
                want == '1',
                "query {query:?} on {text:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 700);
}

#[test]
fn searched_text_is_built_like_the_webapp() {
    for case in fixture()["searched"].as_array().unwrap() {
        let JsValue::Object(o) = JsValue::parse(case[0].as_str().unwrap()).unwrap() else {
            panic!("fixture outputs are objects")
        };
        let get = |k: &str| {
            o.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let string = |v: JsValue| match v {
            JsValue::String(s) => Some(s),
            _ => None,
        };
        let output = FilterableOutput {
            test_input_path: string(get("test_input_path")),
            platform: string(get("platform")),
            configurations: get("configurations"),
            extra_parameters: get("extra_parameters"),
            data_params: FilterableOutput::data_params_of(&get("data")),
            test_input_metadata: get("test_input_metadata"),
            is_failed: get("is_failed") == JsValue::Bool(true),
            is_pending: get("is_pending") == JsValue::Bool(true),
        };
        assert_eq!(output.searched_text(), case[1].as_str().unwrap());
    }
}
