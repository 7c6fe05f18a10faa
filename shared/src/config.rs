//! The configuration file: one YAML document, read into a typed tree ([`ConfigFile`]) that
//! refuses unknown keys and wrong types with the field's path and line, and whose strings
//! may hold references, resolved once per load (once per cold start, and on each reload):
//! `${env:NAME}`, `${ssm:/parameter/name}` (SecureString decrypted),
//! `${secretsmanager:secret-id}` and `${secretsmanager:secret-id#json_key}`.
//!
//! This module only reads: it depends on nothing above it. Turning the tree into the
//! running objects (checking credentials, compiling rules and templates) is the job of
//! [`crate::deps`], the composition root. The JSON Schema of the file (`botgate.schema.json`,
//! `botgate config schema`) is generated from these types.

mod error;
pub mod file;
pub mod leaf;
mod references;

use std::path::Path;

pub use error::{ConfigError, Problem, ProblemKind};
pub use file::{ConfigFile, QueueKind, StoreKind};
pub use leaf::{Flag, Located, Num, OneOrMany, Scalar, Text};
pub use references::{EnvResolver, KINDS, Mode, Reference, Resolved, Resolver, find as find_references, resolve_env};

/// The text of a configuration file, or a `Read` problem naming it.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::one(Problem::new(
            ProblemKind::Read,
            &path.display().to_string(),
            0,
            e.to_string(),
            None,
        ))
    })
}

/// Options for reading YAML: no source snippets in errors (a snippet would quote a line of
/// the file, secrets included).
fn yaml_options() -> serde_saphyr::Options {
    let mut o = serde_saphyr::Options::default();
    o.with_snippet = false;
    o
}

/// A deserialization error as a problem: the path and line, and the message without the
/// value it may quote.
fn syntax_problem(path: Option<String>, e: &serde_saphyr::Error) -> Problem {
    let line = e.location().map_or(0, |l| usize::try_from(l.line()).unwrap_or(0));
    let message = e.without_snippet().to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message.as_str(),
    };
    // serde_path_to_error names the span wrapper's inner field `value`: drop it.
    let path = path.unwrap_or_default().replace(".value.", ".");
    let path = path
        .trim_end_matches(".value")
        .trim_end_matches(".?")
        .trim_end_matches('?')
        .trim_start_matches('.');
    Problem::new(
        ProblemKind::Syntax,
        path,
        line,
        botgate_core::secret::redact_serde_error(message),
        None,
    )
}

/// Reads the typed tree from YAML text. References stay as written.
pub fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
        serde_path_to_error::deserialize::<_, ConfigFile>(de).map_err(|e| {
            path = Some(e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| ConfigError::one(syntax_problem(path, &e)))
}

/// Reads the text as plain YAML (to find every reference in it).
pub fn parse_tree(text: &str) -> Result<serde_json::Value, ConfigError> {
    serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| ConfigError::one(syntax_problem(None, &e)))
}

/// The JSON Schema of the configuration file, as committed in `botgate.schema.json`.
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ConfigFile)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://github.com/botgate/botgate/blob/main/botgate.schema.json".into(),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_wrong_types_name_path_and_line() {
        let e = parse("bots:\n  x:\n    platform: feishu\n    encrypt_kye: abc\n").unwrap_err();
        let p = &e.problems()[0];
        assert_eq!((p.path.as_str(), p.line), ("bots.x.encrypt_kye", 4));
        assert!(p.to_string().contains("bot `x`") && p.to_string().contains("unknown field `encrypt_kye`"));

        let e = parse("gateway:\n  dedup_retention_secs: [1]\nbots: {}\n").unwrap_err();
        assert_eq!(e.problems()[0].path, "gateway.dedup_retention_secs");
        assert_eq!(e.problems()[0].line, 2);

        let e = parse("targets:\n  ops:\n    type: slack_webhook\n    url: https://x\nbots: {}\n").unwrap_err();
        let p = &e.problems()[0];
        assert_eq!((p.path.as_str(), p.line), ("targets.ops.type", 3));
        assert!(p.to_string().contains("target `ops`"), "{p}");
    }

    #[test]
    fn errors_never_quote_values() {
        let e = parse("bots:\n  x:\n    platform: feishu\n    app_id: [hunter2-secret]\n").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse("bots:\n  x:\n    platform: feishu\n    token: s3cret: value\n").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn lines_are_kept_for_later_checks() {
        let f = parse("bots:\n  x:\n    platform: wechat\n    token: abc\n").unwrap();
        let bots = f.bots.unwrap_or_default();
        assert_eq!(bots["x"].token.as_ref().map(|t| t.line), Some(4));
    }
}
