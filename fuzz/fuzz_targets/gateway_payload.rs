//! Gateway payloads (`v1/gateway/telemetry`, `…/attributes`, `…/connect`) in
//! crates/farm/src/ingest/payload.rs: never panic; accepted device names are valid.
#![no_main]

use cunlink_farm::ingest::payload::{
    attributes, check_device_name, gateway, gateway_connect, parse_json, telemetry,
};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000_000;

fuzz_target!(|data: &[u8]| {
    for per_device in [telemetry, attributes] {
        let Ok(json) = parse_json(data) else { return };
        if let Ok(devices) = gateway(json, NOW, per_device) {
            for (name, _) in devices {
                assert!(check_device_name(&name).is_ok());
            }
        }
    }
    if let Ok(json) = parse_json(data) {
        if let Ok((name, _)) = gateway_connect(&json) {
            assert!(check_device_name(name).is_ok());
        }
    }
});
