//! The output filter language of the webapp's filter box, so that the server
//! selects exactly the outputs the user sees (batch move, export).
//!
//! Rule source: the webapp's `match_query`, `safe_regex` and `filter_batch`
//! (`webapp/src/utils.js`) and the per-output `params` precomputed by its
//! `UPDATE_COMMIT` reducer (`webapp/src/reducers/index.js`); contract in
//! OPERATIONS.md §1.1 ("webapp (intended)" column).
//!
//! A query is normalised (trimmed, lowercased, `"` dropped, each run of `=`
//! and each `": "` turned into `:`, `.sim|`/`.def|`/`.eco|` into
//! `.sim.`/`.def.`/`.eco.`) and split on single spaces. A token `-x` (longer
//! than `-`) excludes outputs whose text contains `x`; a lone `-` is ignored;
//! every other token, the empty one included, is an unanchored JavaScript
//! regular expression that must match. A token JavaScript rejects is retried
//! with each non-word character replaced by `.`.
//!
//! ```
//! use qaboard_model::filter::{FilterableOutput, OutputFilter};
//! use serde_json::json;
//! let output = FilterableOutput {
//!     test_input_path: Some("images/cat.jpg".into()),
//!     platform: Some("linux".into()),
//!     configurations: (&json!(["base", {"gain": 2}])).into(),
//!     ..FilterableOutput::default()
//! };
//! assert!(OutputFilter::parse("cat gain=2 -dog").matches(&output));
//! assert!(!OutputFilter::parse("gain=3").matches(&output));
//! ```

mod js_json;
mod js_regex;

pub use js_json::{js_number, JsValue};
pub use js_regex::{compile as compile_js_regex, JsRegexError};

use js_json::js_insert;
use regex::Regex;

/// What the filter looks at in one output, as the webapp receives it from the
/// API (plain values, not database rows).
#[derive(Debug, Clone, PartialEq)]
pub struct FilterableOutput {
    /// `output.test_input_path`; `None` prints as `null`, like JavaScript.
    pub test_input_path: Option<String>,
    /// `output.platform`; `None` prints as `null`.
    pub platform: Option<String>,
    /// `output.configurations` (a JSON array in practice).
    pub configurations: JsValue,
    /// `output.extra_parameters` (a JSON object in practice).
    pub extra_parameters: JsValue,
    /// `output.data.params` when the key exists (tuning runs record the
    /// parameters they were given there); `None` when absent.
    pub data_params: Option<JsValue>,
    /// `output.test_input_metadata`.
    pub test_input_metadata: JsValue,
    /// `output.is_failed`.
    pub is_failed: bool,
    /// `output.is_pending`.
    pub is_pending: bool,
}

impl Default for FilterableOutput {
    /// No input, no platform, `[]` configurations, `{}` parameters and
    /// metadata, not failed, not pending.
    fn default() -> Self {
        FilterableOutput {
            test_input_path: None,
            platform: None,
            configurations: JsValue::Array(Vec::new()),
            extra_parameters: JsValue::Object(Vec::new()),
            data_params: None,
            test_input_metadata: JsValue::Object(Vec::new()),
            is_failed: false,
            is_pending: false,
        }
    }
}

impl FilterableOutput {
    /// `output.data.params` as the webapp reads it (`data?.params`): the
    /// value of key `params` when `data` is an object that has it.
    pub fn data_params_of(data: &JsValue) -> Option<JsValue> {
        match data {
            JsValue::Object(entries) => entries
                .iter()
                .find(|(k, _)| k == "params")
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// The merged tuning parameters the webapp shows and searches
    /// (`output.params`): starting from `{}`, each element of
    /// `configurations` and then `extra_parameters` — itself first merged
    /// with `data.params` when present — is spread into it, skipping strings
    /// and nulls (JavaScript `{...params, ...c}`: later keys win, first
    /// positions stay). Non-array `configurations` contribute nothing.
    pub fn params(&self) -> JsValue {
        let extra = match &self.data_params {
            Some(run_params) => {
                let mut merged = self.extra_parameters.spread_entries();
                for (k, v) in run_params.spread_entries() {
                    js_insert(&mut merged, k, v);
                }
                JsValue::Object(merged)
            }
            None => self.extra_parameters.clone(),
        };
        let mut params = Vec::new();
        let configurations = match &self.configurations {
            JsValue::Array(items) => items.as_slice(),
            _ => &[],
        };
        for c in configurations.iter().chain(std::iter::once(&extra)) {
            if matches!(c, JsValue::String(_) | JsValue::Null) {
                continue;
            }
            for (k, v) in c.spread_entries() {
                js_insert(&mut params, k, v);
            }
        }
        JsValue::Object(params)
    }

    /// The text the filter searches, before normalisation:
    /// `<test_input_path> <J(configurations)> <J(metadata) or ""> <J(params)>
    /// <"fail crash" or ""> <"pending running" or ""> <platform>`
    /// with `J` = `JSON.stringify` (as `filter_batch`).
    pub fn searched_text(&self) -> String {
        let metadata = if self.test_input_metadata.has_own_keys() {
            self.test_input_metadata.stringify()
        } else {
            String::new()
        };
        format!(
            "{} {} {} {} {} {} {}",
            self.test_input_path.as_deref().unwrap_or("null"),
            self.configurations.stringify(),
            metadata,
            self.params().stringify(),
            if self.is_failed { "fail crash" } else { "" },
            if self.is_pending {
                "pending running"
            } else {
                ""
            },
            self.platform.as_deref().unwrap_or("null"),
        )
    }
}

/// A parsed filter query. Parsing never fails: every query means something.
#[derive(Debug, Clone)]
pub struct OutputFilter {
    negative: Vec<String>,
    positive: Vec<Regex>,
}

impl OutputFilter {
    /// Parses a filter-box query (see the module documentation). The empty
    /// query, and one made only of spaces, matches every output.
    pub fn parse(query: &str) -> OutputFilter {
        let normalised = normalize_query(query);
        let mut negative = Vec::new();
        let mut positive = Vec::new();
        for token in normalised.split(' ') {
            if let Some(rest) = token.strip_prefix('-') {
                if !rest.is_empty() {
                    negative.push(rest.to_string());
                }
            } else {
                positive.push(safe_regex(token));
            }
        }
        OutputFilter { negative, positive }
    }

    /// [`OutputFilter::parse`], with an absent query matching everything
    /// (the webapp sends no filter, or `""`, when the box is empty).
    pub fn parse_optional(query: Option<&str>) -> OutputFilter {
        OutputFilter::parse(query.unwrap_or(""))
    }

    /// Whether the webapp would show this output for the query.
    pub fn matches(&self, output: &FilterableOutput) -> bool {
        self.matches_text(&output.searched_text())
    }

    /// Applies the query to an already built searched text (normalised here:
    /// lowercased, each run of `=` and each `": "` → `:`, then `"` dropped).
    pub fn matches_text(&self, searched: &str) -> bool {
        let searched = replace_colons(&searched.to_lowercase()).replace('"', "");
        if self.negative.iter().any(|t| searched.contains(t.as_str())) {
            return false;
        }
        self.positive.iter().all(|r| r.is_match(&searched))
    }
}

/// A stored JSON column as the API hands it to the webapp: the text when it
/// is JSON of the expected kind (`open` = `'['` for an array, `'{'` for an
/// object), else an empty array or object (the API's fallback for null or
/// malformed columns). Key order is the text's.
pub fn api_json(text: &str, open: char) -> JsValue {
    let empty = || {
        if open == '[' {
            JsValue::Array(Vec::new())
        } else {
            JsValue::Object(Vec::new())
        }
    };
    if !text.trim_start().starts_with(open) {
        return empty();
    }
    JsValue::parse(text).unwrap_or_else(empty)
}

/// The webapp's query normalisation (first half of `match_query`).
pub fn normalize_query(query: &str) -> String {
    // JavaScript's trim() also strips the byte-order mark.
    let trimmed = query.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    replace_colons(&trimmed.to_lowercase().replace('"', ""))
        .replace(".sim|", ".sim.")
        .replace(".def|", ".def.")
        .replace(".eco|", ".eco.")
}

/// JavaScript `s.replace(/(=+|: )/g, ":")`.
fn replace_colons(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '=' => {
                while chars.peek() == Some(&'=') {
                    chars.next();
                }
                out.push(':');
            }
            ':' if chars.peek() == Some(&' ') => {
                chars.next();
                out.push(':');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The webapp's `safe_regex`: the token as a JavaScript regex, or when
/// JavaScript rejects it, the token with every UTF-16 unit outside
/// `[A-Za-z0-9_]` replaced by `.`. Valid JavaScript that the `regex` crate
/// cannot run (look-around, back-references) also takes the fallback.
fn safe_regex(token: &str) -> Regex {
    if let Ok(r) = js_regex::compile(token) {
        return r;
    }
    let mut safe = String::with_capacity(token.len());
    for c in token.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            safe.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                safe.push('.');
            }
        }
    }
    js_regex::compile(&safe)
        .or_else(|_| Regex::new(&regex::escape(token)).map_err(|_| ()))
        .unwrap_or_else(|_| Regex::new("").expect("the empty regex compiles"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output() -> FilterableOutput {
        FilterableOutput {
            test_input_path: Some("Images/Cat.jpg".into()),
            platform: Some("linux".into()),
            configurations: (&json!(["base", {"gain": 2, "mode": "Fast"}])).into(),
            extra_parameters: (&json!({"threshold": 0.5})).into(),
            data_params: None,
            test_input_metadata: (&json!({"iso": 100})).into(),
            is_failed: false,
            is_pending: false,
        }
    }

    fn keeps(query: &str, o: &FilterableOutput) -> bool {
        OutputFilter::parse(query).matches(o)
    }

    #[test]
    fn searched_text_is_what_the_webapp_builds() {
        assert_eq!(
            output().searched_text(),
            r#"Images/Cat.jpg ["base",{"gain":2,"mode":"Fast"}] {"iso":100} {"gain":2,"mode":"Fast","threshold":0.5}   linux"#
        );
        let o = FilterableOutput {
            is_failed: true,
            is_pending: true,
            test_input_metadata: JsValue::Object(vec![]),
            ..FilterableOutput::default()
        };
        assert_eq!(
            o.searched_text(),
            "null []  {} fail crash pending running null"
        );
    }

    #[test]
    fn empty_and_blank_queries_match_everything() {
        for q in ["", "   ", " ", "-"] {
            assert!(keeps(q, &output()), "{q:?}");
        }
        assert!(OutputFilter::parse_optional(None).matches(&output()));
    }

    #[test]
    fn tokens_are_lowercased_and_all_must_match() {
        assert!(keeps("cat", &output()));
        assert!(keeps("CAT images", &output()));
        assert!(!keeps("cat dog", &output()));
        assert!(keeps("  cat  ", &output()));
        // Double space: the empty token matches everything.
        assert!(keeps("cat  linux", &output()));
    }

    #[test]
    fn negative_tokens_are_substrings_not_regexes() {
        assert!(!keeps("-cat", &output()));
        assert!(keeps("-dog", &output()));
        assert!(
            keeps("-c.t", &output()),
            "'.' is literal in a negative token"
        );
        assert!(!keeps("cat -linux", &output()));
        assert!(
            !keeps("-\"gain\"", &output()),
            "quotes are dropped on both sides"
        );
    }

    #[test]
    fn key_value_spellings_are_normalised() {
        for q in [
            "gain=2",
            "gain==2",
            "gain:2",
            "\"gain\": 2",
            "GAIN=2",
            "mode=fast",
        ] {
            assert!(keeps(q, &output()), "{q:?}");
        }
        assert!(!keeps("gain=3", &output()));
        assert!(!keeps("-gain=2", &output()));
    }

    #[test]
    fn positive_tokens_are_unanchored_javascript_regexes() {
        assert!(keeps("c.t", &output()));
        assert!(keeps("^images/", &output()));
        assert!(keeps("linux$", &output()));
        assert!(keeps("gain:[0-9]", &output()));
        assert!(keeps(r"threshold:0\.5", &output()));
        assert!(!keeps("^cat", &output()));
        assert!(keeps("cat|dog", &output()));
    }

    #[test]
    fn invalid_regexes_fall_back_to_dots() {
        // "cat(" is invalid: it becomes "cat." which needs a character after "cat".
        assert!(keeps("cat(", &output()));
        assert!(keeps("[base", &output()), "becomes .base");
        assert!(!keeps("[basex", &output()));
        // "(?i)" is not JavaScript: it becomes "..i.", not a flag matching everything.
        assert!(!OutputFilter::parse("(?i)").matches_text("xyi"));
        assert!(OutputFilter::parse("(?i)").matches_text("xyiz"));
        // Look-ahead is valid JavaScript the regex crate cannot run: fallback too.
        assert!(keeps("cat(?=.jpg)", &output()));
    }

    #[test]
    fn status_words() {
        let failed = FilterableOutput {
            is_failed: true,
            ..output()
        };
        let pending = FilterableOutput {
            is_pending: true,
            ..output()
        };
        assert!(keeps("crash", &failed) && keeps("fail", &failed));
        assert!(!keeps("fail", &output()));
        assert!(!keeps("-fail", &failed));
        assert!(keeps("running", &pending) && keeps("pending", &pending));
        assert!(keeps("-pending", &output()));
    }

    #[test]
    fn params_merge_configurations_extra_parameters_and_run_params() {
        let o = FilterableOutput {
            configurations: (&json!(["a", {"x": 1, "y": 1}, null, {"x": 2}])).into(),
            extra_parameters: (&json!({"z": 3, "y": 4})).into(),
            data_params: Some((&json!({"z": 5, "w": 6})).into()),
            ..FilterableOutput::default()
        };
        assert_eq!(o.params().stringify(), r#"{"x":2,"y":4,"z":5,"w":6}"#);
        assert!(keeps("z:5", &o) && keeps("w:6", &o) && !keeps("z:3", &o));
        assert!(keeps("y=4 x=2", &o));
        // Without run params, extra parameters are searched as they are.
        let o = FilterableOutput {
            data_params: None,
            ..o
        };
        assert!(keeps("z:3", &o));
    }

    #[test]
    fn metadata_is_searched_only_when_not_empty() {
        assert!(keeps("iso:100", &output()));
        let o = FilterableOutput {
            test_input_metadata: JsValue::Null,
            ..output()
        };
        assert!(!keeps("iso", &o));
        assert!(o.searched_text().contains(r#""Fast"}]  {"gain""#));
    }

    #[test]
    fn register_pipes_are_rewritten() {
        let o = FilterableOutput {
            configurations: (&json!([{"blk.sim.gain": 1}])).into(),
            ..FilterableOutput::default()
        };
        assert!(keeps("blk.sim|gain=1", &o));
        assert!(keeps("blk.sim.gain:1", &o));
        assert_eq!(normalize_query(" A.DEF|b.eco|c "), "a.def.b.eco.c");
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_query("\"a\"==b: c"), "a:b:c");
        assert_eq!(normalize_query("a:  b"), "a: b");
        assert_eq!(replace_colons("x=\"y\": z"), "x:\"y\":z");
    }

    #[test]
    fn built_from_stored_json_texts() {
        let data = api_json(r#"{"user":"me","params":{"b":1,"a":2}}"#, '{');
        let o = FilterableOutput {
            configurations: api_json("null", '['),
            extra_parameters: api_json(r#"{"z":0,"10":1}"#, '{'),
            data_params: FilterableOutput::data_params_of(&data),
            test_input_metadata: api_json("not json {", '{'),
            ..FilterableOutput::default()
        };
        // Text order kept, index-like keys first, run params merged last.
        assert_eq!(
            o.searched_text(),
            r#"null []  {"10":1,"z":0,"b":1,"a":2}   null"#
        );
        assert_eq!(FilterableOutput::data_params_of(&api_json("[]", '{')), None);
    }

    #[test]
    fn non_ascii_text_is_searched_unescaped() {
        let o = FilterableOutput {
            configurations: (&json!([{"lieu": "Genève"}])).into(),
            ..FilterableOutput::default()
        };
        assert!(keeps("genève", &o));
        assert!(keeps("-u00e8", &o));
    }
}
