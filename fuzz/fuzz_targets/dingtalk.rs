//! DingTalk inbound: arbitrary requests, chat bot bodies with a valid `sign`, and arbitrary
//! plaintext sealed for event subscription.
#![no_main]

use botgate_core::crypto::{self, wxbiz::WxCipher};
use botgate_core::platform::dingtalk;
use botgate_core::{OwnedRequest, Platform};
use botgate_fuzz::{NOW, credentials, run, split, verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = verifier(Platform::Dingtalk);
    let c = credentials(Platform::Dingtalk);
    let token = c["token"].as_str().unwrap_or_default();
    let app_key = c["app_key"].as_str().unwrap_or_default();
    let secret = c["app_secret"].as_str().unwrap_or_default();
    let (query, body) = split(data);
    run(&v, &OwnedRequest { method: "POST".into(), query: query.clone(), body: body.clone(), ..OwnedRequest::default() });
    // chat bot: correctly signed headers over an arbitrary body
    let ts_ms = (NOW * 1000).to_string();
    let mut req = OwnedRequest { method: "POST".into(), body: body.clone(), ..OwnedRequest::default() };
    req.headers.insert("timestamp".into(), ts_ms.clone());
    req.headers.insert("sign".into(), dingtalk::hmac_sign(secret, &ts_ms));
    run(&v, &req);
    // event subscription: arbitrary plaintext sealed and signed
    let Ok(cipher) = WxCipher::from_encoding_aes_key(c["aes_key"].as_str().unwrap_or_default()) else { return };
    let enc = cipher.seal(data, app_key);
    let sig = crypto::sorted_sha1_hex(&mut [token, &ts_ms, "n", &enc]);
    let q = format!("msg_signature={sig}&timestamp={ts_ms}&nonce=n");
    let body = format!("{{\"encrypt\":\"{enc}\"}}");
    run(&v, &OwnedRequest { method: "POST".into(), query: q, body, ..OwnedRequest::default() });
});
