//! Hostile and broken input on every platform: each is refused with its reason, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate_core::Verifier;
use botgate_core::crypto::{self, wxbiz::WxCipher};
use botgate_core::inbound::{Accepted, Options, OwnedRequest, SampleKind};
use botgate_core::platform::feishu;
use botgate_core::{Platform, sample};
use serde_json::{Value, json};

const NOW: i64 = 1_795_440_463;

fn creds(platform: Platform) -> Value {
    match platform {
        Platform::Feishu => json!({"app_id": "cli_x", "encrypt_key": "ek", "verification_token": "vt"}),
        Platform::Wechat => {
            json!({"token": "tok", "encoding_aes_key": "r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0", "app_id": "wx1"})
        }
        Platform::Wecom => {
            json!({"token": "tok", "encoding_aes_key": "EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE", "corp_id": "ww1"})
        }
        Platform::Dingtalk => {
            json!({"token": "tok", "aes_key": "GJYCvlIjg/yI7PJ9Y48g4fjqlAdcbJrPhNx0R4M83hY", "app_key": "ding1", "app_secret": "sec"})
        }
    }
}

fn verify(platform: Platform, req: &OwnedRequest) -> Result<Accepted, botgate_core::Rejection> {
    verify_with(platform, &creds(platform), req)
}

fn verify_with(platform: Platform, c: &Value, req: &OwnedRequest) -> Result<Accepted, botgate_core::Rejection> {
    Verifier::from_credentials(platform, c)
        .unwrap()
        .verify(&req.as_request(), NOW, &Options::default())
}

fn sample_of(platform: Platform) -> OwnedRequest {
    sample::request(platform, &creds(platform), SampleKind::Message, "hi", NOW).unwrap()
}

fn reason(platform: Platform, req: &OwnedRequest) -> &'static str {
    verify(platform, req).expect_err("should be rejected").reason()
}

#[test]
fn samples_are_accepted_on_every_platform() {
    for p in Platform::ALL {
        assert!(matches!(verify(p, &sample_of(p)), Ok(Accepted::Event { .. })), "{p}");
    }
}

#[test]
fn oversized_body_is_413_on_every_platform() {
    for p in Platform::ALL {
        let mut req = sample_of(p);
        req.body = "x".repeat(botgate_core::inbound::DEFAULT_MAX_BODY_BYTES + 1);
        let err = verify(p, &req).unwrap_err();
        assert_eq!((err.reason(), err.status()), ("too_large", 413), "{p}");
    }
}

#[test]
fn wrong_method_is_405_on_every_platform() {
    for p in Platform::ALL {
        let mut req = sample_of(p);
        req.method = "PUT".into();
        assert_eq!(verify(p, &req).unwrap_err().status(), 405, "{p}");
    }
}

#[test]
fn garbage_body_never_passes() {
    let bodies: [&[u8]; 6] = [
        b"",
        b"{",
        b"<xml>",
        b"\xff\xfe\x00garbage",
        b"{\"encrypt\": 5}",
        b"<xml><Encrypt>!!!</Encrypt></xml>",
    ];
    for p in Platform::ALL {
        for body in bodies {
            let mut req = sample_of(p);
            req.body = String::from_utf8_lossy(body).into_owned();
            let err = verify(p, &req).unwrap_err();
            assert!(matches!(err.status(), 400 | 401), "{p} {body:?}: {err}");
        }
    }
}

#[test]
fn stale_timestamps_are_refused_on_every_platform() {
    for p in Platform::ALL {
        let req = sample::request(p, &creds(p), SampleKind::Message, "hi", NOW - 7200).unwrap();
        assert_eq!(reason(p, &req), "stale_timestamp", "{p}");
        let req = sample::request(p, &creds(p), SampleKind::Message, "hi", NOW + 7200).unwrap();
        assert_eq!(reason(p, &req), "stale_timestamp", "{p} (future)");
    }
}

/// Re-signs a Feishu body so only the ciphertext is wrong.
fn feishu_with_encrypt(encrypt: &str) -> OwnedRequest {
    let mut req = sample_of(Platform::Feishu);
    req.body = json!({ "encrypt": encrypt }).to_string();
    let ts = &req.headers["x-lark-request-timestamp"];
    let nonce = &req.headers["x-lark-request-nonce"];
    let sig = feishu::signature(ts, nonce, "ek", req.body.as_bytes());
    req.headers.insert("x-lark-signature".into(), sig);
    req
}

#[test]
fn feishu_ciphertext_damage() {
    let key = feishu::derive_key("ek");
    let good = feishu::encrypt(&key, br#"{"schema":"2.0","header":{"event_id":"e","token":"vt"}}"#);
    assert!(verify(Platform::Feishu, &feishu_with_encrypt(&good)).is_ok());
    // truncated and garbled base64
    assert_eq!(
        reason(Platform::Feishu, &feishu_with_encrypt(&good[..good.len() - 3])),
        "undecryptable"
    );
    assert_eq!(
        reason(Platform::Feishu, &feishu_with_encrypt("@@@@not base64@@@@")),
        "undecryptable"
    );
    // whole blocks missing
    let raw = crypto::b64_decode(&good).unwrap();
    assert_eq!(
        reason(
            Platform::Feishu,
            &feishu_with_encrypt(&crypto::b64(&raw[..raw.len() - 16]))
        ),
        "undecryptable"
    );
    // wrong key
    let other = feishu::encrypt(&feishu::derive_key("other"), br#"{"schema":"2.0"}"#);
    assert_eq!(reason(Platform::Feishu, &feishu_with_encrypt(&other)), "undecryptable");
    // valid padding but not JSON; and a pad byte of 0
    let mut buf = vec![b'a'; 32];
    crypto::aes256_cbc_encrypt(&key, &[1; 16], &mut buf).unwrap();
    let mut framed = vec![1u8; 16];
    framed.extend_from_slice(&buf);
    assert_eq!(
        reason(Platform::Feishu, &feishu_with_encrypt(&crypto::b64(&framed))),
        "undecryptable"
    );
}

/// A WeCom request whose `Encrypt` is `encrypt`, correctly signed.
fn wecom_with_encrypt(encrypt: &str) -> OwnedRequest {
    let ts = NOW.to_string();
    let sig = crypto::sorted_sha1_hex(&mut ["tok", &ts, "n1", encrypt]);
    OwnedRequest {
        method: "POST".into(),
        query: format!("msg_signature={sig}&timestamp={ts}&nonce=n1"),
        body: format!("<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
        ..OwnedRequest::default()
    }
}

#[test]
fn wxbiz_ciphertext_damage() {
    let key = "EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE";
    let cipher = WxCipher::from_encoding_aes_key(key).unwrap();
    let msg = b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>";
    let good = cipher.seal(msg, "ww1");
    assert!(verify(Platform::Wecom, &wecom_with_encrypt(&good)).is_ok());
    assert_eq!(
        reason(Platform::Wecom, &wecom_with_encrypt(&good[..good.len() - 2])),
        "undecryptable"
    );
    assert_eq!(reason(Platform::Wecom, &wecom_with_encrypt("%%%%")), "undecryptable");
    // wrong receive id
    assert_eq!(
        reason(Platform::Wecom, &wecom_with_encrypt(&cipher.seal(msg, "ww2"))),
        "wrong_receive_id"
    );
    // wrong key
    let other = WxCipher::from_encoding_aes_key("r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0").unwrap();
    assert_eq!(
        reason(Platform::Wecom, &wecom_with_encrypt(&other.seal(msg, "ww1"))),
        "undecryptable"
    );
    // bad padding: a final block whose pad byte is 33
    let kb = crypto::b64_decode(format!("{key}=")).unwrap();
    let k: [u8; 32] = kb.try_into().unwrap();
    let mut buf = vec![33u8; 64];
    crypto::aes256_cbc_encrypt(&k, &k[..16], &mut buf).unwrap();
    assert_eq!(
        reason(Platform::Wecom, &wecom_with_encrypt(&crypto::b64(&buf))),
        "undecryptable"
    );
}

/// A plain-mode WeChat request with `body`, correctly signed.
fn wechat_plain(body: &str) -> OwnedRequest {
    let ts = NOW.to_string();
    let sig = crypto::sorted_sha1_hex(&mut ["tok", &ts, "n1"]);
    OwnedRequest {
        method: "POST".into(),
        query: format!("signature={sig}&timestamp={ts}&nonce=n1"),
        body: body.into(),
        ..OwnedRequest::default()
    }
}

#[test]
fn hostile_xml_is_malformed() {
    let plain = json!({"token": "tok"});
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]><xml><MsgType>text</MsgType><Content>&lol2;</Content></xml>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><MsgType>text</MsgType><Content>&xxe;</Content></xml>"#;
    let undeclared = "<xml><MsgType>text</MsgType><Content>&xxe;</Content></xml>";
    for body in [laughs, xxe, undeclared] {
        let err = verify_with(Platform::Wechat, &plain, &wechat_plain(body)).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{err}");
    }
    // and inside the encrypted envelope too
    let cipher = WxCipher::from_encoding_aes_key("EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE").unwrap();
    let err = verify(
        Platform::Wecom,
        &wecom_with_encrypt(&cipher.seal(xxe.as_bytes(), "ww1")),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "malformed");
    // the outer body of a WeCom request
    let mut req = wecom_with_encrypt("x");
    req.body = laughs.into();
    assert_eq!(reason(Platform::Wecom, &req), "malformed");
}

#[test]
fn missing_signatures_are_refused() {
    // WeChat plain mode without signature parameter
    let mut req = wechat_plain("<xml><MsgType>text</MsgType></xml>");
    req.query = format!("timestamp={NOW}&nonce=n1");
    assert!(verify_with(Platform::Wechat, &json!({"token": "tok"}), &req).is_err());
    // DingTalk robot with a wrong secret
    let req = sample_of(Platform::Dingtalk);
    let mut other = creds(Platform::Dingtalk);
    other["app_secret"] = json!("other");
    assert_eq!(
        verify_with(Platform::Dingtalk, &other, &req).unwrap_err().reason(),
        "bad_signature"
    );
}

#[test]
fn unknown_types_fall_back_to_unknown_with_raw() {
    let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u1</FromUserName><CreateTime>1795440463</CreateTime><MsgType>miniprogrampage</MsgType><MsgId>42</MsgId></xml>";
    let Ok(Accepted::Event { event, .. }) =
        verify_with(Platform::Wechat, &json!({"token": "tok"}), &wechat_plain(body))
    else {
        panic!("not accepted")
    };
    assert_eq!(event.message_type, Some(botgate_core::MessageType::Unknown));
    assert_eq!(event.event_type, "miniprogrampage");
    assert_eq!(event.raw, body);
    let body = "<xml><ToUserName>gh</ToUserName><FromUserName>u1</FromUserName><CreateTime>1795440463</CreateTime><MsgType>event</MsgType><Event>some_future_event</Event></xml>";
    let Ok(Accepted::Event { event, .. }) =
        verify_with(Platform::Wechat, &json!({"token": "tok"}), &wechat_plain(body))
    else {
        panic!("not accepted")
    };
    assert_eq!(event.kind, botgate_core::EventKind::Unknown);
    assert_eq!(event.raw, body);
}

#[test]
fn credentials_errors_name_the_field_not_the_value() {
    let err = Verifier::from_credentials(
        Platform::Wecom,
        &json!({"token": "tok", "encoding_aes_key": "SECRETVALUE"}),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("encoding_aes_key") && !text.contains("SECRETVALUE"),
        "{text}"
    );
    let err = Verifier::from_credentials(Platform::Wechat, &json!({})).unwrap_err();
    assert!(err.to_string().contains("token"));
}
