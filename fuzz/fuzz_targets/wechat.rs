//! WeChat inbound: arbitrary requests, plain-mode bodies with a valid signature (the XML
//! parser on raw input), and arbitrary plaintext sealed for safe mode.
#![no_main]

use botgate_core::crypto::{self, wxbiz::WxCipher};
use botgate_core::{OwnedRequest, Platform};
use botgate_fuzz::{NOW, credentials, run, split, verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = verifier(Platform::Wechat);
    let c = credentials(Platform::Wechat);
    let token = c["token"].as_str().unwrap_or_default();
    let app_id = c["app_id"].as_str().unwrap_or_default();
    let (query, body) = split(data);
    let ts = NOW.to_string();
    let sig = crypto::sorted_sha1_hex(&mut [token, &ts, "n"]);
    for method in ["GET", "POST"] {
        run(&v, &OwnedRequest { method: method.into(), query: query.clone(), body: body.clone(), ..OwnedRequest::default() });
    }
    // plain mode: the body goes straight to the XML parser
    let q = format!("signature={sig}&timestamp={ts}&nonce=n");
    run(&v, &OwnedRequest { method: "POST".into(), query: q, body: body.clone(), ..OwnedRequest::default() });
    // safe mode: arbitrary plaintext sealed and signed
    let Ok(cipher) = WxCipher::from_encoding_aes_key(c["encoding_aes_key"].as_str().unwrap_or_default()) else { return };
    let enc = cipher.seal(data, app_id);
    let msig = crypto::sorted_sha1_hex(&mut [token, &ts, "n", &enc]);
    let q = format!("signature={sig}&timestamp={ts}&nonce=n&encrypt_type=aes&msg_signature={msig}");
    let body = format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
    run(&v, &OwnedRequest { method: "POST".into(), query: q, body, ..OwnedRequest::default() });
});
