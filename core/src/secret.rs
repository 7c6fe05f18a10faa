//! A string that must never be printed (`Debug` and `Display` show `***`), and the removal
//! of values from deserialization errors (serde quotes the value it could not use).

use serde::Deserialize;

/// A secret value from configuration (keys, tokens, app secrets).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the code that has to use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty or only white space.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A serde error message with the values it quotes removed: `invalid type: integer
/// `84736251`, expected a string` becomes `invalid type: integer, expected a string`. Field
/// and variant names stay (they are the configuration's words, not its values).
pub fn redact_serde_error(message: &str) -> String {
    const KINDS: [&str; 5] = ["boolean", "integer", "floating point", "character", "string"];
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    'scan: while !rest.is_empty() {
        for kind in KINDS {
            for quote in ['`', '"', '\''] {
                let prefix = format!("{kind} {quote}");
                if let Some(after) = rest.strip_prefix(prefix.as_str()) {
                    out.push_str(kind);
                    rest = skip_quoted(after, quote);
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// The text after the closing `quote` (a backslash escapes the next character).
fn skip_quoted(s: &str, quote: char) -> &str {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            c if c == quote && !escaped => return &s[i + c.len_utf8()..],
            _ => escaped = false,
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn serde_errors_lose_their_values() {
        assert_eq!(
            redact_serde_error("invalid type: integer `84736251`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            redact_serde_error(r#"invalid value: string "s3cr\"et", expected a URL at line 3"#),
            "invalid value: string, expected a URL at line 3"
        );
        assert_eq!(
            redact_serde_error("unknown field `tokn`, expected one of `token`"),
            "unknown field `tokn`, expected one of `token`"
        );
        assert_eq!(
            redact_serde_error("invalid type: boolean `true`, expected 字符"),
            "invalid type: boolean, expected 字符"
        );
    }
}
