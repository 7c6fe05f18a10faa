//! Configuration errors: each problem names where it is (the bot, target, rule or field, and
//! the line) and what is wrong, never a value.

use std::fmt;

use thiserror::Error;

/// What kind of problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file could not be read.
    Read,
    /// The text is not YAML of the configuration's shape (a misspelt key, a wrong type).
    Syntax,
    /// A value is not usable (a bad key, a missing field, a template that does not compile).
    Invalid,
    /// A `${kind:arg}` reference could not be resolved; holds the reference.
    Reference(String),
}

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its kind.
    pub kind: ProblemKind,
    /// The dotted path of the field (`bots.ops.encrypt_key`, `rules[2].when.regex`); for a
    /// file that cannot be read, the file.
    pub path: String,
    /// The line in the file, from 1; 0 when unknown.
    pub line: usize,
    /// What is wrong (never a value).
    pub what: String,
    /// How the path reads to a person: "bot `ops`: `encrypt_key`", "rules[2] (deploy): `when.regex`".
    pub subject: String,
}

impl Problem {
    /// A problem at `path` (line 0 when unknown); `rule_name` names the rule a `rules[i]` path is in.
    pub fn new(kind: ProblemKind, path: &str, line: usize, what: impl Into<String>, rule_name: Option<&str>) -> Self {
        Self {
            subject: subject(path, rule_name),
            kind,
            path: path.to_owned(),
            line,
            what: what.into(),
        }
    }
}

/// "bot `ops`: `encrypt_key`" for `bots.ops.encrypt_key`, and so on.
fn subject(path: &str, rule_name: Option<&str>) -> String {
    let field = |rest: &str| {
        if rest.is_empty() {
            String::new()
        } else {
            format!(": `{rest}`")
        }
    };
    for (section, noun) in [
        ("bots.", "bot"),
        ("targets.", "target"),
        ("notifications.", "notification"),
    ] {
        if let Some(rest) = path.strip_prefix(section) {
            let (name, rest) = rest.split_once('.').unwrap_or((rest, ""));
            return format!("{noun} `{name}`{}", field(rest));
        }
    }
    if let Some(rest) = path.strip_prefix("rules[")
        && let Some((index, rest)) = rest.split_once(']')
    {
        let rest = rest.trim_start_matches('.');
        return match rule_name {
            Some(name) => format!("rules[{index}] ({name}){}", field(rest)),
            None => format!("rules[{index}]{}", field(rest)),
        };
    }
    if path.is_empty() {
        "configuration".to_owned()
    } else {
        format!("`{path}`")
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::Read => write!(f, "cannot read configuration {}: {}", self.path, self.what),
            ProblemKind::Reference(reference) => {
                write!(f, "{}: cannot resolve {reference}: {}", self.path, self.what)
            }
            ProblemKind::Syntax | ProblemKind::Invalid => {
                f.write_str(&self.subject)?;
                if self.line > 0 {
                    write!(f, " (line {})", self.line)?;
                }
                write!(f, ": {}", self.what)
            }
        }
    }
}

/// Why a configuration cannot be used: every problem found, in file order where known.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<Problem>,
}

impl ConfigError {
    /// One problem.
    pub fn one(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    /// Several problems (at least one).
    pub fn many(problems: Vec<Problem>) -> Self {
        Self { problems }
    }

    /// The problems.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_like_the_file() {
        let p = Problem::new(ProblemKind::Invalid, "bots.wc.encoding_aes_key", 5, "too short", None);
        assert_eq!(p.to_string(), "bot `wc`: `encoding_aes_key` (line 5): too short");
        let p = Problem::new(ProblemKind::Invalid, "rules[0].when.regex", 2, "bad", Some("x"));
        assert_eq!(p.to_string(), "rules[0] (x): `when.regex` (line 2): bad");
        let p = Problem::new(ProblemKind::Syntax, "gateway.queue", 0, "bad", None);
        assert_eq!(p.to_string(), "`gateway.queue`: bad");
        let p = Problem::new(ProblemKind::Syntax, "", 1, "not a map", None);
        assert_eq!(p.to_string(), "configuration (line 1): not a map");
    }
}
