//! Forwarding: POST the normalized event as JSON to the user's own HTTPS endpoint, signed
//! so the receiver knows it came from botgate and is fresh.
//!
//! Headers:
//! - `X-Botgate-Timestamp`: Unix seconds;
//! - `X-Botgate-Signature`: `v1=` + hex(HMAC-SHA256(key = secret, message = timestamp + "." + body));
//! - `X-Botgate-Delivery`: the same for every retry of this event and rule (deduplicate on it);
//! - `X-Botgate-Event-Id`: the platform's event id.
//!
//! The receiver recomputes the HMAC over the raw body bytes, compares in constant time,
//! and refuses timestamps more than 5 minutes away from its clock.

use serde_json::json;

use super::call::SendError;
use super::transport::{HttpRequest, HttpResponse};
use botgate_core::crypto;
use botgate_core::event::Event;

/// The signature header's value for `body` at `timestamp_secs`.
pub fn signature(secret: &str, timestamp_secs: i64, body: &str) -> String {
    signature_bytes(secret, timestamp_secs, body.as_bytes())
}

/// [`signature`] over raw body bytes.
pub fn signature_bytes(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut msg = format!("{timestamp_secs}.").into_bytes();
    msg.extend_from_slice(body);
    format!("v1={}", hex::encode(crypto::hmac_sha256(secret.as_bytes(), &msg)))
}

/// Checks a forwarded request the way a receiver should (constant time, 5-minute window).
pub fn verify(secret: &str, timestamp: &str, signature_header: &str, body: &str, now_secs: i64) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else {
        return false;
    };
    if now_secs.abs_diff(ts) > 300 {
        return false;
    }
    crypto::ct_eq(signature(secret, ts, body).as_bytes(), signature_header.as_bytes())
}

/// True for URLs botgate may forward to (see [`super::endpoint::check`]).
pub fn allowed_url(url: &str) -> bool {
    super::endpoint::check(url).is_ok()
}

/// The signed request. The event goes without the credentials its payload carries
/// ([`botgate_core::platform::shareable`]); DingTalk's session webhook (a reply capability)
/// only when `keep_session_webhook`.
pub fn request(
    url: &str,
    secret: &str,
    bot: &str,
    event: &Event,
    keep_session_webhook: bool,
    delivery_id: &str,
    now_secs: i64,
) -> HttpRequest {
    let event = botgate_core::platform::shareable(event, keep_session_webhook);
    let body = json!({"bot": bot, "event": event}).to_string();
    let sig = signature(secret, now_secs, &body);
    HttpRequest::post(url, body)
        .header("X-Botgate-Timestamp", now_secs.to_string())
        .header("X-Botgate-Signature", sig)
        .header("X-Botgate-Delivery", delivery_id)
        .header("X-Botgate-Event-Id", event.event_id.clone())
}

/// 2xx is success; 408, 429 and 5xx are retried; any other status is permanent.
pub fn classify(resp: &HttpResponse) -> Result<(), SendError> {
    match resp.status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SendError::Retryable {
            reason: format!("HTTP {}", resp.status),
            retry_after_ms: resp.retry_after_secs.map(|s| s.saturating_mul(1000)),
        }),
        s => Err(SendError::Permanent(format!("HTTP {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_window() {
        let sig = signature("s3", 1000, "{}");
        assert!(sig.starts_with("v1=") && sig.len() == 67);
        assert!(verify("s3", "1000", &sig, "{}", 1200));
        assert!(!verify("s3", "1000", &sig, "{} ", 1000));
        assert!(!verify("other", "1000", &sig, "{}", 1000));
        assert!(!verify("s3", "1000", &sig, "{}", 1301));
        // A timestamp at the far end of i64 neither wraps nor panics.
        assert!(!verify("s3", &i64::MIN.to_string(), &sig, "{}", 1000));
    }

    #[test]
    fn only_https_or_loopback() {
        assert!(allowed_url("https://example.com/hook"));
        assert!(allowed_url("http://127.0.0.1:8080/x"));
        assert!(!allowed_url("http://example.com/hook"));
        assert!(!allowed_url("http://127.0.0.1.evil.com/x"));
        assert!(!allowed_url("http://localhost:9@127.0.0.1:18500/x"));
    }
}
