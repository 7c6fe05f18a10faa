//! Loops the inbound path on one vector case, for profilers: `cargo run --release -p botgate
//! --example profile_inbound -- feishu feishu_message_0 200000`.

use botgate::Platform;
use botgate::inbound::{Options, OwnedRequest, Verifier};
use serde_json::Value;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let platform_name = args.get(1).map_or("feishu", String::as_str);
    let case_name = args.get(2).map_or("feishu_message_0", String::as_str);
    let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let v: Value = serde_json::from_str(include_str!("../tests/fixtures/platforms.json")).unwrap_or_default();
    let now = v["generated_at"].as_i64().unwrap_or_default();
    let Some(p) = v["platforms"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["platform"] == platform_name))
    else {
        eprintln!("no platform {platform_name}");
        return;
    };
    let Ok(platform) = platform_name.parse::<Platform>() else {
        return;
    };
    let Ok(verifier) = Verifier::from_credentials(platform, &p["credentials"]) else {
        return;
    };
    let Some(case) = p["cases"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == case_name))
    else {
        eprintln!("no case {case_name}");
        return;
    };
    let Ok(req) = serde_json::from_value::<OwnedRequest>(case.clone()) else {
        return;
    };
    let r = req.as_request();
    let opts = Options::default();
    let start = std::time::Instant::now();
    let mut ok = 0u64;
    for _ in 0..n {
        ok += u64::from(verifier.verify(std::hint::black_box(&r), now, &opts).is_ok());
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{case_name}: {per:.2} µs per request ({ok}/{n} accepted)");
}
