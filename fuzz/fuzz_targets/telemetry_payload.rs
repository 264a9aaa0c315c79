//! ThingsBoard telemetry and attribute payloads (crates/farm/src/ingest/payload.rs
//! over json.rs): never panic; a refusal names its field where the error kind has one.
#![no_main]

use cunlink_farm::ingest::payload::{PayloadError, attributes, parse_json, telemetry};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    for parse in [telemetry, attributes] {
        let Ok(json) = parse_json(data) else { return };
        let mut out = Vec::new();
        match parse(json, NOW, &mut out) {
            Ok(()) => {
                for p in &out {
                    assert!(!p.key.is_empty());
                    assert!(p.ts <= NOW + cunlink_core::time::DAY_MS);
                }
            }
            Err(e) => check_error(&e),
        }
    }
});

fn check_error(e: &PayloadError) {
    let _ = e.to_string();
    let _ = e.code();
    let named = matches!(
        e,
        PayloadError::NestedValue { .. }
            | PayloadError::NullValue { .. }
            | PayloadError::TextTooLong { .. }
            | PayloadError::BadTimestamp(_)
            | PayloadError::FutureTimestamp { .. }
            | PayloadError::KeyTooLong(_)
            | PayloadError::BadDeviceName { .. }
    );
    assert_eq!(named, e.field().is_some(), "{e:?}");
}
