//! Feishu inbound: arbitrary requests, bodies with a valid signature, and arbitrary
//! plaintext sealed with the right key (so decryption and JSON parsing are reached).
#![no_main]

use botgate_core::platform::feishu;
use botgate_core::{OwnedRequest, Platform};
use botgate_fuzz::{NOW, credentials, run, split, verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = verifier(Platform::Feishu);
    let key = credentials(Platform::Feishu)["encrypt_key"].as_str().unwrap_or_default().to_owned();
    let (query, body) = split(data);
    let ts = NOW.to_string();
    let signed = |body: String| {
        let mut req = OwnedRequest { method: "POST".into(), query: query.clone(), body, ..OwnedRequest::default() };
        let sig = feishu::signature(&ts, "n", &key, req.body.as_bytes());
        req.headers.insert("x-lark-request-timestamp".into(), ts.clone());
        req.headers.insert("x-lark-request-nonce".into(), "n".into());
        req.headers.insert("x-lark-signature".into(), sig);
        req
    };
    // 1. arbitrary request, unsigned
    run(&v, &OwnedRequest { method: "POST".into(), query: query.clone(), body: body.clone(), ..OwnedRequest::default() });
    // 2. arbitrary body, correctly signed
    run(&v, &signed(body.clone()));
    // 3. arbitrary plaintext, encrypted and signed
    let sealed = feishu::encrypt(&feishu::derive_key(&key), data);
    run(&v, &signed(format!("{{\"encrypt\":\"{sealed}\"}}")));
});
