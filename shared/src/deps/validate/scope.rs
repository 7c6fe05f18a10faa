//! What validation carries along: the resolved references, and every problem found so far
//! (validation goes on after a problem, so `botgate config check` lists them all).

use crate::config::{Flag, Located, Num, Problem, ProblemKind, Resolved, Text};

/// A string value with its references resolved.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The value (as written, when `deferred`).
    pub value: String,
    /// A reference in it was not resolved (syntax-only checks): do not check its format.
    pub deferred: bool,
    /// Its line.
    pub line: usize,
}

/// Validation state.
pub(crate) struct Scope<'r> {
    refs: &'r Resolved,
    problems: Vec<Problem>,
    /// The name of the rule being validated (`rules[i]` paths say it).
    pub rule: Option<String>,
}

impl<'r> Scope<'r> {
    /// A scope over resolved references.
    pub fn new(refs: &'r Resolved) -> Self {
        Self {
            refs,
            problems: Vec::new(),
            rule: None,
        }
    }

    /// The references.
    pub fn refs(&self) -> &Resolved {
        self.refs
    }

    /// Records a problem with the value at `path` (written on `line`).
    pub fn invalid(&mut self, path: &str, line: usize, what: impl Into<String>) {
        self.problems.push(Problem::new(
            ProblemKind::Invalid,
            path,
            line,
            what,
            self.rule.as_deref(),
        ));
    }

    /// The problems found, in file order.
    pub fn into_problems(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|p| p.line);
        self.problems
    }

    /// True when no problem was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// A string with its references resolved.
    pub fn text(&self, t: &Text) -> Field {
        let (value, deferred) = self.refs.substitute(&t.value);
        Field {
            value,
            deferred,
            line: t.line,
        }
    }

    /// An optional string, resolved; empty counts as absent.
    pub fn opt(&self, t: Option<&Text>) -> Option<Field> {
        t.map(|t| self.text(t)).filter(|r| !r.value.trim().is_empty())
    }

    /// Checks an outbound URL (unless a reference in it was not resolved); true when usable.
    pub fn url(&mut self, path: &str, u: &Field) -> bool {
        if u.deferred {
            return true;
        }
        match crate::delivery::endpoint::check(&u.value) {
            Ok(_) => true,
            Err(why) => {
                self.invalid(path, u.line, why);
                false
            }
        }
    }

    /// A whole number; a problem (and `None`) when it is not one. `None` too when a
    /// reference in it was not resolved.
    pub fn num(&mut self, path: &str, n: &Located<Num>) -> Option<u64> {
        let text = match &n.value {
            Num::Int(v) => return Some(*v),
            Num::Text(t) => t,
        };
        let (value, deferred) = self.refs.substitute(text);
        if deferred {
            return None;
        }
        match value.trim().parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.invalid(path, n.line, "must be a whole number");
                None
            }
        }
    }

    /// A whole number within `min..=max`, or a problem naming the range.
    pub fn num_in(&mut self, path: &str, n: &Located<Num>, min: u64, max: u64) -> Option<u64> {
        let v = self.num(path, n)?;
        if v < min || v > max {
            self.invalid(path, n.line, format!("must be between {min} and {max}"));
            return None;
        }
        Some(v)
    }

    /// True or false; a problem (and `None`) otherwise.
    pub fn flag(&mut self, path: &str, f: &Located<Flag>) -> Option<bool> {
        let text = match &f.value {
            Flag::Bool(b) => return Some(*b),
            Flag::Text(t) => t,
        };
        let (value, deferred) = self.refs.substitute(text);
        if deferred {
            return None;
        }
        match value.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.invalid(path, f.line, "must be true or false");
                None
            }
        }
    }
}
