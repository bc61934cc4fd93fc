//! Python's `fnmatch.fnmatch` on POSIX (case-sensitive): the file patterns
//! of "Delete Output Files" (`DELETE /api/v1/batch/<id>/?filter=`), matched
//! against the keys of an output's `manifest.outputs.json`.
//!
//! Rule source: Python's `fnmatch.translate` (OPERATIONS.md §1.2): `*`
//! matches any run of characters, `/` included (so `*.png` also matches
//! `sub/a.png`); `?` one character; `[abc]`, `[a-z]` and `[!abc]` a class;
//! a `[` without its `]` is a literal `[`. The whole name must match.

use regex::Regex;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

/// The pattern is not valid (e.g. a reversed range `[z-a]`, which Python
/// refuses too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// Why it was refused.
    pub reason: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid file pattern {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl std::error::Error for PatternError {}

impl Pattern {
    /// Compiles a pattern (see the module documentation).
    pub fn new(pattern: &str) -> Result<Pattern, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut re = String::from("(?s)^");
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    while chars.get(i) == Some(&'*') {
                        i += 1;
                    }
                    re.push_str(".*");
                }
                '?' => re.push('.'),
                '[' => {
                    let mut j = i;
                    if chars.get(j) == Some(&'!') {
                        j += 1;
                    }
                    if chars.get(j) == Some(&']') {
                        j += 1;
                    }
                    while j < chars.len() && chars[j] != ']' {
                        j += 1;
                    }
                    if j >= chars.len() {
                        re.push_str("\\[");
                        continue;
                    }
                    let class = &chars[i..j];
                    i = j + 1;
                    re.push('[');
                    let mut rest = class;
                    if let Some(('!', tail)) = rest.split_first() {
                        re.push('^');
                        rest = tail;
                    }
                    for &k in rest {
                        match k {
                            '-' => re.push('-'),
                            k if k.is_alphanumeric() || k == '_' => re.push(k),
                            k => {
                                re.push('\\');
                                re.push(k);
                            }
                        }
                    }
                    re.push(']');
                }
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        Regex::new(&re).map(Pattern).map_err(|e| PatternError {
            pattern: pattern.to_string(),
            reason: e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string(),
        })
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(p: &str, name: &str) -> bool {
        Pattern::new(p).unwrap().matches(name)
    }

    #[test]
    fn like_python_fnmatch() {
        // Checked with Python 3.11's fnmatch.fnmatchcase.
        assert!(m("*.png", "a.png"));
        assert!(m("*.png", "sub/dir/a.png"));
        assert!(!m("*.png", "a.png.txt"));
        assert!(m("**/*.py", "a/b.py"));
        assert!(!m("**/*.py", "b.py"));
        assert!(m("log.???", "log.txt"));
        assert!(m("[ab].txt", "a.txt"));
        assert!(!m("[!ab].txt", "a.txt"));
        assert!(m("[!ab].txt", "c.txt"));
        assert!(m("[a-c]", "b"));
        assert!(m("[]]", "]"));
        assert!(m("a[", "a["));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(!m("*.PNG", "a.png"));
        assert!(m("[&&]", "&"));
        assert!(m("*", ""));
        assert!(Pattern::new("[z-a]").is_err());
    }
}
