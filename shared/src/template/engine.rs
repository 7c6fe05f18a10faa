//! The minijinja environment that compiles and renders templates, bounded: [`FUEL`]
//! instructions, [`RECURSION_LIMIT`] levels of nesting, [`MAX_OUTPUT_BYTES`] of output.

use std::fmt;

use minijinja::Environment;
use serde::Serialize;
use thiserror::Error;

/// The context templates render over, from any serializable value.
pub fn context(value: impl Serialize) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// A template that failed to render (a permanent error for what it was rendering).
#[derive(Debug, Error)]
#[error("template {name}: {why}")]
pub struct RenderError {
    /// The template's name (where it was written).
    pub name: String,
    /// What went wrong.
    pub why: String,
}

/// A compiled template, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId(String);

impl TemplateId {
    /// Its name (where it was written, e.g. `rules[2].reply.text`).
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// A set of compiled templates.
pub struct Templates {
    env: Environment<'static>,
    /// Some template names `raw` (reads the event's raw payload, parsed only then).
    reads_raw: bool,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

/// Instructions one render may execute (a loop over a few hundred items is a few thousand).
pub const FUEL: u64 = 200_000;
/// Nesting one render may reach (macros, includes, recursive loops).
pub const RECURSION_LIMIT: usize = 32;
/// The most output one render may write: ten times the largest message a platform takes.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// Writes what a template inserts with its mention markup made inert.
fn formatter(
    out: &mut minijinja::Output<'_>,
    state: &mut minijinja::State<'_, '_>,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    out.write_str(&botgate_core::message::defuse_mentions(&text))
        .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "could not write the output"))
}

/// Output that refuses to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
struct Capped {
    out: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len().saturating_add(buf.len()) > MAX_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("output limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_recursion_limit(RECURSION_LIMIT);
        env.set_fuel(Some(FUEL));
        env.set_formatter(formatter);
        Self { env, reads_raw: false }
    }
}

impl Templates {
    /// No templates yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when some template compiled here names `raw` (the event's payload as JSON): only
    /// then is the payload parsed for the templates.
    pub fn reads_raw(&self) -> bool {
        self.reads_raw
    }

    /// Compiles `source` under `name` (which says where it was written).
    pub fn add(&mut self, name: &str, source: &str) -> Result<TemplateId, String> {
        self.reads_raw |= source.contains("raw");
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| format!("not a valid template: {}", e.detail().unwrap_or(&e.to_string())))?;
        Ok(TemplateId(name.to_owned()))
    }

    /// Renders one template, within the bounds.
    pub fn render(&self, id: &TemplateId, ctx: &minijinja::Value) -> Result<String, RenderError> {
        let err = |e: minijinja::Error| RenderError {
            name: id.0.clone(),
            why: e.to_string(),
        };
        let template = self.env.get_template(&id.0).map_err(err)?;
        let mut out = Capped::default();
        if let Err(e) = template.render_captured_to(ctx, &mut out) {
            if out.overflowed {
                return Err(RenderError {
                    name: id.0.clone(),
                    why: format!("the output passed {MAX_OUTPUT_BYTES} bytes"),
                });
            }
            return Err(err(e));
        }
        String::from_utf8(out.out).map_err(|_| RenderError {
            name: id.0.clone(),
            why: "the output is not UTF-8".into(),
        })
    }
}
