//! Background compaction of sealed chunks: the part of the maintenance pass
//! (see [`super::maint`]) that turns what the writer sealed into what is kept.
//!
//! The writer seals chunks in format version 1 (cheap to encode: ingest runs at
//! the same speed as before pco) and marks them `fmt = 1`. Compaction then, per
//! series, **merges** runs of neighbouring chunks into chunks of up to
//! [`MERGE_POINTS`] points in format version 2 (pco: far fewer bytes, and pco's
//! per-chunk header spread over more points), and adds chunks sealed before rollups
//! existed (`rolled = 0`) to the rollups.
//!
//! "The last written value of a timestamp wins" is kept exactly: a merged chunk is
//! newer (a higher id) than every chunk it replaces, so it holds, per timestamp,
//! only the value that won before — the one of the group's newest chunk holding
//! it — and leaves out timestamps that a newer chunk outside the group (late data
//! overlapping the group's time range) holds anyway. Readers take a snapshot (one
//! read transaction per query), so a merge committing mid-query is seen entirely
//! or not at all.
//!
//! The work is decoded and encoded outside the transaction; each group is then
//! swapped in one short transaction (delete the group's chunks, insert the merged
//! one), which the writer waits for with its fine-grained busy handler.

use cunlink_core::sql::{Connection, params};

use super::codec;
use super::maint::MaintReport;
use super::rollup;
use super::store::TelemetryStoreError;
use super::value::Value;

/// Most points in a merged chunk: ~6 days of one-minute readings. Large enough to
/// spread pco's header, small enough that a query of a day decodes little extra.
pub const MERGE_POINTS: i64 = 8192;
/// Series handled per round of the pass (each round lists its series anew).
const SERIES_PER_ROUND: i64 = 256;

/// `CUNLINK_TELEMETRY_CHUNK_FORMAT=1`: leave sealed chunks in format 1 (no pco,
/// no merging; rollups are still kept). How `bench/storage.sh` measures what
/// compression costs ingest, and a way out should the codec ever misbehave.
pub fn compression_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| {
        std::env::var("CUNLINK_TELEMETRY_CHUNK_FORMAT").is_ok_and(|v| v.trim() == "1")
    })
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    id: i64,
    t0: i64,
    t1: i64,
    n: i64,
    fmt: i64,
    rolled: i64,
}

impl Meta {
    /// Work waits on this chunk: not rolled up, or (compression on) not in format 2.
    fn todo(&self, compress: bool) -> bool {
        self.rolled == 0 || (compress && self.fmt < 2)
    }
}

/// Compact every series with work waiting, at most `max_groups` groups this pass.
pub fn compact(
    conn: &mut Connection,
    report: &mut MaintReport,
    max_groups: u64,
    pause: std::time::Duration,
) -> Result<(), TelemetryStoreError> {
    let compress = !compression_off();
    let mut after: i64 = -1;
    let mut groups = 0u64;
    loop {
        // Series with work, in id order from where the last round stopped.
        let series: Vec<u32> = {
            let sql = if compress {
                "SELECT DISTINCT series FROM chunks WHERE (rolled = 0 OR fmt < 2) AND series > $1 ORDER BY series LIMIT $2"
            } else {
                "SELECT DISTINCT series FROM chunks WHERE rolled = 0 AND series > $1 ORDER BY series LIMIT $2"
            };
            let mut st = conn.prepare_cached(sql)?;
            let rows = st.query_map(params![after, SERIES_PER_ROUND], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let Some(&last) = series.last() else {
            return Ok(());
        };
        after = i64::from(last);
        for sid in series {
            for group in plan(&metas(conn, sid)?, compress) {
                if groups >= max_groups {
                    return Ok(());
                }
                apply(conn, sid, &group, compress, report)?;
                groups += 1;
                std::thread::sleep(pause);
            }
        }
    }
}

fn metas(conn: &Connection, sid: u32) -> cunlink_core::sql::Result<Vec<Meta>> {
    let mut st = conn.prepare_cached(
        "SELECT id, t0, t1, n, fmt, rolled FROM chunks WHERE series = $1 ORDER BY t0, id",
    )?;
    let rows = st.query_map([sid], |r| {
        Ok(Meta {
            id: r.get(0)?,
            t0: r.get(1)?,
            t1: r.get(2)?,
            n: r.get(3)?,
            fmt: r.get(4)?,
            rolled: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// The groups to rewrite: runs of neighbouring chunks (by start time) of at most
/// [`MERGE_POINTS`] points, or a single chunk with work waiting.
fn plan(chunks: &[Meta], compress: bool) -> Vec<Vec<Meta>> {
    let mut out = Vec::new();
    if !compress {
        // Only rolling up is left to do, chunk by chunk, in place.
        out.extend(chunks.iter().filter(|c| c.todo(false)).map(|c| vec![*c]));
        return out;
    }
    let mut group: Vec<Meta> = Vec::new();
    let close = |group: &mut Vec<Meta>, out: &mut Vec<Vec<Meta>>| {
        let g = std::mem::take(group);
        if g.len() > 1 || g.iter().any(|c| c.todo(true)) {
            out.push(g);
        }
    };
    for c in chunks {
        let points: i64 = group.iter().map(|g| g.n).sum();
        if c.n >= MERGE_POINTS {
            // Full already: alone (rewritten if it waits for work).
            close(&mut group, &mut out);
            group.push(*c);
            close(&mut group, &mut out);
            continue;
        }
        if points + c.n > MERGE_POINTS {
            close(&mut group, &mut out);
        }
        group.push(*c);
    }
    close(&mut group, &mut out);
    out
}

/// Rewrite one group: roll up its chunks not yet rolled up, and replace the group
/// by one format-2 chunk (or, compression off, just mark them rolled up).
fn apply(
    conn: &mut Connection,
    sid: u32,
    group: &[Meta],
    compress: bool,
    report: &mut MaintReport,
) -> Result<(), TelemetryStoreError> {
    let mut decoded: Vec<(Meta, Vec<i64>, Vec<Value>)> = Vec::with_capacity(group.len());
    {
        let mut st = conn.prepare_cached("SELECT data FROM chunks WHERE id = $1")?;
        for m in group {
            let data: Vec<u8> = st.query_row([m.id], |r| r.get(0))?;
            match codec::decode_chunk(&data) {
                Ok((ts, vals)) => decoded.push((*m, ts, vals)),
                Err(e) => {
                    tracing::warn!(chunk = m.id, error = %e, "telemetry chunk does not decode; left as it is");
                    // 2 = cannot be rolled up; format 9 = never rewritten.
                    conn.execute(
                        "UPDATE chunks SET rolled = 2, fmt = 9 WHERE id = $1",
                        [m.id],
                    )?;
                    return Ok(());
                }
            }
        }
    }
    // Chunks sealed after this point are newer than everything read below; a merge
    // is given up (and retried next pass) if one of them lands in the group's range.
    let seen: i64 = conn.query_row(
        "SELECT coalesce(max(id), 0) FROM chunks WHERE series = $1",
        [sid],
        |r| r.get(0),
    )?;
    let merged = if !compress {
        None
    } else if let [(_, ts, vals)] = decoded.as_slice() {
        // Rewritten in place (same id): its content and precedence stay as they are.
        Some((ts.clone(), codec::encode_chunk(ts, vals)))
    } else {
        let (ts, vals) = merge_points(conn, sid, &decoded)?;
        let data = codec::encode_chunk(&ts, &vals);
        Some((ts, data))
    };
    let tx = super::maint::begin_write(conn, sid)?;
    if group.len() > 1 && merged.is_some() {
        let (t0, t1) = (
            group.iter().map(|m| m.t0).min().unwrap_or(0),
            group.iter().map(|m| m.t1).max().unwrap_or(0),
        );
        let newer: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM chunks WHERE series = $1 AND id > $2 AND t1 >= $3 AND t0 <= $4)",
            params![sid, seen, t0, t1],
            |r| r.get(0),
        )?;
        if newer {
            return Ok(());
        }
    }
    for (m, ts, vals) in &decoded {
        if m.rolled == 0 {
            rollup::add_chunk(&tx, sid, m.id, ts, vals)?;
            tx.execute("UPDATE chunks SET rolled = 1 WHERE id = $1", [m.id])?;
            report.chunks_rolled_up += 1;
        }
    }
    if let Some((ts, data)) = merged {
        if group.len() == 1 {
            tx.execute(
                "UPDATE chunks SET data = $1, fmt = 2 WHERE id = $2",
                params![data, group[0].id],
            )?;
        } else {
            let mut del = tx.prepare_cached("DELETE FROM chunks WHERE id = $1")?;
            for m in group {
                del.execute([m.id])?;
            }
            // Empty when newer chunks hold every timestamp of the group.
            if let (Some(&t0), Some(&t1)) = (ts.first(), ts.last()) {
                tx.execute(
                    "INSERT INTO chunks (series, t0, t1, n, data, rolled, fmt) VALUES ($1, $2, $3, $4, $5, 1, 2)",
                    params![sid, t0, t1, ts.len() as i64, data],
                )?;
            }
        }
        report.chunks_compacted += group.len() as u64;
    }
    tx.commit()?;
    Ok(())
}

/// The points a merged chunk of `decoded` (several chunks) holds: per timestamp the
/// value of the newest chunk of the group holding it, unless a chunk outside the
/// group and newer than that one holds the timestamp too (it wins, before and
/// after the merge). Sorted by time.
fn merge_points(
    conn: &Connection,
    sid: u32,
    decoded: &[(Meta, Vec<i64>, Vec<Value>)],
) -> Result<(Vec<i64>, Vec<Value>), TelemetryStoreError> {
    let t0 = decoded.iter().map(|d| d.0.t0).min().unwrap_or(0);
    let t1 = decoded.iter().map(|d| d.0.t1).max().unwrap_or(0);
    let ids: std::collections::HashSet<i64> = decoded.iter().map(|d| d.0.id).collect();
    // Newest outside chunk per timestamp in the group's range.
    let mut outside: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    {
        let mut st = conn.prepare_cached(
            "SELECT id, data FROM chunks WHERE series = $1 AND t1 >= $2 AND t0 <= $3",
        )?;
        let mut rows = st.query(params![sid, t0, t1])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if ids.contains(&id) {
                continue;
            }
            let data: Vec<u8> = r.get(1)?;
            let (ts, _) = codec::decode_chunk(&data)?;
            for t in ts.into_iter().filter(|t| (t0..=t1).contains(t)) {
                let e = outside.entry(t).or_insert(id);
                *e = (*e).max(id);
            }
        }
    }
    let mut pts: Vec<(i64, i64, &Value)> = decoded
        .iter()
        .flat_map(|(m, ts, vals)| ts.iter().zip(vals).map(move |(t, v)| (*t, m.id, v)))
        .collect();
    // By time, then chunk id: the last of a run of equal times is the newest.
    pts.sort_by_key(|p| (p.0, p.1));
    let (mut ts, mut vals) = (Vec::with_capacity(pts.len()), Vec::with_capacity(pts.len()));
    for (i, (t, id, v)) in pts.iter().enumerate() {
        if pts.get(i + 1).is_some_and(|next| next.0 == *t) {
            continue;
        }
        if outside.get(t).is_some_and(|o| o > id) {
            continue;
        }
        ts.push(*t);
        vals.push((*v).clone());
    }
    Ok((ts, vals))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: i64, t0: i64, t1: i64, n: i64, fmt: i64) -> Meta {
        Meta {
            id,
            t0,
            t1,
            n,
            fmt,
            rolled: 1,
        }
    }

    #[test]
    fn neighbours_merge_up_to_the_limit_and_full_chunks_stay() {
        let chunks = [
            m(1, 0, 9, 512, 1),
            m(2, 10, 19, 512, 1),
            // Late data overlapping 3: merged all the same (precedence by id).
            m(3, 20, 29, 512, 1),
            m(9, 25, 35, 100, 1),
            m(5, 40, 49, 512, 2),
            // Full and done: left alone, and it ends the group.
            m(7, 60, 69, 9000, 2),
            m(8, 70, 79, 512, 2),
        ];
        let ids: Vec<Vec<i64>> = plan(&chunks, true)
            .iter()
            .map(|g| g.iter().map(|c| c.id).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 2, 3, 9, 5]]);
        // Compression off: nothing to do for rolled-up chunks.
        assert!(plan(&chunks, false).is_empty());
    }

    #[test]
    fn groups_stop_at_the_size_limit() {
        let chunks: Vec<Meta> = (0..40).map(|i| m(i, i * 10, i * 10 + 9, 512, 1)).collect();
        let g = plan(&chunks, true);
        assert_eq!(g.len(), 3);
        assert!(
            g.iter()
                .all(|g| g.iter().map(|c| c.n).sum::<i64>() <= MERGE_POINTS)
        );
        assert_eq!(g.iter().map(|g| g.len()).sum::<usize>(), 40);
    }
}
