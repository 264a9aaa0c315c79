//! Hourly and daily rollups (count, sum, min, max) per series, kept in `rollups`.
//!
//! Maintained inside the transaction that seals a chunk ([`add_chunk`]): a chunk
//! whose time range overlaps no other rolled-up chunk of its series just adds its
//! points; one that overlaps (late data, a rewritten timestamp) has the hours it
//! touches recomputed from the raw chunks, where the last written value per
//! timestamp wins exactly as in queries. Days are then recomputed from their hours.
//!
//! Sums are added in a different order than a raw scan adds them, so `sum` and
//! `avg` from rollups can differ from raw aggregation in the last bits; count, min
//! and max are exact.

use std::collections::BTreeMap;

use cunlink_core::sql::{Connection, params};

use super::codec;
use super::query::Agg;
use super::value::Value;

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;

/// Running aggregate of one bucket, the same arithmetic as [`super::query::Aggregator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Acc {
    pub n: u64,
    pub num_n: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            n: 0,
            num_n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Acc {
    pub fn push(&mut self, v: &Value) {
        self.n += 1;
        if let Some(x) = v.as_f64() {
            self.num_n += 1;
            self.sum += x;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
    }

    pub fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.num_n += o.num_n;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// The bucket's answer for `agg`; `None` for a bucket without numbers (except count).
    pub fn value(&self, agg: Agg) -> Option<f64> {
        match agg {
            Agg::Count => Some(self.n as f64),
            _ if self.num_n == 0 => None,
            Agg::Avg => Some(self.sum / self.num_n as f64),
            Agg::Sum => Some(self.sum),
            Agg::Min => Some(self.min),
            Agg::Max => Some(self.max),
        }
    }
}

/// Start of the `res`-wide bucket holding `t` (UTC; `res` is [`HOUR`] or [`DAY`]).
pub fn floor(t: i64, res: i64) -> i64 {
    t - t.rem_euclid(res)
}

/// Add the points of chunk `id` of series `sid` (sorted, one per timestamp) to the
/// rollups. Runs inside the sealing (or maintenance) transaction.
pub fn add_chunk(
    tx: &Connection,
    sid: u32,
    id: i64,
    ts: &[i64],
    vals: &[Value],
) -> cunlink_core::sql::Result<()> {
    let (Some(&t0), Some(&t1)) = (ts.first(), ts.last()) else {
        return Ok(());
    };
    let mut hours: BTreeMap<i64, Acc> = BTreeMap::new();
    for (t, v) in ts.iter().zip(vals) {
        hours.entry(floor(*t, HOUR)).or_default().push(v);
    }
    let overlap: bool = tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM chunks WHERE series = $1 AND t1 >= $2 AND t0 <= $3 AND id <> $4 AND rolled = 1)",
        )?
        .query_row(params![sid, t0, t1, id], |r| r.get(0))?;
    let mut days: BTreeMap<i64, Acc> = BTreeMap::new();
    if overlap {
        for &h in hours.keys() {
            let acc = recompute_hour(tx, sid, id, h)?;
            put(tx, sid, HOUR, h, &acc, false)?;
            days.entry(floor(h, DAY)).or_default();
        }
        for &d in days.keys() {
            let acc = day_from_hours(tx, sid, d)?;
            put(tx, sid, DAY, d, &acc, false)?;
        }
    } else {
        for (&h, acc) in &hours {
            put(tx, sid, HOUR, h, acc, true)?;
            days.entry(floor(h, DAY)).or_default().merge(acc);
        }
        for (&d, acc) in &days {
            put(tx, sid, DAY, d, acc, true)?;
        }
    }
    Ok(())
}

/// Group sizes of the multi-row statements below: few statement shapes, few
/// round trips (PostgreSQL, where every statement is one).
const GROUPS: [usize; 4] = [64, 16, 4, 1];

/// The next group size for `left` rows.
fn group(left: usize) -> usize {
    GROUPS.into_iter().find(|&g| g <= left).unwrap_or(1)
}

/// [`add_chunk`] for many chunks (one per series) in a few statements: one query
/// finds the chunks that overlap a rolled-up one (those take [`add_chunk`]'s
/// recompute path), the others' hours and days are added with multi-row upserts.
pub fn add_chunks(
    tx: &Connection,
    chunks: &[(u32, i64, &[i64], &[Value])],
) -> cunlink_core::sql::Result<()> {
    use cunlink_core::sql::Value as V;
    use std::collections::HashSet;
    let chunks: Vec<&(u32, i64, &[i64], &[Value])> =
        chunks.iter().filter(|c| !c.2.is_empty()).collect();
    // Which chunks overlap a rolled-up chunk of their series: groups of 64 rows,
    // padded with rows that match nothing (one statement shape).
    let mut overlapping: HashSet<u32> = HashSet::new();
    for part in chunks.chunks(64) {
        let rows: Vec<String> = (0..64)
            .map(|r| {
                let b = r * 4;
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4
                )
            })
            .collect();
        let sql = format!(
            "SELECT DISTINCT v.s FROM (VALUES {}) AS v(s, t0, t1, id)
             JOIN chunks c ON c.series = v.s AND c.t1 >= v.t0 AND c.t0 <= v.t1 AND c.id <> v.id AND c.rolled = 1",
            rows.join(", ")
        );
        let mut values = Vec::with_capacity(256);
        for r in 0..64 {
            match part.get(r) {
                Some((sid, id, ts, _)) => {
                    values.extend([
                        V::Integer(i64::from(*sid)),
                        V::Integer(ts[0]),
                        V::Integer(ts[ts.len() - 1]),
                        V::Integer(*id),
                    ]);
                }
                None => {
                    values.extend([V::Integer(-1), V::Integer(0), V::Integer(-1), V::Integer(0)])
                }
            }
        }
        let mut st = tx.prepare_cached(&sql)?;
        for s in st.query_map(values, |r| r.get::<_, i64>(0))? {
            overlapping.insert(s? as u32);
        }
    }
    let mut add: BTreeMap<(u32, i64, i64), Acc> = BTreeMap::new();
    for (sid, id, ts, vals) in chunks {
        if overlapping.contains(sid) {
            add_chunk(tx, *sid, *id, ts, vals)?;
            continue;
        }
        for (t, v) in ts.iter().zip(vals.iter()) {
            add.entry((*sid, HOUR, floor(*t, HOUR)))
                .or_default()
                .push(v);
            add.entry((*sid, DAY, floor(*t, DAY))).or_default().push(v);
        }
    }
    let rows: Vec<((u32, i64, i64), Acc)> = add.into_iter().collect();
    let mut i = 0;
    while i < rows.len() {
        let n = group(rows.len() - i);
        let part = &rows[i..i + n];
        let placeholders: Vec<String> = (0..n)
            .map(|r| {
                let b = r * 8;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO rollups (series, res, bucket, n, num_n, sum, min, max) VALUES {}
             ON CONFLICT (series, res, bucket) DO UPDATE SET
               n = rollups.n + excluded.n,
               num_n = rollups.num_n + excluded.num_n,
               sum = rollups.sum + excluded.sum,
               min = CASE WHEN rollups.min IS NULL THEN excluded.min WHEN excluded.min IS NULL THEN rollups.min WHEN excluded.min < rollups.min THEN excluded.min ELSE rollups.min END,
               max = CASE WHEN rollups.max IS NULL THEN excluded.max WHEN excluded.max IS NULL THEN rollups.max WHEN excluded.max > rollups.max THEN excluded.max ELSE rollups.max END",
            placeholders.join(", ")
        );
        let mut values = Vec::with_capacity(n * 8);
        for ((sid, res, bucket), a) in part {
            let (min, max) = if a.num_n == 0 {
                (V::Null, V::Null)
            } else {
                (V::Real(a.min), V::Real(a.max))
            };
            values.extend([
                V::Integer(i64::from(*sid)),
                V::Integer(*res),
                V::Integer(*bucket),
                V::Integer(a.n as i64),
                V::Integer(a.num_n as i64),
                V::Real(a.sum),
                min,
                max,
            ]);
        }
        tx.prepare_cached(&sql)?.execute(values)?;
        i += n;
    }
    Ok(())
}

/// Write one rollup row: added to what is there (`add`), or replacing it.
fn put(
    tx: &Connection,
    sid: u32,
    res: i64,
    bucket: i64,
    a: &Acc,
    add: bool,
) -> cunlink_core::sql::Result<()> {
    if a.n == 0 {
        tx.prepare_cached("DELETE FROM rollups WHERE series = $1 AND res = $2 AND bucket = $3")?
            .execute(params![sid, res, bucket])?;
        return Ok(());
    }
    let (min, max) = if a.num_n == 0 {
        (None, None)
    } else {
        (Some(a.min), Some(a.max))
    };
    let sql = if add {
        "INSERT INTO rollups (series, res, bucket, n, num_n, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (series, res, bucket) DO UPDATE SET
           n = rollups.n + excluded.n,
           num_n = rollups.num_n + excluded.num_n,
           sum = rollups.sum + excluded.sum,
           min = CASE WHEN rollups.min IS NULL THEN excluded.min WHEN excluded.min IS NULL THEN rollups.min WHEN excluded.min < rollups.min THEN excluded.min ELSE rollups.min END,
           max = CASE WHEN rollups.max IS NULL THEN excluded.max WHEN excluded.max IS NULL THEN rollups.max WHEN excluded.max > rollups.max THEN excluded.max ELSE rollups.max END"
    } else {
        "INSERT INTO rollups (series, res, bucket, n, num_n, sum, min, max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (series, res, bucket) DO UPDATE SET n = excluded.n, num_n = excluded.num_n,
           sum = excluded.sum, min = excluded.min, max = excluded.max"
    };
    tx.prepare_cached(sql)?.execute(params![
        sid,
        res,
        bucket,
        a.n as i64,
        a.num_n as i64,
        a.sum,
        min,
        max
    ])?;
    Ok(())
}

/// An hour of a series from its raw chunks (rolled-up ones and chunk `id`), the
/// last written value per timestamp winning.
fn recompute_hour(tx: &Connection, sid: u32, id: i64, h: i64) -> cunlink_core::sql::Result<Acc> {
    let mut st = tx.prepare_cached(
        "SELECT data FROM chunks WHERE series = $1 AND t1 >= $2 AND t0 < $3 AND (rolled = 1 OR id = $4) ORDER BY id",
    )?;
    let mut rows = st.query(params![sid, h, h + HOUR, id])?;
    let mut pts: BTreeMap<i64, Value> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let data: Vec<u8> = row.get(0)?;
        // A chunk that does not decode is skipped here as it is everywhere else
        // (queries report it); the rollup then misses only that chunk.
        let Ok((ts, vals)) = codec::decode_chunk(&data) else {
            continue;
        };
        for (t, v) in ts.into_iter().zip(vals) {
            if t >= h && t < h + HOUR {
                pts.insert(t, v);
            }
        }
    }
    let mut acc = Acc::default();
    for v in pts.values() {
        acc.push(v);
    }
    Ok(acc)
}

fn day_from_hours(tx: &Connection, sid: u32, d: i64) -> cunlink_core::sql::Result<Acc> {
    let mut acc = Acc::default();
    for (_, a) in read(tx, sid, HOUR, d, d + DAY - 1)? {
        acc.merge(&a);
    }
    Ok(acc)
}

/// Rollup rows of a series with `from <= bucket <= to`, ascending.
pub fn read(
    conn: &Connection,
    sid: u32,
    res: i64,
    from: i64,
    to: i64,
) -> cunlink_core::sql::Result<Vec<(i64, Acc)>> {
    let mut st = conn.prepare_cached(
        "SELECT bucket, n, num_n, sum, min, max FROM rollups WHERE series = $1 AND res = $2 AND bucket >= $3 AND bucket <= $4 ORDER BY bucket",
    )?;
    let rows = st.query_map(params![sid, res, from, to], |r| {
        let num_n: i64 = r.get(2)?;
        Ok((
            r.get::<_, i64>(0)?,
            Acc {
                n: r.get::<_, i64>(1)? as u64,
                num_n: num_n as u64,
                // SQLite stores NaN as NULL: a sum that became NaN reads back as NaN.
                sum: r
                    .get::<_, Option<f64>>(3)?
                    .unwrap_or(if num_n > 0 { f64::NAN } else { 0.0 }),
                min: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::INFINITY),
                max: r.get::<_, Option<f64>>(5)?.unwrap_or(f64::NEG_INFINITY),
            },
        ))
    })?;
    rows.collect()
}

/// True when some chunk of the series overlapping `[start, end]` is not rolled up yet.
pub fn has_unrolled(
    conn: &Connection,
    sid: u32,
    start: i64,
    end: i64,
) -> cunlink_core::sql::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM chunks WHERE series = $1 AND t1 >= $2 AND t0 <= $3 AND rolled = 0)",
    )?
    .query_row(params![sid, start, end], |r| r.get(0))
}
