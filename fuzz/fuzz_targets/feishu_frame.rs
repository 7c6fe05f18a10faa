//! The Feishu/Lark long connection's frames: arbitrary bytes decoded as a `pbbp2` frame,
//! its headers read, its payload put together with others and normalized as a pushed
//! event; the only failure a fuzzer can find is a panic, a hang or unbounded memory.
#![no_main]

use botgate_core::platform::feishu::{self, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = frame::Frame::decode(data) else {
        return;
    };
    let _ = f.answer(200, Some(data), 1).to_bytes();
    let _ = serde_json::from_slice::<frame::ClientConfig>(f.payload.as_deref().unwrap_or_default());
    let Ok(parts) = f.parts() else {
        return;
    };
    let mut r = frame::Reassembly::default();
    let payload = f.payload.clone().unwrap_or_default();
    for seq in 0..parts.sum {
        let part = frame::Parts { seq, ..parts };
        if let Some(whole) = r.push(part, payload.clone(), 0) {
            let _ = feishu::pushed_event(&whole, f.kind(), parts.message_id);
        }
    }
    let _ = frame::parse_endpoint(200, &String::from_utf8_lossy(data));
});
