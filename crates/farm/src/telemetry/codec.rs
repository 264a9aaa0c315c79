//! Byte formats of the telemetry store.
//!
//! * **Log records**: what one group commit appends — each point as
//!   (series, ts delta from the record's base, tagged value). Written on the hot
//!   path, so cheap to encode: ~12 bytes per numeric point, fewer for integers.
//! * **Chunks**: sealed, time-sorted runs of one series. Timestamps as
//!   delta-of-delta varints (regular reporting → 1 byte each), numbers XOR'd with
//!   their predecessor with zero bytes trimmed (repeats → 1 byte), in the spirit of
//!   Facebook's Gorilla paper but byte-aligned so decoding stays simple.
//!
//! Decoders never panic on bad bytes; they return [`CodecError`].

use super::value::Value;

#[derive(Debug, thiserror::Error)]
#[error("corrupt telemetry record: {0}")]
pub struct CodecError(&'static str);

const LOG_VERSION: u8 = 1;
const CHUNK_VERSION: u8 = 1;

const TAG_F64: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_TEXT: u8 = 3;
const TAG_INT: u8 = 4;

const MODE_TAGGED: u8 = 0;
const MODE_NUMERIC: u8 = 1;

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A cursor over bytes being decoded.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(CodecError("length overflow"))?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError("truncated"))?;
        self.pos = end;
        Ok(s)
    }

    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError("varint too long"))
    }

    pub fn ivarint(&mut self) -> Result<i64, CodecError> {
        Ok(unzigzag(self.varint()?))
    }
}

/// Integral numbers within 2^53 are stored as zigzag varints (a counter reading of
/// 37 takes 1 byte instead of 8); the conversion is exact both ways.
fn as_small_int(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_992.0 && !(v == 0.0 && v.is_sign_negative()))
        .then_some(v as i64)
}

pub fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Num(x) => match as_small_int(*x) {
            Some(i) => {
                out.push(TAG_INT);
                put_varint(out, zigzag(i));
            }
            None => {
                out.push(TAG_F64);
                out.extend_from_slice(&x.to_le_bytes());
            }
        },
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Text(s) => {
            out.push(TAG_TEXT);
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

pub fn get_value(r: &mut Reader<'_>) -> Result<Value, CodecError> {
    Ok(match r.u8()? {
        TAG_F64 => {
            let b = r.bytes(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Value::Num(f64::from_le_bytes(a))
        }
        TAG_INT => Value::Num(r.ivarint()? as f64),
        TAG_FALSE => Value::Bool(false),
        TAG_TRUE => Value::Bool(true),
        TAG_TEXT => {
            let n = r.varint()? as usize;
            let s =
                std::str::from_utf8(r.bytes(n)?).map_err(|_| CodecError("text is not UTF-8"))?;
            Value::Text(s.into())
        }
        _ => return Err(CodecError("unknown value tag")),
    })
}

/// A point in a log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPoint {
    pub series: u32,
    pub ts: i64,
    pub value: Value,
}

/// Encode points (given as series, ts, value) into one log record.
pub fn encode_log<'a>(
    points: impl ExactSizeIterator<Item = (u32, i64, &'a Value)> + Clone,
) -> Vec<u8> {
    let n = points.len();
    let base = points.clone().map(|p| p.1).min().unwrap_or(0);
    let mut out = Vec::with_capacity(8 + n * 12);
    out.push(LOG_VERSION);
    put_varint(&mut out, n as u64);
    put_varint(&mut out, zigzag(base));
    for (series, ts, value) in points {
        put_varint(&mut out, series as u64);
        put_varint(&mut out, (ts - base) as u64);
        put_value(&mut out, value);
    }
    out
}

pub fn decode_log(buf: &[u8]) -> Result<Vec<LogPoint>, CodecError> {
    let mut r = Reader::new(buf);
    if r.u8()? != LOG_VERSION {
        return Err(CodecError("unknown log record version"));
    }
    let n = r.varint()? as usize;
    let base = r.ivarint()?;
    // Every point takes at least 3 bytes, so a count beyond that is corruption, not a reason to allocate.
    let mut out = Vec::with_capacity(n.min(buf.len() / 3));
    for _ in 0..n {
        let series = u32::try_from(r.varint()?).map_err(|_| CodecError("series id too large"))?;
        let ts = base.wrapping_add(r.varint()? as i64);
        out.push(LogPoint {
            series,
            ts,
            value: get_value(&mut r)?,
        });
    }
    Ok(out)
}

/// Encode a time-sorted run of one series.
pub fn encode_chunk(ts: &[i64], values: &[Value]) -> Vec<u8> {
    debug_assert_eq!(ts.len(), values.len());
    let mut out = Vec::with_capacity(16 + ts.len() * 3);
    out.push(CHUNK_VERSION);
    put_varint(&mut out, ts.len() as u64);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for (i, &t) in ts.iter().enumerate() {
        if i == 0 {
            put_varint(&mut out, zigzag(t));
        } else {
            let delta = t.wrapping_sub(prev);
            put_varint(&mut out, zigzag(delta.wrapping_sub(prev_delta)));
            prev_delta = delta;
        }
        prev = t;
    }
    if values.iter().all(|v| matches!(v, Value::Num(_))) {
        out.push(MODE_NUMERIC);
        let mut prev_bits = 0u64;
        for v in values {
            let bits = match v {
                Value::Num(x) => x.to_bits(),
                _ => 0,
            };
            put_xor(&mut out, bits ^ prev_bits);
            prev_bits = bits;
        }
    } else {
        out.push(MODE_TAGGED);
        for v in values {
            put_value(&mut out, v);
        }
    }
    out
}

/// One header byte (leading zero bytes << 4 | trailing zero bytes), then the
/// bytes in between, most significant first. A repeated value is the single byte 0x80.
fn put_xor(out: &mut Vec<u8>, x: u64) {
    if x == 0 {
        out.push(0x80);
        return;
    }
    let lead = (x.leading_zeros() / 8) as usize;
    let trail = (x.trailing_zeros() / 8) as usize;
    out.push(((lead << 4) | trail) as u8);
    let be = x.to_be_bytes();
    out.extend_from_slice(&be[lead..8 - trail]);
}

fn get_xor(r: &mut Reader<'_>) -> Result<u64, CodecError> {
    let h = r.u8()?;
    let (lead, trail) = ((h >> 4) as usize, (h & 0x0f) as usize);
    if lead == 8 && trail == 0 {
        return Ok(0);
    }
    if lead + trail >= 8 {
        return Err(CodecError("bad xor header"));
    }
    let mut be = [0u8; 8];
    be[lead..8 - trail].copy_from_slice(r.bytes(8 - lead - trail)?);
    Ok(u64::from_be_bytes(be))
}

pub fn decode_chunk(buf: &[u8]) -> Result<(Vec<i64>, Vec<Value>), CodecError> {
    let mut r = Reader::new(buf);
    if r.u8()? != CHUNK_VERSION {
        return Err(CodecError("unknown chunk version"));
    }
    let n = r.varint()? as usize;
    let n_cap = n.min(buf.len());
    let mut ts = Vec::with_capacity(n_cap);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for i in 0..n {
        if i == 0 {
            prev = r.ivarint()?;
        } else {
            prev_delta = prev_delta.wrapping_add(r.ivarint()?);
            prev = prev.wrapping_add(prev_delta);
        }
        ts.push(prev);
    }
    let mut values = Vec::with_capacity(n_cap);
    match r.u8()? {
        MODE_NUMERIC => {
            let mut bits = 0u64;
            for _ in 0..n {
                bits ^= get_xor(&mut r)?;
                values.push(Value::Num(f64::from_bits(bits)));
            }
        }
        MODE_TAGGED => {
            for _ in 0..n {
                values.push(get_value(&mut r)?);
            }
        }
        _ => return Err(CodecError("unknown chunk mode")),
    }
    Ok((ts, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(xs: &[f64]) -> Vec<Value> {
        xs.iter().map(|x| Value::Num(*x)).collect()
    }

    #[test]
    fn log_round_trips_every_value_kind() {
        let values = [
            Value::Num(23.5),
            Value::Num(-0.0),
            Value::Num(42.0),
            Value::Num(-7.0),
            Value::Num(1e300),
            Value::Bool(true),
            Value::Bool(false),
            Value::Text("猪舍 3".into()),
        ];
        let pts: Vec<(u32, i64, &Value)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 * 1000, 1_700_000_000_000 + i as i64 * 7, v))
            .collect();
        let blob = encode_log(pts.iter().copied());
        let back = decode_log(&blob).unwrap();
        assert_eq!(back.len(), values.len());
        for (p, (s, t, v)) in back.iter().zip(pts) {
            assert_eq!((p.series, p.ts), (s, t));
            match (&p.value, v) {
                (Value::Num(a), Value::Num(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                (a, b) => assert_eq!(a, b),
            }
        }
    }

    #[test]
    fn chunks_round_trip_and_compress_regular_series() {
        let ts: Vec<i64> = (0..1000).map(|i| 1_700_000_000_000 + i * 60_000).collect();
        let v = vals(
            &(0..1000)
                .map(|i| 20.0 + ((i / 50) as f64) * 0.5)
                .collect::<Vec<_>>(),
        );
        let blob = encode_chunk(&ts, &v);
        assert!(
            blob.len() < 2 * 1000 + 200,
            "{} bytes for 1000 points",
            blob.len()
        );
        let (t2, v2) = decode_chunk(&blob).unwrap();
        assert_eq!(t2, ts);
        assert_eq!(v2, v);
    }

    #[test]
    fn mixed_chunks_round_trip() {
        let ts = vec![5, 3, 9];
        let v = vec![Value::Text("on".into()), Value::Num(1.5), Value::Bool(true)];
        let (t2, v2) = decode_chunk(&encode_chunk(&ts, &v)).unwrap();
        assert_eq!((t2, v2), (ts, v));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[1],
            &[1, 0xff, 0xff],
            &[9, 1, 2],
            &[1, 3, 0, 0, 0, 7],
        ] {
            let _ = decode_log(bad);
            let _ = decode_chunk(bad);
        }
        assert!(decode_log(&[1, 1, 0, 0, 0, 99]).is_err());
    }
}
