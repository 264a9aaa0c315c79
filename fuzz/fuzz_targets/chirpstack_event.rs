//! ChirpStack uplink events (crates/farm/src/ingest/chirpstack.rs): never panic,
//! an accepted event has a normalised DevEUI, and its RFC 3339 parser never panics
//! on any string.
#![no_main]

use cunlink_farm::ingest::chirpstack::{parse_rfc3339_ms, parse_uplink};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(up) = parse_uplink(data, NOW) {
        assert_eq!(up.dev_eui.len(), 16);
        assert!(up.dev_eui.bytes().all(|b| b.is_ascii_hexdigit()));
        for p in &up.points {
            assert!(!p.key.is_empty());
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_rfc3339_ms(s);
    }
});
