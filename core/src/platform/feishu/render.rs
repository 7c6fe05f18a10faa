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
        Message::Card {
            title,
            text,
            buttons,
            color,
            mentions,
        } => {
            let mut elements =
                vec![json!({"tag": "markdown", "content": format!("{}{text}", mention_prefix(mentions))})];
            if !buttons.is_empty() {
                let actions: Vec<Value> = buttons
                    .iter()
                    .map(|b| {
                        json!({"tag": "button", "text": {"tag": "plain_text", "content": b.text},
                                    "type": "default", "url": b.url})
                    })
                    .collect();
                elements.push(json!({"tag": "action", "actions": actions}));
            }
            json!({"msg_type": "interactive", "card": {
                "config": {"wide_screen_mode": true},
                "header": {"title": {"tag": "plain_text", "content": title},
                           "template": color.as_deref().unwrap_or("blue")},
                "elements": elements}})
        }
        Message::Image { key, url } => match key {
            Some(k) => json!({"msg_type": "image", "content": {"image_key": k}}),
            None => json!({"msg_type": "post", "content": {"post": {"zh_cn": {"title": "",
                "content": [[{"tag": "a", "text": url.as_deref().unwrap_or(""), "href": url.as_deref().unwrap_or("")}]]}}}}),
        },
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
