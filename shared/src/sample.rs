//! Sample callbacks, signed and encrypted like the real ones, for testing a deployment or a
//! configuration (`botgate event`) and for this project's own tests.

use crate::event::Platform;
use crate::inbound::{OwnedRequest, SampleKind};
use crate::platform::{dingtalk, feishu, wechat, wecom};

/// Builds a sample callback for `platform` from a credentials object (the vectors' field
/// names). `now` is Unix seconds.
pub fn request(
    platform: Platform,
    credentials: &serde_json::Value,
    kind: SampleKind,
    text: &str,
    now: i64,
) -> Result<OwnedRequest, String> {
    fn parse<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> Result<T, String> {
        T::deserialize(v).map_err(|e| format!("credentials: {e}"))
    }
    match platform {
        Platform::Feishu => feishu::sample_request(&parse(credentials)?, kind, text, now),
        Platform::Dingtalk => dingtalk::sample_request(&parse(credentials)?, kind, text, now),
        Platform::Wechat => wechat::sample_request(&parse(credentials)?, kind, text, now),
        Platform::Wecom => wecom::sample_request(&parse(credentials)?, kind, text, now),
    }
}
