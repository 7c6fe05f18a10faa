//! DingTalk: HTTP event subscription (WXBizMsgCrypt-encrypted JSON, answered with an
//! encrypted `success`), the chat bot in HTTP mode (`timestamp` + `sign` headers), the
//! custom group robot signature, and message rendering.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::{self, wxbiz::WxCipher};
use crate::event::{Event, EventKind, Media, MessageType, Platform};
use crate::inbound::{
    Accepted, CredentialsError, Options, OwnedRequest, Rejection, ReplayGuard, Request, Response, SampleKind,
    check_method, check_timestamp,
};
use crate::message::{Mentions, Message};
use crate::secret::Secret;

pub mod stream;

/// Default timestamp window for event subscriptions: 5 minutes (skew only; each push is
/// signed afresh).
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// What each of the platform's modes needs, for errors about missing fields.
pub const DINGTALK_NEEDS: &str = "DingTalk event subscription takes token, aes_key and app_key; the chat bot in HTTP mode takes app_secret; the robot API needs app_key and app_secret";
/// Default window for the chat bot: 5 minutes. DingTalk documents one hour as the most it
/// allows, but it signs every request when it sends it, so only clock skew needs room; and
/// `sign` covers the timestamp alone, so a longer window is a longer replay window.
pub const DEFAULT_ROBOT_WINDOW_SECS: u64 = 300;

/// A DingTalk app's credentials, named as in the vectors.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    /// Event subscription token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Event subscription `aes_key` (43 characters).
    #[serde(default)]
    pub aes_key: Option<Secret>,
    /// AppKey (client id): the receive id of an internal app's events.
    #[serde(default)]
    pub app_key: Option<String>,
    /// AppSecret: signs the chat bot's HTTP requests; also gets access tokens.
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// Overrides the receive id (a third-party app's suite key, or the corp id).
    #[serde(default)]
    pub receive_id: Option<String>,
}

/// A DingTalk app's prepared verifier.
#[derive(Debug, Clone)]
pub struct Verifier {
    events: Option<(Secret, WxCipher, String)>,
    app_secret: Option<Secret>,
}

/// The DingTalk HMAC signature: base64(HMAC-SHA256(key = secret, message =
/// `timestamp + "\n" + secret`)). Used by the custom robot webhook (in the query, URL-encoded)
/// and by the chat bot's requests to us (in the `sign` header). `timestamp` is milliseconds.
pub fn hmac_sign(secret: &str, timestamp_ms: &str) -> String {
    let msg = format!("{timestamp_ms}\n{secret}");
    crypto::b64(&crypto::hmac_sha256(secret.as_bytes(), msg.as_bytes()))
}

/// The custom robot webhook URL with `timestamp` and the URL-encoded `sign` appended.
pub fn webhook_url(base: &str, secret: &str, timestamp_ms: i64) -> String {
    let ts = timestamp_ms.to_string();
    let sign: String = form_urlencoded::byte_serialize(hmac_sign(secret, &ts).as_bytes()).collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}timestamp={ts}&sign={sign}")
}

/// The encrypted answer DingTalk expects to every event: `{"msg_signature","timeStamp","nonce","encrypt"}`.
pub fn encrypted_answer(
    cipher: &WxCipher,
    token: &str,
    receive_id: &str,
    plaintext: &str,
    timestamp: &str,
    nonce: &str,
) -> String {
    let encrypt = cipher.seal(plaintext.as_bytes(), receive_id);
    let sig = crypto::sorted_sha1_hex(&mut [token, timestamp, nonce, &encrypt]);
    json!({"msg_signature": sig, "timeStamp": timestamp, "nonce": nonce, "encrypt": encrypt}).to_string()
}

#[derive(Deserialize)]
struct EncryptedBody {
    encrypt: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RobotText {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RobotMessage {
    #[serde(default)]
    msg_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    conversation_type: Option<String>,
    #[serde(default)]
    sender_staff_id: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
    #[serde(default)]
    msgtype: Option<String>,
    #[serde(default)]
    text: Option<RobotText>,
    /// `richText`, `picture`, `file`, `audio`, `video`: what the message holds.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    session_webhook: Option<String>,
    #[serde(default)]
    session_webhook_expired_time: Option<i64>,
    #[serde(default)]
    create_at: Option<i64>,
    #[serde(default)]
    robot_code: Option<String>,
}

impl Verifier {
    /// Prepares a verifier. Event subscription needs `token`, `aes_key` and `app_key` (or
    /// `receive_id`); the chat bot needs `app_secret`. At least one of the two is required.
    pub fn new(creds: Credentials) -> Result<Self, CredentialsError> {
        let token = creds.token.filter(|t| !t.is_blank());
        let cipher = creds
            .aes_key
            .filter(|k| !k.is_blank())
            .map(|k| {
                WxCipher::from_encoding_aes_key(k.expose()).map_err(|e| CredentialsError::Invalid {
                    field: "aes_key",
                    why: e.to_string(),
                })
            })
            .transpose()?;
        let receive_id = creds.receive_id.or(creds.app_key).filter(|r| !r.is_empty());
        let events = match (token, cipher, receive_id) {
            (Some(t), Some(c), Some(r)) => Some((t, c, r)),
            (None, None, _) => None,
            (None, _, _) => {
                return Err(CredentialsError::Missing {
                    field: "token",
                    needs: DINGTALK_NEEDS,
                });
            }
            (_, None, _) => {
                return Err(CredentialsError::Missing {
                    field: "aes_key",
                    needs: DINGTALK_NEEDS,
                });
            }
            (_, _, None) => {
                return Err(CredentialsError::Missing {
                    field: "app_key",
                    needs: DINGTALK_NEEDS,
                });
            }
        };
        let app_secret = creds.app_secret.filter(|s| !s.is_blank());
        if events.is_none() && app_secret.is_none() {
            return Err(CredentialsError::Missing {
                field: "token + aes_key + app_key, or app_secret",
                needs: DINGTALK_NEEDS,
            });
        }
        Ok(Self { events, app_secret })
    }

    /// Verifies and normalizes one callback: an encrypted event if the body has `encrypt`,
    /// otherwise a chat bot message signed in the headers.
    pub fn verify(&self, req: &Request<'_>, now: i64, opts: &Options) -> Result<Accepted, Rejection> {
        check_method(req.method, &["POST"])?;
        opts.check_size(req.body)?;
        if req.header("sign").is_some() && req.header("timestamp").is_some() {
            return self.verify_robot(req, now, opts);
        }
        self.verify_event(req, now, opts)
    }

    fn verify_event(&self, req: &Request<'_>, now: i64, opts: &Options) -> Result<Accepted, Rejection> {
        let Some((token, cipher, receive_id)) = &self.events else {
            return Err(Rejection::Undecryptable(
                "event subscription callback but this bot has no token/aes_key/app_key".into(),
            ));
        };
        let body: EncryptedBody = serde_json::from_slice(req.body).map_err(|_| {
            Rejection::Malformed("body is neither {\"encrypt\": ...} nor a signed chat bot message".into())
        })?;
        let q = req.query();
        let sig = q.require("msg_signature").or_else(|_| q.require("signature"))?;
        let ts = q
            .get("timestamp")
            .or_else(|| q.get("timeStamp"))
            .ok_or_else(|| Rejection::Malformed("missing query parameter timestamp".into()))?;
        let nonce = q.require("nonce")?;
        let token = token.expose();
        if !crypto::verify_sorted_sha1(sig, &mut [token, ts, nonce, &body.encrypt]) {
            return Err(Rejection::BadSignature(
                "msg_signature does not match SHA-1(sort(token, timestamp, nonce, encrypt))".into(),
            ));
        }
        check_timestamp(ts, now, opts.window(DEFAULT_WINDOW_SECS))?;
        let plain = cipher.open_for(&body.encrypt, receive_id)?;
        let payload: Value =
            serde_json::from_slice(&plain).map_err(|_| Rejection::Malformed("decrypted event is not JSON".into()))?;
        let event_type = payload
            .get("EventType")
            .and_then(Value::as_str)
            .ok_or_else(|| Rejection::Malformed("decrypted event has no EventType".into()))?
            .to_owned();
        let answer_ts = (now.saturating_mul(1000)).to_string();
        let answer = Response::json(encrypted_answer(
            cipher,
            token,
            receive_id,
            "success",
            &answer_ts,
            &crypto::random_nonce(8),
        ));
        if event_type == "check_url" {
            return Ok(Accepted::Verification(answer));
        }
        let event_id = ["EventId", "eventId", "event_id"]
            .iter()
            .find_map(|k| payload.get(*k).and_then(Value::as_str))
            .map_or_else(
                || format!("sha256:{}", hex::encode(&crypto::sha256(&[&plain])[..16])),
                str::to_owned,
            );
        let raw = String::from_utf8(plain).map_err(|_| Rejection::Malformed("event is not UTF-8".into()))?;
        let mut ev = Event::new(Platform::Dingtalk, event_id, event_type, EventKind::Unknown, raw);
        ev.time_ms = payload
            .get("TimeStamp")
            .and_then(|t| t.as_i64().or_else(|| t.as_str()?.parse().ok()));
        ev.chat_id = payload.get("ChatId").and_then(Value::as_str).map(str::to_owned);
        ev.sender_id = payload
            .get("Operator")
            .or_else(|| payload.get("UserId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Accepted::Event {
            event: Box::new(ev),
            response: answer,
            replay_guard: None,
        })
    }

    fn verify_robot(&self, req: &Request<'_>, now: i64, opts: &Options) -> Result<Accepted, Rejection> {
        let Some(secret) = &self.app_secret else {
            return Err(Rejection::BadSignature(
                "chat bot message but this bot has no app_secret".into(),
            ));
        };
        let ts = req.header("timestamp").unwrap_or_default();
        let sign = req.header("sign").unwrap_or_default();
        let expected = hmac_sign(secret.expose(), ts);
        if !crypto::ct_eq(sign.trim().as_bytes(), expected.as_bytes()) {
            return Err(Rejection::BadSignature(
                "sign does not match base64(HMAC-SHA256(app_secret, timestamp + \"\\n\" + app_secret))".into(),
            ));
        }
        let window = opts.window(DEFAULT_ROBOT_WINDOW_SECS);
        check_timestamp(ts, now, window)?;
        let ev = robot_event(req.body)?;
        // `sign` covers the timestamp only: the same pair with another body is a forgery.
        let replay_guard = ReplayGuard {
            key: hex::encode(&crypto::sha256(&[ts.trim().as_bytes(), b"\n", sign.trim().as_bytes()])[..16]),
            window_secs: window,
        };
        Ok(Accepted::Event {
            event: Box::new(ev),
            response: Response::json("{}"),
            replay_guard: Some(replay_guard),
        })
    }
}

/// A chat bot message (the HTTP chat bot's body, or the Stream callback's `data`),
/// normalized: the event id is its `msgId`, so one message delivered both ways is one event.
pub(crate) fn robot_event(body: &[u8]) -> Result<Event, Rejection> {
    let m: RobotMessage =
        serde_json::from_slice(body).map_err(|e| Rejection::Malformed(format!("chat bot body is not JSON: {e}")))?;
    let raw = String::from_utf8(body.to_vec()).map_err(|_| Rejection::Malformed("body is not UTF-8".into()))?;
    let event_id = m
        .msg_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::Malformed("chat bot message without msgId".into()))?;
    let mut ev = Event::new(
        Platform::Dingtalk,
        event_id,
        "robot_message".into(),
        EventKind::Message,
        raw,
    );
    let mt = m.msgtype.unwrap_or_else(|| "text".into());
    ev.message_type = Some(MessageType::from_platform(&mt));
    ev.text = m.text.and_then(|t| t.content).map(|t| t.trim().to_owned());
    if let Some(content) = &m.content {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match mt.as_str() {
            "richText" => {
                // Text runs joined; the first picture is the attachment.
                let runs = content.get("richText").and_then(Value::as_array);
                let text: String = runs.into_iter().flatten().filter_map(|r| s(r, "text")).collect();
                ev.text = Some(text.trim().to_owned()).filter(|t| !t.is_empty()).or(ev.text);
                ev.media = runs
                    .into_iter()
                    .flatten()
                    .find_map(|r| s(r, "downloadCode").or_else(|| s(r, "pictureDownloadCode")))
                    .map(|id| Media {
                        id: Some(id),
                        ..Media::default()
                    });
            }
            "picture" | "file" | "audio" | "video" => {
                ev.media = Some(Media {
                    id: s(content, "downloadCode").or_else(|| s(content, "pictureDownloadCode")),
                    url: None,
                    name: s(content, "fileName"),
                    format: s(content, "videoType").or_else(|| s(content, "fileType")),
                });
                if mt == "audio" {
                    ev.text = s(content, "recognition").filter(|t| !t.is_empty());
                }
            }
            _ => {}
        }
    }
    ev.chat_id = m.conversation_id;
    ev.chat_type = m.conversation_type.map(|c| match c.as_str() {
        "1" => "p2p".to_owned(),
        "2" => "group".to_owned(),
        _ => c,
    });
    ev.sender_id = m.sender_staff_id.or(m.sender_id);
    ev.time_ms = m.create_at;
    ev.reply.session_webhook = m.session_webhook;
    ev.reply.session_webhook_expires_ms = m.session_webhook_expired_time;
    ev.reply.app_id = m.robot_code;
    Ok(ev)
}

/// The millisecond part of a sample's timestamp: a random start per process, then the next
/// one each time, so a thousand samples in one second all differ (and two processes rarely
/// pick the same).
fn sample_millis() -> i64 {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static START: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = *START.get_or_init(|| {
        let [a, b] = crypto::random_bytes::<2>();
        u32::from(u16::from_le_bytes([a, b]))
    });
    i64::from(start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 1000)
}

/// A ready-to-send sample callback: `message` is a chat bot message; `url_verification`
/// (`check_url`) and `event` (`chat_update_title`) are encrypted event pushes.
pub fn sample_request(creds: &Credentials, kind: SampleKind, text: &str, now: i64) -> Result<OwnedRequest, String> {
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    let ts = (now * 1000).to_string();
    let robot = match kind {
        SampleKind::Message => Some(json!({"msgtype": "text", "text": {"content": text}})),
        SampleKind::Image => Some(json!({"msgtype": "picture",
            "content": {"pictureDownloadCode": "sample-picture-code", "downloadCode": "sample-download-code"}})),
        SampleKind::File => Some(json!({"msgtype": "file",
            "content": {"spaceId": "sample-space", "fileName": text, "downloadCode": "sample-download-code",
                        "fileId": "sample-file"}})),
        SampleKind::RichText => Some(json!({"msgtype": "richText", "content": {"richText": [
            {"text": text},
            {"pictureDownloadCode": "sample-picture-code", "downloadCode": "sample-download-code", "type": "picture"}
        ]}})),
        _ => None,
    };
    if let Some(content) = robot {
        // DingTalk's sign covers only the millisecond timestamp, and each (timestamp, sign)
        // pair is accepted once: two samples made in the same second need their own
        // milliseconds, as real callbacks have.
        let ts = (now * 1000 + sample_millis()).to_string();
        let secret = creds.app_secret.as_ref().ok_or("a chat bot message needs app_secret")?;
        headers.insert("timestamp".into(), ts.clone());
        headers.insert("sign".into(), hmac_sign(secret.expose(), &ts));
        let id = crypto::random_nonce(22);
        let mut body = json!({
            "conversationId": "cidSampleConversation", "msgId": format!("msg{id}"),
            "senderNick": "tester", "isAdmin": false, "senderStaffId": "sample_staff",
            "sessionWebhookExpiredTime": now * 1000 + 5_400_000, "createAt": now * 1000,
            "conversationType": "2", "senderId": "$:LWCP_v1:$sample", "conversationTitle": "ops",
            "isInAtList": true,
            "sessionWebhook": format!("https://oapi.dingtalk.com/robot/sendBySession?session={id}"),
            "robotCode": creds.app_key.as_deref().unwrap_or("dingsample"),
        });
        if let (Some(b), Value::Object(c)) = (body.as_object_mut(), content) {
            b.extend(c);
        }
        return Ok(OwnedRequest {
            method: "POST".into(),
            query: String::new(),
            headers,
            body: body.to_string(),
        });
    }
    let token = creds.token.as_ref().ok_or("event subscription needs token")?;
    let key = creds.aes_key.as_ref().ok_or("event subscription needs aes_key")?;
    let receive_id = creds
        .receive_id
        .as_deref()
        .or(creds.app_key.as_deref())
        .ok_or("event subscription needs app_key")?;
    let cipher = WxCipher::from_encoding_aes_key(key.expose()).map_err(|e| format!("aes_key: {e}"))?;
    let payload = match kind {
        SampleKind::UrlVerification => json!({"EventType": "check_url", "TimeStamp": now * 1000}),
        SampleKind::Event => json!({"EventType": "chat_update_title", "TimeStamp": now * 1000,
                                    "ChatId": "chatSample", "Title": text}),
        other => return Err(format!("dingtalk has no {} callback", other.as_str())),
    };
    let nonce = crypto::random_nonce(8);
    let encrypt = cipher.seal(payload.to_string().as_bytes(), receive_id);
    let sig = crypto::sorted_sha1_hex(&mut [token.expose(), &ts, &nonce, &encrypt]);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("msg_signature", sig.as_str()), ("timestamp", &ts), ("nonce", &nonce)])
        .finish();
    Ok(OwnedRequest {
        method: "POST".into(),
        query,
        headers,
        body: json!({"encrypt": encrypt}).to_string(),
    })
}

fn at(m: &Mentions) -> Value {
    json!({"atMobiles": m.mobiles, "atUserIds": m.user_ids, "isAtAll": m.all})
}

/// DingTalk shows a mention only when the text also contains `@mobile` / `@userId`.
fn with_mention_text(text: &str, m: &Mentions) -> String {
    let mut out = text.to_owned();
    for who in m.mobiles.iter().chain(&m.user_ids) {
        let tag = format!("@{who}");
        if !out.contains(&tag) {
            out.push(' ');
            out.push_str(&tag);
        }
    }
    out
}

/// A DingTalk message link that makes the user's client send `text` to the conversation
/// (`dtmd://dingtalkclient/sendMessage`): how a card's action button degrades on DingTalk.
pub fn send_message_link(text: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    format!(
        "dtmd://dingtalkclient/sendMessage?content={}",
        encoded.replace('+', "%20")
    )
}

/// Renders a message for DingTalk (robot webhook and session webhook share the format):
/// text, markdown, actionCard, link (one article) or feedCard (several).
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Text { text, mentions } => json!({
            "msgtype": "text", "text": {"content": with_mention_text(text, mentions)}, "at": at(mentions)
        }),
        Message::Markdown { title, text, mentions } => json!({
            "msgtype": "markdown", "markdown": {"title": title, "text": with_mention_text(text, mentions)}, "at": at(mentions)
        }),
        Message::Card {
            title,
            text,
            buttons,
            selects,
            mentions,
            ..
        } => {
            let text = with_mention_text(&format!("### {title}\n{text}"), mentions);
            let mut card = json!({"title": title, "text": text, "btnOrientation": "0"});
            // DingTalk's robot messages have no action buttons: an action button (and each
            // option of a drop-down) becomes a message link that makes the user's client
            // send its label to the conversation, where rules see it as a message.
            let mut links: Vec<(String, String)> = buttons
                .iter()
                .map(|b| {
                    (
                        b.text.clone(),
                        b.url.clone().unwrap_or_else(|| send_message_link(&b.text)),
                    )
                })
                .collect();
            for s in selects {
                links.extend(s.options.iter().map(|o| (o.text.clone(), send_message_link(&o.text))));
            }
            if let [(title, url)] = links.as_slice() {
                card["singleTitle"] = json!(title);
                card["singleURL"] = json!(url);
            } else if !links.is_empty() {
                card["btns"] = links
                    .iter()
                    .map(|(title, url)| json!({"title": title, "actionURL": url}))
                    .collect();
            }
            json!({"msgtype": "actionCard", "actionCard": card, "at": at(mentions)})
        }
        Message::Image { url, key, .. } => {
            let u = url.as_deref().or(key.as_deref()).unwrap_or_default();
            json!({"msgtype": "markdown", "markdown": {"title": "image", "text": format!("![image]({u})")}})
        }
        Message::File { url, .. } => {
            let u = url.as_deref().unwrap_or_default();
            let name = msg.file_name().unwrap_or_else(|| u.to_owned());
            json!({"msgtype": "markdown", "markdown": {"title": name, "text": format!("[{name}]({u})")}})
        }
        Message::News { articles } => match articles.as_slice() {
            [a] => {
                json!({"msgtype": "link", "link": {"title": a.title, "text": a.description.as_deref().unwrap_or(&a.title),
                          "messageUrl": a.url, "picUrl": a.picurl.as_deref().unwrap_or_default()}})
            }
            many => json!({"msgtype": "feedCard", "feedCard": {"links": many.iter().map(|a| json!({
                "title": a.title, "messageURL": a.url, "picURL": a.picurl.as_deref().unwrap_or_default()})).collect::<Vec<_>>()}}),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            token: Some(Secret::new("tok")),
            aes_key: Some(Secret::new("GJYCvlIjg/yI7PJ9Y48g4fjqlAdcbJrPhNx0R4M83hY")),
            app_key: Some("dingapp".into()),
            app_secret: Some(Secret::new("s3cret")),
            receive_id: None,
        }
    }

    /// Each sample's (timestamp, sign) pair is accepted once, so samples made in the same
    /// second must each have their own: a hundred in a row all differ.
    #[test]
    fn samples_in_one_second_carry_distinct_signatures() {
        let pairs: std::collections::HashSet<(String, String)> = (0..100)
            .map(|_| {
                let r = sample_request(&creds(), SampleKind::Message, "hi", 1_795_440_463).unwrap();
                (r.headers["timestamp"].clone(), r.headers["sign"].clone())
            })
            .collect();
        assert_eq!(pairs.len(), 100);
    }

    #[test]
    fn samples_round_trip() {
        let v = Verifier::new(creds()).unwrap();
        for kind in [SampleKind::Message, SampleKind::UrlVerification, SampleKind::Event] {
            let req = sample_request(&creds(), kind, "标题", 1_795_440_463).unwrap();
            match (
                kind,
                v.verify(&req.as_request(), 1_795_440_463, &Options::default()).unwrap(),
            ) {
                (SampleKind::UrlVerification, Accepted::Verification(r)) => assert!(r.body.contains("msg_signature")),
                (SampleKind::Message, Accepted::Event { event, .. }) => {
                    assert_eq!(event.text.as_deref(), Some("标题"));
                    assert!(event.reply.session_webhook.is_some());
                }
                (SampleKind::Event, Accepted::Event { event, response, .. }) => {
                    assert_eq!(event.event_type, "chat_update_title");
                    assert!(event.event_id.starts_with("sha256:"));
                    assert!(response.body.contains("encrypt"));
                }
                (k, o) => panic!("{k:?} gave {o:?}"),
            }
        }
    }

    #[test]
    fn webhook_url_is_encoded() {
        let url = webhook_url(
            "https://oapi.dingtalk.com/robot/send?access_token=x",
            "SEC1",
            1_795_440_463_000,
        );
        assert!(url.starts_with("https://oapi.dingtalk.com/robot/send?access_token=x&timestamp=1795440463000&sign="));
        let sign = url.split("&sign=").nth(1).unwrap();
        assert!(!sign.contains(['/', '+', '=']), "{sign}");
        let decoded: String = form_urlencoded::parse(format!("s={sign}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert_eq!(decoded, hmac_sign("SEC1", "1795440463000"));
    }

    #[test]
    fn mentions_are_added_to_text() {
        let m = Message::Text {
            text: "deploy".into(),
            mentions: Mentions {
                all: false,
                user_ids: vec![],
                mobiles: vec!["138".into()],
            },
        };
        let v = render(&m);
        assert_eq!(v["text"]["content"], "deploy @138");
        assert_eq!(v["at"]["atMobiles"], json!(["138"]));
    }
}
