//! Outbound URL checks: forwards, webhooks and API bases, and DingTalk session webhooks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ok = botgate::delivery::endpoint::check(&text).is_ok();
    assert_eq!(ok, botgate::delivery::forward::allowed_url(&text));
    if let Ok(url) = botgate::delivery::endpoint::check(&text) {
        // Whatever passes has a host and no user info, and plain http only to this machine.
        assert!(url.host_str().is_some() && url.username().is_empty() && url.password().is_none());
        assert!(url.scheme() == "https" || url.scheme() == "http");
    }
    let hosts = ["oapi.dingtalk.com".to_owned()];
    if botgate::delivery::dingtalk::session_webhook_allowed(&text, &hosts) {
        let url = botgate::delivery::endpoint::check(&text).expect("allowed implies a valid URL");
        assert_eq!(url.host_str(), Some("oapi.dingtalk.com"));
        assert_eq!(url.path(), "/robot/sendBySession");
    }
});
