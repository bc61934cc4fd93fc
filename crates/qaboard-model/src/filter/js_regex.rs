//! JavaScript regular expressions (`new RegExp(token)`, no flags) run with
//! the `regex` crate.
//!
//! The pattern is rewritten so that the `regex` crate gives JavaScript's
//! answer (ECMAScript 2020 with the web-compatibility Annex B, which
//! browsers implement):
//!
//! * `\d`, `\w`, `\b` are ASCII-only in JavaScript (Unicode in `regex`), and
//!   `\s` is JavaScript's white space (with U+FEFF, without U+0085);
//! * `.` excludes `\n`, `\r`, U+2028 and U+2029 (only `\n` in `regex`);
//! * `{` or `}` that do not form a quantifier, a `]` outside a class, a `[`,
//!   `&`, `~` or doubled `-` inside a class are literals;
//! * `[]` matches nothing and `[^]` matches any character;
//! * unknown escapes of letters (`\e`, `\p`, `\z`) are the letter itself;
//!   `\cX`, `\0`, `\xHH`, `\uHHHH` are character escapes;
//! * `(?i)`, `(?P<n>…)` and other `(?` forms JavaScript rejects are errors.
//!
//! Constructs JavaScript accepts but `regex` cannot run (look-around,
//! back-references, legacy octal escapes, lone surrogates, patterns over
//! the compiled size limit) make [`translate`] return
//! [`JsRegexError::Unsupported`]. Known remaining difference: JavaScript
//! matches UTF-16 code units, so a `.` matches half of a character outside
//! the Basic Multilingual Plane where `regex` matches the whole character.

use regex::Regex;

/// Why a JavaScript pattern was not translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsRegexError {
    /// JavaScript itself throws a `SyntaxError` for this pattern.
    Invalid,
    /// Valid JavaScript the `regex` crate cannot express.
    Unsupported,
}

const WORD: &str = "0-9A-Za-z_";
/// JavaScript's `\s`: WhiteSpace and LineTerminator code points. Unlike the
/// Unicode `White_Space` of `regex`, it has U+FEFF and lacks U+0085.
const SPACE: &str = r"\t\n\x{B}\x{C}\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";
const ANY_BUT_LINE_TERMINATORS: &str = r"[^\n\r\u{2028}\u{2029}]";

/// Compiles a JavaScript pattern, or tells why it cannot be.
pub fn compile(pattern: &str) -> Result<Regex, JsRegexError> {
    let translated = translate(pattern)?;
    Regex::new(&translated).map_err(|e| match e {
        regex::Error::CompiledTooBig(_) => JsRegexError::Unsupported,
        // The translation only lets through what JavaScript accepts, so a
        // parse error here is a syntax error in JavaScript too (`a**`, `(`).
        _ => JsRegexError::Invalid,
    })
}

/// Rewrites a JavaScript pattern into `regex` crate syntax.
pub fn translate(pattern: &str) -> Result<String, JsRegexError> {
    let chars: Vec<char> = pattern.chars().collect();
    let has_named_groups = pattern.contains("(?<");
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut i = 0;
    let mut in_class = false;
    let mut prev_class_char: Option<char> = None;
    // What a quantifier would apply to (JavaScript rejects `a**`, `^*`, `(*`).
    let mut last = Last::Nothing;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_class {
            match c {
                ']' => {
                    out.push(']');
                    in_class = false;
                }
                '\\' => {
                    let e = *chars.get(i).ok_or(JsRegexError::Invalid)?;
                    i += 1;
                    i += class_escape(&chars, i, e, &mut out, has_named_groups)?;
                }
                '[' | '&' | '~' | '^' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if prev_class_char == Some('-') => out.push_str("\\-"),
                _ => out.push(c),
            }
            prev_class_char = Some(c);
            if !in_class {
                last = Last::Atom;
            }
            continue;
        }
        let before = last;
        last = Last::Atom;
        match c {
            '\\' => {
                let e = *chars.get(i).ok_or(JsRegexError::Invalid)?;
                i += 1;
                if matches!(e, 'b' | 'B') {
                    last = Last::Nothing;
                }
                i += atom_escape(&chars, i, e, &mut out, has_named_groups)?;
            }
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    i += 1;
                    // `[]` never matches, `[^]` matches anything.
                    out.push_str(if negated {
                        r"[\x{0}-\x{10FFFF}]"
                    } else {
                        r"[^\x{0}-\x{10FFFF}]"
                    });
                } else {
                    out.push_str(if negated { "[^" } else { "[" });
                    in_class = true;
                    prev_class_char = None;
                }
            }
            '.' => out.push_str(ANY_BUT_LINE_TERMINATORS),
            '*' | '+' | '?' => {
                last = match (before, c) {
                    (Last::Atom, _) => Last::Quantifier,
                    (Last::Quantifier, '?') => Last::Lazy,
                    _ => return Err(JsRegexError::Invalid),
                };
                out.push(c);
            }
            '^' | '$' | '|' => {
                last = Last::Nothing;
                out.push(c);
            }
            '{' => match quantifier_len(&chars[i..]) {
                Some(len) => {
                    if before != Last::Atom {
                        return Err(JsRegexError::Invalid);
                    }
                    last = Last::Quantifier;
                    out.push('{');
                    out.extend(&chars[i..i + len]);
                    i += len;
                }
                None => out.push_str("\\{"),
            },
            '}' => out.push_str("\\}"),
            ']' => out.push_str("\\]"),
            '(' if chars.get(i) == Some(&'?') => {
                last = Last::Nothing;
                i += 1;
                match (chars.get(i), chars.get(i + 1)) {
                    (Some(':'), _) => {
                        out.push_str("(?:");
                        i += 1;
                    }
                    (Some('=' | '!'), _) | (Some('<'), Some('=' | '!')) => {
                        return Err(JsRegexError::Unsupported)
                    }
                    (Some('<'), _) => {
                        let rest: String = chars[i + 1..].iter().collect();
                        let end = rest.find('>').ok_or(JsRegexError::Invalid)?;
                        let name = &rest[..end];
                        if !is_js_group_name(name) {
                            return Err(JsRegexError::Invalid);
                        }
                        if name.contains('$') {
                            return Err(JsRegexError::Unsupported);
                        }
                        out.push_str("(?<");
                        out.push_str(name);
                        out.push('>');
                        i += 1 + name.chars().count() + 1;
                    }
                    _ => return Err(JsRegexError::Invalid),
                }
            }
            '(' => {
                last = Last::Nothing;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if in_class {
        return Err(JsRegexError::Invalid);
    }
    Ok(out)
}

/// What the previous piece of a pattern was, for quantifier checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start, `(`, `|`, or an assertion: nothing to repeat.
    Nothing,
    /// Something a quantifier may follow.
    Atom,
    /// A quantifier; only a lazy `?` may follow.
    Quantifier,
    /// A lazy quantifier.
    Lazy,
}

/// Length of `n}`, `n,}` or `n,m}` at the start of `rest` (after a `{`).
fn quantifier_len(rest: &[char]) -> Option<usize> {
    let digits = |from: usize| {
        rest[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let a = digits(0);
    if a == 0 {
        return None;
    }
    match rest.get(a) {
        Some('}') => Some(a + 1),
        Some(',') => {
            let b = digits(a + 1);
            (rest.get(a + 1 + b) == Some(&'}')).then_some(a + 1 + b + 1)
        }
        _ => None,
    }
}

fn is_js_group_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Escapes common to atoms and classes; returns how many extra characters
/// were consumed, or `None` when the escape is not one of them.
fn character_escape(
    chars: &[char],
    at: usize,
    e: char,
    out: &mut String,
    has_named_groups: bool,
) -> Result<Option<usize>, JsRegexError> {
    let hex = |n: usize| -> Option<u32> {
        let s: String = chars.get(at..at + n)?.iter().collect();
        (s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(&s, 16).ok())
            .flatten()
    };
    let push_code = |out: &mut String, code: u32| {
        out.push_str(&format!("\\x{{{code:X}}}"));
    };
    Ok(Some(match e {
        't' | 'n' | 'r' | 'f' | 'v' => {
            out.push('\\');
            out.push(e);
            0
        }
        '0' if !chars.get(at).is_some_and(char::is_ascii_digit) => {
            out.push_str("\\x{0}");
            0
        }
        '0'..='9' => return Err(JsRegexError::Unsupported),
        'c' => match chars.get(at) {
            Some(l) if l.is_ascii_alphabetic() => {
                push_code(out, (*l as u32) % 32);
                1
            }
            _ => {
                out.push_str("\\\\c");
                0
            }
        },
        'x' => match hex(2) {
            Some(code) => {
                push_code(out, code);
                2
            }
            None => {
                out.push('x');
                0
            }
        },
        'u' => match hex(4) {
            Some(high @ 0xD800..=0xDBFF) => {
                let low = (chars.get(at + 4) == Some(&'\\') && chars.get(at + 5) == Some(&'u'))
                    .then(|| hex_at(chars, at + 6))
                    .flatten()
                    .filter(|l| (0xDC00..=0xDFFF).contains(l))
                    .ok_or(JsRegexError::Unsupported)?;
                push_code(out, 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00));
                10
            }
            Some(0xDC00..=0xDFFF) => return Err(JsRegexError::Unsupported),
            Some(code) => {
                push_code(out, code);
                4
            }
            None => {
                out.push('u');
                0
            }
        },
        'k' if has_named_groups => return Err(JsRegexError::Unsupported),
        _ => return Ok(None),
    }))
}

fn hex_at(chars: &[char], at: usize) -> Option<u32> {
    let s: String = chars.get(at..at + 4)?.iter().collect();
    s.chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| u32::from_str_radix(&s, 16).ok())
        .flatten()
}

/// Identity escape: letters and digits stand for themselves, anything else
/// is escaped for `regex` when it is a meta character.
fn identity(out: &mut String, e: char) {
    if e.is_alphanumeric() {
        out.push(e);
    } else {
        out.push_str(&regex::escape(&e.to_string()));
    }
}

fn atom_escape(
    chars: &[char],
    at: usize,
    e: char,
    out: &mut String,
    named: bool,
) -> Result<usize, JsRegexError> {
    match e {
        'd' => out.push_str("[0-9]"),
        'D' => out.push_str("[^0-9]"),
        'w' => out.push_str(&format!("[{WORD}]")),
        'W' => out.push_str(&format!("[^{WORD}]")),
        's' => out.push_str(&format!("[{SPACE}]")),
        'S' => out.push_str(&format!("[^{SPACE}]")),
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        _ => {
            return Ok(match character_escape(chars, at, e, out, named)? {
                Some(n) => n,
                None => {
                    identity(out, e);
                    0
                }
            })
        }
    }
    Ok(0)
}

fn class_escape(
    chars: &[char],
    at: usize,
    e: char,
    out: &mut String,
    named: bool,
) -> Result<usize, JsRegexError> {
    match e {
        'd' => out.push_str("0-9"),
        'D' => out.push_str("[^0-9]"),
        'w' => out.push_str(WORD),
        'W' => out.push_str(&format!("[^{WORD}]")),
        's' => out.push_str(SPACE),
        'S' => out.push_str(&format!("[^{SPACE}]")),
        'b' => out.push_str(r"\x{8}"),
        '-' => out.push_str(r"\-"),
        _ => {
            return Ok(match character_escape(chars, at, e, out, named)? {
                Some(n) => n,
                None => {
                    identity(out, e);
                    0
                }
            })
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        compile(pattern).unwrap().is_match(text)
    }

    #[test]
    fn word_and_digit_classes_are_ascii() {
        assert!(!m(r"^\w$", "é"));
        assert!(m(r"^\w$", "_"));
        assert!(!m(r"\d", "٣"));
        assert!(m(r"[\w.]+x", "a.bx"));
        assert!(m(r"\bfoo\b", "é foo"));
    }

    #[test]
    fn dot_skips_line_terminators() {
        assert!(!m("a.b", "a\rb"));
        assert!(m("a.b", "a-b"));
    }

    #[test]
    fn literal_braces_and_brackets() {
        assert!(m("a{", "a{"));
        assert!(m("{x}", "{x}"));
        assert!(m("a{2}", "aa"));
        assert!(!m("^a{2}$", "a"));
        assert!(m("a]", "a]"));
        assert!(m("[[]", "["));
        assert!(m("[a&&b]", "&"));
        assert!(!m("x[]", "x"));
        assert!(m("x[^]", "x\n"));
    }

    #[test]
    fn escapes() {
        assert!(m(r"\e", "e"));
        assert!(m(r"\x41", "A"));
        assert!(m(r"\xz", "xz"));
        assert!(m(r"\u00e9", "é"));
        assert!(m(r"\ud83d\ude00", "😀"));
        assert!(m(r"\ca", "\u{1}"));
        assert!(m(r"\0", "\0"));
        assert!(m(r"\.", "."));
        assert!(!m(r"\.", "a"));
        assert!(m(r"[\b]", "\u{8}"));
        assert!(m(r"a\-b\/c\<", "a-b/c<"));
        assert!(m(r"[\d-z]+$", "1-z"));
        assert!(m(r"[a-]", "-"));
        assert!(m(r"a\sb", "a\u{feff}b") && !m(r"a\sb", "a\u{85}b"));
        assert!(m(r"a[\s]b", "a\u{3000}b") && m(r"a\Sb", "a\u{85}b"));
        assert!(m(r"[\S]", "x") && !m(r"^[\S]$", " "));
        assert!(m("a{,5}", "a{,5}"));
    }

    #[test]
    fn errors() {
        assert_eq!(compile("(?i)a").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("a**").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("[ab").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("(").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("a\\").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("a(?=b)").unwrap_err(), JsRegexError::Unsupported);
        assert_eq!(compile(r"(a)\1").unwrap_err(), JsRegexError::Unsupported);
        assert_eq!(compile("^*").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("(+a)").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("a|*").unwrap_err(), JsRegexError::Invalid);
        assert_eq!(compile("{2}").unwrap_err(), JsRegexError::Invalid);
        assert!(m("(?<n>a)b|(?:c)", "ab"));
        assert!(m("^a+?b*?c??(d)*$", "aacd"));
        assert!(m("a{1,}?", "a"));
    }
}
