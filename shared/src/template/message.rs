//! A templated message: its shape as a configuration, a notify request or a schedule input
//! writes it ([`MessageSpec`]), compiled into [`CompiledMessage`] and rendered into a
//! [`Message`] for one event or one notification.
//!
//! Every string a message shows or sends back is a template: the title and text, each
//! button's label, URL, confirmation and values, each drop-down's placeholder, options and
//! values, an image's or file's URL, each news entry, and `mention:` entries. A string
//! without `{{` or `{%` is kept as it is, without going through the template engine.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::engine::{RenderError, TemplateId, Templates};
use botgate_core::message::{Article, Button, Mentions, Message, Select, SelectOption};

/// The kind of message a template makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Plain text.
    #[default]
    Text,
    /// Markdown with a title.
    Markdown,
    /// A card: title, markdown body, buttons (links or actions), drop-downs, header colour.
    Card,
    /// An image: `url`, `path` or `key`.
    Image,
    /// A file: `url`, `path` or `key`, and `name`.
    File,
    /// Link entries with titles and pictures: `articles`.
    News,
}

impl MessageKind {
    /// Its name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Card => "card",
            Self::Image => "image",
            Self::File => "file",
            Self::News => "news",
        }
    }
}

/// One entry of a news message, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleSpec {
    /// The title (a template).
    pub title: String,
    /// A short description (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it links (a template).
    pub url: String,
    /// A picture's URL (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picurl: Option<String>,
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
    /// Cards: buttons (links, or actions sent back to the bot).
    pub buttons: Vec<Button>,
    /// Cards: drop-downs.
    pub selects: Vec<Select>,
    /// The header colour (cards): a Feishu template name such as `red`, `orange`, `green`.
    pub color: Option<String>,
    /// Who to mention, as written (not templates).
    pub mentions: Mentions,
    /// Who to mention, as templates: a user id, a mobile number (digits), or `@all`
    /// (`["{{ sender }}"]` mentions whoever wrote).
    pub mention: Vec<String>,
    /// Images and files: a URL the dispatcher downloads and uploads (a template).
    pub url: Option<String>,
    /// Images and files: a file on the machine that sends.
    pub path: Option<String>,
    /// Images and files: the platform's media key, when it is known (a template).
    pub key: Option<String>,
    /// Files: the name shown (a template).
    pub name: Option<String>,
    /// News: the entries.
    pub articles: Vec<ArticleSpec>,
}

/// The map form of [`MessageSpec`].
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "MessageFields")]
struct Fields {
    /// text (default), markdown, card, image, file or news.
    #[serde(default, rename = "type")]
    kind: MessageKind,
    /// The title (a minijinja template).
    #[serde(default)]
    title: Option<String>,
    /// The text (a minijinja template); required for text, markdown and cards.
    #[serde(default)]
    text: Option<String>,
    /// Cards: buttons. `{text, url}` opens a link; `{text, action, value: {..}, confirm,
    /// style}` sends `action` (and the values) back to the bot, which rules match with
    /// `when: {action: {name: ...}}`. Every string is a template.
    #[serde(default)]
    buttons: Vec<Button>,
    /// Cards: drop-downs `{action, placeholder, options: [{text, value}], value: {..}}`.
    #[serde(default)]
    selects: Vec<Select>,
    /// The header colour (cards): red, orange, yellow, green, blue, ...
    #[serde(default)]
    color: Option<String>,
    /// Who to mention (as written).
    #[serde(default)]
    mentions: Mentions,
    /// Who to mention, as templates: user ids, mobile numbers, `@all`.
    #[serde(default)]
    mention: Vec<String>,
    /// Images and files: a URL to download and upload (a template).
    #[serde(default)]
    url: Option<String>,
    /// Images and files: a file on the machine that sends.
    #[serde(default)]
    path: Option<String>,
    /// Images and files: the platform's media key (a template).
    #[serde(default)]
    key: Option<String>,
    /// Files: the name shown (a template).
    #[serde(default)]
    name: Option<String>,
    /// News: the entries.
    #[serde(default)]
    articles: Vec<ArticleSpec>,
}

impl From<Fields> for MessageSpec {
    fn from(f: Fields) -> Self {
        Self {
            kind: f.kind,
            title: f.title,
            text: f.text.unwrap_or_default(),
            buttons: f.buttons,
            selects: f.selects,
            color: f.color,
            mentions: f.mentions,
            mention: f.mention,
            url: f.url,
            path: f.path,
            key: f.key,
            name: f.name,
            articles: f.articles,
        }
    }
}

impl MessageSpec {
    /// The message with every string taken as it is (not as templates).
    pub fn literal(&self) -> Message {
        let mut mentions = self.mentions.clone();
        add_mentions(&mut mentions, self.mention.iter().map(String::as_str));
        build(
            self.kind,
            Parts {
                title: self.title.clone().unwrap_or_default(),
                text: self.text.clone(),
                buttons: self.buttons.clone(),
                selects: self.selects.clone(),
                color: self.color.clone(),
                mentions,
                url: self.url.clone(),
                path: self.path.clone(),
                key: self.key.clone(),
                name: self.name.clone(),
                articles: self
                    .articles
                    .iter()
                    .map(|a| Article {
                        title: a.title.clone(),
                        description: a.description.clone(),
                        url: a.url.clone(),
                        picurl: a.picurl.clone(),
                    })
                    .collect(),
            },
        )
    }

    /// A plain text template.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// Every string in it, mutably (for resolving references).
    pub fn strings_mut(&mut self) -> impl Iterator<Item = &mut String> {
        let mentions = self
            .mentions
            .user_ids
            .iter_mut()
            .chain(self.mentions.mobiles.iter_mut())
            .chain(self.mention.iter_mut());
        let buttons = self.buttons.iter_mut().flat_map(|b| {
            std::iter::once(&mut b.text)
                .chain(b.url.as_mut())
                .chain(b.confirm.as_mut())
                .chain(b.value.values_mut())
        });
        let selects = self.selects.iter_mut().flat_map(|s| {
            s.placeholder
                .as_mut()
                .into_iter()
                .chain(s.value.values_mut())
                .chain(s.options.iter_mut().flat_map(|o| [&mut o.text, &mut o.value]))
        });
        let articles = self.articles.iter_mut().flat_map(|a| {
            [&mut a.title, &mut a.url]
                .into_iter()
                .chain(a.description.as_mut())
                .chain(a.picurl.as_mut())
        });
        std::iter::once(&mut self.text)
            .chain(self.title.as_mut())
            .chain(self.color.as_mut())
            .chain(self.url.as_mut())
            .chain(self.path.as_mut())
            .chain(self.key.as_mut())
            .chain(self.name.as_mut())
            .chain(buttons)
            .chain(selects)
            .chain(articles)
            .chain(mentions)
    }

    /// What is wrong with its shape for its kind (a field it needs, or one it cannot use),
    /// as (field, why).
    pub fn check(&self) -> Result<(), (String, String)> {
        let kind = self.kind.as_str();
        let err = |field: &str, why: String| Err((field.to_owned(), why));
        let media = matches!(self.kind, MessageKind::Image | MessageKind::File);
        match self.kind {
            MessageKind::Text | MessageKind::Markdown | MessageKind::Card if self.text.is_empty() => {
                return err("text", format!("a {kind} message needs `text`"));
            }
            MessageKind::Image | MessageKind::File => {
                let given = [&self.url, &self.path, &self.key]
                    .iter()
                    .filter(|f| f.is_some())
                    .count();
                if given != 1 {
                    return err("url", format!("a {kind} needs exactly one of `url`, `path` or `key`"));
                }
            }
            MessageKind::News if self.articles.is_empty() => {
                return err("articles", "a news message needs `articles`".into());
            }
            _ => {}
        }
        if !media && (self.url.is_some() || self.path.is_some() || self.key.is_some() || self.name.is_some()) {
            return err(
                "url",
                format!("`url`, `path`, `key` and `name` are for images and files, not a {kind}"),
            );
        }
        if self.kind != MessageKind::Card && !(self.buttons.is_empty() && self.selects.is_empty()) {
            return err("buttons", format!("buttons and selects are for cards, not a {kind}"));
        }
        if self.kind != MessageKind::News && !self.articles.is_empty() {
            return err("articles", format!("`articles` are for news, not a {kind}"));
        }
        for (i, b) in self.buttons.iter().enumerate() {
            match (&b.url, &b.action) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return err(
                        &format!("buttons[{i}]"),
                        "a button takes `url` (a link) or `action` (sent back to the bot), one of them".into(),
                    );
                }
            }
            if b.action.is_none() && (!b.value.is_empty() || b.confirm.is_some()) {
                return err(
                    &format!("buttons[{i}]"),
                    "`value` and `confirm` are for action buttons".into(),
                );
            }
            if b.action.as_deref().is_some_and(|a| a.trim().is_empty()) {
                return err(&format!("buttons[{i}].action"), "an action needs a name".into());
            }
        }
        for (i, s) in self.selects.iter().enumerate() {
            if s.action.trim().is_empty() || s.options.is_empty() {
                return err(
                    &format!("selects[{i}]"),
                    "a select needs an `action` and `options`".into(),
                );
            }
        }
        Ok(())
    }
}

/// Adds templates' mention entries to `mentions`: `@all` (or `all`), a mobile number
/// (digits, as DingTalk and WeCom mention by phone), or a user id; an entry may list several
/// separated by commas (`{{ event.members | join(',') }}`). Empty entries (a template over
/// an empty value) are dropped.
fn add_mentions<'a>(mentions: &mut Mentions, entries: impl Iterator<Item = &'a str>) {
    for e in entries
        .flat_map(|e| e.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if e.eq_ignore_ascii_case("@all") || e.eq_ignore_ascii_case("all") {
            mentions.all = true;
        } else if e.len() >= 5 && e.bytes().all(|b| b.is_ascii_digit()) {
            mentions.mobiles.push(e.to_owned());
        } else {
            mentions.user_ids.push(e.to_owned());
        }
    }
}

/// The rendered strings of a message, before it takes its kind's shape.
struct Parts {
    title: String,
    text: String,
    buttons: Vec<Button>,
    selects: Vec<Select>,
    color: Option<String>,
    mentions: Mentions,
    url: Option<String>,
    path: Option<String>,
    key: Option<String>,
    name: Option<String>,
    articles: Vec<Article>,
}

fn build(kind: MessageKind, p: Parts) -> Message {
    match kind {
        MessageKind::Text => Message::Text {
            text: p.text,
            mentions: p.mentions,
        },
        MessageKind::Markdown => Message::Markdown {
            title: p.title,
            text: p.text,
            mentions: p.mentions,
        },
        MessageKind::Card => Message::Card {
            title: p.title,
            text: p.text,
            buttons: p.buttons,
            selects: p.selects,
            color: p.color,
            mentions: p.mentions,
        },
        MessageKind::Image => Message::Image {
            key: p.key,
            url: p.url,
            path: p.path,
        },
        MessageKind::File => Message::File {
            key: p.key,
            url: p.url,
            path: p.path,
            name: p.name,
        },
        MessageKind::News => Message::News { articles: p.articles },
    }
}

impl<'de> Deserialize<'de> for MessageSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text, or a map with `type` and its fields (`text`, `title`, `buttons`, `url`, ...)")
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
            "description": "A message: a text (a minijinja template), or a map with `type` (text, markdown, card, image, file, news) and its fields.",
            "anyOf": [{"type": "string"}, fields]
        })
    }
}

/// One string of a compiled message: kept as written, or a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// No template syntax: used as it is.
    Literal(String),
    /// A compiled template.
    Template(TemplateId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledButton {
    text: Slot,
    url: Option<Slot>,
    action: Option<String>,
    value: Vec<(String, Slot)>,
    confirm: Option<Slot>,
    style: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledSelect {
    action: String,
    placeholder: Option<Slot>,
    options: Vec<(Slot, Slot)>,
    value: Vec<(String, Slot)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CompiledArticle {
    title: Slot,
    description: Option<Slot>,
    url: Slot,
    picurl: Option<Slot>,
}

/// A compiled [`MessageSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledMessage {
    kind: MessageKind,
    title: Option<Slot>,
    text: Slot,
    buttons: Vec<CompiledButton>,
    selects: Vec<CompiledSelect>,
    color: Option<String>,
    mentions: Mentions,
    mention: Vec<Slot>,
    url: Option<Slot>,
    path: Option<String>,
    key: Option<Slot>,
    name: Option<Slot>,
    articles: Vec<CompiledArticle>,
}

impl CompiledMessage {
    /// Its kind.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }
}

impl Templates {
    /// Compiles `source` as a [`Slot`] named `name`: a template only when it has template
    /// syntax.
    pub fn slot(&mut self, name: &str, source: &str) -> Result<Slot, String> {
        if source.contains("{{") || source.contains("{%") || source.contains("{#") {
            self.add(name, source).map(Slot::Template)
        } else {
            Ok(Slot::Literal(source.to_owned()))
        }
    }

    /// Renders a slot.
    pub fn render_slot(&self, slot: &Slot, ctx: &minijinja::Value) -> Result<String, RenderError> {
        match slot {
            Slot::Literal(s) => Ok(s.clone()),
            Slot::Template(id) => self.render(id, ctx),
        }
    }

    fn render_opt(&self, slot: Option<&Slot>, ctx: &minijinja::Value) -> Result<Option<String>, RenderError> {
        slot.map(|s| self.render_slot(s, ctx)).transpose()
    }

    fn render_fields(
        &self,
        fields: &[(String, Slot)],
        ctx: &minijinja::Value,
    ) -> Result<BTreeMap<String, String>, RenderError> {
        fields
            .iter()
            .map(|(k, s)| Ok((k.clone(), self.render_slot(s, ctx)?)))
            .collect()
    }

    /// Compiles every template of `spec` (checked for its kind first); the templates are
    /// named `{name}.{field}` (`rules[2].reply.text`, `...buttons[0].value.id`). The error
    /// names the field.
    pub fn add_message(&mut self, name: &str, spec: &MessageSpec) -> Result<CompiledMessage, (String, String)> {
        spec.check()?;
        let mut slot = |field: &str, source: &str| {
            self.slot(&format!("{name}.{field}"), source)
                .map_err(|e| (field.to_owned(), e))
        };
        let text = slot("text", &spec.text)?;
        let title = spec.title.as_deref().map(|t| slot("title", t)).transpose()?;
        let url = spec.url.as_deref().map(|t| slot("url", t)).transpose()?;
        let key = spec.key.as_deref().map(|t| slot("key", t)).transpose()?;
        let file_name = spec.name.as_deref().map(|t| slot("name", t)).transpose()?;
        let mut mention = Vec::new();
        for (i, m) in spec.mention.iter().enumerate() {
            mention.push(slot(&format!("mention[{i}]"), m)?);
        }
        let mut buttons = Vec::new();
        for (i, b) in spec.buttons.iter().enumerate() {
            let at = format!("buttons[{i}]");
            let mut value = Vec::new();
            for (k, v) in &b.value {
                value.push((k.clone(), slot(&format!("{at}.value.{k}"), v)?));
            }
            buttons.push(CompiledButton {
                text: slot(&format!("{at}.text"), &b.text)?,
                url: b.url.as_deref().map(|u| slot(&format!("{at}.url"), u)).transpose()?,
                action: b.action.clone(),
                value,
                confirm: b
                    .confirm
                    .as_deref()
                    .map(|c| slot(&format!("{at}.confirm"), c))
                    .transpose()?,
                style: b.style.clone(),
            });
        }
        let mut selects = Vec::new();
        for (i, s) in spec.selects.iter().enumerate() {
            let at = format!("selects[{i}]");
            let mut value = Vec::new();
            for (k, v) in &s.value {
                value.push((k.clone(), slot(&format!("{at}.value.{k}"), v)?));
            }
            let mut options = Vec::new();
            for (j, o) in s.options.iter().enumerate() {
                options.push((
                    slot(&format!("{at}.options[{j}].text"), &o.text)?,
                    slot(&format!("{at}.options[{j}].value"), &o.value)?,
                ));
            }
            selects.push(CompiledSelect {
                action: s.action.clone(),
                placeholder: s
                    .placeholder
                    .as_deref()
                    .map(|p| slot(&format!("{at}.placeholder"), p))
                    .transpose()?,
                options,
                value,
            });
        }
        let mut articles = Vec::new();
        for (i, a) in spec.articles.iter().enumerate() {
            let at = format!("articles[{i}]");
            articles.push(CompiledArticle {
                title: slot(&format!("{at}.title"), &a.title)?,
                description: a
                    .description
                    .as_deref()
                    .map(|d| slot(&format!("{at}.description"), d))
                    .transpose()?,
                url: slot(&format!("{at}.url"), &a.url)?,
                picurl: a
                    .picurl
                    .as_deref()
                    .map(|p| slot(&format!("{at}.picurl"), p))
                    .transpose()?,
            });
        }
        Ok(CompiledMessage {
            kind: spec.kind,
            title,
            text,
            buttons,
            selects,
            color: spec.color.clone(),
            mentions: spec.mentions.clone(),
            mention,
            url,
            path: spec.path.clone(),
            key,
            name: file_name,
            articles,
        })
    }

    /// Renders a compiled message.
    pub fn render_message(&self, m: &CompiledMessage, ctx: &minijinja::Value) -> Result<Message, RenderError> {
        let mut mentions = m.mentions.clone();
        let rendered: Vec<String> = m
            .mention
            .iter()
            .map(|s| self.render_slot(s, ctx))
            .collect::<Result<_, _>>()?;
        add_mentions(&mut mentions, rendered.iter().map(String::as_str));
        let mut buttons = Vec::with_capacity(m.buttons.len());
        for b in &m.buttons {
            buttons.push(Button {
                text: self.render_slot(&b.text, ctx)?,
                url: self.render_opt(b.url.as_ref(), ctx)?,
                action: b.action.clone(),
                value: self.render_fields(&b.value, ctx)?,
                confirm: self.render_opt(b.confirm.as_ref(), ctx)?,
                style: b.style.clone(),
            });
        }
        let mut selects = Vec::with_capacity(m.selects.len());
        for s in &m.selects {
            let mut options = Vec::with_capacity(s.options.len());
            for (text, value) in &s.options {
                options.push(SelectOption {
                    text: self.render_slot(text, ctx)?,
                    value: self.render_slot(value, ctx)?,
                });
            }
            selects.push(Select {
                action: s.action.clone(),
                placeholder: self.render_opt(s.placeholder.as_ref(), ctx)?,
                options,
                value: self.render_fields(&s.value, ctx)?,
            });
        }
        let mut articles = Vec::with_capacity(m.articles.len());
        for a in &m.articles {
            articles.push(Article {
                title: self.render_slot(&a.title, ctx)?,
                description: self.render_opt(a.description.as_ref(), ctx)?,
                url: self.render_slot(&a.url, ctx)?,
                picurl: self.render_opt(a.picurl.as_ref(), ctx)?,
            });
        }
        Ok(build(
            m.kind,
            Parts {
                title: self.render_opt(m.title.as_ref(), ctx)?.unwrap_or_default(),
                text: self.render_slot(&m.text, ctx)?,
                buttons,
                selects,
                color: m.color.clone(),
                mentions,
                url: self.render_opt(m.url.as_ref(), ctx)?,
                path: m.path.clone(),
                key: self.render_opt(m.key.as_ref(), ctx)?,
                name: self.render_opt(m.name.as_ref(), ctx)?,
                articles,
            },
        ))
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
        let ctx = super::super::engine::context(serde_json::json!({"n": 3}));
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
    fn buttons_values_mentions_and_media_are_templates() {
        let spec: MessageSpec = serde_json::from_value(serde_json::json!({
            "type": "card", "title": "Deploy {{ svc }}", "text": "by {{ who }}",
            "mention": ["{{ who }}", "@all", "{{ missing | default('') }}", "13800000000"],
            "buttons": [
                {"text": "Approve", "action": "approve", "value": {"svc": "{{ svc }}"}, "confirm": "Deploy {{ svc }}?", "style": "primary"},
                {"text": "Logs", "url": "https://ci.example.com/{{ svc }}"}
            ],
            "selects": [{"action": "env", "options": [{"text": "Prod", "value": "{{ 'prod' }}"}]}]
        }))
        .unwrap();
        let mut t = Templates::new();
        let m = t.add_message("r", &spec).unwrap();
        let ctx = super::super::engine::context(serde_json::json!({"svc": "api", "who": "ou_1"}));
        let Message::Card {
            buttons,
            selects,
            mentions,
            ..
        } = t.render_message(&m, &ctx).unwrap()
        else {
            panic!("not a card")
        };
        assert_eq!(buttons[0].value["svc"], "api");
        assert_eq!(buttons[0].confirm.as_deref(), Some("Deploy api?"));
        assert_eq!(buttons[1].url.as_deref(), Some("https://ci.example.com/api"));
        assert_eq!(selects[0].options[0].value, "prod");
        assert!(mentions.all);
        assert_eq!(
            (mentions.user_ids, mentions.mobiles),
            (vec!["ou_1".to_owned()], vec!["13800000000".to_owned()])
        );
        let img: MessageSpec =
            serde_json::from_value(serde_json::json!({"type": "image", "url": "https://x/{{ svc }}.png"})).unwrap();
        let m = t.add_message("i", &img).unwrap();
        assert_eq!(
            t.render_message(&m, &ctx).unwrap(),
            Message::Image {
                key: None,
                url: Some("https://x/api.png".into()),
                path: None
            }
        );
    }

    #[test]
    fn shapes_are_checked_per_kind() {
        let bad = |v: serde_json::Value| {
            let spec: MessageSpec = serde_json::from_value(v).unwrap();
            Templates::new().add_message("m", &spec).unwrap_err()
        };
        assert_eq!(bad(serde_json::json!({"type": "image"})).0, "url");
        assert_eq!(
            bad(serde_json::json!({"type": "image", "url": "u", "path": "p"})).0,
            "url"
        );
        assert_eq!(bad(serde_json::json!({"type": "card", "title": "t"})).0, "text");
        assert_eq!(bad(serde_json::json!({"type": "news"})).0, "articles");
        assert_eq!(
            bad(serde_json::json!({"text": "t", "buttons": [{"text": "b", "url": "u"}]})).0,
            "buttons"
        );
        assert_eq!(
            bad(serde_json::json!({"type": "card", "text": "t", "buttons": [{"text": "b"}]})).0,
            "buttons[0]"
        );
        assert_eq!(
            bad(
                serde_json::json!({"type": "card", "text": "t", "buttons": [{"text": "b", "url": "u", "action": "a"}]})
            )
            .0,
            "buttons[0]"
        );
    }
}
