//! The configuration loader: arbitrary text is read, its references checked and its tree
//! validated; the only failure a fuzzer can find is a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let rt = botgate_fuzz::runtime();
    let _ = rt.block_on(botgate::deps::check(&text, botgate::config::Mode::SyntaxOnly));
});
