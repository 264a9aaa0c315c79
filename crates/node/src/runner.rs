//! The node's side of the sync: one task that, whenever the hub answers,
//! takes what changed down, then sends records up (alarms and orders first),
//! then readings, batch after batch, and waits when everything is across.
//!
//! Each batch is numbered per stream and its content is fixed before it is
//! sent (outbox rows marked with the batch, the uplink range kept in
//! `readings_inflight`), so a batch sent again after a cut or a crash is the
//! same batch, and the hub applies it once. Nothing is deleted here before the
//! hub acknowledged it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use cunlink_core::sql::{Connection, TransactionBehavior, params};
use cunlink_core::sync::{NodeSelf, SyncError};
use cunlink_farm::telemetry::codec;
use cunlink_farm::telemetry::uplink::UplinkPoint;
use tokio::sync::watch;

use crate::Node;
use crate::client::{Answer, HubClient};
use crate::error::NodeError;
use crate::state;
use crate::wire::{self, DownAnswer, DownAsk, Record, Series, Stream, UpAnswer, UpHeader};

/// Records per batch (distinct keys).
const MAX_RECORDS: usize = 500;
/// How often a draining runner refreshes the pages' status line.
const LINE_EVERY_BUSY: Duration = Duration::from_secs(2);
/// Readings per batch: ~100–200 KB on the wire for once-a-minute sensors.
pub const MAX_POINTS: usize = 20_000;
/// How often the node asks what changed down (`CUNLINK_NODE_DOWN_EVERY_S`,
/// default 10 s; `POST /api/node/sync` asks at once).
fn down_every() -> Duration {
    let s = std::env::var("CUNLINK_NODE_DOWN_EVERY_S")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(10);
    Duration::from_secs(s.max(1))
}
/// Files fetched per round (each at most `MAX_BLOB`), between the records and
/// the readings.
const BLOBS_PER_ROUND: usize = 4;
const BACKOFF_MAX: Duration = Duration::from_secs(30);
pub const BATCH_TYPE: &str = "application/x-cunlink-batch";

enum Stop {
    /// The hub asked to wait (backpressure).
    Wait(Duration),
    Fail(NodeError),
}

impl From<NodeError> for Stop {
    fn from(e: NodeError) -> Stop {
        Stop::Fail(e)
    }
}

impl From<cunlink_core::DbError> for Stop {
    fn from(e: cunlink_core::DbError) -> Stop {
        Stop::Fail(e.into())
    }
}

pub struct Runner {
    node: Arc<Node>,
    me: NodeSelf,
    client: HubClient,
    next_down: tokio::time::Instant,
    /// An exchange with the hub worked in this round.
    exchanged: bool,
    /// Files (kind, key) the hub could not give or the node could not take:
    /// not asked for again until the next change comes down.
    blobs_refused: std::collections::HashSet<(&'static str, String)>,
}

impl Runner {
    pub fn new(node: Arc<Node>, me: NodeSelf) -> Result<Runner, NodeError> {
        let client = HubClient::new(&me.hub, &me.credential)?;
        Ok(Runner {
            node,
            me,
            client,
            next_down: tokio::time::Instant::now(),
            exchanged: false,
            blobs_refused: Default::default(),
        })
    }

    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        let mut line_at = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let pause = match self.round().await {
                Ok(busy) => {
                    self.online(true).await;
                    backoff = Duration::from_secs(1);
                    if busy {
                        Duration::ZERO
                    } else {
                        Duration::from_secs(1)
                    }
                }
                Err(Stop::Wait(d)) => {
                    self.online(true).await;
                    d
                }
                Err(Stop::Fail(e)) => {
                    self.online(false).await;
                    tracing::info!(error = %e, retry_in_s = backoff.as_secs(), "node: hub exchange failed");
                    self.client.reset();
                    let d = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    d
                }
            };
            // The pages' status line counts what waits (a scan of the outbox):
            // during a drain, every couple of seconds rather than every batch.
            if !pause.is_zero() || line_at.elapsed() >= LINE_EVERY_BUSY {
                self.node.refresh_line().await;
                line_at = tokio::time::Instant::now();
            }
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.node.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Record the link state: the database first (`offline_since`), then the
    /// flag, so that whoever reads the status sees `connected: false` only
    /// with the time it went offline.
    async fn online(&self, up: bool) {
        let was = self.node.connected.load(Ordering::Relaxed);
        if was && up {
            return;
        }
        let now = cunlink_core::time::now_ms().to_string();
        let r = self
            .node
            .db
            .call(move |c| -> Result<(), NodeError> {
                if up {
                    state::clear(c, state::OFFLINE_SINCE)?;
                } else if state::get(c, state::OFFLINE_SINCE)?.is_none() {
                    state::set(c, state::OFFLINE_SINCE, &now)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "node: recording the link state failed");
        }
        self.node.connected.store(up, Ordering::Relaxed);
    }

    /// One round; true when there may be more to send at once.
    async fn round(&mut self) -> Result<bool, Stop> {
        self.exchanged = false;
        let forced = self.node.force_down.swap(false, Ordering::Relaxed);
        if forced || tokio::time::Instant::now() >= self.next_down {
            if let Err(e) = self.down().await {
                if forced {
                    self.node.force_down.store(true, Ordering::Relaxed);
                }
                return Err(e);
            }
            self.next_down = tokio::time::Instant::now() + down_every();
        }
        let mut busy = false;
        // Records before readings: an alarm or an order never waits behind a
        // week of readings.
        let mut drained = false;
        for _ in 0..20 {
            if !self.records().await? {
                drained = true;
                break;
            }
            busy = true;
        }
        // Files the rows that came down name (a notice's photo), a few per
        // round after the records: an alarm never waits behind a photo.
        if self.blobs().await? {
            busy = true;
        }
        // Files the node's records name (a feedback photo), once every record
        // is across: the hub stores a file only a record it holds names.
        if drained && self.blobs_up().await? {
            busy = true;
        }
        if self.readings().await? {
            busy = true;
        }
        // Only when the hub answered: an idle round writes nothing (a Pi's SD
        // card is not written every second for nothing).
        if self.exchanged {
            let now = cunlink_core::time::now_ms().to_string();
            self.node
                .db
                .call(move |c| state::set(c, state::LAST_SYNC_AT, &now).map_err(NodeError::from))
                .await?;
        }
        Ok(busy)
    }

    async fn send(&mut self, path: &str, ctype: &str, body: Vec<u8>) -> Result<Answer, Stop> {
        let n = body.len() as u64;
        let a = self.client.post(path, ctype, body).await?;
        self.exchanged = true;
        let m = &self.node.metrics;
        m.bytes_sent.fetch_add(n, Ordering::Relaxed);
        m.bytes_received
            .fetch_add(a.body.len() as u64, Ordering::Relaxed);
        if a.status == StatusCode::SERVICE_UNAVAILABLE || a.status == StatusCode::TOO_MANY_REQUESTS
        {
            return Err(Stop::Wait(Duration::from_secs(
                a.retry_after().unwrap_or(2).clamp(1, 60),
            )));
        }
        Ok(a)
    }

    fn refused(a: &Answer) -> Stop {
        Stop::Fail(NodeError::Hub {
            status: a.status.as_u16(),
            body: String::from_utf8_lossy(&a.body).chars().take(300).collect(),
        })
    }

    async fn down(&mut self) -> Result<(), Stop> {
        let names: Vec<&'static str> = self.node.kinds().down.iter().map(|k| k.kind()).collect();
        let have = self
            .node
            .db
            .call(move |c| -> Result<BTreeMap<String, String>, NodeError> {
                let mut have = BTreeMap::new();
                for k in names {
                    if let Some(d) = state::get(c, &state::down_key(k))? {
                        have.insert(k.to_string(), d);
                    }
                }
                Ok(have)
            })
            .await?;
        let ask = serde_json::to_vec(&DownAsk { have }).unwrap_or_default();
        let a = self.send("/api/sync/down", "application/json", ask).await?;
        if a.status != StatusCode::OK {
            return Err(Self::refused(&a));
        }
        let (answer, _): (DownAnswer, _) = wire::unpack(&a.body).map_err(NodeError::from)?;
        if answer.kinds.is_empty() {
            return Ok(());
        }
        self.blobs_refused.clear();
        let node = self.node.clone();
        let village = self.me.village_id;
        let me = self.me.node_id.clone();
        let pending = answer.kinds.len();
        let applied = self
            .node
            .db
            .call(move |c| apply_down(c, &node, village, &me, answer))
            .await?;
        // Reloads read the database (the farm's registry): off the async workers.
        let kinds = self.node.kinds();
        let done = applied.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for k in kinds
                .down
                .iter()
                .filter(|k| done.iter().any(|a| a == k.kind()))
            {
                k.applied();
            }
        })
        .await;
        self.node
            .metrics
            .down_kinds_applied
            .fetch_add(applied.len() as u64, Ordering::Relaxed);
        tracing::info!(
            changed = pending,
            applied = applied.len(),
            "node: took changes from the hub"
        );
        Ok(())
    }

    /// Fetch up to [`BLOBS_PER_ROUND`] of the files the down kinds' rows name
    /// and the node lacks (`DownKind::blobs_missing`), one at a time, so memory
    /// holds one file (at most `MAX_BLOB`). A file the hub cannot give or the
    /// node cannot take goes to the dead letters and the others flow. True
    /// when it fetched any (more may wait).
    async fn blobs(&mut self) -> Result<bool, Stop> {
        let kinds = self.node.kinds();
        let all = kinds.clone();
        // One database call for every kind (most have no files): an idle
        // round stays cheap.
        let missing = self
            .node
            .db
            .call(move |c| -> Result<Vec<Vec<String>>, NodeError> {
                all.down
                    .iter()
                    .map(|k| match k.blobs_missing(c) {
                        Ok(m) => Ok(m),
                        Err(SyncError::Sql(e)) => Err(e.into()),
                        Err(SyncError::Reject(why)) => Err(NodeError::Config(why)),
                    })
                    .collect()
            })
            .await?;
        let mut fetched = 0;
        for (k, missing) in kinds.down.iter().zip(missing) {
            for key in missing {
                if self.blobs_refused.contains(&(k.kind(), key.clone())) {
                    continue;
                }
                if fetched == BLOBS_PER_ROUND {
                    return Ok(true);
                }
                fetched += 1;
                let path = format!("/api/sync/blob/{}/{key}", k.kind());
                let a = self
                    .send(&path, "application/octet-stream", Vec::new())
                    .await?;
                let refused = match a.status {
                    StatusCode::OK => {
                        let (kk, village, key, body) =
                            (k.clone(), self.me.village_id, key.clone(), a.body.clone());
                        self.node
                            .db
                            .call(move |c| -> Result<Option<String>, NodeError> {
                                let tx =
                                    c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                                match kk.put_blob(&tx, village, &key, &body) {
                                    Ok(()) => {
                                        tx.commit()?;
                                        Ok(None)
                                    }
                                    Err(SyncError::Reject(why)) => Ok(Some(why)),
                                    Err(SyncError::Sql(e)) if e.is_constraint_violation() => {
                                        Ok(Some(e.to_string()))
                                    }
                                    Err(SyncError::Sql(e)) => Err(e.into()),
                                }
                            })
                            .await?
                    }
                    // The file itself: unknown to the hub, too large, a bad key.
                    StatusCode::NOT_FOUND
                    | StatusCode::PAYLOAD_TOO_LARGE
                    | StatusCode::BAD_REQUEST => Some(format!(
                        "the hub answered {}: {}",
                        a.status.as_u16(),
                        String::from_utf8_lossy(&a.body)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    )),
                    _ => return Err(Self::refused(&a)),
                };
                if let Some(why) = refused {
                    let (me, kind, k2) = (self.me.node_id.clone(), k.kind(), key.clone());
                    self.node
                        .db
                        .call(move |c| {
                            local_dead_letter(c, &me, "down", kind, &k2, &why)
                                .map_err(NodeError::from)
                        })
                        .await?;
                    tracing::warn!(kind, key = %key, "node: a file from the hub was not stored");
                    self.blobs_refused.insert((k.kind(), key));
                }
            }
        }
        Ok(fetched > 0)
    }

    /// Send up to [`BLOBS_PER_ROUND`] of the files the up kinds' records name
    /// (`UpKind::blobs_unsent`), one at a time. One the hub refuses goes to the
    /// dead letters and is not sent again. True when it sent any.
    async fn blobs_up(&mut self) -> Result<bool, Stop> {
        let kinds = self.node.kinds();
        let all = kinds.clone();
        let unsent = self
            .node
            .db
            .call(move |c| -> Result<Vec<Vec<String>>, NodeError> {
                all.up
                    .iter()
                    .map(|k| match k.blobs_unsent(c) {
                        Ok(m) => Ok(m),
                        Err(SyncError::Sql(e)) => Err(e.into()),
                        Err(SyncError::Reject(why)) => Err(NodeError::Config(why)),
                    })
                    .collect()
            })
            .await?;
        let mut sent = 0;
        for (k, keys) in kinds.up.iter().zip(unsent) {
            for key in keys {
                if sent == BLOBS_PER_ROUND {
                    return Ok(true);
                }
                sent += 1;
                let (kk, k2) = (k.clone(), key.clone());
                let bytes = self
                    .node
                    .db
                    .call(move |c| -> Result<Option<Vec<u8>>, NodeError> {
                        match kk.blob(c, &k2) {
                            Ok(b) => Ok(b),
                            Err(SyncError::Sql(e)) => Err(e.into()),
                            Err(SyncError::Reject(why)) => Err(NodeError::Config(why)),
                        }
                    })
                    .await?;
                let refused = match bytes {
                    None => Some("the file is gone from the node".to_string()),
                    Some(b) => {
                        let path = format!("/api/sync/up/blob/{}/{key}", k.kind());
                        let a = self.send(&path, "application/octet-stream", b).await?;
                        match a.status {
                            StatusCode::OK => None,
                            StatusCode::UNPROCESSABLE_ENTITY
                            | StatusCode::NOT_FOUND
                            | StatusCode::PAYLOAD_TOO_LARGE => Some(format!(
                                "refused by the hub ({}): {}",
                                a.status.as_u16(),
                                String::from_utf8_lossy(&a.body)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            )),
                            _ => return Err(Self::refused(&a)),
                        }
                    }
                };
                let (kk, k2, me) = (k.clone(), key.clone(), self.me.node_id.clone());
                self.node
                    .db
                    .call(move |c| -> Result<(), NodeError> {
                        if let Some(why) = &refused {
                            local_dead_letter(c, &me, "up", kk.kind(), &k2, why)?;
                        }
                        match kk.blob_sent(c, &k2) {
                            Ok(()) => Ok(()),
                            Err(SyncError::Sql(e)) => Err(e.into()),
                            Err(SyncError::Reject(why)) => Err(NodeError::Config(why)),
                        }
                    })
                    .await?;
            }
        }
        Ok(sent > 0)
    }

    /// Send the next records batch; false when there was none.
    async fn records(&mut self) -> Result<bool, Stop> {
        let node = self.node.clone();
        let built = self.node.db.call(move |c| build_records(c, &node)).await?;
        let Some((batch, records)) = built else {
            return Ok(false);
        };
        let n = records.len() as u64;
        let header = UpHeader {
            node: self.me.node_id.clone(),
            stream: Stream::Records,
            batch,
            records,
            series: Vec::new(),
        };
        let packed = wire::pack(&header, &[]);
        let size = packed.len() as u64;
        let a = self.send("/api/sync/up", BATCH_TYPE, packed).await?;
        let answer = self.answer(&a, Stream::Records, batch).await?;
        self.node
            .metrics
            .records_bytes
            .fetch_add(size, Ordering::Relaxed);
        let me = self.me.node_id.clone();
        self.node
            .db
            .call(move |c| -> Result<(), NodeError> {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "DELETE FROM core_sync_outbox WHERE batch <= $1",
                    [answer.acked],
                )?;
                state::set(&tx, state::RECORDS_BATCH, &answer.acked.to_string())?;
                note_refusals(&tx, &me, &answer.dead)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.node
            .metrics
            .records_sent
            .fetch_add(n, Ordering::Relaxed);
        Ok(true)
    }

    /// Check the hub's answer to batch `batch`: its acknowledgement, or realign
    /// the stream's counter with the hub's and try again.
    async fn answer(&mut self, a: &Answer, stream: Stream, batch: i64) -> Result<UpAnswer, Stop> {
        if a.status == StatusCode::CONFLICT
            && let Some(acked) = a
                .headers
                .get("x-cunlink-acked")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
        {
            // The hub's counter differs from ours (its database was restored
            // from a backup): number the waiting batch after its last one.
            tracing::warn!(
                stream = stream.as_str(),
                ours = batch - 1,
                hub = acked,
                "node: batch numbers realigned with the hub"
            );
            self.node
                .db
                .call(move |c| -> Result<(), NodeError> {
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    match stream {
                        Stream::Records => {
                            tx.execute(
                                "UPDATE core_sync_outbox SET batch = $1 WHERE batch IS NOT NULL",
                                [acked + 1],
                            )?;
                            state::set(&tx, state::RECORDS_BATCH, &acked.to_string())?;
                        }
                        Stream::Readings => {
                            state::set(&tx, state::READINGS_BATCH, &acked.to_string())?
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await?;
            return Err(Stop::Wait(Duration::from_millis(10)));
        }
        if a.status != StatusCode::OK {
            return Err(Self::refused(a));
        }
        let answer: UpAnswer = serde_json::from_slice(&a.body).map_err(|e| {
            Stop::Fail(NodeError::Hub {
                status: 200,
                body: format!("unreadable answer: {e}"),
            })
        })?;
        if answer.acked < batch {
            return Err(Stop::Fail(NodeError::Hub {
                status: 200,
                body: format!(
                    "the hub acknowledged batch {} instead of {batch}",
                    answer.acked
                ),
            }));
        }
        Ok(answer)
    }

    /// Send the next readings batch; false when there was none.
    async fn readings(&mut self) -> Result<bool, Stop> {
        let store = self.node.farm.telemetry.store().clone();
        let (batch, after, inflight) = self
            .node
            .db
            .call(|c| -> Result<(i64, i64, Option<(i64, i64)>), NodeError> {
                let inflight = state::get(c, state::READINGS_INFLIGHT)?.and_then(|v| {
                    let (a, u) = v.split_once(':')?;
                    Some((a.parse().ok()?, u.parse().ok()?))
                });
                Ok((
                    state::get_i64(c, state::READINGS_BATCH)? + 1,
                    state::get_i64(c, state::READINGS_AFTER)?,
                    inflight,
                ))
            })
            .await?;
        let read = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || match inflight {
                Some((a, u)) => store
                    .uplink_read(a, Some(u), MAX_POINTS)
                    .map(|(_, p)| (a, u, p)),
                None => store
                    .uplink_read(after, None, MAX_POINTS)
                    .map(|(u, p)| (after, u, p)),
            })
            .await
            .map_err(|_| NodeError::Config("uplink read panicked".into()))?
            .map_err(|e| NodeError::Config(format!("reading the uplink: {e}")))?
        };
        let (from, upto, points) = read;
        if inflight.is_none() {
            if upto == after {
                return Ok(false);
            }
            let v = format!("{from}:{upto}");
            self.node
                .db
                .call(move |c| state::set(c, state::READINGS_INFLIGHT, &v).map_err(NodeError::from))
                .await?;
        }
        let n = points.len() as u64;
        let (series, blobs) = self.encode(points);
        let header = UpHeader {
            node: self.me.node_id.clone(),
            stream: Stream::Readings,
            batch,
            records: Vec::new(),
            series,
        };
        let packed = wire::pack(&header, &blobs);
        let size = packed.len() as u64;
        let a = self.send("/api/sync/up", BATCH_TYPE, packed).await?;
        let answer = self.answer(&a, Stream::Readings, batch).await?;
        self.node
            .metrics
            .readings_bytes
            .fetch_add(size, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || store.uplink_ack(upto))
            .await
            .map_err(|_| NodeError::Config("uplink ack panicked".into()))?
            .map_err(|e| NodeError::Config(format!("uplink ack: {e}")))?;
        let me = self.me.node_id.clone();
        self.node
            .db
            .call(move |c| -> Result<(), NodeError> {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                state::set(&tx, state::READINGS_BATCH, &answer.acked.to_string())?;
                state::set(&tx, state::READINGS_AFTER, &upto.to_string())?;
                state::clear(&tx, state::READINGS_INFLIGHT)?;
                note_refusals(&tx, &me, &answer.dead)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.node
            .metrics
            .readings_sent
            .fetch_add(n, Ordering::Relaxed);
        Ok(true)
    }

    /// Per-series chunks (the telemetry store's own codec) and their headers.
    fn encode(&self, points: Vec<UplinkPoint>) -> (Vec<Series>, Vec<u8>) {
        let mut by: HashMap<(i64, Arc<str>), (Vec<i64>, Vec<cunlink_farm::telemetry::Value>)> =
            HashMap::new();
        let mut order = Vec::new();
        for p in points {
            let k = (p.device.0, p.key.clone());
            let e = by.entry(k.clone()).or_insert_with(|| {
                order.push(k);
                (Vec::new(), Vec::new())
            });
            e.0.push(p.ts);
            e.1.push(p.value);
        }
        let mut series = Vec::with_capacity(order.len());
        let mut blobs = Vec::new();
        for k in order {
            let Some((ts, vals)) = by.remove(&k) else {
                continue;
            };
            let Some(device) = self
                .node
                .farm
                .registry
                .get(cunlink_farm::telemetry::DeviceId(k.0))
            else {
                continue;
            };
            // In time order; a stable sort keeps the later of two writes of one
            // time after the earlier, so it still wins on the hub.
            let mut idx: Vec<usize> = (0..ts.len()).collect();
            idx.sort_by_key(|&i| ts[i]);
            let ts: Vec<i64> = idx.iter().map(|&i| ts[i]).collect();
            let vals: Vec<_> = idx.iter().map(|&i| vals[i].clone()).collect();
            let chunk = codec::encode_chunk(&ts, &vals);
            series.push(Series {
                device: device.name.clone(),
                key: k.1.to_string(),
                n: ts.len() as u32,
                len: chunk.len() as u32,
            });
            blobs.extend_from_slice(&chunk);
        }
        (series, blobs)
    }
}

/// Records of a batch the hub put in its dead letters: in the node's too, so the
/// village's operator sees them.
fn note_refusals(
    c: &Connection,
    me: &str,
    dead: &[crate::wire::DeadLetter],
) -> cunlink_core::sql::Result<()> {
    for d in dead {
        let why = format!("refused by the hub: {}", d.reason);
        local_dead_letter(c, me, "up", &d.kind, &d.key, &why)?;
    }
    Ok(())
}

fn local_dead_letter(
    c: &Connection,
    node: &str,
    stream: &str,
    kind: &str,
    key: &str,
    reason: &str,
) -> cunlink_core::sql::Result<()> {
    // A down kind the node cannot apply is asked for again every round: one
    // letter per distinct reason, not one per round.
    if stream == "down" {
        let seen: bool = c
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM core_sync_dead_letters WHERE node = $1 AND stream = $2 AND kind = $3 AND reason = $4)",
            )?
            .query_row(params![node, stream, kind, reason], |r| r.get(0))?;
        if seen {
            return Ok(());
        }
    }
    c.prepare_cached(
        "INSERT INTO core_sync_dead_letters (node, stream, kind, key, reason, body, at) VALUES ($1, $2, $3, $4, $5, '{}', $6)",
    )?
    .execute(params![node, stream, kind, key, reason, cunlink_core::time::now_ms()])?;
    Ok(())
}

/// The records batch to send: the one in flight, or a new one from the
/// outbox (highest priority first, then oldest). `None`: nothing waits.
fn build_records(c: &mut Connection, node: &Node) -> Result<Option<(i64, Vec<Record>)>, NodeError> {
    let kinds = node.kinds();
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let batch = state::get_i64(&tx, state::RECORDS_BATCH)? + 1;
    let assigned: i64 = tx.query_row(
        "SELECT COUNT(*) FROM core_sync_outbox WHERE batch = $1",
        [batch],
        |r| r.get(0),
    )?;
    if assigned == 0 {
        let mut waiting: Vec<(u8, i64, String, String)> = {
            let mut st = tx.prepare_cached(
                "SELECT id, kind, key FROM core_sync_outbox WHERE batch IS NULL ORDER BY id LIMIT 5000",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, kind, key) = row?;
                let p = kinds.up_kind(&kind).map_or(u8::MAX, |k| k.priority());
                out.push((p, id, kind, key));
            }
            out
        };
        if waiting.is_empty() {
            return Ok(None);
        }
        waiting.sort_by_key(|w| (w.0, w.1));
        let mut keys = std::collections::HashSet::new();
        for (_, id, kind, key) in waiting {
            // Every change of a record already in the batch rides along (the
            // record is exported as it is now).
            if keys.len() >= MAX_RECORDS && !keys.contains(&(kind.clone(), key.clone())) {
                continue;
            }
            keys.insert((kind, key));
            tx.prepare_cached("UPDATE core_sync_outbox SET batch = $1 WHERE id = $2")?
                .execute(params![batch, id])?;
        }
    }
    let rows: Vec<(String, String, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT kind, key, MAX(id) FROM core_sync_outbox WHERE batch = $1 GROUP BY kind, key ORDER BY MIN(id)",
        )?;
        let rows = st.query_map([batch], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut records = Vec::with_capacity(rows.len());
    for (kind, key, version) in rows {
        let Some(k) = kinds.up_kind(&kind) else {
            local_dead_letter(
                &tx,
                &node.node_id(),
                "up",
                &kind,
                &key,
                "no domain exports records of this kind",
            )?;
            continue;
        };
        match k.export(&tx, &key) {
            Ok(Some(body)) => records.push(Record {
                kind,
                key,
                version,
                body,
            }),
            // Deleted since: nothing to send.
            Ok(None) => {}
            Err(SyncError::Reject(why)) => {
                local_dead_letter(&tx, &node.node_id(), "up", &kind, &key, &why)?;
            }
            Err(SyncError::Sql(e)) => return Err(e.into()),
        }
    }
    tx.commit()?;
    Ok(Some((batch, records)))
}

/// Apply what came down, each kind in a savepoint: a kind the node cannot
/// apply goes to the dead letters and keeps its old digest (asked again next
/// time); the others land. Returns the kinds applied.
fn apply_down(
    c: &mut Connection,
    node: &Node,
    village: i64,
    me: &str,
    answer: DownAnswer,
) -> Result<Vec<String>, NodeError> {
    let kinds = node.kinds();
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied = Vec::new();
    let mut refused = 0usize;
    for k in &kinds.down {
        let Some(got) = answer.kinds.iter().find(|g| g.kind == k.kind()) else {
            continue;
        };
        tx.execute_batch("SAVEPOINT down")?;
        match k.apply(&tx, village, &got.rows) {
            Ok(()) => {
                tx.execute_batch("RELEASE down")?;
                state::set(&tx, &state::down_key(k.kind()), &got.digest)?;
                applied.push(k.kind().to_string());
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO down; RELEASE down")?;
                let reason = match e {
                    SyncError::Reject(why) => why,
                    SyncError::Sql(e) if e.is_constraint_violation() => e.to_string(),
                    SyncError::Sql(e) => return Err(e.into()),
                };
                refused += 1;
                local_dead_letter(&tx, me, "down", k.kind(), "*", &reason)?;
            }
        }
    }
    state::set(&tx, state::PENDING_DOWN, &refused.to_string())?;
    tx.commit()?;
    Ok(applied)
}
