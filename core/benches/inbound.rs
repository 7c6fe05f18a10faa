//! Inbound cost per platform (verify + decrypt + parse + normalize) on the vector requests,
//! next to the raw floor: SHA-256 + base64 decode + AES-256-CBC over the same bytes.
//!
//! Run: `make bench` (or `cargo bench -p botgate-core --bench inbound`).

use std::hint::black_box;

use botgate_core::inbound::{Options, OwnedRequest};
use botgate_core::{Platform, Verifier, crypto};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

// The system allocator, as in the callback function that ships (no mimalloc there).

const VECTORS: &str = include_str!("../tests/fixtures/platforms.json");

/// (platform, case name) pairs benchmarked: the first accepted message of each kind.
const CASES: [(&str, &str); 6] = [
    ("feishu", "feishu_message_0"),
    ("feishu", "feishu_message_3"),
    ("wechat", "wechat_text_0"),
    ("wecom", "wecom_text_0"),
    ("dingtalk", "dingtalk_event_chat_update_title"),
    ("dingtalk", "dingtalk_robot_0"),
];

/// The ciphertext inside a request body, if any (`encrypt` JSON field or `<Encrypt>` CDATA).
fn ciphertext(body: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v.get("encrypt").and_then(Value::as_str).map(str::to_owned);
    }
    let start = body.find("<Encrypt><![CDATA[")? + "<Encrypt><![CDATA[".len();
    let end = body[start..].find("]]>")? + start;
    Some(body[start..end].to_owned())
}

fn bench(c: &mut Criterion) {
    let v: Value = serde_json::from_str(VECTORS).unwrap_or_default();
    let now = v["generated_at"].as_i64().unwrap_or_default();
    let opts = Options::default();
    let mut group = c.benchmark_group("inbound");
    for (platform_name, case_name) in CASES {
        let Some(p) = v["platforms"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["platform"] == platform_name))
        else {
            continue;
        };
        let Ok(platform) = platform_name.parse::<Platform>() else {
            continue;
        };
        let Ok(verifier) = Verifier::from_credentials(platform, &p["credentials"]) else {
            continue;
        };
        let Some(case) = p["cases"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["name"] == case_name))
        else {
            continue;
        };
        let Ok(req) = serde_json::from_value::<OwnedRequest>(case.clone()) else {
            continue;
        };
        assert!(
            verifier.verify(&req.as_request(), now, &opts).is_ok(),
            "{case_name} must be accepted"
        );
        group.throughput(Throughput::Bytes(req.body.len() as u64));
        group.bench_function(format!("{case_name} ({} B)", req.body.len()), |b| {
            let r = req.as_request();
            b.iter(|| black_box(verifier.verify(black_box(&r), now, &opts)))
        });
        if let Some(ct) = ciphertext(&req.body) {
            let key = [7u8; 32];
            group.bench_function(format!("{case_name} raw floor"), |b| {
                b.iter(|| {
                    let digest = crypto::sha256(&[black_box(req.body.as_bytes())]);
                    let mut buf = crypto::b64_decode(black_box(&ct)).unwrap_or_default();
                    let whole = buf.len() / 16 * 16;
                    buf.truncate(whole);
                    let _ = crypto::aes256_cbc_decrypt(&key, &[0; 16], &mut buf);
                    black_box((digest, buf))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
