//! WeCom (企业微信) self-built applications: URL verification with an encrypted `echostr`,
//! encrypted message and event callbacks, and group bot (webhook) message rendering.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::wechat::{build_cipher, normalize_xml, require_token, sample_xml};
use crate::crypto::{self, wxbiz::WxCipher};
use crate::event::Platform;
use crate::inbound::{
    Accepted, CredentialsError, Options, OwnedRequest, Rejection, Request, Response, SampleKind, check_method,
    check_timestamp,
};
use crate::message::{Mentions, Message};
use crate::secret::Secret;
use crate::xml::{self, XmlValue};

/// Default timestamp window: 5 minutes, for the same reasons as WeChat.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// What each of the platform's modes needs, for errors about missing fields.
pub const WECOM_NEEDS: &str = "WeCom takes token, encoding_aes_key and corp_id; sending needs corp_secret and agent_id";

/// A WeCom application's credentials, named as in the vectors.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    /// Token from the application's API receive settings.
    #[serde(default)]
    pub token: Option<Secret>,
    /// EncodingAESKey (43 characters).
    #[serde(default)]
    pub encoding_aes_key: Option<Secret>,
    /// CorpID: the receive id.
    #[serde(default)]
    pub corp_id: Option<String>,
    /// The application's Secret (for the access token API).
    #[serde(default)]
    pub corp_secret: Option<Secret>,
    /// The application's AgentId.
    #[serde(default)]
    pub agent_id: Option<String>,
}

/// A WeCom application's prepared verifier.
#[derive(Debug, Clone)]
pub struct Verifier {
    token: Secret,
    cipher: WxCipher,
    corp_id: String,
}

impl Verifier {
    /// Prepares a verifier: `token`, `encoding_aes_key` and `corp_id` are all required.
    pub fn new(creds: Credentials) -> Result<Self, CredentialsError> {
        let token = require_token(creds.token, WECOM_NEEDS)?;
        let cipher = build_cipher(creds.encoding_aes_key.as_ref())?.ok_or(CredentialsError::Missing {
            field: "encoding_aes_key",
            needs: WECOM_NEEDS,
        })?;
        let corp_id = creds
            .corp_id
            .filter(|c| !c.is_empty())
            .ok_or(CredentialsError::Missing {
                field: "corp_id",
                needs: WECOM_NEEDS,
            })?;
        Ok(Self { token, cipher, corp_id })
    }

    /// Verifies and normalizes one callback.
    pub fn verify(&self, req: &Request<'_>, now: i64, opts: &Options) -> Result<Accepted, Rejection> {
        check_method(req.method, &["GET", "POST"])?;
        opts.check_size(req.body)?;
        let q = req.query();
        let ts = q.require("timestamp")?;
        let nonce = q.require("nonce")?;
        let msg_sig = q.require("msg_signature")?;
        let window = opts.window(DEFAULT_WINDOW_SECS);
        let token = self.token.expose();

        if req.method.eq_ignore_ascii_case("GET") {
            let echostr = q.require("echostr")?;
            if !crypto::verify_sorted_sha1(msg_sig, &mut [token, ts, nonce, echostr]) {
                return Err(Rejection::BadSignature(
                    "msg_signature does not match SHA-1(sort(token, timestamp, nonce, echostr))".into(),
                ));
            }
            check_timestamp(ts, now, window)?;
            let plain = self.cipher.open_for(echostr, &self.corp_id)?;
            let plain = String::from_utf8(plain).map_err(|_| Rejection::Malformed("echostr is not UTF-8".into()))?;
            return Ok(Accepted::Verification(Response::text(plain)));
        }

        let outer = xml::parse(req.body)?;
        let encrypt = outer
            .get("Encrypt")
            .ok_or_else(|| Rejection::Malformed("body without <Encrypt>".into()))?;
        if !crypto::verify_sorted_sha1(msg_sig, &mut [token, ts, nonce, encrypt]) {
            return Err(Rejection::BadSignature(
                "msg_signature does not match SHA-1(sort(token, timestamp, nonce, Encrypt))".into(),
            ));
        }
        check_timestamp(ts, now, window)?;
        let inner = self.cipher.open_for(encrypt, &self.corp_id)?;
        let fields = xml::parse(&inner)?;
        let raw = String::from_utf8(inner).map_err(|_| Rejection::Malformed("message is not UTF-8".into()))?;
        let event = normalize_xml(Platform::Wecom, &fields, raw)?;
        // WeCom: an empty 200 means "received, no passive reply".
        Ok(Accepted::Event {
            event: Box::new(event),
            response: Response::text(""),
            replay_guard: None,
        })
    }
}

impl Verifier {
    /// The HTTP answer carrying the passive reply `reply_xml` to `req` (a message this
    /// verifier accepted), sealed with the corp id as WeCom requires. `now`: Unix seconds.
    pub fn seal_answer(&self, req: &Request<'_>, reply_xml: &str, now: i64) -> Response {
        super::wechat::sealed_response(&self.cipher, self.token.expose(), &self.corp_id, req, reply_xml, now)
    }
}

/// A ready-to-send sample callback for these credentials. `now` is Unix seconds.
pub fn sample_request(creds: &Credentials, kind: SampleKind, text: &str, now: i64) -> Result<OwnedRequest, String> {
    let token = creds.token.as_ref().map(Secret::expose).unwrap_or("");
    let corp_id = creds.corp_id.as_deref().unwrap_or("");
    let cipher = build_cipher(creds.encoding_aes_key.as_ref())
        .map_err(|e| e.to_string())?
        .ok_or("wecom credentials need encoding_aes_key")?;
    let ts = now.to_string();
    let nonce = (u32::from_be_bytes(crypto::random_bytes::<4>()) % 1_000_000_000).to_string();
    let q = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    if kind == SampleKind::UrlVerification {
        let echostr = cipher.seal(crypto::random_nonce(20).as_bytes(), corp_id);
        let sig = crypto::sorted_sha1_hex(&mut [token, &ts, &nonce, &echostr]);
        return Ok(OwnedRequest {
            method: "GET".into(),
            query: q(&[
                ("msg_signature", &sig),
                ("timestamp", &ts),
                ("nonce", &nonce),
                ("echostr", &echostr),
            ]),
            headers: BTreeMap::new(),
            body: String::new(),
        });
    }
    let agent = creds.agent_id.as_deref().unwrap_or("1000002");
    let inner = sample_xml(kind, corp_id, "zhangsan", now, text, Some(agent))?;
    let encrypt = cipher.seal(inner.as_bytes(), corp_id);
    let sig = crypto::sorted_sha1_hex(&mut [token, &ts, &nonce, &encrypt]);
    let body = xml::build(&[
        ("ToUserName", XmlValue::Text(corp_id)),
        ("Encrypt", XmlValue::Text(&encrypt)),
        ("AgentID", XmlValue::Raw(agent)),
    ]);
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "text/xml".to_owned());
    Ok(OwnedRequest {
        method: "POST".into(),
        query: q(&[("msg_signature", &sig), ("timestamp", &ts), ("nonce", &nonce)]),
        headers,
        body,
    })
}

fn markdown_mentions(m: &Mentions) -> String {
    let mut out = String::new();
    if m.all {
        out.push_str("<@all> ");
    }
    for u in &m.user_ids {
        out.push_str(&format!("<@{u}> "));
    }
    out
}

/// Renders a message for a WeCom group bot (`msgtype` text, markdown, news, template_card).
/// Text mentions go in `mentioned_list` (`@all` included) and `mentioned_mobile_list`;
/// markdown mentions are `<@userid>`. An image URL becomes a news entry (the bot's `image`
/// type needs the bytes and their MD5).
pub fn render_bot(msg: &Message) -> Value {
    match msg {
        Message::Text { text, mentions } => {
            let mut list: Vec<&str> = mentions.user_ids.iter().map(String::as_str).collect();
            if mentions.all {
                list.push("@all");
            }
            json!({"msgtype": "text", "text": {"content": text, "mentioned_list": list,
                                               "mentioned_mobile_list": mentions.mobiles}})
        }
        Message::Markdown { title, text, mentions } => {
            let head = if title.is_empty() {
                String::new()
            } else {
                format!("**{title}**\n")
            };
            json!({"msgtype": "markdown", "markdown": {"content": format!("{head}{}{text}", markdown_mentions(mentions))}})
        }
        Message::Card {
            title,
            text,
            buttons,
            color,
            mentions,
            ..
        } => {
            // A card becomes markdown: the bot's template cards cut their text at about a
            // hundred characters, markdown takes 4096 bytes. The colour marks the title.
            // Action buttons need the application's template cards: here they show as
            // their label.
            let font = match color.as_deref() {
                Some("red" | "orange" | "carmine" | "yellow") => "warning",
                Some("green" | "turquoise") => "info",
                _ => "comment",
            };
            let mut content = format!(
                "<font color=\"{font}\">**{title}**</font>\n{}{text}",
                markdown_mentions(mentions)
            );
            for b in buttons {
                match &b.url {
                    Some(u) => content.push_str(&format!("\n[{}]({u})", b.text)),
                    None => content.push_str(&format!("\n`{}`", b.text)),
                }
            }
            json!({"msgtype": "markdown", "markdown": {"content": content}})
        }
        Message::Image { url, .. } | Message::File { url, .. } => {
            let u = url.as_deref().unwrap_or_default();
            let title = msg.file_name().unwrap_or_else(|| u.to_owned());
            let pic = if matches!(msg, Message::Image { .. }) { u } else { "" };
            json!({"msgtype": "news", "news": {"articles": [{"title": title, "url": u, "picurl": pic}]}})
        }
        Message::News { articles } => {
            let a: Vec<Value> = articles
                .iter()
                .take(8)
                .map(|a| json!({"title": a.title, "description": a.description, "url": a.url, "picurl": a.picurl}))
                .collect();
            json!({"msgtype": "news", "news": {"articles": a}})
        }
    }
}

/// A WeCom button's style: 1 for `primary`, 3 for `danger`, 2 otherwise.
fn button_style(style: Option<&str>) -> u8 {
    match style {
        Some("primary") => 1,
        Some("danger") => 3,
        _ => 2,
    }
}

/// The longest button key WeCom takes.
const MAX_KEY_BYTES: usize = 1024;

/// The key of an action button: its value object as JSON (`{"name": ..., ...}`), read back
/// from the card event's `EventKey`; the name alone if the JSON is longer than WeCom takes.
pub fn button_key(name: &str, fields: &std::collections::BTreeMap<String, String>) -> String {
    let json = crate::message::action_value(name, fields).to_string();
    if json.len() <= MAX_KEY_BYTES {
        json
    } else {
        crate::limits::cut(name, MAX_KEY_BYTES).to_owned()
    }
}

/// Renders a message for the application message API (`message/send`): an interactive
/// card becomes a `button_interaction` template card under `task_id` (action buttons with
/// their key, link buttons opening their URL, the first drop-down as `button_selection`,
/// reported with the next press); an image or file with a media key is sent as such;
/// everything else as for a group bot, without mentions (the application API has none).
pub fn render_app(msg: &Message, task_id: &str) -> Value {
    match msg {
        Message::Card {
            title,
            text,
            buttons,
            selects,
            ..
        } if msg.is_interactive() => {
            let button_list: Vec<Value> = buttons
                .iter()
                .filter_map(|b| match (&b.action, &b.url) {
                    (Some(name), _) => Some(json!({"text": b.text, "style": button_style(b.style.as_deref()),
                        "key": button_key(name, &b.value)})),
                    (None, Some(u)) => Some(json!({"text": b.text, "style": button_style(b.style.as_deref()),
                        "type": 1, "url": u})),
                    (None, None) => None,
                })
                .take(6)
                .collect();
            let mut card = json!({
                "card_type": "button_interaction",
                "main_title": {"title": title},
                "sub_title_text": text,
                "task_id": task_id,
                "button_list": button_list,
            });
            if let Some(sel) = selects.first() {
                let options: Vec<Value> = sel
                    .options
                    .iter()
                    .map(|o| json!({"id": o.value, "text": o.text}))
                    .collect();
                card["button_selection"] = json!({
                    "question_key": sel.action,
                    "title": sel.placeholder.as_deref().unwrap_or(""),
                    "option_list": options,
                    "selected_id": sel.options.first().map(|o| o.value.as_str()).unwrap_or(""),
                });
            }
            json!({"msgtype": "template_card", "template_card": card})
        }
        Message::Image { key: Some(k), .. } => json!({"msgtype": "image", "image": {"media_id": k}}),
        Message::File { key: Some(k), .. } => json!({"msgtype": "file", "file": {"media_id": k}}),
        other => {
            let mut body = render_bot(other);
            // The application API names mentions differently and has no mention lists.
            if let Some(text) = body.get_mut("text").and_then(Value::as_object_mut) {
                text.remove("mentioned_list");
                text.remove("mentioned_mobile_list");
            }
            body
        }
    }
}

/// The text a card without buttons leaves on the buttons it replaces (WeCom's `update_button`
/// and `button.replace_name`): its title, else its text, cut to one short line.
pub fn replace_name(message: &Message) -> String {
    let text = match message {
        Message::Card { title, .. } | Message::Markdown { title, .. } if !title.is_empty() => title.as_str(),
        Message::Card { text, .. } | Message::Markdown { text, .. } | Message::Text { text, .. } => text.as_str(),
        _ => "",
    };
    let line = text.lines().next().unwrap_or_default().trim();
    crate::limits::cut(line, MAX_REPLACE_NAME_BYTES).to_owned()
}

/// The longest replacement button text sent (WeCom shows a short label).
const MAX_REPLACE_NAME_BYTES: usize = 60;

/// An `update_template_card` body for the card of a card event (its `response_code`), for
/// the users `userids`: an interactive card replaces the card (a `button_interaction`
/// template card under `task_id`); anything else turns its buttons into one that cannot be
/// pressed, labelled with [`replace_name`] ("Approved by alice").
pub fn update_card_body(
    message: &Message,
    task_id: &str,
    response_code: &str,
    userids: &[&str],
    agent_id: &Value,
) -> Value {
    let mut body = json!({"userids": userids, "agentid": agent_id, "response_code": response_code});
    let app = render_app(message, task_id);
    if app["msgtype"] == "template_card" {
        body["template_card"] = app["template_card"].clone();
    } else {
        body["button"] = json!({"replace_name": replace_name(message)});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn creds() -> Credentials {
        Credentials {
            token: Some(Secret::new("tok")),
            encoding_aes_key: Some(Secret::new("EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE")),
            corp_id: Some("ww1".into()),
            ..Credentials::default()
        }
    }

    #[test]
    fn samples_round_trip() {
        let v = Verifier::new(creds()).unwrap();
        for kind in [SampleKind::Message, SampleKind::Subscribe, SampleKind::UrlVerification] {
            let req = sample_request(&creds(), kind, "hello", 9).unwrap();
            match v.verify(&req.as_request(), 9, &Options::default()).unwrap() {
                Accepted::Verification(r) => assert_eq!((kind, r.body.len()), (SampleKind::UrlVerification, 20)),
                Accepted::Event { event, .. } => {
                    assert_eq!(event.reply.agent_id.as_deref(), Some("1000002"));
                    if kind == SampleKind::Subscribe {
                        assert_eq!(event.kind, EventKind::Subscribe);
                    } else {
                        assert_eq!(event.text.as_deref(), Some("hello"));
                    }
                }
            }
        }
    }

    #[test]
    fn other_corp_is_wrong_receive_id() {
        let mut other = creds();
        other.corp_id = Some("ww2".into());
        let req = sample_request(&other, SampleKind::Message, "x", 9).unwrap();
        let err = Verifier::new(creds())
            .unwrap()
            .verify(&req.as_request(), 9, &Options::default())
            .unwrap_err();
        assert_eq!(err.reason(), "wrong_receive_id");
    }

    #[test]
    fn bot_text_mentions() {
        let m = Message::Text {
            text: "t".into(),
            mentions: Mentions {
                all: true,
                user_ids: vec!["u1".into()],
                mobiles: vec!["138".into()],
            },
        };
        let v = render_bot(&m);
        assert_eq!(v["text"]["mentioned_list"], json!(["u1", "@all"]));
        assert_eq!(v["text"]["mentioned_mobile_list"], json!(["138"]));
    }
}
