//! Helpers shared by the fuzz targets: the vectors' credentials and a request runner.

use std::sync::OnceLock;

use botgate_core::Verifier;
use botgate_core::inbound::{Options, OwnedRequest};
use botgate_core::Platform;

/// The clock used by every target (the vectors' `generated_at`).
pub const NOW: i64 = 1_795_440_463;

static VECTORS: OnceLock<serde_json::Value> = OnceLock::new();

/// The credentials for `platform` from the vectors (parsed once per process).
pub fn credentials(platform: Platform) -> serde_json::Value {
    let v = VECTORS.get_or_init(|| {
        serde_json::from_str(include_str!("../../core/tests/fixtures/platforms.json")).unwrap_or_default()
    });
    v["platforms"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["platform"] == platform.as_str()))
        .map(|p| p["credentials"].clone())
        .unwrap_or_default()
}

/// A verifier for `platform` built from the vectors' credentials.
pub fn verifier(platform: Platform) -> Verifier {
    match Verifier::from_credentials(platform, &credentials(platform)) {
        Ok(v) => v,
        Err(e) => panic!("vector credentials must load: {e}"),
    }
}

/// Splits fuzz input into (query, body) at the first NUL byte.
pub fn split(data: &[u8]) -> (String, String) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            String::from_utf8_lossy(&data[i + 1..]).into_owned(),
        ),
        None => (String::new(), String::from_utf8_lossy(data).into_owned()),
    }
}

/// Runs one request; the only failure a fuzzer can find is a panic (or a hang).
pub fn run(v: &Verifier, req: &OwnedRequest) {
    let _ = v.verify(&req.as_request(), NOW, &Options::default());
}

/// The notify API's settings for the parsers (an Alertmanager card's times at +08:00).
pub fn notify_settings() -> &'static botgate::notify::api::ApiSettings {
    static S: OnceLock<botgate::notify::api::ApiSettings> = OnceLock::new();
    S.get_or_init(|| match botgate::deps::notify_api(&serde_json::json!({"bearer_token": "b"})) {
        Ok(s) => s,
        Err(e) => panic!("notify settings must load: {e}"),
    })
}

/// A single-threaded runtime, built once per process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    })
}
