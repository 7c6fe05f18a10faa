//! DingTalk Stream frames: arbitrary text parsed as a frame, answered and normalized as a
//! pushed event; the only failure a fuzzer can find is a panic or a hang.
#![no_main]

use botgate_core::platform::dingtalk::stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = stream::parse_open(200, &text);
    let Ok(f) = stream::Frame::parse(&text) else {
        return;
    };
    let _ = (f.pong(), f.acknowledge(true), f.acknowledge(false), f.not_implemented());
    let _ = f.event();
});
