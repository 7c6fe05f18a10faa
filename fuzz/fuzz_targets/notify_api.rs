//! The notify API's and the Alertmanager receiver's parsers: arbitrary bodies, with
//! templates allowed and not (a template that runs must stay within its bounds).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let settings = botgate_fuzz::notify_settings();
    let _ = botgate::notify::api::parse_notify(data, false);
    let _ = botgate::notify::api::parse_notify(data, true);
    let _ = botgate::notify::alert::parse_alertmanager(data, settings);
    let _ = botgate::notify::alert::parse_grafana(data, settings);
});
