//! MQTT 3.1.1 and 5.0 packets: the server side of the subset devices use.
//!
//! Decoding takes bytes as they arrive and returns `Ok(None)` until a whole packet
//! is buffered. MQTT 5 properties the server does not act on are skipped. Nothing
//! here panics on hostile input: every length is checked against what is there.

use bytes::{Buf, Bytes, BytesMut};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtoError {
    #[error("malformed remaining length")]
    BadLength,
    #[error("packet of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocol(u8),
    #[error("unsupported packet type {0}")]
    UnsupportedType(u8),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Connect {
    pub version: Version,
    pub keep_alive: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub pkid: u16,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    Connect(Connect),
    Publish(Publish),
    PubAck(u16),
    Subscribe {
        pkid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    Disconnect,
}

/// CONNACK codes, as 3.1.1 return codes and 5.0 reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectCode {
    Accepted,
    BadProtocol,
    NotAuthorized,
}

impl ConnectCode {
    fn byte(self, v: Version) -> u8 {
        match (self, v) {
            (ConnectCode::Accepted, _) => 0x00,
            (ConnectCode::BadProtocol, Version::V311) => 0x01,
            (ConnectCode::BadProtocol, Version::V5) => 0x84,
            (ConnectCode::NotAuthorized, Version::V311) => 0x05,
            (ConnectCode::NotAuthorized, Version::V5) => 0x87,
        }
    }
}

/// MQTT 5 reason codes the server sends.
pub mod reason {
    pub const SUCCESS: u8 = 0x00;
    pub const UNSPECIFIED: u8 = 0x80;
    pub const NOT_AUTHORIZED: u8 = 0x87;
    pub const TOPIC_NAME_INVALID: u8 = 0x90;
    pub const PACKET_TOO_LARGE: u8 = 0x95;
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
    pub const QOS_NOT_SUPPORTED: u8 = 0x9B;
    pub const SERVER_BUSY: u8 = 0x89;
    pub const SERVER_SHUTTING_DOWN: u8 = 0x8B;
    pub const PROTOCOL_ERROR: u8 = 0x82;
    pub const MALFORMED_PACKET: u8 = 0x81;
}

/// Decode one packet from the front of `buf` if it is complete.
pub fn decode(
    buf: &mut BytesMut,
    version: Version,
    max_size: usize,
) -> Result<Option<Packet>, ProtoError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let mut len = 0usize;
    let mut header_len = 1;
    loop {
        let Some(&b) = buf.get(header_len) else {
            return Ok(None);
        };
        len |= ((b & 0x7f) as usize) << (7 * (header_len - 1));
        header_len += 1;
        if b & 0x80 == 0 {
            break;
        }
        if header_len > 4 {
            return Err(ProtoError::BadLength);
        }
    }
    if len > max_size {
        return Err(ProtoError::TooLarge(len));
    }
    if buf.len() < header_len + len {
        buf.reserve(header_len + len - buf.len());
        return Ok(None);
    }
    let first = buf[0];
    buf.advance(header_len);
    let body = buf.split_to(len).freeze();
    parse(first, body, version).map(Some)
}

struct Cur(Bytes);

impl Cur {
    fn u8(&mut self) -> Result<u8, ProtoError> {
        if self.0.is_empty() {
            return Err(ProtoError::Malformed("truncated"));
        }
        Ok(self.0.get_u8())
    }
    fn u16(&mut self) -> Result<u16, ProtoError> {
        if self.0.len() < 2 {
            return Err(ProtoError::Malformed("truncated"));
        }
        Ok(self.0.get_u16())
    }
    fn bytes(&mut self) -> Result<Bytes, ProtoError> {
        let n = self.u16()? as usize;
        if self.0.len() < n {
            return Err(ProtoError::Malformed("length beyond packet"));
        }
        Ok(self.0.split_to(n))
    }
    fn string(&mut self) -> Result<String, ProtoError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| ProtoError::Malformed("string is not UTF-8"))
    }
    fn varint(&mut self) -> Result<usize, ProtoError> {
        let mut v = 0usize;
        for i in 0..4 {
            let b = self.u8()?;
            v |= ((b & 0x7f) as usize) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::BadLength)
    }
    /// Skip MQTT 5 properties.
    fn skip_properties(&mut self) -> Result<(), ProtoError> {
        let n = self.varint()?;
        if self.0.len() < n {
            return Err(ProtoError::Malformed("properties beyond packet"));
        }
        self.0.advance(n);
        Ok(())
    }
}

fn parse(first: u8, body: Bytes, version: Version) -> Result<Packet, ProtoError> {
    let kind = first >> 4;
    let flags = first & 0x0f;
    let mut c = Cur(body);
    Ok(match kind {
        1 => Packet::Connect(parse_connect(&mut c)?),
        3 => {
            let qos = (flags >> 1) & 0x03;
            if qos == 3 {
                return Err(ProtoError::Malformed("QoS 3"));
            }
            let topic = c.string()?;
            let pkid = if qos > 0 { c.u16()? } else { 0 };
            if version == Version::V5 {
                c.skip_properties()?;
            }
            Packet::Publish(Publish {
                qos,
                retain: flags & 1 == 1,
                topic,
                pkid,
                payload: c.0,
            })
        }
        4 => Packet::PubAck(c.u16()?),
        8 => {
            let pkid = c.u16()?;
            if version == Version::V5 {
                c.skip_properties()?;
            }
            let mut filters = Vec::new();
            while !c.0.is_empty() {
                let f = c.string()?;
                let opts = c.u8()?;
                filters.push((f, opts & 0x03));
            }
            if filters.is_empty() {
                return Err(ProtoError::Malformed("SUBSCRIBE without topic filters"));
            }
            Packet::Subscribe { pkid, filters }
        }
        10 => {
            let pkid = c.u16()?;
            if version == Version::V5 {
                c.skip_properties()?;
            }
            let mut filters = Vec::new();
            while !c.0.is_empty() {
                filters.push(c.string()?);
            }
            Packet::Unsubscribe { pkid, filters }
        }
        12 => Packet::PingReq,
        14 => Packet::Disconnect,
        other => return Err(ProtoError::UnsupportedType(other)),
    })
}

fn parse_connect(c: &mut Cur) -> Result<Connect, ProtoError> {
    let name = c.string()?;
    let level = c.u8()?;
    let version = match (name.as_str(), level) {
        ("MQTT", 4) | ("MQIsdp", 3) => Version::V311,
        ("MQTT", 5) => Version::V5,
        _ => return Err(ProtoError::UnsupportedProtocol(level)),
    };
    let flags = c.u8()?;
    if flags & 1 != 0 {
        return Err(ProtoError::Malformed("reserved CONNECT flag set"));
    }
    let keep_alive = c.u16()?;
    if version == Version::V5 {
        c.skip_properties()?;
    }
    let client_id = c.string()?;
    if flags & 0x04 != 0 {
        if version == Version::V5 {
            c.skip_properties()?;
        }
        c.bytes()?; // will topic
        c.bytes()?; // will payload
    }
    let username = if flags & 0x80 != 0 {
        Some(c.string()?)
    } else {
        None
    };
    let password = if flags & 0x40 != 0 {
        Some(c.bytes()?)
    } else {
        None
    };
    Ok(Connect {
        version,
        keep_alive,
        client_id,
        username,
        password,
    })
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

pub fn connack(out: &mut Vec<u8>, version: Version, code: ConnectCode) {
    match version {
        Version::V311 => out.extend_from_slice(&[0x20, 2, 0, code.byte(version)]),
        // Session present 0, reason, no properties.
        Version::V5 => out.extend_from_slice(&[0x20, 3, 0, code.byte(version), 0]),
    }
}

/// PUBACK. In 3.1.1 there is no reason code; callers disconnect instead of
/// acknowledging a refused message.
pub fn puback(
    out: &mut Vec<u8>,
    version: Version,
    pkid: u16,
    reason_code: u8,
    reason_string: Option<&str>,
) {
    let [hi, lo] = pkid.to_be_bytes();
    if version == Version::V311 || (reason_code == reason::SUCCESS && reason_string.is_none()) {
        out.extend_from_slice(&[0x40, 2, hi, lo]);
        return;
    }
    match reason_string {
        None => out.extend_from_slice(&[0x40, 3, hi, lo, reason_code]),
        Some(s) => {
            let s = truncate_utf8(s, 1024);
            let props = 3 + s.len();
            let mut props_len = Vec::new();
            put_len(&mut props_len, props);
            out.push(0x40);
            put_len(out, 3 + props_len.len() + props);
            out.extend_from_slice(&[hi, lo, reason_code]);
            out.extend_from_slice(&props_len);
            out.push(0x1F);
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub fn suback(out: &mut Vec<u8>, version: Version, pkid: u16, codes: &[u8]) {
    out.push(0x90);
    let extra = if version == Version::V5 { 1 } else { 0 };
    put_len(out, 2 + extra + codes.len());
    out.extend_from_slice(&pkid.to_be_bytes());
    if version == Version::V5 {
        out.push(0);
    }
    out.extend_from_slice(codes);
}

pub fn unsuback(out: &mut Vec<u8>, version: Version, pkid: u16, n: usize) {
    out.push(0xB0);
    match version {
        Version::V311 => {
            out.push(2);
            out.extend_from_slice(&pkid.to_be_bytes());
        }
        Version::V5 => {
            put_len(out, 3 + n);
            out.extend_from_slice(&pkid.to_be_bytes());
            out.push(0);
            out.extend(std::iter::repeat_n(0u8, n));
        }
    }
}

pub fn pingresp(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xD0, 0]);
}

/// DISCONNECT from the server; only MQTT 5 has one (3.1.1 servers just close).
pub fn disconnect(out: &mut Vec<u8>, version: Version, reason_code: u8) {
    if version == Version::V5 {
        out.extend_from_slice(&[0xE0, 1, reason_code]);
    }
}

/// A PUBLISH from the server (RPC requests, attribute updates).
pub fn publish(
    out: &mut Vec<u8>,
    version: Version,
    topic: &str,
    payload: &[u8],
    qos: u8,
    pkid: u16,
) {
    let props = if version == Version::V5 { 1 } else { 0 };
    let id = if qos > 0 { 2 } else { 0 };
    out.push(0x30 | (qos << 1));
    put_len(out, 2 + topic.len() + id + props + payload.len());
    out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    if qos > 0 {
        out.extend_from_slice(&pkid.to_be_bytes());
    }
    if version == Version::V5 {
        out.push(0);
    }
    out.extend_from_slice(payload);
}

/// Client-side encoders, used by the load generator and tests.
pub mod client {
    use super::*;

    pub fn connect(
        out: &mut Vec<u8>,
        version: Version,
        client_id: &str,
        username: Option<&str>,
        keep_alive: u16,
    ) {
        let mut body = Vec::new();
        body.extend_from_slice(&4u16.to_be_bytes());
        body.extend_from_slice(b"MQTT");
        body.push(if version == Version::V5 { 5 } else { 4 });
        body.push(0x02 | if username.is_some() { 0x80 } else { 0 });
        body.extend_from_slice(&keep_alive.to_be_bytes());
        if version == Version::V5 {
            body.push(0);
        }
        body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
        body.extend_from_slice(client_id.as_bytes());
        if let Some(u) = username {
            body.extend_from_slice(&(u.len() as u16).to_be_bytes());
            body.extend_from_slice(u.as_bytes());
        }
        out.push(0x10);
        put_len(out, body.len());
        out.extend_from_slice(&body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], v: Version) -> Result<Option<Packet>, ProtoError> {
        let mut b = BytesMut::from(bytes);
        decode(&mut b, v, 1 << 20)
    }

    #[test]
    fn connect_round_trips_in_both_versions() {
        for v in [Version::V311, Version::V5] {
            let mut out = Vec::new();
            client::connect(&mut out, v, "dev-1", Some("TOKEN"), 60);
            let Some(Packet::Connect(c)) = decode_all(&out, v).unwrap() else {
                panic!("not a connect")
            };
            assert_eq!(
                (
                    c.version,
                    c.keep_alive,
                    c.client_id.as_str(),
                    c.username.as_deref()
                ),
                (v, 60, "dev-1", Some("TOKEN"))
            );
        }
    }

    #[test]
    fn publish_round_trips_and_waits_for_the_whole_packet() {
        let mut out = Vec::new();
        publish(
            &mut out,
            Version::V5,
            "v1/devices/me/telemetry",
            br#"{"t":1}"#,
            1,
            7,
        );
        assert_eq!(
            decode_all(&out[..out.len() - 1], Version::V5).unwrap(),
            None
        );
        let Some(Packet::Publish(p)) = decode_all(&out, Version::V5).unwrap() else {
            panic!()
        };
        assert_eq!(
            (p.qos, p.pkid, p.topic.as_str(), &p.payload[..]),
            (1, 7, "v1/devices/me/telemetry", &br#"{"t":1}"#[..])
        );
    }

    #[test]
    fn oversized_and_malformed_packets_are_errors() {
        let mut b = BytesMut::from(&[0x30u8, 0xff, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(
            decode(&mut b, Version::V311, 1 << 20),
            Err(ProtoError::TooLarge(_))
        ));
        assert_eq!(
            decode_all(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], Version::V311),
            Err(ProtoError::BadLength)
        );
        assert!(decode_all(&[0x30, 3, 0, 9, b'a'], Version::V311).is_err());
        assert!(decode_all(&[0xF0, 0], Version::V311).is_err());
    }

    #[test]
    fn puback_carries_reason_and_string_in_v5_only() {
        let mut a = Vec::new();
        puback(
            &mut a,
            Version::V311,
            5,
            reason::PAYLOAD_FORMAT_INVALID,
            Some("bad"),
        );
        assert_eq!(a, vec![0x40, 2, 0, 5]);
        let mut b = Vec::new();
        puback(
            &mut b,
            Version::V5,
            5,
            reason::PAYLOAD_FORMAT_INVALID,
            Some("bad"),
        );
        assert_eq!(
            b,
            vec![0x40, 10, 0, 5, 0x99, 6, 0x1F, 0, 3, b'b', b'a', b'd']
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        // A tiny deterministic generator: the point is coverage of odd lengths, not randomness quality.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(x as u8);
            }
            for v in [Version::V311, Version::V5] {
                let mut b = BytesMut::from(&bytes[..]);
                let _ = decode(&mut b, v, 1 << 20);
            }
        }
    }
}
