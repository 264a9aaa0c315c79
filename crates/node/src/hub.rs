//! The hub's side: nodes join, send batches up, ask for what changed down.
//!
//! Every sync request carries the node's own credential (`Authorization:
//! Bearer …`), given once at join and stored here only as a hash; revoking the
//! node refuses it from the next request on.

use std::sync::Arc;

use cunlink_core::ApiError;
use cunlink_core::auth::{Role, User};
use cunlink_core::sql::{Connection, OptionalExtension, TransactionBehavior, params};
use cunlink_core::sync::{SyncError, SyncKinds};
use cunlink_farm::telemetry::{Admission, Reading, WriteError, codec};
use serde::Serialize;
use serde_json::json;

use crate::Node;
use crate::error::NodeError;
use crate::wire::{
    self, DeadLetter, DownAnswer, DownAsk, DownKindRows, Stream, UpAnswer, UpHeader,
};

/// A hub-side failure: an answer for the caller, or the database's.
#[derive(Debug)]
pub enum HubError {
    Api(ApiError),
    Db(NodeError),
}

impl From<ApiError> for HubError {
    fn from(e: ApiError) -> Self {
        HubError::Api(e)
    }
}
impl From<NodeError> for HubError {
    fn from(e: NodeError) -> Self {
        HubError::Db(e)
    }
}
impl From<cunlink_core::sql::Error> for HubError {
    fn from(e: cunlink_core::sql::Error) -> Self {
        HubError::Db(e.into())
    }
}
impl From<cunlink_core::DbError> for HubError {
    fn from(e: cunlink_core::DbError) -> Self {
        HubError::Db(e.into())
    }
}
impl From<HubError> for ApiError {
    fn from(e: HubError) -> ApiError {
        match e {
            HubError::Api(e) => e,
            HubError::Db(e) => e.into(),
        }
    }
}

/// What the hub makes of an upward batch.
pub enum UpOutcome {
    /// Applied (or applied before); the kinds that had records applied now.
    Done(UpAnswer, Vec<String>),
    /// Not the batch the hub expects: its last applied batch of the stream.
    Gap(i64),
}

/// A node as the hub knows it.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub node_id: String,
    pub number: i64,
    pub village_id: i64,
    pub village: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub records_batch: i64,
    pub readings_batch: i64,
    pub dead_letters: i64,
}

/// What `join` answers: the credential is shown this once.
#[derive(Debug, Serialize)]
pub struct Joining {
    pub node_id: String,
    pub number: i64,
    pub credential: String,
    pub village_id: i64,
    pub village: String,
}

/// Longest telemetry key name accepted from a node (the device API's limit too).
const MAX_KEY: usize = 128;

pub fn may_manage(user: &User) -> Result<(), ApiError> {
    if matches!(user.role, Role::Admin | Role::CountyStaff) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only an administrator or county staff manages village nodes",
        ))
    }
}

/// Register a node for `village`. One live node per village: its records have
/// one owner.
pub fn join(conn: &mut Connection, by: &User, village: &str) -> Result<Joining, HubError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let village_id = cunlink_core::auth::village_id(&tx, village)?.ok_or_else(|| {
        ApiError::not_found(
            "unknown_village",
            format!("no village is named '{village}'"),
        )
        .with_field("village")
    })?;
    let taken: Option<String> = tx
        .query_row(
            "SELECT node_id FROM core_sync_nodes WHERE village_id = $1 AND revoked_at IS NULL",
            [village_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(other) = taken {
        return Err(HubError::Api(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "village_has_node",
            format!("village '{village}' already has node {other}; revoke it first (POST /api/nodes/{other}/revoke)"),
        )
        .with_field("village")));
    }
    let number: i64 = tx.query_row(
        "SELECT COALESCE(MAX(id), 0) + 1 FROM core_sync_nodes",
        [],
        |r| r.get(0),
    )?;
    let node_id = format!("node-{}", cunlink_core::random::token(12).to_lowercase());
    let credential = cunlink_core::random::token(40);
    let now = cunlink_core::time::now_ms();
    tx.execute(
        "INSERT INTO core_sync_nodes (id, node_id, village_id, credential_hash, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![
            number,
            node_id,
            village_id,
            cunlink_core::auth::secret_hash(&credential),
            by.id,
            now
        ],
    )?;
    cunlink_core::audit::record(
        &tx,
        Some(by.id),
        "node.join",
        &format!("{node_id} village={village}"),
    )?;
    tx.commit()?;
    Ok(Joining {
        node_id,
        number,
        credential,
        village_id,
        village: village.to_string(),
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Joined>, NodeError> {
    let mut st = conn.prepare_cached(
        "SELECT n.node_id, n.id, n.village_id, COALESCE(v.name, ''), n.created_at, n.revoked_at, n.last_seen_at,
                n.records_batch, n.readings_batch,
                (SELECT COUNT(*) FROM core_sync_dead_letters d WHERE d.node = n.node_id)
           FROM core_sync_nodes n LEFT JOIN villages v ON v.id = n.village_id
          ORDER BY n.id LIMIT 1000",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Joined {
            node_id: r.get(0)?,
            number: r.get(1)?,
            village_id: r.get(2)?,
            village: r.get(3)?,
            created_at: r.get(4)?,
            revoked_at: r.get(5)?,
            last_seen_at: r.get(6)?,
            records_batch: r.get(7)?,
            readings_batch: r.get(8)?,
            dead_letters: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn revoke(conn: &Connection, by: &User, node_id: &str) -> Result<(), HubError> {
    let n = conn.execute(
        "UPDATE core_sync_nodes SET revoked_at = $1 WHERE node_id = $2 AND revoked_at IS NULL",
        params![cunlink_core::time::now_ms(), node_id],
    )?;
    if n == 0 {
        return Err(HubError::Api(ApiError::not_found(
            "unknown_node",
            format!("no live node is named '{node_id}'"),
        )));
    }
    cunlink_core::audit::record(conn, Some(by.id), "node.revoke", node_id)?;
    Ok(())
}

/// The node a sync request comes from, by its credential.
#[derive(Debug, Clone)]
pub struct Caller {
    pub node_id: String,
    pub number: i64,
    pub village_id: i64,
}

pub fn caller(conn: &Connection, credential: &str) -> Result<Caller, HubError> {
    let hash = cunlink_core::auth::secret_hash(credential);
    let row: Option<(String, i64, i64, Option<i64>)> = conn
        .query_row(
            "SELECT node_id, id, village_id, revoked_at FROM core_sync_nodes WHERE credential_hash = $1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    match row {
        None => Err(HubError::Api(ApiError::unauthorized(
            "this node credential is unknown",
        ))),
        Some((_, _, _, Some(_))) => Err(HubError::Api(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "node_revoked",
            "this node was revoked on the hub; join again to sync",
        ))),
        Some((node_id, number, village_id, None)) => {
            conn.execute(
                "UPDATE core_sync_nodes SET last_seen_at = $1 WHERE id = $2",
                params![cunlink_core::time::now_ms(), number],
            )?;
            Ok(Caller {
                node_id,
                number,
                village_id,
            })
        }
    }
}

fn dead_letter(
    conn: &Connection,
    node: &str,
    stream: Stream,
    kind: &str,
    key: &str,
    reason: &str,
    body: &str,
) -> cunlink_core::sql::Result<()> {
    conn.prepare_cached(
        "INSERT INTO core_sync_dead_letters (node, stream, kind, key, reason, body, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )?
    .execute(params![node, stream.as_str(), kind, key, reason, body, cunlink_core::time::now_ms()])?;
    Ok(())
}

/// Apply a batch of records in one transaction: each record in a savepoint, a
/// bad one to the dead letters, the stream's counter moved with them, so the
/// batch is applied exactly once however often it comes.
pub fn apply_records(
    conn: &mut Connection,
    kinds: &SyncKinds,
    who: &Caller,
    up: &UpHeader,
) -> Result<UpOutcome, HubError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last: i64 = tx.query_row(
        "SELECT records_batch FROM core_sync_nodes WHERE id = $1",
        [who.number],
        |r| r.get(0),
    )?;
    if up.batch <= last {
        return Ok(UpOutcome::Done(
            UpAnswer {
                acked: last,
                dead: Vec::new(),
            },
            Vec::new(),
        ));
    }
    if up.batch != last + 1 {
        return Ok(UpOutcome::Gap(last));
    }
    let mut dead = Vec::new();
    let mut applied: Vec<String> = Vec::new();
    for r in &up.records {
        let newer: bool = tx
            .prepare_cached(
                "SELECT version FROM core_sync_applied WHERE node = $1 AND kind = $2 AND key = $3",
            )?
            .query_row(params![who.number, r.kind, r.key], |row| {
                row.get::<_, i64>(0)
            })
            .optional()?
            .is_none_or(|v| v < r.version);
        if !newer {
            continue;
        }
        let outcome = match kinds.up_kind(&r.kind) {
            None => Err(SyncError::reject(format!(
                "the hub does not know records of kind '{}'",
                r.kind
            ))),
            Some(k) => {
                tx.execute_batch("SAVEPOINT rec")?;
                let res = k.apply(&tx, who.village_id, &r.key, &r.body);
                match &res {
                    Ok(()) => tx.execute_batch("RELEASE rec")?,
                    Err(_) => tx.execute_batch("ROLLBACK TO rec; RELEASE rec")?,
                }
                res
            }
        };
        let reason = match outcome {
            Ok(()) => None,
            Err(SyncError::Reject(why)) => Some(why),
            // A constraint the record breaks is the record's fault, not the database's.
            Err(SyncError::Sql(e)) if e.is_constraint_violation() => Some(e.to_string()),
            Err(SyncError::Sql(e)) => return Err(e.into()),
        };
        match reason {
            None => {
                tx.prepare_cached(
                    "INSERT INTO core_sync_applied (node, kind, key, version) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (node, kind, key) DO UPDATE SET version = excluded.version",
                )?
                .execute(params![who.number, r.kind, r.key, r.version])?;
                if !applied.contains(&r.kind) {
                    applied.push(r.kind.clone());
                }
            }
            Some(reason) => {
                dead_letter(
                    &tx,
                    &who.node_id,
                    Stream::Records,
                    &r.kind,
                    &r.key,
                    &reason,
                    &r.body.to_string(),
                )?;
                dead.push(DeadLetter {
                    kind: r.kind.clone(),
                    key: r.key.clone(),
                    reason,
                });
            }
        }
    }
    tx.execute(
        "UPDATE core_sync_nodes SET records_batch = $1 WHERE id = $2",
        params![up.batch, who.number],
    )?;
    tx.commit()?;
    Ok(UpOutcome::Done(
        UpAnswer {
            acked: up.batch,
            dead,
        },
        applied,
    ))
}

/// Readings: store them through the hub's telemetry writer (acknowledged after
/// its commit), then move the stream's counter. Readings are idempotent by
/// (series, time), so a batch applied again after a crash between the two
/// changes no value.
pub async fn apply_readings(
    node: &Arc<Node>,
    who: &Caller,
    up: &UpHeader,
    blobs: &[u8],
) -> Result<UpOutcome, HubError> {
    let (number, batch) = (who.number, up.batch);
    let last: i64 = node
        .db
        .call(move |c| {
            c.query_row(
                "SELECT readings_batch FROM core_sync_nodes WHERE id = $1",
                [number],
                |r| r.get(0),
            )
            .map_err(NodeError::from)
        })
        .await?;
    if batch <= last {
        return Ok(UpOutcome::Done(
            UpAnswer {
                acked: last,
                dead: Vec::new(),
            },
            Vec::new(),
        ));
    }
    if batch != last + 1 {
        return Ok(UpOutcome::Gap(last));
    }
    let farm = &node.farm;
    let keys = &farm.telemetry.store().keys;
    let mut readings = Vec::new();
    let mut dead = Vec::new();
    let mut at = 0usize;
    for s in &up.series {
        let end = at
            .checked_add(s.len as usize)
            .filter(|&e| e <= blobs.len())
            .ok_or_else(|| {
                ApiError::bad_request("bad_batch", "a series runs past the batch's end")
            })?;
        let chunk = &blobs[at..end];
        at = end;
        let reject = |why: String| DeadLetter {
            kind: "reading".into(),
            key: format!("{}/{}", s.device, s.key),
            reason: why,
        };
        if s.key.is_empty() || s.key.len() > MAX_KEY {
            dead.push(reject(format!("key names are 1 to {MAX_KEY} bytes")));
            continue;
        }
        let device = farm
            .registry
            .by_name(&s.device)
            .await
            .map_err(ApiError::internal)?;
        let Some(device) = device.filter(|d| d.village_id == Some(who.village_id)) else {
            dead.push(reject(format!(
                "the hub has no device '{}' in this node's village",
                s.device
            )));
            continue;
        };
        let (ts, values) = match codec::decode_chunk(chunk) {
            Ok(p) => p,
            Err(e) => {
                dead.push(reject(format!("the chunk does not decode: {e}")));
                continue;
            }
        };
        let key = keys.intern(&s.key);
        readings.extend(ts.into_iter().zip(values).map(|(ts, value)| Reading {
            device: device.id,
            key,
            ts,
            value,
        }));
    }
    if !readings.is_empty() {
        farm.telemetry
            .write(readings, Vec::new(), Admission::Reject)
            .await
            .map_err(|e| match e {
                WriteError::Overloaded => {
                    ApiError::unavailable("the hub's ingest queue is full", 2)
                }
                other => {
                    ApiError::unavailable(format!("the hub could not store readings: {other}"), 5)
                }
            })?;
    }
    let node_id = who.node_id.clone();
    let letters = dead.clone();
    node.db
        .call(move |c| -> Result<(), NodeError> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for d in &letters {
                dead_letter(&tx, &node_id, Stream::Readings, &d.kind, &d.key, &d.reason, "{}")?;
            }
            tx.execute(
                "UPDATE core_sync_nodes SET readings_batch = $1 WHERE id = $2 AND readings_batch = $3",
                params![batch, number, batch - 1],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(UpOutcome::Done(UpAnswer { acked: batch, dead }, Vec::new()))
}

/// The down kinds whose rows differ from what the node holds.
pub fn down(
    conn: &mut Connection,
    kinds: &SyncKinds,
    who: &Caller,
    ask: &DownAsk,
) -> Result<DownAnswer, HubError> {
    let tx = conn.read_transaction()?;
    let mut out = DownAnswer::default();
    for k in &kinds.down {
        let rows = k.snapshot(&tx, who.village_id).map_err(|e| match e {
            SyncError::Sql(e) => HubError::from(e),
            SyncError::Reject(m) => HubError::Api(ApiError::internal(std::io::Error::other(m))),
        })?;
        let digest = wire::digest(&rows);
        if ask.have.get(k.kind()) != Some(&digest) {
            out.kinds.push(DownKindRows {
                kind: k.kind().to_string(),
                digest,
                rows,
            });
        }
    }
    let _ = tx.finish();
    Ok(out)
}

/// The hub's dead letters of a node, newest first.
pub fn dead_letters(
    conn: &Connection,
    node_id: &str,
    limit: i64,
) -> Result<Vec<serde_json::Value>, NodeError> {
    let mut st = conn.prepare_cached(
        "SELECT id, stream, kind, key, reason, at FROM core_sync_dead_letters WHERE node = $1 ORDER BY id DESC LIMIT $2",
    )?;
    let rows = st.query_map(params![node_id, limit], |r| {
        Ok(json!({
            "id": r.get::<_, i64>(0)?, "stream": r.get::<_, String>(1)?, "kind": r.get::<_, String>(2)?,
            "key": r.get::<_, String>(3)?, "reason": r.get::<_, String>(4)?, "at": r.get::<_, i64>(5)?,
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
