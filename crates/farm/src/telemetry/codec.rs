//! Byte formats of the telemetry store.
//!
//! * **Log records**: what one group commit appends — each point as
//!   (series, ts delta from the record's base, tagged value). Written on the hot
//!   path, so cheap to encode: ~12 bytes per numeric point, fewer for integers.
//! * **Chunks**: sealed, time-sorted runs of one series. The first byte is the
//!   format version, so chunks written by older versions stay readable:
//!   - version 1: timestamps as delta-of-delta varints (regular reporting → 1 byte
//!     each), numbers XOR'd with their predecessor with zero bytes trimmed
//!     (repeats → 1 byte), in the spirit of Facebook's Gorilla paper.
//!   - version 2 (written today): timestamps and numbers compressed with
//!     [`pco`], which finds delta orders (regular reporting → almost nothing per
//!     point), common multiples (a sensor in 0.1 °C steps is stored as small
//!     integers) and integral values. Booleans and text stay tagged as in version 1.
//!
//! Decoders never panic on bad bytes; they return [`CodecError`].

use super::value::Value;

#[derive(Debug, thiserror::Error)]
#[error("corrupt telemetry record: {0}")]
pub struct CodecError(&'static str);

const LOG_VERSION: u8 = 1;
const CHUNK_V1: u8 = 1;
const CHUNK_V2: u8 = 2;

const TAG_F64: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_TEXT: u8 = 3;
const TAG_INT: u8 = 4;

const MODE_TAGGED: u8 = 0;
const MODE_NUMERIC: u8 = 1;
/// Version 2: every value a number, as pco-compressed `f64`.
const MODE_PCO_F64: u8 = 2;
/// Version 2: every value an integral number within ±2^53, as pco-compressed `i64`.
const MODE_PCO_INT: u8 = 3;

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

/// Encode a time-sorted run of one series in the current chunk format (version 2).
pub fn encode_chunk(ts: &[i64], values: &[Value]) -> Vec<u8> {
    debug_assert_eq!(ts.len(), values.len());
    let mut out = Vec::with_capacity(32 + ts.len());
    out.push(CHUNK_V2);
    put_varint(&mut out, ts.len() as u64);
    put_pco(&mut out, ts);
    let nums: Option<Vec<f64>> = values
        .iter()
        .map(|v| match v {
            Value::Num(x) => Some(*x),
            _ => None,
        })
        .collect();
    match nums {
        Some(nums) => match nums
            .iter()
            .map(|x| as_small_int(*x))
            .collect::<Option<Vec<i64>>>()
        {
            Some(ints) => {
                out.push(MODE_PCO_INT);
                put_pco(&mut out, &ints);
            }
            None => {
                out.push(MODE_PCO_F64);
                put_pco(&mut out, &nums);
            }
        },
        None => {
            out.push(MODE_TAGGED);
            for v in values {
                put_value(&mut out, v);
            }
        }
    }
    out
}

/// Length-prefixed pco block. pco only fails on an invalid configuration or an
/// I/O error, neither possible with the default configuration into a `Vec`.
fn put_pco<T: pco::data_types::Number>(out: &mut Vec<u8>, xs: &[T]) {
    let block = pco::standalone::simple_compress(xs, &pco::ChunkConfig::default())
        .expect("pco compresses any slice with the default configuration into memory");
    put_varint(out, block.len() as u64);
    out.extend_from_slice(&block);
}

fn get_pco<T: pco::data_types::Number>(r: &mut Reader<'_>, n: usize) -> Result<Vec<T>, CodecError> {
    let len = usize::try_from(r.varint()?).map_err(|_| CodecError("length overflow"))?;
    let block = r.bytes(len)?;
    let xs = pco::standalone::simple_decompress::<T>(block)
        .map_err(|_| CodecError("corrupt pco block"))?;
    if xs.len() != n {
        return Err(CodecError("pco block holds the wrong number of values"));
    }
    Ok(xs)
}

/// Encode in chunk format version 1 (kept so tests can write what older versions wrote).
pub fn encode_chunk_v1(ts: &[i64], values: &[Value]) -> Vec<u8> {
    debug_assert_eq!(ts.len(), values.len());
    let mut out = Vec::with_capacity(16 + ts.len() * 3);
    out.push(CHUNK_V1);
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

/// The format version of an encoded chunk (its first byte).
pub fn chunk_version(buf: &[u8]) -> Option<u8> {
    buf.first().copied()
}

/// True when `buf` is in the format [`encode_chunk`] writes today.
pub fn chunk_is_current(buf: &[u8]) -> bool {
    chunk_version(buf) == Some(CHUNK_V2)
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
    match r.u8()? {
        CHUNK_V1 => decode_v1(r, buf.len()),
        CHUNK_V2 => decode_v2(r),
        _ => Err(CodecError("unknown chunk version")),
    }
}

fn decode_v2(mut r: Reader<'_>) -> Result<(Vec<i64>, Vec<Value>), CodecError> {
    let n = usize::try_from(r.varint()?).map_err(|_| CodecError("length overflow"))?;
    let ts = get_pco::<i64>(&mut r, n)?;
    let values = match r.u8()? {
        MODE_PCO_F64 => get_pco::<f64>(&mut r, n)?
            .into_iter()
            .map(Value::Num)
            .collect(),
        MODE_PCO_INT => get_pco::<i64>(&mut r, n)?
            .into_iter()
            .map(|i| Value::Num(i as f64))
            .collect(),
        MODE_TAGGED => {
            let mut values = Vec::with_capacity(n.min(r.buf.len()));
            for _ in 0..n {
                values.push(get_value(&mut r)?);
            }
            values
        }
        _ => return Err(CodecError("unknown chunk mode")),
    };
    Ok((ts, values))
}

fn decode_v1(mut r: Reader<'_>, len: usize) -> Result<(Vec<i64>, Vec<Value>), CodecError> {
    let n = r.varint()? as usize;
    let n_cap = n.min(len);
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

    fn same(a: &[Value], b: &[Value]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Value::Num(p), Value::Num(q)) => p.to_bits() == q.to_bits(),
                (p, q) => p == q,
            })
    }

    #[test]
    fn v2_round_trips_every_value_kind_bit_exact() {
        let odd_nan = f64::from_bits(0x7ff8_0000_dead_beef);
        let cases: Vec<Vec<Value>> = vec![
            vals(&[1.0, 2.0, -3.0, 9_007_199_254_740_992.0, 0.0]),
            vals(&[
                23.5,
                -0.0,
                0.0,
                f64::NAN,
                odd_nan,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ]),
            vals(&[f64::MIN_POSITIVE, f64::MAX, f64::MIN, 5e-324, 1e300]),
            vals(&[-0.0, -0.0]),
            vec![Value::Bool(true), Value::Bool(false), Value::Bool(true)],
            vec![
                Value::Text("猪舍 3".into()),
                Value::Text(String::new().into()),
            ],
            vec![
                Value::Num(1.5),
                Value::Bool(true),
                Value::Text("on".into()),
                Value::Num(f64::NAN),
            ],
            vals(&[7.0]),
        ];
        for v in cases {
            let ts: Vec<i64> = (0..v.len() as i64).map(|i| -5 + i * 1_000).collect();
            let blob = encode_chunk(&ts, &v);
            assert!(chunk_is_current(&blob));
            let (t2, v2) = decode_chunk(&blob).unwrap();
            assert_eq!(t2, ts);
            assert!(same(&v2, &v), "{v:?} came back as {v2:?}");
        }
    }

    #[test]
    fn version_1_chunks_stay_readable() {
        let ts = vec![1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000];
        let v = vec![Value::Num(-0.0), Value::Num(21.5), Value::Num(f64::NAN)];
        let old = encode_chunk_v1(&ts, &v);
        assert_eq!(chunk_version(&old), Some(1));
        assert!(!chunk_is_current(&old));
        let (t2, v2) = decode_chunk(&old).unwrap();
        assert_eq!(t2, ts);
        assert!(same(&v2, &v));
    }

    /// A year-like series: a 0.1-quantised daily cycle with noise, every minute
    /// with a little jitter. pco must store it in well under a byte per point.
    #[test]
    fn quantised_sensor_data_compresses_below_a_byte_per_point() {
        let mut seed = 42u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64) / ((1u64 << 31) as f64)
        };
        let n = 512;
        let ts: Vec<i64> = (0..n as i64)
            .map(|i| 1_700_000_000_000 + i * 60_000)
            .collect();
        let v: Vec<Value> = (0..n)
            .map(|i| {
                let x =
                    20.0 + 5.0 * (i as f64 / 1440.0 * std::f64::consts::TAU).sin() + rnd() * 0.3;
                Value::Num((x * 10.0).round() / 10.0)
            })
            .collect();
        let v2 = encode_chunk(&ts, &v);
        let v1 = encode_chunk_v1(&ts, &v);
        assert!(
            v2.len() < n,
            "v2 {} bytes for {n} points (v1 {})",
            v2.len(),
            v1.len()
        );
        let (t, back) = decode_chunk(&v2).unwrap();
        assert_eq!(t, ts);
        assert!(same(&back, &v));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<u64>().prop_map(|b| Value::Num(f64::from_bits(b))),
                (-1_000_000i64..1_000_000).prop_map(|i| Value::Num(i as f64)),
                (-3000i64..3000).prop_map(|i| Value::Num(i as f64 / 10.0)),
                any::<bool>().prop_map(Value::Bool),
                "[a-z猪 ]{0,8}".prop_map(|s| Value::Text(s.into())),
            ]
        }

        /// The reference is the input itself: a chunk must give back exactly what it
        /// was given (bit for bit), and version 1 must agree with version 2.
        fn points() -> impl Strategy<Value = (Vec<i64>, Vec<Value>)> {
            (1usize..300).prop_flat_map(|n| {
                (
                    proptest::collection::vec(any::<i64>(), n).prop_map(|mut t| {
                        t.sort_unstable();
                        t
                    }),
                    prop_oneof![
                        proptest::collection::vec(value(), n),
                        proptest::collection::vec(
                            (-3000i64..3000).prop_map(|i| Value::Num(i as f64 / 10.0)),
                            n
                        ),
                        proptest::collection::vec(
                            any::<u64>().prop_map(|b| Value::Num(f64::from_bits(b))),
                            n
                        ),
                    ],
                )
            })
        }

        fn bits(v: &[Value]) -> Vec<Result<u64, Value>> {
            v.iter()
                .map(|x| match x {
                    Value::Num(f) => Ok(f.to_bits()),
                    other => Err(other.clone()),
                })
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
            #[test]
            fn chunks_give_back_what_they_were_given((ts, v) in points()) {
                let (t2, v2) = decode_chunk(&encode_chunk(&ts, &v)).unwrap();
                prop_assert_eq!(&t2, &ts);
                prop_assert_eq!(bits(&v2), bits(&v));
                let (t1, v1) = decode_chunk(&encode_chunk_v1(&ts, &v)).unwrap();
                prop_assert_eq!(t1, t2);
                prop_assert_eq!(bits(&v1), bits(&v2));
            }

            #[test]
            fn corrupt_chunks_are_errors_not_panics((ts, v) in points(), cut in 0usize..64, flip in any::<(usize, u8)>()) {
                let mut blob = encode_chunk(&ts, &v);
                let i = flip.0 % blob.len();
                blob[i] ^= flip.1;
                let _ = decode_chunk(&blob);
                blob.truncate(blob.len().saturating_sub(cut));
                let _ = decode_chunk(&blob);
            }
        }
    }
}
