//! Every case of the platforms' official-SDK vectors (`fixtures/platforms.json`, a copy of
//! `../shared/vectors/platforms.json`) with the clock pinned at `generated_at`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate_core::Platform;
use botgate_core::Verifier;
use botgate_core::crypto::{self, wxbiz::WxCipher};
use botgate_core::inbound::{Accepted, Options, OwnedRequest};
use botgate_core::platform::{dingtalk, feishu};
use serde_json::Value;

const VECTORS: &str = include_str!("fixtures/platforms.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

/// The reason a tampered case must be rejected for, from its name.
fn expected_reason(name: &str) -> &'static str {
    // A tampered body fails the signature, which covers the body, before decryption.
    if name.contains("badsig") || name.contains("badsign") || name.contains("badbody") {
        "bad_signature"
    } else if name.contains("replay") {
        "stale_timestamp"
    } else if name.contains("badtoken") {
        "wrong_token"
    } else {
        panic!("no expected reason for {name}")
    }
}

#[test]
fn every_inbound_case() {
    let v = vectors();
    let now = v["generated_at"].as_i64().unwrap();
    let mut counted = 0;
    for p in v["platforms"].as_array().unwrap() {
        let platform: Platform = p["platform"].as_str().unwrap().parse().unwrap();
        let creds = &p["credentials"];
        let verifier = Verifier::from_credentials(platform, creds).unwrap();
        for case in p["cases"].as_array().unwrap() {
            counted += 1;
            let name = case["name"].as_str().unwrap();
            let req: OwnedRequest = serde_json::from_value(case.clone()).unwrap();
            let out = verifier.verify(&req.as_request(), now, &Options::default());
            match case["expect"].as_str().unwrap() {
                "accept" => {
                    let Ok(Accepted::Event { event, response, .. }) = out else {
                        panic!("{name}: expected an event, got {out:?}")
                    };
                    assert_eq!(response.status, 200, "{name}");
                    assert_eq!(event.event_type, case["event_type"].as_str().unwrap(), "{name}");
                    if let Some(id) = case.get("event_id").and_then(Value::as_str) {
                        assert_eq!(event.event_id, id, "{name}");
                    }
                    if let Some(text) = case.get("text").and_then(Value::as_str) {
                        assert_eq!(event.text.as_deref(), Some(text), "{name}");
                    }
                    assert!(!event.raw.is_empty(), "{name}");
                }
                "reject" => {
                    let err = out.expect_err(name);
                    assert_eq!(err.reason(), expected_reason(name), "{name}: {err}");
                }
                "challenge" => {
                    let Ok(Accepted::Verification(r)) = out else {
                        panic!("{name}: {out:?}")
                    };
                    let body: Value = serde_json::from_str(&r.body).unwrap();
                    assert_eq!(body, serde_json::json!({"challenge": case["challenge"]}), "{name}");
                    assert_eq!(r.content_type, "application/json");
                }
                "echo" => {
                    let Ok(Accepted::Verification(r)) = out else {
                        panic!("{name}: {out:?}")
                    };
                    assert_eq!(r.body, case["echo"].as_str().unwrap(), "{name}");
                }
                "encrypted_success" => {
                    let Ok(Accepted::Verification(r)) = out else {
                        panic!("{name}: {out:?}")
                    };
                    let body: Value = serde_json::from_str(&r.body).unwrap();
                    let (sig, ts, nonce, enc) = (
                        body["msg_signature"].as_str().unwrap(),
                        body["timeStamp"].as_str().unwrap(),
                        body["nonce"].as_str().unwrap(),
                        body["encrypt"].as_str().unwrap(),
                    );
                    let token = creds["token"].as_str().unwrap();
                    assert!(crypto::verify_sorted_sha1(sig, &mut [token, ts, nonce, enc]), "{name}");
                    let cipher = WxCipher::from_encoding_aes_key(creds["aes_key"].as_str().unwrap()).unwrap();
                    let plain = cipher.open_for(enc, creds["app_key"].as_str().unwrap()).unwrap();
                    assert_eq!(plain, b"success", "{name}");
                }
                other => panic!("{name}: unknown expectation {other}"),
            }
        }
    }
    assert!(counted >= 50, "only {counted} cases");
}

#[test]
fn outbound_signatures() {
    let v = vectors();
    for s in v["outbound_signing"].as_array().unwrap() {
        let secret = s["secret"].as_str().unwrap();
        let ts = s["timestamp"].as_str().unwrap();
        match s["platform"].as_str().unwrap() {
            "feishu" => assert_eq!(
                feishu::webhook_sign(secret, ts.parse().unwrap()),
                s["sign"].as_str().unwrap()
            ),
            "dingtalk" => {
                assert_eq!(dingtalk::hmac_sign(secret, ts), s["sign"].as_str().unwrap());
                let url = dingtalk::webhook_url(
                    "https://oapi.dingtalk.com/robot/send?access_token=t",
                    secret,
                    ts.parse().unwrap(),
                );
                assert!(
                    url.ends_with(&format!("&sign={}", s["sign_urlencoded"].as_str().unwrap())),
                    "{url}"
                );
            }
            other => panic!("unknown platform {other}"),
        }
    }
}

#[test]
fn fixture_matches_shared_copy_when_present() {
    // CI has ../shared beside the repository: keep the copy honest.
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/platforms.json");
    if let Ok(text) = std::fs::read_to_string(shared) {
        let a: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            a,
            vectors(),
            "tests/fixtures/platforms.json differs from ../shared/vectors/platforms.json"
        );
    }
}
