//! Property tests of every parser devices reach, run inside `cargo test` (a few
//! hundred cases each, seeded so a failure repeats): the same entry points the
//! cargo-fuzz targets in `fuzz/` exercise for longer.

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use cunlink_farm::ingest::chirpstack::{parse_rfc3339_ms, parse_uplink};
use cunlink_farm::ingest::mqtt::packet::{Packet, Version, client, decode, publish};
use cunlink_farm::ingest::payload::{
    self, PayloadError, attributes, gateway, gateway_connect, parse_json, telemetry,
};

const NOW: i64 = 1_800_000_000_000;

/// A deterministic runner: same cases on every machine and every run.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V311), Just(Version::V5)]
}

#[test]
fn mqtt_decoder_never_panics_and_consumes_what_it_decodes() {
    runner(500)
        .run(
            &(proptest::collection::vec(any::<u8>(), 0..300), version()),
            |(bytes, v)| {
                let mut buf = BytesMut::from(&bytes[..]);
                loop {
                    let before = buf.len();
                    match decode(&mut buf, v, 1 << 16) {
                        Ok(Some(_)) => prop_assert!(buf.len() < before),
                        Ok(None) | Err(_) => break,
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn mqtt_publish_round_trips_and_waits_for_the_whole_packet() {
    let strategy = (
        version(),
        "[a-z/+#é]{1,40}",
        proptest::collection::vec(any::<u8>(), 0..400),
        0u8..=2,
        1u16..,
    );
    runner(300)
        .run(&strategy, |(v, topic, payload, qos, pkid)| {
            let mut out = Vec::new();
            publish(&mut out, v, &topic, &payload, qos, pkid);
            for cut in [1, out.len() / 2, out.len() - 1] {
                let mut part = BytesMut::from(&out[..cut]);
                prop_assert_eq!(decode(&mut part, v, usize::MAX), Ok(None));
            }
            let mut buf = BytesMut::from(&out[..]);
            let Ok(Some(Packet::Publish(p))) = decode(&mut buf, v, usize::MAX) else {
                return Err(TestCaseError::fail("not a PUBLISH"));
            };
            prop_assert!(buf.is_empty());
            prop_assert_eq!(
                (p.topic.as_str(), &p.payload[..], p.qos),
                (topic.as_str(), &payload[..], qos)
            );
            if qos > 0 {
                prop_assert_eq!(p.pkid, pkid);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn mqtt_connect_round_trips() {
    let strategy = (version(), "[ -~]{0,30}", proptest::option::of("[ -~]{0,60}"), any::<u16>());
    runner(300)
        .run(&strategy, |(v, id, user, keep_alive)| {
            let mut out = Vec::new();
            client::connect(&mut out, v, &id, user.as_deref(), keep_alive);
            let mut buf = BytesMut::from(&out[..]);
            let Ok(Some(Packet::Connect(c))) = decode(&mut buf, v, usize::MAX) else {
                return Err(TestCaseError::fail("not a CONNECT"));
            };
            prop_assert_eq!((c.version, c.client_id, c.username, c.keep_alive), (v, id, user, keep_alive));
            Ok(())
        })
        .unwrap();
}

/// JSON text built from a random tree of the shapes payloads take (and some they must refuse).
fn json_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("ts".to_string()),
        Just("values".to_string()),
        Just("device".to_string()),
        Just(String::new()),
        "[a-zA-Z0-9 _.\u{0}-\u{1f}é]{1,12}",
        "[a-z]{256,300}",
    ];
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| format!("{x:e}")),
        "[ -~\u{80}-\u{10ffff}]{0,20}".prop_map(|s| serde_json::Value::String(s).to_string()),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((key.clone(), inner), 0..6).prop_map(|m| {
                let members: Vec<String> = m
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::Value::String(k)))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

fn names_its_field(e: &PayloadError) -> bool {
    match e {
        PayloadError::MalformedJson(_) | PayloadError::Shape(_) | PayloadError::EmptyKey => true,
        other => other.field().is_some(),
    }
}

#[test]
fn payload_parsers_accept_or_name_the_field() {
    runner(400)
        .run(&json_text(), |text| {
            for parse in [telemetry, attributes] {
                let json = parse_json(text.as_bytes());
                prop_assert!(json.is_ok(), "generated JSON must parse: {}", text);
                let mut out = Vec::new();
                match parse(json.unwrap(), NOW, &mut out) {
                    Ok(()) => {
                        for p in &out {
                            prop_assert!(!p.key.is_empty() && p.key.len() <= payload::MAX_KEY_BYTES);
                            prop_assert!(p.ts <= NOW + cunlink_core::time::DAY_MS);
                        }
                    }
                    Err(e) => prop_assert!(names_its_field(&e), "{:?} names no field", e),
                }
            }
            for per_device in [telemetry, attributes] {
                if let Ok(devices) = gateway(parse_json(text.as_bytes()).unwrap(), NOW, per_device) {
                    for (name, _) in devices {
                        prop_assert!(payload::check_device_name(&name).is_ok());
                    }
                }
            }
            let json = parse_json(text.as_bytes()).unwrap();
            let _ = gateway_connect(&json);
            Ok(())
        })
        .unwrap();
}

#[test]
fn payload_parsers_never_panic_on_any_bytes() {
    runner(500)
        .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
            if let Ok(json) = parse_json(&bytes) {
                let mut out = Vec::new();
                let _ = telemetry(json, NOW, &mut out);
            }
            let _ = parse_uplink(&bytes, NOW);
            Ok(())
        })
        .unwrap();
}

#[test]
fn chirpstack_events_never_panic_and_normalise_the_dev_eui() {
    let strategy = (json_text(), "[0-9a-fA-F]{14,18}", "[0-9TZ:.+ -]{0,40}");
    runner(300)
        .run(&strategy, |(object, eui, time)| {
            let body = format!(
                r#"{{"time":{},"deviceInfo":{{"devEui":"{eui}"}},"object":{object}}}"#,
                serde_json::Value::String(time.clone())
            );
            match parse_uplink(body.as_bytes(), NOW) {
                Ok(up) => {
                    prop_assert_eq!(up.dev_eui.len(), 16);
                    prop_assert!(up.points.iter().all(|p| p.ts <= NOW + cunlink_core::time::DAY_MS));
                }
                Err(e) => prop_assert!(names_its_field(&e), "{:?}", e),
            }
            let _ = parse_rfc3339_ms(&time);
            Ok(())
        })
        .unwrap();
}

#[test]
fn rfc3339_parser_never_panics_near_valid_times() {
    let strategy = (
        -1i64..10_000,
        0i64..14,
        0i64..33,
        0i64..25,
        0i64..61,
        0i64..62,
        "(\\.[0-9]{0,12})?",
        prop_oneof![Just("Z".to_string()), "[+-][0-9]{2}:[0-9]{2}", "[ -~]{0,3}"],
    );
    runner(400)
        .run(&strategy, |(y, mo, d, h, mi, s, frac, zone)| {
            let t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}");
            let _ = parse_rfc3339_ms(&t);
            Ok(())
        })
        .unwrap();
}
