//! Packed daily price history: one blob per (commodity, market, 365-day period).
//!
//! A blob is a list of runs `(gap, length, price delta)` as varints: `gap` days
//! after the previous run's end, `length` days at one price, the price as a
//! zigzag delta from the previous run's. Market prices stay put for days at a
//! time, so a year of one series is typically tens of bytes, and a year of
//! 2,000 commodities × 500 markets fits in a few hundred MB and minutes of
//! writing — where one row per price per day (365 M rows) would not.

pub const PERIOD_DAYS: i64 = 365;

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn zig(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzig(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// `(day offset within the period, price)` ascending → blob.
pub fn encode(points: &[(u16, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let (mut next_day, mut last_price) = (0i64, 0i64);
    let mut i = 0;
    while i < points.len() {
        let (d, p) = points[i];
        let mut len = 1;
        while i + len < points.len()
            && points[i + len].1 == p
            && points[i + len].0 as usize == d as usize + len
        {
            len += 1;
        }
        put(&mut out, (d as i64 - next_day).max(0) as u64);
        put(&mut out, len as u64);
        put(&mut out, zig(p - last_price));
        next_day = d as i64 + len as i64;
        last_price = p;
        i += len;
    }
    out
}

/// Blob → `(day offset, price)` ascending. A damaged blob yields what decoded.
pub fn decode(buf: &[u8]) -> Vec<(u16, i64)> {
    let mut out = Vec::new();
    let (mut pos, mut day, mut price) = (0usize, 0i64, 0i64);
    while pos < buf.len() {
        let (Some(gap), Some(len), Some(delta)) =
            (get(buf, &mut pos), get(buf, &mut pos), get(buf, &mut pos))
        else {
            break;
        };
        day += gap as i64;
        price += unzig(delta);
        for k in 0..len as i64 {
            if day + k < PERIOD_DAYS {
                out.push(((day + k) as u16, price));
            }
        }
        day += len as i64;
    }
    out
}

/// Set the price of day offset `d`.
pub fn set(buf: &[u8], d: u16, price: i64) -> Vec<u8> {
    let mut pts = decode(buf);
    match pts.binary_search_by_key(&d, |p| p.0) {
        Ok(i) => pts[i].1 = price,
        Err(i) => pts.insert(i, (d, price)),
    }
    encode(&pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_gaps_and_runs() {
        let pts = vec![(0, 850), (1, 850), (2, 870), (5, 870), (6, 860), (364, 12)];
        assert_eq!(decode(&encode(&pts)), pts);
        let b = set(&encode(&pts), 3, 999);
        assert_eq!(decode(&b)[3], (3, 999));
        assert!(decode(&[]).is_empty());
    }
}
