//! Village node sync, the part every domain shares (docs/node.md).
//!
//! An installation is a **hub** (the county) or, after `cunlink node join`, a
//! **node** (one village). Every synced record has one owner, so nothing is ever
//! merged:
//!
//! - **up** (node → hub): records the village makes (alarms, orders, …). A
//!   domain's migration adds SQLite triggers that put `(kind, key)` in
//!   `core_sync_outbox` in the transaction of the change ([`OUTBOX_GUARD`] keeps
//!   them silent on a hub); at send time the domain's [`UpKind::export`] reads the
//!   record as it is then, and on the hub [`UpKind::apply`] stores it under the
//!   same id.
//! - **down** (hub → node): what the county owns (users, devices, rules, …). The
//!   hub's [`DownKind::snapshot`] lists the village's rows; the node replaces its
//!   copy with [`DownKind::apply`] when the snapshot's digest changed.
//!
//! Readings travel apart, as compressed chunks of the telemetry store (the
//! `node` crate with the farm). The protocol, the streams and the dead letters
//! are in the `cunlink-node` crate; this module is the port the domains
//! implement and the id ranges that keep ids the same on both sides.

mod ids;
pub mod rows;

pub use ids::{ID_SPAN, id_range, next_id};

use std::sync::Arc;

use serde_json::Value;

use crate::sql::{Connection, OptionalExtension, params};

/// The `WHEN` clause of every outbox trigger: only a node records changes.
pub const OUTBOX_GUARD: &str = "EXISTS (SELECT 1 FROM core_node_self)";

pub const MIGRATIONS: &[crate::Migration] = &[crate::Migration {
    version: 1,
    name: "sync",
    sql: include_str!("../../migrations/sqlite/sync_0001.sql"),
}];

/// Why a record was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The record itself is wrong for this side (unknown device, bad field):
    /// it goes to the dead letters and the rest flows.
    #[error("{0}")]
    Reject(String),
    /// The database failed: the batch is not acknowledged and comes again.
    #[error(transparent)]
    Sql(#[from] crate::sql::Error),
}

impl SyncError {
    pub fn reject(why: impl Into<String>) -> SyncError {
        SyncError::Reject(why.into())
    }
}

/// Read a field of a record body, or reject the record naming the field.
pub fn field<'a>(body: &'a Value, name: &str) -> Result<&'a Value, SyncError> {
    body.get(name)
        .ok_or_else(|| SyncError::reject(format!("field '{name}' is missing")))
}

pub fn field_i64(body: &Value, name: &str) -> Result<i64, SyncError> {
    field(body, name)?
        .as_i64()
        .ok_or_else(|| SyncError::reject(format!("field '{name}' must be an integer")))
}

pub fn field_opt_i64(body: &Value, name: &str) -> Result<Option<i64>, SyncError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| SyncError::reject(format!("field '{name}' must be an integer"))),
    }
}

pub fn field_str<'a>(body: &'a Value, name: &str) -> Result<&'a str, SyncError> {
    field(body, name)?
        .as_str()
        .ok_or_else(|| SyncError::reject(format!("field '{name}' must be a string")))
}

pub fn field_opt_str<'a>(body: &'a Value, name: &str) -> Result<Option<&'a str>, SyncError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| SyncError::reject(format!("field '{name}' must be a string"))),
    }
}

/// A kind of record made in the village and sent up.
pub trait UpKind: Send + Sync {
    /// The name in the outbox and on the wire ("alarm", "order").
    fn kind(&self) -> &'static str;
    /// Lower goes first: alarms and orders before bulk records.
    fn priority(&self) -> u8;
    /// Node: the record as it is now; `None` when it no longer exists.
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError>;
    /// Hub: store the record (insert, or replace an older version) under the id
    /// it has on the node; `village_id` is the sending node's village, and a
    /// record naming another village is rejected.
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError>;
    /// Hub, after a batch that applied records of this kind committed: reload
    /// what the domain caches (called on a blocking thread, outside any
    /// database call).
    fn applied(&self) {}

    /// Files a kind's records name by key (a content hash) travel apart, once
    /// every record is across. Node: the keys still to send (at most a few
    /// hundred); each is read with [`UpKind::blob`] and sent alone.
    fn blobs_unsent(&self, _conn: &Connection) -> Result<Vec<String>, SyncError> {
        Ok(Vec::new())
    }
    /// Node: the bytes of `key` (at most [`MAX_BLOB`]), `None` when gone.
    fn blob(&self, _conn: &Connection, _key: &str) -> Result<Option<Vec<u8>>, SyncError> {
        Ok(None)
    }
    /// Node: the hub stored `key` (or refused it for good): not sent again.
    fn blob_sent(&self, _conn: &Connection, _key: &str) -> Result<(), SyncError> {
        Ok(())
    }
    /// Hub: store the bytes of `key` that a record of the node's village names,
    /// checked against the key, inside the caller's transaction.
    fn put_blob(
        &self,
        _conn: &Connection,
        _village_id: i64,
        key: &str,
        _bytes: &[u8],
    ) -> Result<(), SyncError> {
        Err(SyncError::reject(format!(
            "kind '{}' takes no file '{key}'",
            self.kind()
        )))
    }
}

/// A kind of record the county owns and sends down to a village.
pub trait DownKind: Send + Sync {
    fn kind(&self) -> &'static str;
    /// Hub: every row of this kind the village's node needs, in a stable order
    /// (the digest of the list decides whether it is sent).
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError>;
    /// Node: make its copy exactly `rows` (insert, update, delete what is gone),
    /// inside the caller's transaction.
    fn apply(&self, conn: &Connection, village_id: i64, rows: &[Value]) -> Result<(), SyncError>;
    /// Node, after the transaction committed: reload what the domain caches.
    fn applied(&self) {}

    /// Files a kind's rows name by key (a content hash) travel apart, so that a
    /// changed row does not resend every file. Node: the keys it still lacks
    /// (at most a few hundred), fetched one by one after a down exchange.
    fn blobs_missing(&self, _conn: &Connection) -> Result<Vec<String>, SyncError> {
        Ok(Vec::new())
    }
    /// Hub: the bytes of `key` if the village's rows name it (at most
    /// [`MAX_BLOB`] bytes), `None` when they do not.
    fn blob(
        &self,
        _conn: &Connection,
        _village_id: i64,
        _key: &str,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        Ok(None)
    }
    /// Node: store the fetched bytes of `key` (checked against the key) inside
    /// the caller's transaction.
    fn put_blob(
        &self,
        _conn: &Connection,
        _village_id: i64,
        key: &str,
        _bytes: &[u8],
    ) -> Result<(), SyncError> {
        Err(SyncError::reject(format!(
            "kind '{}' takes no file '{key}'",
            self.kind()
        )))
    }
}

/// The largest file a down kind serves through [`DownKind::blob`].
pub const MAX_BLOB: usize = 8 << 20;

/// What the domains sync, collected by the binary (`Domain::sync_kinds`).
#[derive(Default, Clone)]
pub struct SyncKinds {
    pub up: Vec<Arc<dyn UpKind>>,
    /// In apply order: what others refer to comes first.
    pub down: Vec<Arc<dyn DownKind>>,
}

impl SyncKinds {
    pub fn up(&mut self, k: Arc<dyn UpKind>) {
        self.up.push(k);
    }
    pub fn down(&mut self, k: Arc<dyn DownKind>) {
        self.down.push(k);
    }
    pub fn up_kind(&self, name: &str) -> Option<&Arc<dyn UpKind>> {
        self.up.iter().find(|k| k.kind() == name)
    }
}

/// This installation's node identity, when it joined a hub.
#[derive(Debug, Clone)]
pub struct NodeSelf {
    pub node_id: String,
    pub number: i64,
    pub hub: String,
    pub credential: String,
    pub village_id: i64,
    pub village: String,
    pub joined_at: i64,
}

/// Whether this installation has joined a hub (is a village node): what every
/// domain asks before a hub-only or node-only change.
pub fn is_node(conn: &Connection) -> crate::sql::Result<bool> {
    conn.prepare_cached(&format!("SELECT {OUTBOX_GUARD}"))?
        .query_row([], |r| r.get(0))
}

pub fn node_self(conn: &Connection) -> crate::sql::Result<Option<NodeSelf>> {
    conn.query_row(
        "SELECT node_id, number, hub, credential, village_id, village, joined_at FROM core_node_self WHERE id = 1",
        [],
        |r| {
            Ok(NodeSelf {
                node_id: r.get(0)?,
                number: r.get(1)?,
                hub: r.get(2)?,
                credential: r.get(3)?,
                village_id: r.get(4)?,
                village: r.get(5)?,
                joined_at: r.get(6)?,
            })
        },
    )
    .optional()
}

pub fn set_node_self(conn: &Connection, s: &NodeSelf) -> crate::sql::Result<()> {
    conn.execute(
        "INSERT INTO core_node_self (id, node_id, number, hub, credential, village_id, village, joined_at)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7)",
        params![s.node_id, s.number, s.hub, s.credential, s.village_id, s.village, s.joined_at],
    )?;
    Ok(())
}

/// Hub: villages whose records a joined (not revoked) node owns. The hub leaves
/// their alert rules to the node, which evaluates them even while offline.
pub fn delegated_villages(conn: &Connection) -> crate::sql::Result<Vec<i64>> {
    let mut st = conn.prepare_cached(
        "SELECT DISTINCT village_id FROM core_sync_nodes WHERE revoked_at IS NULL ORDER BY village_id",
    )?;
    st.query_map([], |r| r.get(0))?.collect()
}
