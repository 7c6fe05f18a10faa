//! Sample callbacks, signed and encrypted like the real ones, for testing a deployment or a
//! configuration (`botgate event`) and for this project's own tests.

use crate::event::Platform;
use crate::inbound::{OwnedRequest, SampleKind};
use crate::platform::Credentials;

/// Builds a sample callback for `platform` from a credentials object (the vectors' field
/// names). `now` is Unix seconds.
pub fn request(
    platform: Platform,
    credentials: &serde_json::Value,
    kind: SampleKind,
    text: &str,
    now: i64,
) -> Result<OwnedRequest, String> {
    Credentials::from_json(platform, credentials)
        .map_err(|e| format!("credentials: {e}"))?
        .sample_request(kind, text, now)
}
