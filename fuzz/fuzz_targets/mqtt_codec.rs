//! MQTT packet decoder (crates/farm/src/ingest/mqtt/packet.rs): any bytes, in
//! both protocol versions, fed whole and in two pieces. Must never panic, must
//! consume what it decodes, and a decoded PUBLISH must survive the server's own
//! encoder unchanged.
#![no_main]

use bytes::BytesMut;
use cunlink_farm::ingest::mqtt::packet::{Packet, Version, decode, publish};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    for version in [Version::V311, Version::V5] {
        for max in [64, 1 << 20] {
            drain(rest, version, max, None);
            drain(rest, version, max, Some(split as usize % (rest.len() + 1)));
        }
    }
});

/// Decode packets until the buffer is exhausted or an error, optionally
/// delivering the bytes in two reads split at `at`.
fn drain(bytes: &[u8], version: Version, max: usize, at: Option<usize>) {
    let (first, second) = bytes.split_at(at.unwrap_or(bytes.len()));
    let mut buf = BytesMut::from(first);
    let mut pending = Some(second);
    loop {
        let before = buf.len();
        match decode(&mut buf, version, max) {
            Ok(Some(p)) => {
                assert!(buf.len() < before, "a decoded packet consumed nothing");
                round_trip(&p, version);
            }
            Ok(None) => match pending.take() {
                Some(more) if !more.is_empty() => buf.extend_from_slice(more),
                _ => return,
            },
            Err(_) => return,
        }
    }
}

fn round_trip(p: &Packet, version: Version) {
    let Packet::Publish(p) = p else { return };
    let mut out = Vec::new();
    publish(&mut out, version, &p.topic, &p.payload, p.qos, p.pkid);
    let mut buf = BytesMut::from(&out[..]);
    match decode(&mut buf, version, usize::MAX) {
        Ok(Some(Packet::Publish(q))) => {
            assert_eq!((&q.topic, &q.payload, q.qos), (&p.topic, &p.payload, p.qos));
            if p.qos > 0 {
                assert_eq!(q.pkid, p.pkid);
            }
        }
        other => panic!("re-encoded PUBLISH decodes as {other:?}"),
    }
}
