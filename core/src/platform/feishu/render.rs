//! Rendering a [`Message`] as Feishu JSON (the custom bot's shape; the app API takes the
//! same `msg_type`).

use serde_json::{Value, json};

use crate::message::{Mentions, Message};

fn at_tag(user_id: &str) -> String {
    format!("<at user_id=\"{user_id}\"></at>")
}

fn mention_prefix(m: &Mentions) -> String {
    let mut out = String::new();
    if m.all {
        out.push_str(&at_tag("all"));
        out.push(' ');
    }
    for u in &m.user_ids {
        out.push_str(&at_tag(u));
        out.push(' ');
    }
    out
}

fn plain(text: &str) -> Value {
    json!({"tag": "plain_text", "content": text})
}

/// A button's colour: `primary`, `danger` or `default`.
fn button_type(style: Option<&str>) -> &'static str {
    match style {
        Some("primary") => "primary",
        Some("danger") => "danger",
        _ => "default",
    }
}

/// A card (`msg_type: interactive`) as Feishu's card JSON, the same for sending, updating
/// (message patch) and answering a card action: a markdown body, then one row of buttons
/// (links open their URL; action buttons send `{"name": action, ...value}` back with
/// `behaviors: callback`, asking `confirm` first) and the drop-downs. Shared
/// (`update_multi`), so an update shows for everyone in the chat. Anything else is put in a
/// card's markdown body.
pub fn card(msg: &Message) -> Value {
    let (title, text, buttons, selects, color, mentions) = match msg {
        Message::Card {
            title,
            text,
            buttons,
            selects,
            color,
            mentions,
        } => (
            title.as_str(),
            text.clone(),
            buttons.as_slice(),
            selects.as_slice(),
            color.as_deref(),
            mentions,
        ),
        Message::Text { text, mentions } | Message::Markdown { text, mentions, .. } => {
            let title = match msg {
                Message::Markdown { title, .. } => title.as_str(),
                _ => "",
            };
            (title, text.clone(), &[][..], &[][..], None, mentions)
        }
        other => {
            let fallback = render(other);
            return json!({"config": {"wide_screen_mode": true, "update_multi": true},
                "elements": [{"tag": "markdown", "content": fallback["content"].to_string()}]});
        }
    };
    let mut elements = vec![json!({"tag": "markdown", "content": format!("{}{text}", mention_prefix(mentions))})];
    let mut actions: Vec<Value> = buttons
        .iter()
        .map(|b| {
            let mut button = json!({"tag": "button", "text": plain(&b.text), "type": button_type(b.style.as_deref())});
            if let Some(value) = b.action_value() {
                button["behaviors"] = json!([{"type": "callback", "value": value}]);
            } else if let Some(u) = &b.url {
                button["url"] = json!(u);
            }
            if let Some(c) = &b.confirm {
                button["confirm"] = json!({"title": plain(&b.text), "text": plain(c)});
            }
            button
        })
        .collect();
    actions.extend(selects.iter().map(|s| {
        let options: Vec<Value> = s
            .options
            .iter()
            .map(|o| json!({"text": plain(&o.text), "value": o.value}))
            .collect();
        json!({"tag": "select_static", "placeholder": plain(s.placeholder.as_deref().unwrap_or(" ")),
               "options": options, "value": crate::message::action_value(&s.action, &s.value)})
    }));
    if !actions.is_empty() {
        elements.push(json!({"tag": "action", "actions": actions}));
    }
    let mut card = json!({"config": {"wide_screen_mode": true, "update_multi": true}, "elements": elements});
    if !title.is_empty() {
        card["header"] = json!({"title": plain(title), "template": color.unwrap_or("blue")});
    }
    card
}

/// Renders a message as Feishu's `{"msg_type", "content"}` (the custom bot's shape; the
/// app API takes the same `msg_type` with `content` serialized to a string).
/// Feishu mentions users by `open_id`/`user_id`, not by mobile: mobiles are ignored.
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Text { text, mentions } => json!({
            "msg_type": "text",
            "content": {"text": format!("{}{text}", mention_prefix(mentions))}
        }),
        Message::Markdown { title, text, mentions } => {
            let mut line = Vec::new();
            if mentions.all {
                line.push(json!({"tag": "at", "user_id": "all"}));
            }
            for u in &mentions.user_ids {
                line.push(json!({"tag": "at", "user_id": u}));
            }
            line.push(json!({"tag": "md", "text": text}));
            json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": title, "content": [line]}}}})
        }
        Message::Card { .. } => json!({"msg_type": "interactive", "card": card(msg)}),
        Message::Image { key: Some(k), .. } => json!({"msg_type": "image", "content": {"image_key": k}}),
        Message::File { key: Some(k), .. } => json!({"msg_type": "file", "content": {"file_key": k}}),
        Message::Image { key: None, url, .. } | Message::File { key: None, url, .. } => {
            let u = url.as_deref().unwrap_or_default();
            let label = msg.file_name().unwrap_or_else(|| u.to_owned());
            json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": "",
                "content": [[{"tag": "a", "text": label, "href": u}]]}}}})
        }
        Message::News { articles } => {
            let title = articles.first().map(|a| a.title.as_str()).unwrap_or("");
            let lines: Vec<Value> = articles
                .iter()
                .map(|a| {
                    let mut line = vec![json!({"tag": "a", "text": a.title, "href": a.url})];
                    if let Some(d) = a.description.as_deref().filter(|d| !d.is_empty()) {
                        line.push(json!({"tag": "text", "text": format!(" {d}")}));
                    }
                    Value::Array(line)
                })
                .collect();
            json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": title, "content": lines}}}})
        }
    }
}

/// The answer to a card action (`card.action.trigger`): `{"toast": {type, content}, "card":
/// {"type": "raw", "data": <card>}}`, either part left out when not given.
pub fn answer(a: &crate::answer::CardAnswer) -> Value {
    let mut out = json!({});
    if let Some(t) = &a.toast {
        out["toast"] = json!({"type": t.kind.as_str(), "content": t.text});
    }
    if let Some(c) = &a.card {
        out["card"] = json!({"type": "raw", "data": card(c)});
    }
    out
}
