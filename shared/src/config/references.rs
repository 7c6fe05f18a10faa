//! `${kind:argument}` references in string values: `${env:NAME}`, `${ssm:/parameter/name}`
//! (SecureString decrypted), `${secretsmanager:secret-id}` and
//! `${secretsmanager:secret-id#json_key}`. Found in the file, checked for syntax, resolved
//! once each and concurrently, then substituted where they are written.

use std::collections::HashMap;

use serde_json::Value;

use super::error::{Problem, ProblemKind};

/// The reference kinds botgate knows.
pub const KINDS: [&str; 3] = ["env", "ssm", "secretsmanager"];

/// Resolves `${kind:arg}` references.
#[async_trait::async_trait]
pub trait Resolver: Send + Sync {
    /// The value of one reference, or why not.
    async fn resolve(&self, kind: &str, argument: &str) -> Result<String, String>;
}

/// Resolves `${env:NAME}` only; other kinds are refused with a hint.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvResolver;

#[async_trait::async_trait]
impl Resolver for EnvResolver {
    async fn resolve(&self, kind: &str, argument: &str) -> Result<String, String> {
        resolve_env(kind, argument)
    }
}

/// The `env` kind, shared by every resolver.
pub fn resolve_env(kind: &str, argument: &str) -> Result<String, String> {
    match kind {
        "env" => std::env::var(argument).map_err(|_| format!("environment variable {argument} is not set")),
        other => Err(format!(
            "references of kind `{other}` need AWS (run with the dynamodb/sqs backends, or use ${{env:...}} locally)"
        )),
    }
}

/// One reference in a string: its byte range, kind and argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference<'a> {
    /// Where it starts (at `$`).
    pub start: usize,
    /// Where it ends (after `}`).
    pub end: usize,
    /// `env`, `ssm` or `secretsmanager`.
    pub kind: &'a str,
    /// What follows the colon.
    pub argument: &'a str,
}

impl Reference<'_> {
    /// The reference as written: `${kind:argument}`.
    pub fn text(&self) -> String {
        format!("${{{}:{}}}", self.kind, self.argument)
    }
}

/// The references in `text`, or what is wrong with one. `${...}` without a colon is not a
/// reference and stays as written.
pub fn find(text: &str) -> Result<Vec<Reference<'_>>, String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("${").map(|i| i + from) {
        let Some(end) = text[start..].find('}').map(|i| i + start) else {
            if text[start + 2..].contains(':') {
                return Err("a `${` reference is not closed with `}`".into());
            }
            break;
        };
        let inner = &text[start + 2..end];
        if let Some((kind, argument)) = inner.split_once(':') {
            if !KINDS.contains(&kind) {
                return Err(format!(
                    "unknown reference kind `{kind}` (use ${{env:NAME}}, ${{ssm:/name}} or ${{secretsmanager:id#key}})"
                ));
            }
            if argument.trim().is_empty() {
                return Err(format!("the reference ${{{kind}:}} names nothing"));
            }
            out.push(Reference {
                start,
                end: end + 1,
                kind,
                argument,
            });
        }
        from = end + 1;
    }
    Ok(out)
}

/// Every string of a parsed YAML tree with its dotted path.
fn strings<'v>(value: &'v Value, path: String, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                strings(item, p, out);
            }
        }
        _ => {}
    }
}

/// How references are handled.
#[derive(Clone, Copy)]
pub enum Mode<'r> {
    /// Resolve them (a reference that cannot be resolved is an error).
    Resolve(&'r dyn Resolver),
    /// Check their syntax only; the fields that hold one are not checked further
    /// (`botgate config check` without `--resolve`).
    SyntaxOnly,
}

/// The references of a configuration, resolved (or deferred).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    values: HashMap<String, String>,
    deferred: bool,
}

impl Resolved {
    /// A digest of every resolved value: equal digests, equal values (a rotated secret
    /// changes it). Never log the values; the digest says nothing about them.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut keys: Vec<(&String, &String)> = self.values.iter().collect();
        keys.sort();
        let mut h = sha2::Sha256::new();
        for (k, v) in keys {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        h.finalize().into()
    }

    /// Finds every reference in `tree` (the file parsed as plain YAML), checks its syntax,
    /// and resolves each distinct one once, all concurrently. Problems name the path.
    pub async fn collect(tree: &Value, mode: Mode<'_>) -> Result<Self, Vec<Problem>> {
        let mut leaves = Vec::new();
        strings(tree, String::new(), &mut leaves);
        let mut problems = Vec::new();
        let mut wanted: Vec<(String, String, String, String)> = Vec::new();
        for (path, s) in &leaves {
            match find(s) {
                Ok(refs) => {
                    for r in refs {
                        let text = r.text();
                        if !wanted.iter().any(|(_, t, _, _)| *t == text) {
                            wanted.push((path.clone(), text, r.kind.to_owned(), r.argument.to_owned()));
                        }
                    }
                }
                Err(why) => problems.push(Problem::new(ProblemKind::Invalid, path, 0, why, None)),
            }
        }
        let resolver = match mode {
            Mode::Resolve(r) => r,
            Mode::SyntaxOnly => {
                return if problems.is_empty() {
                    Ok(Self {
                        values: HashMap::new(),
                        deferred: true,
                    })
                } else {
                    Err(problems)
                };
            }
        };
        let results =
            futures::future::join_all(wanted.iter().map(|(_, _, kind, arg)| resolver.resolve(kind, arg))).await;
        let mut values = HashMap::new();
        for ((path, text, _, _), result) in wanted.into_iter().zip(results) {
            match result {
                Ok(v) => {
                    values.insert(text, v);
                }
                Err(why) => problems.push(Problem::new(ProblemKind::Reference(text), &path, 0, why, None)),
            }
        }
        if problems.is_empty() {
            Ok(Self {
                values,
                deferred: false,
            })
        } else {
            Err(problems)
        }
    }

    /// `text` with its references replaced by their values, and whether a reference was left
    /// unresolved (syntax-only checks: then the text is returned as written).
    pub fn substitute(&self, text: &str) -> (String, bool) {
        let Ok(refs) = find(text) else {
            return (text.to_owned(), self.deferred);
        };
        if refs.is_empty() {
            return (text.to_owned(), false);
        }
        if self.deferred {
            return (text.to_owned(), true);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for r in refs {
            out.push_str(&text[last..r.start]);
            match self.values.get(&r.text()) {
                Some(v) => out.push_str(v),
                None => return (text.to_owned(), true),
            }
            last = r.end;
        }
        out.push_str(&text[last..]);
        (out, false)
    }

    /// Replaces references in every string of `value` (template data).
    pub fn substitute_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.substitute(s).0,
            Value::Array(items) => items.iter_mut().for_each(|v| self.substitute_value(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.substitute_value(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_and_refuses_bad_ones() {
        let r = find("pre-${env:A}-${ssm:/x/y}").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].kind, r[0].argument, r[1].text()),
            ("env", "A", "${ssm:/x/y}".to_owned())
        );
        assert!(find("${vault:x}").unwrap_err().contains("vault"));
        assert!(find("${env:A").unwrap_err().contains("not closed"));
        assert!(find("${env:}").is_err());
        assert!(find("jinja ${x} and ${ y }").unwrap().is_empty());
    }
}
