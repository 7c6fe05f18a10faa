//! Regression tests for the holes an adversarial review found in the platform layer: each
//! failed before its fix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate_core::inbound::{Accepted, Options, OwnedRequest, SampleKind};
use botgate_core::platform::{dingtalk, feishu, wechat};
use botgate_core::secret::Secret;
use botgate_core::{Credentials, Verifier, crypto, xml};

const AES_KEY: &str = "r+1O7blkcvjPEkajJ5S5OZax2iLZ14cCbACnCFJPLG0";

fn wechat_creds(allow_plain: bool) -> wechat::Credentials {
    wechat::Credentials {
        token: Some(Secret::new("tok")),
        encoding_aes_key: Some(Secret::new(AES_KEY)),
        app_id: Some("wx1".into()),
        app_secret: None,
        allow_plain,
    }
}

/// A legitimate safe-mode query string reused with a forged plaintext body: the plain-mode
/// `signature` covers token, timestamp and nonce only, so it verifies for any body.
fn downgraded(now: i64) -> OwnedRequest {
    let real = wechat::sample_request(&wechat_creds(false), SampleKind::Message, "hi", now).unwrap();
    let query: String = form_urlencoded::parse(real.query.as_bytes())
        .filter(|(k, _)| k != "encrypt_type" && k != "msg_signature")
        .fold(form_urlencoded::Serializer::new(String::new()), |mut s, (k, v)| {
            s.append_pair(&k, &v);
            s
        })
        .finish();
    let forged = xml::build(&[
        ("ToUserName", xml::XmlValue::Text("wx1")),
        ("FromUserName", xml::XmlValue::Text("o_another_users_openid")),
        ("CreateTime", xml::XmlValue::Raw(&now.to_string())),
        ("MsgType", xml::XmlValue::Text("event")),
        ("Event", xml::XmlValue::Text("subscribe")),
    ]);
    OwnedRequest {
        method: "POST".into(),
        query,
        body: forged,
        ..OwnedRequest::default()
    }
}

#[test]
fn wechat_safe_mode_cannot_be_downgraded_to_plaintext() {
    let now = 1_795_440_463;
    let req = downgraded(now);
    let v = Verifier::new(Credentials::Wechat(wechat_creds(false))).unwrap();
    let err = v.verify(&req.as_request(), now, &Options::default()).unwrap_err();
    assert_eq!(err.reason(), "bad_signature", "{err}");
    assert!(err.to_string().contains("plaintext message refused"), "{err}");
    // The migration option keeps WeChat's compatible mode working, knowingly.
    let compatible = Verifier::new(Credentials::Wechat(wechat_creds(true))).unwrap();
    assert!(matches!(
        compatible.verify(&req.as_request(), now, &Options::default()),
        Ok(Accepted::Event { .. })
    ));
    // Safe-mode messages still pass.
    let real = wechat::sample_request(&wechat_creds(false), SampleKind::Message, "hi", now).unwrap();
    assert!(v.verify(&real.as_request(), now, &Options::default()).is_ok());
}

#[test]
fn a_feishu_bot_with_only_an_encrypt_key_passes_url_verification() {
    let creds = feishu::Credentials {
        encrypt_key: Some(Secret::new("k3y")),
        ..feishu::Credentials::default()
    };
    let v = Verifier::new(Credentials::Feishu(creds.clone())).unwrap();
    let req = feishu::sample_request(&creds, SampleKind::UrlVerification, "", 1000).unwrap();
    let out = v.verify(&req.as_request(), 1000, &Options::default()).unwrap();
    assert!(matches!(out, Accepted::Verification(r) if r.body.contains("challenge")));
    // A plain (unencrypted) challenge still needs the token, and there is none configured.
    let plain = OwnedRequest {
        method: "POST".into(),
        body: r#"{"challenge":"c","token":"guess","type":"url_verification"}"#.into(),
        ..OwnedRequest::default()
    };
    assert_eq!(
        v.verify(&plain.as_request(), 1000, &Options::default())
            .unwrap_err()
            .reason(),
        "wrong_token"
    );
}

fn dingtalk_robot(ts_ms: i64, msg_id: &str, text: &str) -> OwnedRequest {
    let ts = ts_ms.to_string();
    let body = serde_json::json!({"msgId": msg_id, "conversationId": "cid1", "conversationType": "2",
        "senderStaffId": "u1", "msgtype": "text", "text": {"content": text},
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x",
        "sessionWebhookExpiredTime": ts_ms + 5_400_000});
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("timestamp".to_owned(), ts.clone());
    headers.insert("sign".to_owned(), dingtalk::hmac_sign("s3cret", &ts));
    OwnedRequest {
        method: "POST".into(),
        query: String::new(),
        headers,
        body: body.to_string(),
    }
}

#[test]
fn dingtalk_chat_bot_signatures_are_fresh_and_guarded_against_reuse() {
    let v = Verifier::new(Credentials::Dingtalk(dingtalk::Credentials {
        app_secret: Some(Secret::new("s3cret")),
        ..dingtalk::Credentials::default()
    }))
    .unwrap();
    let now = 1_795_440_463;
    // 58 minutes old, and 58 minutes ahead: within DingTalk's documented hour, but far
    // outside what a signature made at send time needs.
    for skew in [-58 * 60, 58 * 60] {
        let req = dingtalk_robot((now + skew) * 1000, "m1", "hi");
        let err = v.verify(&req.as_request(), now, &Options::default()).unwrap_err();
        assert_eq!(err.reason(), "stale_timestamp");
    }
    // A fresh one carries a guard: the same timestamp and sign with another body is told apart
    // by its key, which does not depend on the body.
    let a = v
        .verify(
            &dingtalk_robot(now * 1000, "m1", "hi").as_request(),
            now,
            &Options::default(),
        )
        .unwrap();
    let b = v
        .verify(
            &dingtalk_robot(now * 1000, "m2", "forged").as_request(),
            now,
            &Options::default(),
        )
        .unwrap();
    let guard = |a: &Accepted| match a {
        Accepted::Event { replay_guard, .. } => replay_guard.clone().unwrap(),
        _ => panic!("not an event"),
    };
    assert_eq!(guard(&a), guard(&b));
    assert_eq!(guard(&a).window_secs, dingtalk::DEFAULT_ROBOT_WINDOW_SECS);
    assert!(crypto::ct_eq(guard(&a).key.as_bytes(), guard(&b).key.as_bytes()));
}

#[test]
fn missing_credentials_say_what_each_mode_needs() {
    let e = Verifier::new(Credentials::Feishu(feishu::Credentials::default())).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("encrypt_key") && text.contains("verification_token") && text.contains("plain"),
        "{text}"
    );
    let e = Verifier::new(Credentials::Dingtalk(dingtalk::Credentials::default())).unwrap_err();
    assert!(e.to_string().contains("chat bot"), "{e}");
}

#[test]
fn overflowing_timestamps_in_a_payload_do_not_wrap() {
    let v = Verifier::new(Credentials::Feishu(feishu::Credentials {
        verification_token: Some(Secret::new("tok")),
        ..feishu::Credentials::default()
    }))
    .unwrap();
    let body = r#"{"schema":"2.0","header":{"event_id":"e1","event_type":"x","token":"tok","create_time":"-9223372036854775807"},"event":{}}"#;
    let req = OwnedRequest {
        method: "POST".into(),
        body: body.into(),
        ..OwnedRequest::default()
    };
    let Accepted::Event { event, .. } = v.verify(&req.as_request(), 0, &Options::default()).unwrap() else {
        panic!("not an event")
    };
    assert_eq!(event.time_ms, Some(i64::MIN));
}
