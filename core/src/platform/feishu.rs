//! Feishu / Lark: event subscription callbacks (schema 2.0 and 1.0, encrypted or plain,
//! `card.action.trigger`), the custom group bot signature, and message rendering.
//!
//! Checks on every request, in order: method, size, signature (when an Encrypt Key is set,
//! every event must carry a valid `X-Lark-Signature`), timestamp window, decryption with
//! PKCS#7 validated for block 16, and the verification token on every payload that carries one.
//!
//! The payload's shapes and their normalization are in `payload`, the cryptography in
//! [`cipher`], the rendering of messages in [`render`] and sample callbacks in `sample`.

pub mod cipher;
pub mod frame;
mod payload;
pub mod render;
mod sample;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto;
use crate::event::{Event, EventKind, Platform};
use crate::inbound::{
    Accepted, CredentialsError, OwnedRequest, Rejection, Request, Response, SampleKind, check_method, check_timestamp,
};
use crate::secret::Secret;

pub use cipher::{decrypt, derive_key, encrypt, signature, webhook_sign};
use payload::{Payload, encrypted_field, normalize};
pub use render::render;

/// Default timestamp window: 5 minutes. Feishu signs every delivery, retries included, with
/// a fresh timestamp, so only clock skew needs room; the SDKs check nothing at all.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// What each of the platform's modes needs, for errors about missing fields.
pub const FEISHU_NEEDS: &str = "Feishu takes encrypt_key (encrypted, signed callbacks: recommended) and/or verification_token (plain callbacks, checked by the token alone); sending needs app_id and app_secret";

/// A Feishu app's credentials, named as in the vectors and the developer console.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Credentials {
    /// App ID (`cli_...`).
    #[serde(default)]
    pub app_id: Option<String>,
    /// App Secret (for the token API; not needed to verify callbacks).
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// Encrypt Key: enables encryption and request signatures.
    #[serde(default)]
    pub encrypt_key: Option<Secret>,
    /// Verification Token.
    #[serde(default)]
    pub verification_token: Option<Secret>,
}

/// A Feishu bot's prepared verifier.
#[derive(Clone)]
pub struct Verifier {
    encrypt_key: Option<Secret>,
    aes_key: Option<[u8; 32]>,
    token: Option<Secret>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("feishu::Verifier")
            .field("encrypted", &self.aes_key.is_some())
            .field("token", &self.token.is_some())
            .finish()
    }
}

/// A ready-to-send sample callback for these credentials (encrypted and signed when an
/// Encrypt Key is set). `now` is Unix seconds.
pub fn sample_request(creds: &Credentials, kind: SampleKind, text: &str, now: i64) -> Result<OwnedRequest, String> {
    sample::request(
        creds.encrypt_key.as_ref().filter(|k| !k.is_blank()).map(Secret::expose),
        creds.verification_token.as_ref().map(Secret::expose).unwrap_or(""),
        creds.app_id.as_deref().unwrap_or("cli_sample"),
        kind,
        text,
        now,
    )
}

/// An event pushed over the long connection ([`frame`]): the same JSON a webhook gets,
/// never encrypted, normalized exactly as the webhook path normalizes it (same kind, same
/// event id, so an event delivered both ways is deduplicated). No token is checked: the
/// connection itself was opened with the app's id and secret. `kind` is the frame's `type`
/// (`event`, or `card` for a card action); `message_id` names a legacy card action, which
/// carries no event id of its own.
pub fn pushed_event(payload: &[u8], kind: &str, message_id: &str) -> Result<Event, Rejection> {
    let raw = std::str::from_utf8(payload).map_err(|_| Rejection::Malformed("payload is not UTF-8".into()))?;
    let parsed: Payload =
        serde_json::from_str(raw).map_err(|e| Rejection::Malformed(format!("payload is not a Feishu event: {e}")))?;
    let mut event = if kind == "card" && parsed.kind.is_none() && !parsed.has_header() {
        legacy_card(raw, message_id)?
    } else {
        if parsed.kind.as_deref() == Some("url_verification") {
            return Err(Rejection::Malformed(
                "a url_verification has no place on a long connection".into(),
            ));
        }
        normalize(parsed, |_| Ok(()))?
    };
    event.raw = raw.to_owned();
    Ok(event)
}

/// A card action in the shape of the older card callback (`open_id`, `open_message_id`,
/// `open_chat_id`, `action.value` at the top).
fn legacy_card(raw: &str, message_id: &str) -> Result<Event, Rejection> {
    #[derive(Deserialize)]
    struct Legacy {
        #[serde(default)]
        open_id: Option<String>,
        #[serde(default)]
        user_id: Option<String>,
        #[serde(default)]
        open_message_id: Option<String>,
        #[serde(default)]
        open_chat_id: Option<String>,
        #[serde(default)]
        tenant_key: Option<String>,
        action: Value,
    }
    let card: Legacy =
        serde_json::from_str(raw).map_err(|e| Rejection::Malformed(format!("card action without action: {e}")))?;
    if message_id.is_empty() {
        return Err(Rejection::Malformed("card action frame without message_id".into()));
    }
    let mut ev = Event::new(
        Platform::Feishu,
        format!("card:{message_id}"),
        "card.action.trigger".into(),
        EventKind::CardAction,
        String::new(),
    );
    ev.sender_id = card.open_id.or(card.user_id);
    ev.chat_id = card.open_chat_id;
    ev.reply.message_id = card.open_message_id;
    ev.reply.tenant_key = card.tenant_key;
    ev.key = card.action.get("value").map(Value::to_string);
    ev.action = Some(crate::event::CardAction::from_value(
        card.action.get("value").cloned().unwrap_or(Value::Null),
    ));
    Ok(ev)
}

impl Verifier {
    /// Prepares a verifier; needs an Encrypt Key or a Verification Token (ideally both).
    pub fn new(creds: Credentials) -> Result<Self, CredentialsError> {
        let encrypt_key = creds.encrypt_key.filter(|k| !k.is_blank());
        let token = creds.verification_token.filter(|t| !t.is_blank());
        if encrypt_key.is_none() && token.is_none() {
            return Err(CredentialsError::Missing {
                field: "encrypt_key or verification_token",
                needs: FEISHU_NEEDS,
            });
        }
        let aes_key = encrypt_key.as_ref().map(|k| derive_key(k.expose()));
        Ok(Self {
            encrypt_key,
            aes_key,
            token,
        })
    }

    /// Verifies and normalizes one callback.
    pub fn verify(&self, req: &Request<'_>, now: i64, opts: &crate::inbound::Options) -> Result<Accepted, Rejection> {
        check_method(req.method, &["POST"])?;
        opts.check_size(req.body)?;
        let signed = self.check_signature(req, now, opts.window(DEFAULT_WINDOW_SECS))?;

        let encrypt = encrypted_field(req.body)?;
        let raw: Vec<u8> = match (&encrypt, &self.aes_key) {
            (Some(enc), Some(key)) => decrypt(key, enc)?,
            (Some(_), None) => {
                return Err(Rejection::Undecryptable(
                    "body is encrypted but this bot has no encrypt_key".into(),
                ));
            }
            (None, _) => req.body.to_vec(),
        };
        let raw_text = String::from_utf8(raw).map_err(|_| Rejection::Malformed("payload is not UTF-8".into()))?;
        let payload: Payload = serde_json::from_str(&raw_text)
            .map_err(|e| Rejection::Malformed(format!("payload is not a Feishu event: {e}")))?;

        if payload.kind.as_deref() == Some("url_verification") {
            // An encrypted challenge authenticates itself (it opened with the Encrypt Key);
            // a plain one must carry the Verification Token. A token present is checked.
            self.check_token(payload.token.as_deref(), encrypt.is_none())?;
            let challenge = payload
                .challenge
                .ok_or_else(|| Rejection::Malformed("url_verification without challenge".into()))?;
            let body = json!({ "challenge": challenge }).to_string();
            return Ok(Accepted::Verification(Response::json(body)));
        }

        if !signed && self.aes_key.is_some() {
            return Err(Rejection::BadSignature(
                "missing X-Lark-Signature headers (required for events when an encrypt_key is set)".into(),
            ));
        }
        let mut event = normalize(payload, |token| self.check_token(token, !signed))?;
        event.raw = raw_text;
        let response = if event.kind == EventKind::CardAction {
            Response::json(
                opts.card_answer
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            )
        } else {
            Response::json("{}")
        };
        Ok(Accepted::Event {
            event: Box::new(event),
            response,
            replay_guard: None,
        })
    }

    /// Checks `X-Lark-Signature` when present; returns whether the request was signed.
    fn check_signature(&self, req: &Request<'_>, now: i64, window: u64) -> Result<bool, Rejection> {
        let sig = req.header("x-lark-signature");
        let Some(sig) = sig else {
            return Ok(false);
        };
        let Some(key) = &self.encrypt_key else {
            // Without an Encrypt Key Feishu does not sign; the token authenticates instead.
            return Ok(false);
        };
        let ts = req
            .header("x-lark-request-timestamp")
            .ok_or_else(|| Rejection::BadSignature("missing X-Lark-Request-Timestamp".into()))?;
        let nonce = req
            .header("x-lark-request-nonce")
            .ok_or_else(|| Rejection::BadSignature("missing X-Lark-Request-Nonce".into()))?;
        let expected = crypto::sha256(&[ts.as_bytes(), nonce.as_bytes(), key.expose().as_bytes(), req.body]);
        let mut given = [0u8; 32];
        let well_formed = hex::decode_to_slice(sig.trim(), &mut given).is_ok();
        if !well_formed || !crypto::ct_eq(&given, &expected) {
            return Err(Rejection::BadSignature(
                "X-Lark-Signature does not match SHA-256(timestamp + nonce + encrypt_key + body)".into(),
            ));
        }
        check_timestamp(ts, now, window)?;
        Ok(true)
    }

    /// Compares the payload's token with the Verification Token in constant time. A payload
    /// without a token passes only when it was signed (`required == false`).
    fn check_token(&self, token: Option<&str>, required: bool) -> Result<(), Rejection> {
        match (token, &self.token) {
            (Some(given), Some(expected)) => {
                if crypto::ct_eq(given.as_bytes(), expected.expose().as_bytes()) {
                    Ok(())
                } else {
                    Err(Rejection::WrongToken(
                        "payload token is not the Verification Token".into(),
                    ))
                }
            }
            (None, _) if required => Err(Rejection::WrongToken(
                "payload carries no token and the request is not signed".into(),
            )),
            (Some(_), None) if required => Err(Rejection::WrongToken(
                "no verification_token configured to check the payload's token".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::CipherError;
    use crate::inbound::Options;
    use payload::content_text;

    fn verifier() -> Verifier {
        Verifier::new(Credentials {
            encrypt_key: Some(Secret::new("k3y")),
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        })
        .unwrap()
    }

    #[test]
    fn sample_round_trip_for_each_kind() {
        let creds = Credentials {
            encrypt_key: Some(Secret::new("k3y")),
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        };
        for kind in [SampleKind::Message, SampleKind::UrlVerification, SampleKind::CardAction] {
            let req = sample_request(&creds, kind, "hi", 1000).unwrap();
            let out = verifier().verify(&req.as_request(), 1000, &Options::default()).unwrap();
            match (kind, out) {
                (SampleKind::UrlVerification, Accepted::Verification(r)) => assert!(r.body.contains("challenge")),
                (SampleKind::Message, Accepted::Event { event, .. }) => assert_eq!(event.text.as_deref(), Some("hi")),
                (SampleKind::CardAction, Accepted::Event { event, .. }) => {
                    assert_eq!(event.kind, EventKind::CardAction);
                    assert_eq!(event.key.as_deref(), Some(r#"{"name":"hi"}"#));
                    assert_eq!(event.action.unwrap().name.as_deref(), Some("hi"));
                }
                (k, o) => panic!("{k:?} gave {o:?}"),
            }
        }
    }

    #[test]
    fn unsigned_event_is_refused_when_key_is_set() {
        let creds = Credentials {
            encrypt_key: Some(Secret::new("k3y")),
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        };
        let mut req = sample_request(&creds, SampleKind::Message, "hi", 1000).unwrap();
        req.headers.retain(|k, _| k == "content-type");
        let err = verifier()
            .verify(&req.as_request(), 1000, &Options::default())
            .unwrap_err();
        assert_eq!(err.reason(), "bad_signature");
    }

    #[test]
    fn plain_mode_requires_token_and_parses_schema_1() {
        let v = Verifier::new(Credentials {
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        })
        .unwrap();
        let body = r#"{"uuid":"u-1","token":"tok","ts":"1700000000.1","type":"event_callback",
            "event":{"type":"message","msg_type":"text","text":"@bot hi","text_without_at_bot":"hi",
            "open_id":"ou_1","open_chat_id":"oc_1","chat_type":"group"}}"#;
        let req = OwnedRequest {
            method: "POST".into(),
            body: body.into(),
            ..OwnedRequest::default()
        };
        let Accepted::Event { event, .. } = v.verify(&req.as_request(), 0, &Options::default()).unwrap() else {
            panic!("not an event")
        };
        assert_eq!((event.event_id.as_str(), event.event_type.as_str()), ("u-1", "message"));
        assert_eq!(event.text.as_deref(), Some("hi"));
        assert_eq!(event.time_ms, Some(1_700_000_000_000));
        let bad = OwnedRequest {
            body: body.replace("\"tok\"", "\"nope\""),
            ..req.clone()
        };
        assert_eq!(
            v.verify(&bad.as_request(), 0, &Options::default())
                .unwrap_err()
                .reason(),
            "wrong_token"
        );
        let none = OwnedRequest {
            body: body.replace("\"token\":\"tok\",", ""),
            ..req
        };
        assert_eq!(
            v.verify(&none.as_request(), 0, &Options::default())
                .unwrap_err()
                .reason(),
            "wrong_token"
        );
    }

    #[test]
    fn unknown_event_type_keeps_raw() {
        let v = Verifier::new(Credentials {
            verification_token: Some(Secret::new("tok")),
            ..Credentials::default()
        })
        .unwrap();
        let body = r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"brand.new.event_v9","token":"tok"},"event":{"x":1}}"#;
        let req = OwnedRequest {
            method: "POST".into(),
            body: body.into(),
            ..OwnedRequest::default()
        };
        let Accepted::Event { event, .. } = v.verify(&req.as_request(), 0, &Options::default()).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(event.kind, EventKind::Unknown);
        assert_eq!(event.event_type, "brand.new.event_v9");
        assert_eq!(event.raw, body);
    }

    #[test]
    fn post_content_text() {
        let c = r#"{"title":"T","content":[[{"tag":"text","text":"a"},{"tag":"at","user_id":"x"},{"tag":"text","text":"b"}],[{"tag":"text","text":"c"}]]}"#;
        assert_eq!(content_text("post", c).as_deref(), Some("T\nab\nc"));
    }

    #[test]
    fn bad_padding_is_rejected() {
        let key = derive_key("k");
        let mut buf = vec![5u8; 32];
        buf[31] = 17;
        crypto::aes256_cbc_encrypt(&key, &[0; 16], &mut buf).unwrap();
        let mut framed = vec![0u8; 16];
        framed.extend_from_slice(&buf);
        assert_eq!(decrypt(&key, crypto::b64(&framed)), Err(CipherError::Padding));
    }
}
