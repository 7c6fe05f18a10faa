//! WeChat Official Account (公众号): URL verification, plain and safe (AES) mode callbacks,
//! passive replies (plain and encrypted), and customer-service message rendering.
//!
//! The XML normalization here is shared with WeCom, which uses the same message format.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::{self, wxbiz::WxCipher};
use crate::event::{CardAction, Event, EventKind, Location, Media, MessageType, Platform};
use crate::inbound::{
    Accepted, CredentialsError, Options, OwnedRequest, Rejection, Request, Response, SampleKind, check_method,
    check_timestamp,
};
use crate::message::Message;
use crate::secret::Secret;
use crate::xml::{self, XmlFields, XmlValue};

/// Default timestamp window: 5 minutes. WeChat retries three times within about 15 s and
/// documents no window; five minutes leaves room for clock skew and nothing for replays.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// What each of the platform's modes needs, for errors about missing fields.
pub const WECHAT_NEEDS: &str = "WeChat takes token (plain mode), plus encoding_aes_key and app_id for safe mode; sending needs app_id and app_secret";

/// An Official Account's credentials, named as in the vectors.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    /// Token (the one set in the callback configuration).
    #[serde(default)]
    pub token: Option<Secret>,
    /// EncodingAESKey (43 characters): needed for safe (AES) mode.
    #[serde(default)]
    pub encoding_aes_key: Option<Secret>,
    /// AppID: the receive id in safe mode.
    #[serde(default)]
    pub app_id: Option<String>,
    /// AppSecret (for the access token API).
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// With an EncodingAESKey, still accept plaintext messages (WeChat's compatible mode,
    /// while migrating from plain mode). Weaker: a plain message's signature covers the
    /// query, not the body.
    #[serde(default)]
    pub allow_plain: bool,
}

/// An Official Account's prepared verifier.
#[derive(Debug, Clone)]
pub struct Verifier {
    token: Secret,
    cipher: Option<WxCipher>,
    app_id: String,
    allow_plain: bool,
}

/// Builds the cipher from an optional EncodingAESKey, naming the field on error.
pub(crate) fn build_cipher(key: Option<&Secret>) -> Result<Option<WxCipher>, CredentialsError> {
    key.filter(|k| !k.is_blank())
        .map(|k| {
            WxCipher::from_encoding_aes_key(k.expose()).map_err(|e| CredentialsError::Invalid {
                field: "encoding_aes_key",
                why: e.to_string(),
            })
        })
        .transpose()
}

/// The token, required and non-empty.
pub(crate) fn require_token(token: Option<Secret>, needs: &'static str) -> Result<Secret, CredentialsError> {
    token
        .filter(|t| !t.is_blank())
        .ok_or(CredentialsError::Missing { field: "token", needs })
}

impl Verifier {
    /// Prepares a verifier: `token` always; `encoding_aes_key` and `app_id` for safe mode.
    pub fn new(creds: Credentials) -> Result<Self, CredentialsError> {
        let token = require_token(creds.token, WECHAT_NEEDS)?;
        let cipher = build_cipher(creds.encoding_aes_key.as_ref())?;
        let app_id = creds.app_id.unwrap_or_default();
        if cipher.is_some() && app_id.is_empty() {
            return Err(CredentialsError::Missing {
                field: "app_id",
                needs: WECHAT_NEEDS,
            });
        }
        Ok(Self {
            token,
            cipher,
            app_id,
            allow_plain: creds.allow_plain,
        })
    }

    /// Verifies and normalizes one callback.
    pub fn verify(&self, req: &Request<'_>, now: i64, opts: &Options) -> Result<Accepted, Rejection> {
        check_method(req.method, &["GET", "POST"])?;
        opts.check_size(req.body)?;
        let q = req.query();
        let ts = q.require("timestamp")?;
        let nonce = q.require("nonce")?;
        let window = opts.window(DEFAULT_WINDOW_SECS);
        let token = self.token.expose();

        if req.method.eq_ignore_ascii_case("GET") {
            let sig = q.require("signature")?;
            let echostr = q.require("echostr")?;
            if !crypto::verify_sorted_sha1(sig, &mut [token, ts, nonce]) {
                return Err(Rejection::BadSignature(
                    "signature does not match SHA-1(sort(token, timestamp, nonce))".into(),
                ));
            }
            check_timestamp(ts, now, window)?;
            return Ok(Accepted::Verification(Response::text(echostr)));
        }

        let safe = q.get("encrypt_type").is_some_and(|t| t.eq_ignore_ascii_case("aes"));
        let inner: Vec<u8> = if safe {
            let cipher = self.cipher.as_ref().ok_or_else(|| {
                Rejection::Undecryptable("safe-mode message but this bot has no encoding_aes_key".into())
            })?;
            let outer = xml::parse(req.body)?;
            let encrypt = outer
                .get("Encrypt")
                .ok_or_else(|| Rejection::Malformed("safe-mode body without <Encrypt>".into()))?;
            let msg_sig = q.require("msg_signature")?;
            if !crypto::verify_sorted_sha1(msg_sig, &mut [token, ts, nonce, encrypt]) {
                return Err(Rejection::BadSignature(
                    "msg_signature does not match SHA-1(sort(token, timestamp, nonce, Encrypt))".into(),
                ));
            }
            if let Some(sig) = q.get("signature")
                && !crypto::verify_sorted_sha1(sig, &mut [token, ts, nonce])
            {
                return Err(Rejection::BadSignature(
                    "signature does not match SHA-1(sort(token, timestamp, nonce))".into(),
                ));
            }
            check_timestamp(ts, now, window)?;
            cipher.open_for(encrypt, &self.app_id)?
        } else {
            if self.cipher.is_some() && !self.allow_plain {
                // Plain mode's signature covers token, timestamp and nonce, not the body: one
                // captured query string would authenticate any forged message.
                return Err(Rejection::BadSignature(
                    "plaintext message refused: this bot has an encoding_aes_key, so WeChat sends safe-mode \
                     messages (encrypt_type=aes, msg_signature); set allow_plain: true only while migrating"
                        .into(),
                ));
            }
            let sig = q.require("signature")?;
            if !crypto::verify_sorted_sha1(sig, &mut [token, ts, nonce]) {
                return Err(Rejection::BadSignature(
                    "signature does not match SHA-1(sort(token, timestamp, nonce))".into(),
                ));
            }
            check_timestamp(ts, now, window)?;
            req.body.to_vec()
        };
        let fields = xml::parse(&inner)?;
        let raw = String::from_utf8(inner).map_err(|_| Rejection::Malformed("message is not UTF-8".into()))?;
        let event = normalize_xml(Platform::Wechat, &fields, raw)?;
        Ok(Accepted::Event {
            event: Box::new(event),
            response: Response::text("success"),
            replay_guard: None,
        })
    }
}

impl Verifier {
    /// The HTTP answer carrying the passive reply `reply_xml` to `req` (a message this
    /// verifier accepted): sealed as safe mode requires when the request came encrypted
    /// (`encrypt_type=aes`), plain XML otherwise. `now`: Unix seconds.
    pub fn seal_answer(&self, req: &Request<'_>, reply_xml: &str, now: i64) -> Response {
        let safe = req
            .query()
            .get("encrypt_type")
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"));
        match (&self.cipher, safe) {
            (Some(cipher), true) => sealed_response(cipher, self.token.expose(), &self.app_id, req, reply_xml, now),
            _ => Response {
                status: 200,
                content_type: "application/xml".into(),
                body: reply_xml.to_owned(),
            },
        }
    }
}

/// The HTTP answer carrying `reply_xml` sealed for `receive_id` (WeChat's AppID, WeCom's
/// CorpID) with the nonce of `req`, at `now` (Unix seconds).
pub(crate) fn sealed_response(
    cipher: &WxCipher,
    token: &str,
    receive_id: &str,
    req: &Request<'_>,
    reply_xml: &str,
    now: i64,
) -> Response {
    let nonce = req.query().get("nonce").unwrap_or_default().to_owned();
    Response {
        status: 200,
        content_type: "application/xml".into(),
        body: seal_reply(cipher, token, receive_id, reply_xml, &now.to_string(), &nonce),
    }
}

/// Normalizes a WeChat/WeCom message or event XML.
pub(crate) fn normalize_xml(platform: Platform, f: &XmlFields, raw: String) -> Result<Event, Rejection> {
    let msg_type = f
        .get("MsgType")
        .ok_or_else(|| Rejection::Malformed("message without <MsgType>".into()))?;
    let from = f.get("FromUserName").unwrap_or_default();
    let create = f.get("CreateTime").unwrap_or_default();
    let text = |k: &str| f.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    let mut ev = if msg_type == "event" {
        let name = f
            .get("Event")
            .ok_or_else(|| Rejection::Malformed("event without <Event>".into()))?;
        let kind = match name.to_ascii_lowercase().as_str() {
            "subscribe" => EventKind::Subscribe,
            "unsubscribe" => EventKind::Unsubscribe,
            "click" => EventKind::MenuClick,
            "view" => EventKind::MenuView,
            "scan" => EventKind::Scan,
            "location" => EventKind::Location,
            "template_card_event" => EventKind::CardAction,
            "enter_agent" => EventKind::EnterChat,
            "change_contact" => EventKind::ContactChange,
            _ => EventKind::Unknown,
        };
        let id = f
            .get("MsgId")
            .map_or_else(|| format!("{from}:{create}:{name}"), str::to_owned);
        let mut ev = Event::new(platform, id, name.to_owned(), kind, raw);
        ev.key = text("EventKey");
        match kind {
            EventKind::Location => {
                ev.location = Some(Location {
                    latitude: f.get("Latitude").unwrap_or_default().to_owned(),
                    longitude: f.get("Longitude").unwrap_or_default().to_owned(),
                    precision: text("Precision"),
                    label: None,
                });
            }
            EventKind::CardAction => ev.action = Some(template_card_action(f)),
            EventKind::ContactChange => ev.key = text("ChangeType"),
            _ => {}
        }
        ev.reply.response_code = text("ResponseCode");
        ev
    } else {
        let id = f
            .get("MsgId")
            .map_or_else(|| format!("{from}:{create}:{msg_type}"), str::to_owned);
        let mut ev = Event::new(platform, id, msg_type.to_owned(), EventKind::Message, raw);
        ev.message_type = Some(MessageType::from_platform(msg_type));
        ev.text = match msg_type {
            "text" => f.get("Content").map(str::to_owned),
            "voice" => text("Recognition"),
            "link" => f.get("Url").map(str::to_owned),
            "location" => text("Label"),
            _ => None,
        };
        ev.media = match msg_type {
            "image" => Some(Media {
                id: text("MediaId"),
                url: text("PicUrl"),
                ..Media::default()
            }),
            "voice" => Some(Media {
                id: text("MediaId"),
                format: text("Format"),
                ..Media::default()
            }),
            "video" | "shortvideo" => Some(Media {
                id: text("MediaId"),
                ..Media::default()
            }),
            "link" => Some(Media {
                url: text("Url"),
                name: text("Title"),
                ..Media::default()
            }),
            _ => None,
        };
        if msg_type == "location" {
            ev.location = Some(Location {
                latitude: f.get("Location_X").unwrap_or_default().to_owned(),
                longitude: f.get("Location_Y").unwrap_or_default().to_owned(),
                precision: text("Scale"),
                label: text("Label"),
            });
        }
        ev
    };
    ev.time_ms = create.parse::<i64>().ok().map(|s| s.saturating_mul(1000));
    // WeCom's address-book events come from `sys`: the user they are about is `UserID`.
    let user = if ev.kind == EventKind::ContactChange {
        f.get("UserID").unwrap_or_default()
    } else {
        from
    };
    if !user.is_empty() {
        ev.sender_id = Some(user.to_owned());
        ev.chat_id = Some(user.to_owned());
        ev.chat_type = Some("p2p".into());
        ev.reply.open_id = Some(user.to_owned());
    }
    ev.reply.to_user = f.get("ToUserName").map(str::to_owned);
    ev.reply.agent_id = f.get("AgentID").map(str::to_owned);
    Ok(ev)
}

/// A WeCom `template_card_event`: the button's key (botgate's buttons carry their action as
/// JSON there), the task id, and the options chosen, by question.
fn template_card_action(f: &XmlFields) -> CardAction {
    let key = f.get("EventKey").unwrap_or_default();
    let mut a = match serde_json::from_str::<Value>(key) {
        Ok(v @ Value::Object(_)) => CardAction::from_value(v),
        _ => CardAction {
            name: Some(key.to_owned()).filter(|k| !k.is_empty()),
            value: if key.is_empty() {
                Value::Null
            } else {
                json!({"name": key})
            },
            ..CardAction::default()
        },
    };
    a.task_id = f.get("TaskId").filter(|t| !t.is_empty()).map(str::to_owned);
    let mut question = String::new();
    for (k, v) in f.iter() {
        match k {
            "SelectedItems.SelectedItem.QuestionKey" => question = v.to_owned(),
            "SelectedItems.SelectedItem.OptionIds.OptionId" => {
                a.selected.entry(question.clone()).or_default().push(v.to_owned());
            }
            _ => {}
        }
    }
    a.option = a.selected.values().flatten().next().cloned();
    a
}

/// A plain passive text reply: `<xml><ToUserName/><FromUserName/><CreateTime/><MsgType>text...`.
pub fn text_reply(to_user: &str, from_user: &str, create_time: i64, content: &str) -> String {
    let ct = create_time.to_string();
    xml::build(&[
        ("ToUserName", XmlValue::Text(to_user)),
        ("FromUserName", XmlValue::Text(from_user)),
        ("CreateTime", XmlValue::Raw(&ct)),
        ("MsgType", XmlValue::Text("text")),
        ("Content", XmlValue::Text(content)),
    ])
}

/// Encrypts a passive reply for safe mode:
/// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
pub fn seal_reply(
    cipher: &WxCipher,
    token: &str,
    receive_id: &str,
    reply_xml: &str,
    timestamp: &str,
    nonce: &str,
) -> String {
    let encrypt = cipher.seal(reply_xml.as_bytes(), receive_id);
    let sig = crypto::sorted_sha1_hex(&mut [token, timestamp, nonce, &encrypt]);
    xml::build(&[
        ("Encrypt", XmlValue::Text(&encrypt)),
        ("MsgSignature", XmlValue::Text(&sig)),
        ("TimeStamp", XmlValue::Raw(timestamp)),
        ("Nonce", XmlValue::Text(nonce)),
    ])
}

/// The URL of the first link button: WeChat has no buttons, and no action buttons at all,
/// so a card becomes a news entry opening it.
fn first_link(buttons: &[crate::message::Button]) -> Option<&str> {
    buttons.iter().find_map(|b| b.url.as_deref())
}

/// A passive reply's XML (the answer in the callback's HTTP response) from `from` (the
/// account: the message's `ToUserName`) to `to` (the user: its `FromUserName`), for WeChat
/// and WeCom alike. Passive replies carry text, an image by media id, or one news entry:
/// markdown becomes text, a card a news entry linking its first button (text without one),
/// an image given only by URL its URL as text.
pub fn passive_xml(msg: &Message, to: &str, from: &str, create_time: i64) -> String {
    let ct = create_time.to_string();
    let mut fields = vec![
        ("ToUserName", XmlValue::Text(to)),
        ("FromUserName", XmlValue::Text(from)),
        ("CreateTime", XmlValue::Raw(&ct)),
    ];
    let news = |title: &str, description: &str, url: &str, picurl: &str| {
        format!(
            "<item>{}</item>",
            [
                ("Title", title),
                ("Description", description),
                ("PicUrl", picurl),
                ("Url", url),
            ]
            .iter()
            .map(|(k, v)| format!("<{k}>{}</{k}>", xml::cdata(v)))
            .collect::<String>()
        )
    };
    // (MsgType, the element, its content): an image's MediaId, one news entry, or text.
    let (msg_type, element, content) = match msg {
        Message::Image { key: Some(k), .. } => ("image", "Image", format!("<MediaId>{}</MediaId>", xml::cdata(k))),
        Message::Card {
            title,
            text: body,
            buttons,
            ..
        } if first_link(buttons).is_some() => (
            "news",
            "Articles",
            news(title, body, first_link(buttons).unwrap_or_default(), ""),
        ),
        Message::News { articles } if !articles.is_empty() => {
            let a = &articles[0];
            let entry = news(
                &a.title,
                a.description.as_deref().unwrap_or_default(),
                &a.url,
                a.picurl.as_deref().unwrap_or_default(),
            );
            ("news", "Articles", entry)
        }
        other => {
            let text = match other {
                Message::Text { text, .. } => text.clone(),
                Message::Markdown { title, text, .. } | Message::Card { title, text, .. } if title.is_empty() => {
                    text.clone()
                }
                Message::Markdown { title, text, .. } | Message::Card { title, text, .. } => format!("{title}\n{text}"),
                Message::Image { url, .. } | Message::File { url, .. } => url.clone().unwrap_or_default(),
                Message::News { .. } => String::new(),
            };
            ("text", "Content", text)
        }
    };
    fields.push(("MsgType", XmlValue::Text(msg_type)));
    match msg_type {
        "text" => fields.push((element, XmlValue::Text(&content))),
        "news" => {
            fields.push(("ArticleCount", XmlValue::Raw("1")));
            fields.push((element, XmlValue::Raw(&content)));
        }
        _ => fields.push((element, XmlValue::Raw(&content))),
    }
    xml::build(&fields)
}

/// WeCom's passive answer to a `template_card_event`: the pressed card's buttons relabelled
/// `label` (and no longer pressable), for the user `to` from the corp `from`.
pub fn update_button_xml(to: &str, from: &str, create_time: i64, label: &str) -> String {
    let ct = create_time.to_string();
    let button = format!("<ReplaceName>{}</ReplaceName>", xml::cdata(label));
    xml::build(&[
        ("ToUserName", XmlValue::Text(to)),
        ("FromUserName", XmlValue::Text(from)),
        ("CreateTime", XmlValue::Raw(&ct)),
        ("MsgType", XmlValue::Text("update_button")),
        ("Button", XmlValue::Raw(&button)),
    ])
}

/// The XML body of a sample message or event from `from` to `to`.
pub(crate) fn sample_xml(
    kind: SampleKind,
    to: &str,
    from: &str,
    now: i64,
    text: &str,
    agent_id: Option<&str>,
) -> Result<String, String> {
    let now_s = now.to_string();
    let msg_id = u64::from_be_bytes(crypto::random_bytes::<8>()) >> 1;
    let msg_id = msg_id.to_string();
    let wecom = agent_id.is_some();
    // WeCom's address-book events come from `sys`.
    let from = if kind == SampleKind::ContactChange { "sys" } else { from };
    let mut fields = vec![
        ("ToUserName", XmlValue::Text(to)),
        ("FromUserName", XmlValue::Text(from)),
        ("CreateTime", XmlValue::Raw(&now_s)),
    ];
    let key_json;
    let event = |fields: &mut Vec<(&str, XmlValue<'_>)>, name: &'static str| {
        fields.push(("MsgType", XmlValue::Text("event")));
        fields.push(("Event", XmlValue::Text(name)));
    };
    let message = |fields: &mut Vec<(&str, XmlValue<'_>)>, msg_type: &'static str| {
        fields.push(("MsgType", XmlValue::Text(msg_type)));
    };
    match kind {
        SampleKind::Message => {
            message(&mut fields, "text");
            fields.push(("Content", XmlValue::Text(text)));
        }
        SampleKind::Subscribe => event(&mut fields, "subscribe"),
        SampleKind::Click => {
            event(&mut fields, "CLICK");
            fields.push(("EventKey", XmlValue::Text(text)));
        }
        SampleKind::View => {
            event(&mut fields, "VIEW");
            fields.push(("EventKey", XmlValue::Text(text)));
        }
        SampleKind::Scan if !wecom => {
            event(&mut fields, "SCAN");
            fields.push(("EventKey", XmlValue::Text(text)));
            fields.push((
                "Ticket",
                XmlValue::Text("gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL3NhbXBsZQ=="),
            ));
        }
        SampleKind::Location => {
            event(&mut fields, "LOCATION");
            fields.push(("Latitude", XmlValue::Raw("23.137466")));
            fields.push(("Longitude", XmlValue::Raw("113.352425")));
            fields.push(("Precision", XmlValue::Raw("119.385040")));
        }
        SampleKind::Image => {
            message(&mut fields, "image");
            fields.push(("PicUrl", XmlValue::Text("https://mmbiz.qpic.cn/sample.jpg")));
            fields.push(("MediaId", XmlValue::Text("media_sample_image")));
        }
        SampleKind::Voice => {
            message(&mut fields, "voice");
            fields.push(("MediaId", XmlValue::Text("media_sample_voice")));
            fields.push(("Format", XmlValue::Text("amr")));
            if !wecom {
                fields.push(("Recognition", XmlValue::Text(text)));
            }
        }
        SampleKind::Video => {
            message(&mut fields, "video");
            fields.push(("MediaId", XmlValue::Text("media_sample_video")));
            fields.push(("ThumbMediaId", XmlValue::Text("media_sample_thumb")));
        }
        SampleKind::LocationMessage => {
            message(&mut fields, "location");
            fields.push(("Location_X", XmlValue::Raw("23.134521")));
            fields.push(("Location_Y", XmlValue::Raw("113.358803")));
            fields.push(("Scale", XmlValue::Raw("20")));
            fields.push(("Label", XmlValue::Text(text)));
        }
        SampleKind::Link => {
            message(&mut fields, "link");
            fields.push(("Title", XmlValue::Text(text)));
            fields.push(("Description", XmlValue::Text("a shared link")));
            fields.push(("Url", XmlValue::Text("https://example.com/article")));
        }
        SampleKind::EnterChat if wecom => {
            event(&mut fields, "enter_agent");
            fields.push(("EventKey", XmlValue::Text("")));
        }
        SampleKind::CardAction if wecom => {
            event(&mut fields, "template_card_event");
            key_json = SampleKind::action_value(text).to_string();
            fields.push(("EventKey", XmlValue::Text(&key_json)));
            fields.push(("TaskId", XmlValue::Text("bg-sample-task")));
            fields.push(("CardType", XmlValue::Text("button_interaction")));
            fields.push(("ResponseCode", XmlValue::Text("sample-response-code")));
        }
        SampleKind::ContactChange if wecom => {
            event(&mut fields, "change_contact");
            fields.push(("ChangeType", XmlValue::Text("create_user")));
            fields.push(("UserID", XmlValue::Text("lisi")));
            fields.push(("Name", XmlValue::Text(text)));
        }
        other => return Err(format!("this platform has no {} callback", other.as_str())),
    }
    if fields
        .iter()
        .any(|(k, v)| *k == "MsgType" && *v != XmlValue::Text("event"))
    {
        fields.push(("MsgId", XmlValue::Raw(&msg_id)));
    }
    if let Some(a) = agent_id {
        fields.push(("AgentID", XmlValue::Raw(a)));
    }
    Ok(xml::build(&fields))
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A ready-to-send sample callback for these credentials: safe mode when an EncodingAESKey
/// is set, plain mode otherwise. `now` is Unix seconds.
pub fn sample_request(creds: &Credentials, kind: SampleKind, text: &str, now: i64) -> Result<OwnedRequest, String> {
    let token = creds.token.as_ref().map(Secret::expose).unwrap_or("");
    let ts = now.to_string();
    let nonce = (u32::from_be_bytes(crypto::random_bytes::<4>()) % 1_000_000_000).to_string();
    let sig = crypto::sorted_sha1_hex(&mut [token, &ts, &nonce]);
    if kind == SampleKind::UrlVerification {
        let echostr = crypto::random_nonce(20);
        return Ok(OwnedRequest {
            method: "GET".into(),
            query: query_string(&[
                ("signature", &sig),
                ("timestamp", &ts),
                ("nonce", &nonce),
                ("echostr", &echostr),
            ]),
            headers: BTreeMap::new(),
            body: String::new(),
        });
    }
    let app_id = creds.app_id.as_deref().unwrap_or("gh_sample");
    let openid = format!("o{}", crypto::random_nonce(27));
    let inner = sample_xml(kind, app_id, &openid, now, text, None)?;
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "text/xml".to_owned());
    let cipher = build_cipher(creds.encoding_aes_key.as_ref()).map_err(|e| e.to_string())?;
    let (query, body) = match cipher {
        Some(c) => {
            let encrypt = c.seal(inner.as_bytes(), app_id);
            let msg_sig = crypto::sorted_sha1_hex(&mut [token, &ts, &nonce, &encrypt]);
            let body = xml::build(&[
                ("ToUserName", XmlValue::Text(app_id)),
                ("Encrypt", XmlValue::Text(&encrypt)),
            ]);
            let q = query_string(&[
                ("signature", &sig),
                ("timestamp", &ts),
                ("nonce", &nonce),
                ("openid", &openid),
                ("encrypt_type", "aes"),
                ("msg_signature", &msg_sig),
            ]);
            (q, body)
        }
        None => (
            query_string(&[
                ("signature", &sig),
                ("timestamp", &ts),
                ("nonce", &nonce),
                ("openid", &openid),
            ]),
            inner,
        ),
    };
    Ok(OwnedRequest {
        method: "POST".into(),
        query,
        headers,
        body,
    })
}

/// Renders a message as a customer-service message body (`msgtype` and its object; the
/// caller adds `touser`). WeChat has no mentions, markdown or cards: markdown becomes text,
/// a card becomes a news entry linking its first button, and news keeps its first entry
/// (the API accepts one).
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Text { text, .. } => json!({"msgtype": "text", "text": {"content": text}}),
        Message::Markdown { title, text, .. } => {
            let content = if title.is_empty() {
                text.clone()
            } else {
                format!("{title}\n{text}")
            };
            json!({"msgtype": "text", "text": {"content": content}})
        }
        Message::Card {
            title, text, buttons, ..
        } => match first_link(buttons) {
            Some(url) => json!({"msgtype": "news", "news": {"articles": [
                {"title": title, "description": text, "url": url}]}}),
            None => json!({"msgtype": "text", "text": {"content": format!("{title}\n{text}")}}),
        },
        Message::Image { key: Some(k), .. } => json!({"msgtype": "image", "image": {"media_id": k}}),
        Message::Image { key: None, url, .. } | Message::File { url, .. } => {
            json!({"msgtype": "text", "text": {"content": url.as_deref().unwrap_or_default()}})
        }
        Message::News { articles } => {
            let a: Vec<Value> = articles
                .iter()
                .take(1)
                .map(|a| json!({"title": a.title, "description": a.description, "url": a.url, "picurl": a.picurl}))
                .collect();
            json!({"msgtype": "news", "news": {"articles": a}})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(safe: bool) -> Credentials {
        Credentials {
            token: Some(Secret::new("tok")),
            encoding_aes_key: safe.then(|| Secret::new("r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0")),
            app_id: Some("wx1".into()),
            app_secret: None,
            allow_plain: false,
        }
    }

    #[test]
    fn samples_round_trip_in_both_modes() {
        for safe in [true, false] {
            let v = Verifier::new(creds(safe)).unwrap();
            for kind in [
                SampleKind::Message,
                SampleKind::Subscribe,
                SampleKind::Click,
                SampleKind::UrlVerification,
            ] {
                let req = sample_request(&creds(safe), kind, "菜单 ]]> &", 500).unwrap();
                let out = v.verify(&req.as_request(), 500, &Options::default()).unwrap();
                match (kind, out) {
                    (SampleKind::UrlVerification, Accepted::Verification(r)) => assert_eq!(r.body.len(), 20),
                    (SampleKind::Message, Accepted::Event { event, response, .. }) => {
                        assert_eq!(event.text.as_deref(), Some("菜单 ]]> &"));
                        assert_eq!(response.body, "success");
                    }
                    (SampleKind::Subscribe, Accepted::Event { event, .. }) => {
                        assert_eq!(event.kind, EventKind::Subscribe);
                        assert!(event.event_id.ends_with(":500:subscribe"));
                    }
                    (SampleKind::Click, Accepted::Event { event, .. }) => {
                        assert_eq!(event.kind, EventKind::MenuClick);
                        assert_eq!(event.key.as_deref(), Some("菜单 ]]> &"));
                    }
                    (k, o) => panic!("{k:?} gave {o:?}"),
                }
            }
        }
    }

    #[test]
    fn unknown_message_type_is_kept() {
        let f = xml::parse(b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>hologram</MsgType><MsgId>9</MsgId></xml>").unwrap();
        let ev = normalize_xml(Platform::Wechat, &f, "raw".into()).unwrap();
        assert_eq!(ev.message_type, Some(MessageType::Unknown));
        assert_eq!(
            (ev.event_id.as_str(), ev.event_type.as_str(), ev.raw.as_str()),
            ("9", "hologram", "raw")
        );
        let f = xml::parse(b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>weird_new</Event></xml>").unwrap();
        let ev = normalize_xml(Platform::Wechat, &f, "raw".into()).unwrap();
        assert_eq!((ev.kind, ev.event_id.as_str()), (EventKind::Unknown, "u:1:weird_new"));
    }

    #[test]
    fn encrypted_reply_opens_and_verifies() {
        let c = WxCipher::from_encoding_aes_key("r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0").unwrap();
        let reply = text_reply("user", "gh", 5, "hi");
        let sealed = seal_reply(&c, "tok", "wx1", &reply, "5", "n");
        let f = xml::parse(sealed.as_bytes()).unwrap();
        let enc = f.get("Encrypt").unwrap();
        assert!(crypto::verify_sorted_sha1(
            f.get("MsgSignature").unwrap(),
            &mut ["tok", "5", "n", enc]
        ));
        assert_eq!(c.open_for(enc, "wx1").unwrap(), reply.as_bytes());
    }
}
