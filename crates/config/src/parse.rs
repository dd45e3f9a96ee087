//! Raw INI reading: text → `key = value` entries of section `[general]`.
//!
//! This layer knows nothing about option types; it only applies VoIPmonitor's (SimpleIni's)
//! line rules. Typed resolution happens in `options`.

use std::path::Path;

use crate::error::{ConfigError, Location, Warning};

/// One `key = value` line of section `[general]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    /// Option name, trimmed and ASCII-lowercased.
    pub(crate) key: String,
    /// Value, trimmed, trailing ` #` comment removed.
    pub(crate) value: String,
    /// 1-based line number.
    pub(crate) line: usize,
}

/// The `[general]` entries of a file in file order, plus warnings about ignored sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawFile {
    pub(crate) entries: Vec<RawEntry>,
    pub(crate) warnings: Vec<Warning>,
}

/// Splits `text` into entries. The reference prepends `[general]` to the file, so keys before
/// any header belong to it; keys of other sections are dropped with one warning per header.
pub(crate) fn parse_ini(text: &str, origin: &Path) -> Result<RawFile, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = RawFile::default();
    let mut in_general = true;
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let syntax = |message: &str| ConfigError::Syntax {
            file: origin.to_path_buf(),
            line: line_no,
            message: message.to_owned(),
        };
        let line = raw_line.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some((name, after)) = rest.split_once(']') else {
                return Err(syntax("unterminated section header (missing ']')"));
            };
            let after = after.trim_start();
            if !(after.is_empty() || after.starts_with(';') || after.starts_with('#')) {
                return Err(syntax("unexpected text after section header"));
            }
            let name = name.trim();
            in_general = name.eq_ignore_ascii_case("general");
            if !in_general {
                out.warnings.push(Warning {
                    location: Location::File {
                        path: origin.to_path_buf(),
                        line: line_no,
                    },
                    key: None,
                    message: format!(
                        "section [{name}] is ignored: only [general] is read, \
                         options up to the next [general] header have no effect"
                    ),
                });
            }
            continue;
        }
        // Do not echo the line: it may hold a password written without '='.
        let Some((key, value)) = line.split_once('=') else {
            return Err(syntax(
                "expected \"key = value\", a [section] header or a comment (starting with ';' or '#')",
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(syntax("missing option name before '='"));
        }
        if in_general {
            out.entries.push(RawEntry {
                key: key.to_ascii_lowercase(),
                value: strip_trailing_comment(value).trim().to_owned(),
                line: line_no,
            });
        }
    }
    Ok(out)
}

/// Cuts a value at the first `#` preceded by whitespace; `;` never starts a comment in a value.
fn strip_trailing_comment(value: &str) -> &str {
    let mut prev_is_space = false;
    for (i, c) in value.char_indices() {
        if c == '#' && prev_is_space {
            return value.get(..i).unwrap_or(value);
        }
        prev_is_space = c == ' ' || c == '\t';
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RawFile {
        match parse_ini(text, Path::new("/etc/t.conf")) {
            Ok(f) => f,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn pairs(f: &RawFile) -> Vec<(&str, &str, usize)> {
        f.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn comments_blank_lines_and_trimming() {
        let f = parse("; comment\n  # also\n\n   Key  =   value with spaces   \nb=c\n");
        assert_eq!(
            pairs(&f),
            vec![("key", "value with spaces", 4), ("b", "c", 5)]
        );
        assert!(f.warnings.is_empty());
    }

    #[test]
    fn trailing_hash_comment_needs_whitespace_before_it() {
        let f =
            parse("a = 5029 # x\nb = 5029\t# tab\nc = pass#word\nd = x;y ; z\ne = # all comment\n");
        assert_eq!(
            pairs(&f),
            vec![
                ("a", "5029", 1),
                ("b", "5029", 2),
                ("c", "pass#word", 3),
                ("d", "x;y ; z", 4),
                ("e", "", 5)
            ]
        );
    }

    #[test]
    fn value_may_contain_equals_sign() {
        let f = parse("filter = udp and port=5060\nk==v\n");
        assert_eq!(
            pairs(&f),
            vec![("filter", "udp and port=5060", 1), ("k", "=v", 2)]
        );
    }

    #[test]
    fn crlf_and_bom() {
        let f = parse("\u{feff}[general]\r\nManagerPort = 5029\r\nb = 1\r\n");
        assert_eq!(pairs(&f), vec![("managerport", "5029", 2), ("b", "1", 3)]);
    }

    #[test]
    fn only_general_section_is_read() {
        let f =
            parse("a = 1\n[other]\nb = 2\n[GENERAL]\nc = 3\n[x] ; note\nd = 4\n[general]\ne = 5\n");
        assert_eq!(pairs(&f), vec![("a", "1", 1), ("c", "3", 5), ("e", "5", 9)]);
        assert_eq!(f.warnings.len(), 2);
        assert_eq!(
            f.warnings
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            "/etc/t.conf:2: section [other] is ignored: only [general] is read, options up to \
             the next [general] header have no effect"
        );
        assert!(
            f.warnings
                .get(1)
                .is_some_and(|w| w.to_string().starts_with("/etc/t.conf:6:"))
        );
    }

    #[test]
    fn line_without_equals_is_an_error_naming_file_and_line() {
        let err = parse_ini("a = 1\n\nmysqlpassword secret\n", Path::new("/etc/t.conf")).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("/etc/t.conf:3: "), "{msg}");
        assert!(!msg.contains("secret"), "must not echo the line: {msg}");
    }

    #[test]
    fn bad_headers_and_empty_keys() {
        for text in ["[general\n", "[general] x\n", " = value\n"] {
            let err = parse_ini(text, Path::new("f")).err();
            assert!(
                matches!(err, Some(ConfigError::Syntax { line: 1, .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn empty_input() {
        assert_eq!(parse(""), RawFile::default());
        assert_eq!(parse("\u{feff}"), RawFile::default());
    }
}
