//! Message templates: the shape of a templated message as a configuration, a notify request
//! or a schedule input writes it ([`MessageSpec`]), and the minijinja environment that
//! compiles and renders them ([`Templates`]).
//!
//! A message is a string (plain text) or a map: `{type: text|markdown|card, title, text,
//! buttons: [{text, url}], color, mentions: {all, user_ids, mobiles}}`; `title` and `text`
//! are minijinja templates.
//!
//! Every template runs bounded: [`FUEL`] instructions, [`RECURSION_LIMIT`] levels of nesting,
//! [`MAX_OUTPUT_BYTES`] of output; past any of them the render fails (a permanent error for
//! what it renders) instead of taking the process's memory or time. Values a template
//! inserts (`{{ text }}`, what users wrote) have the platforms' mention markup made inert
//! ([`botgate_core::message::defuse_mentions`]): only the configuration's `mentions` notify.

use std::fmt;

use minijinja::Environment;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use botgate_core::message::{Button, Mentions, Message};

/// The kind of message a template makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Plain text.
    #[default]
    Text,
    /// Markdown with a title.
    Markdown,
    /// A card: title, markdown body, link buttons, header colour.
    Card,
}

/// A templated message as written: a string, or a map with `type`, `title`, `text`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageSpec {
    /// The kind (`type`).
    #[serde(rename = "type")]
    pub kind: MessageKind,
    /// The title template (markdown and cards).
    pub title: Option<String>,
    /// The text template.
    pub text: String,
    /// Link buttons (cards).
    pub buttons: Vec<Button>,
    /// The header colour (cards): a Feishu template name such as `red`, `orange`, `green`.
    pub color: Option<String>,
    /// Who to mention.
    pub mentions: Mentions,
}

/// The map form of [`MessageSpec`].
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MessageFields")]
struct Fields {
    /// text (default), markdown or card.
    #[serde(default, rename = "type")]
    kind: MessageKind,
    /// The title (a minijinja template).
    #[serde(default)]
    title: Option<String>,
    /// The text (a minijinja template).
    text: String,
    /// Link buttons (cards).
    #[serde(default)]
    buttons: Vec<Button>,
    /// The header colour (cards): red, orange, yellow, green, blue, ...
    #[serde(default)]
    color: Option<String>,
    /// Who to mention.
    #[serde(default)]
    mentions: Mentions,
}

impl From<Fields> for MessageSpec {
    fn from(f: Fields) -> Self {
        Self {
            kind: f.kind,
            title: f.title,
            text: f.text,
            buttons: f.buttons,
            color: f.color,
            mentions: f.mentions,
        }
    }
}

impl MessageSpec {
    /// The message with its title and text taken as they are (not as templates).
    pub fn literal(&self) -> Message {
        let (title, text, mentions) = (
            self.title.clone().unwrap_or_default(),
            self.text.clone(),
            self.mentions.clone(),
        );
        match self.kind {
            MessageKind::Text => Message::Text { text, mentions },
            MessageKind::Markdown => Message::Markdown { title, text, mentions },
            MessageKind::Card => Message::Card {
                title,
                text,
                buttons: self.buttons.clone(),
                color: self.color.clone(),
                mentions,
            },
        }
    }

    /// A plain text template.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Every template source in it, with its field name (`text`, `title`).
    pub fn sources(&self) -> impl Iterator<Item = (&'static str, &str)> {
        std::iter::once(("text", self.text.as_str())).chain(self.title.as_deref().map(|t| ("title", t)))
    }

    /// Every string in it, mutably (for resolving references).
    pub fn strings_mut(&mut self) -> impl Iterator<Item = &mut String> {
        let mentions = self
            .mentions
            .user_ids
            .iter_mut()
            .chain(self.mentions.mobiles.iter_mut());
        let buttons = self.buttons.iter_mut().flat_map(|b| [&mut b.text, &mut b.url]);
        std::iter::once(&mut self.text)
            .chain(self.title.as_mut())
            .chain(self.color.as_mut())
            .chain(buttons)
            .chain(mentions)
    }
}

impl<'de> Deserialize<'de> for MessageSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text, or a map with `text` (and `type`, `title`, `buttons`, `color`, `mentions`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MessageSpec, E> {
                Ok(MessageSpec::text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MessageSpec, A::Error> {
                Fields::deserialize(de::value::MapAccessDeserializer::new(map)).map(MessageSpec::from)
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for MessageSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Message".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let fields = g.subschema_for::<Fields>();
        schemars::json_schema!({
            "description": "A message: a text (a minijinja template), or a map with `text` and optionally `type` (text, markdown, card), `title`, `buttons`, `color`, `mentions`.",
            "anyOf": [{"type": "string"}, fields]
        })
    }
}

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

/// A compiled [`MessageSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledMessage {
    kind: MessageKind,
    title: Option<TemplateId>,
    text: TemplateId,
    buttons: Vec<Button>,
    color: Option<String>,
    mentions: Mentions,
}

/// A set of compiled templates.
pub struct Templates {
    env: Environment<'static>,
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
        Self { env }
    }
}

impl Templates {
    /// No templates yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compiles `source` under `name` (which says where it was written).
    pub fn add(&mut self, name: &str, source: &str) -> Result<TemplateId, String> {
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| format!("not a valid template: {}", e.detail().unwrap_or(&e.to_string())))?;
        Ok(TemplateId(name.to_owned()))
    }

    /// Compiles every template of `spec`; the templates are named `{name}.text`,
    /// `{name}.title`. The error names the field.
    pub fn add_message(&mut self, name: &str, spec: &MessageSpec) -> Result<CompiledMessage, (String, String)> {
        let text = self
            .add(&format!("{name}.text"), &spec.text)
            .map_err(|e| ("text".to_owned(), e))?;
        let title = match &spec.title {
            Some(t) => Some(
                self.add(&format!("{name}.title"), t)
                    .map_err(|e| ("title".to_owned(), e))?,
            ),
            None => None,
        };
        Ok(CompiledMessage {
            kind: spec.kind,
            title,
            text,
            buttons: spec.buttons.clone(),
            color: spec.color.clone(),
            mentions: spec.mentions.clone(),
        })
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

    /// Renders a compiled message.
    pub fn render_message(&self, m: &CompiledMessage, ctx: &minijinja::Value) -> Result<Message, RenderError> {
        let text = self.render(&m.text, ctx)?;
        let title = m
            .title
            .as_ref()
            .map(|t| self.render(t, ctx))
            .transpose()?
            .unwrap_or_default();
        let mentions = m.mentions.clone();
        Ok(match m.kind {
            MessageKind::Text => Message::Text { text, mentions },
            MessageKind::Markdown => Message::Markdown { title, text, mentions },
            MessageKind::Card => Message::Card {
                title,
                text,
                buttons: m.buttons.clone(),
                color: m.color.clone(),
                mentions,
            },
        })
    }

    /// Compiles and renders `spec` once (a message that arrives with its data: the notify
    /// API, a schedule's inline input).
    pub fn render_once(spec: &MessageSpec, name: &str, ctx: &minijinja::Value) -> Result<Message, RenderError> {
        let mut t = Self::new();
        let m = t.add_message(name, spec).map_err(|(field, why)| RenderError {
            name: format!("{name}.{field}"),
            why,
        })?;
        t.render_message(&m, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_or_a_map() {
        let s: MessageSpec = serde_json::from_value(serde_json::json!("hi {{ x }}")).unwrap();
        assert_eq!(s, MessageSpec::text("hi {{ x }}"));
        let m: MessageSpec =
            serde_json::from_value(serde_json::json!({"type": "markdown", "title": "T", "text": "b"})).unwrap();
        assert_eq!((m.kind, m.title.as_deref()), (MessageKind::Markdown, Some("T")));
        let e = serde_json::from_value::<MessageSpec>(serde_json::json!({"txt": "b"})).unwrap_err();
        assert!(e.to_string().contains("txt"), "{e}");
        assert!(serde_json::from_value::<MessageSpec>(serde_json::json!({"type": "video", "text": "b"})).is_err());
    }

    #[test]
    fn compiles_and_renders() {
        let mut t = Templates::new();
        let spec = MessageSpec {
            kind: MessageKind::Card,
            title: Some("{{ n }} alerts".into()),
            text: "body".into(),
            ..MessageSpec::default()
        };
        let m = t.add_message("x", &spec).unwrap();
        let ctx = context(serde_json::json!({"n": 3}));
        let Message::Card { title, .. } = t.render_message(&m, &ctx).unwrap() else {
            panic!("not a card")
        };
        assert_eq!(title, "3 alerts");
        let bad = MessageSpec::text("{{ unclosed");
        let (field, why) = t.add_message("y", &bad).unwrap_err();
        assert_eq!(field, "text");
        assert!(why.contains("template"), "{why}");
    }

    #[test]
    fn runaway_templates_stop_at_their_bounds() {
        let started = std::time::Instant::now();
        let ctx = context(serde_json::json!({}));
        // 10^10 iterations: stopped by the fuel.
        let loops =
            MessageSpec::text("{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}");
        let e = Templates::render_once(&loops, "loops", &ctx).unwrap_err();
        assert!(e.why.contains("fuel"), "{e}");
        // 2 MB of output in a few tens of thousands of instructions: stopped by the output cap.
        let big = MessageSpec::text(format!(
            "{{% for i in range(20000) %}}{}{{% endfor %}}",
            "x".repeat(100)
        ));
        let e = Templates::render_once(&big, "big", &ctx).unwrap_err();
        assert!(e.why.contains("bytes"), "{e}");
        // A 100 MB string in one expression is refused too.
        assert!(Templates::render_once(&MessageSpec::text("{{ 'x' * 100000000 }}"), "rep", &ctx).is_err());
        let deep = MessageSpec::text("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}");
        assert!(Templates::render_once(&deep, "deep", &ctx).is_err());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn inserted_values_cannot_mention_anyone() {
        let spec = MessageSpec::text("You said: {{ text }}");
        let ctx = context(serde_json::json!({"text": "<at user_id=\"all\"></at> <@all>"}));
        let Message::Text { text, .. } = Templates::render_once(&spec, "t", &ctx).unwrap() else {
            panic!("not text")
        };
        assert!(!text.contains("<at") && !text.contains("<@"), "{text}");
        // Markup written in the template itself is the configuration's choice and stays.
        let own = MessageSpec::text("<at user_id=\"all\"></at> {{ text }}");
        let Message::Text { text, .. } = Templates::render_once(&own, "t", &ctx).unwrap() else {
            panic!("not text")
        };
        assert!(text.starts_with("<at user_id=\"all\"></at>"), "{text}");
    }
}
