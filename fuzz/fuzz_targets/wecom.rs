//! WeCom inbound: arbitrary requests, an arbitrary `Encrypt` value with a valid signature
//! (the decryptor on raw input), and arbitrary plaintext sealed for the corp.
#![no_main]

use botgate_core::crypto::{self, wxbiz::WxCipher};
use botgate_core::{OwnedRequest, Platform};
use botgate_fuzz::{NOW, credentials, run, split, verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = verifier(Platform::Wecom);
    let c = credentials(Platform::Wecom);
    let token = c["token"].as_str().unwrap_or_default();
    let corp = c["corp_id"].as_str().unwrap_or_default();
    let (query, body) = split(data);
    let ts = NOW.to_string();
    for method in ["GET", "POST"] {
        run(&v, &OwnedRequest { method: method.into(), query: query.clone(), body: body.clone(), ..OwnedRequest::default() });
    }
    let signed = |enc: &str| {
        let msig = crypto::sorted_sha1_hex(&mut [token, &ts, "n", enc]);
        let q = format!("msg_signature={msig}&timestamp={ts}&nonce=n");
        let body = format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
        OwnedRequest { method: "POST".into(), query: q, body, ..OwnedRequest::default() }
    };
    let raw = crypto::b64(data);
    run(&v, &signed(&raw));
    let Ok(cipher) = WxCipher::from_encoding_aes_key(c["encoding_aes_key"].as_str().unwrap_or_default()) else { return };
    run(&v, &signed(&cipher.seal(data, corp)));
});
