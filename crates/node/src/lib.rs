//! cunlink village node (docs/node.md): a village's installation keeps
//! working while the county link is down and syncs with the county hub when
//! it is up; the same crate is the hub's side of that sync.
//!
//! - [`join`]: `cunlink node join` registers a node with its hub once.
//! - [`runner`]: on a node, the task that moves batches whenever the hub answers.
//! - [`hub`]: on the hub, joining, applying batches, answering what changed.
//! - [`wire`]: the batch format (zstd over a JSON header and binary chunks).
//! - What is synced is each domain's business (`cunlink_core::sync`); readings
//!   travel as the telemetry store's compressed chunks.

pub mod client;
pub mod error;
pub mod hub;
pub mod join;
mod line;
mod routes;
pub mod runner;
pub mod state;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use cunlink_core::Db;
use cunlink_core::auth::AuthService;
use cunlink_core::sync::{NodeSelf, SyncKinds};
use cunlink_farm::Farm;
use cunlink_web::{Domain, KitBuilder};
use serde::Serialize;
use tokio::sync::{Notify, watch};

pub use error::NodeError;

pub struct NodeDeps {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
}

#[derive(Default)]
pub struct Metrics {
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub records_sent: AtomicU64,
    pub readings_sent: AtomicU64,
    pub down_kinds_applied: AtomicU64,
    /// Compressed batch bytes of acknowledged batches, per stream.
    pub records_bytes: AtomicU64,
    pub readings_bytes: AtomicU64,
}

/// The sync handle, on a hub and on a node.
pub struct Node {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
    /// Set when this installation joined a hub.
    me: Option<NodeSelf>,
    kinds: OnceLock<SyncKinds>,
    pub connected: AtomicBool,
    pub metrics: Metrics,
    /// Wakes the runner early (`POST /api/node/sync`).
    pub wake: Notify,
    /// Ask the hub what changed down at the next round, whatever the interval.
    pub force_down: AtomicBool,
    /// For the pages' "offline since" line.
    line: line::Line,
}

/// `GET /api/node/status` (contract of issue 15).
#[derive(Debug, Serialize)]
pub struct Status {
    pub hub: String,
    pub connected: bool,
    pub pending_up: u64,
    pub pending_down: u64,
    pub last_sync_at: Option<i64>,
    pub dead_letters: u64,
    /// Beyond the contract: for the pages.
    pub node_id: String,
    pub village: String,
    pub offline_since: Option<i64>,
    pub pending_records: u64,
    pub pending_readings: u64,
}

impl Node {
    pub fn open(deps: NodeDeps) -> Result<Arc<Node>, NodeError> {
        let NodeDeps { db, auth, farm } = deps;
        db.migrate("sync", cunlink_core::sync::MIGRATIONS)?;
        let me = db.call_blocking(|c| {
            cunlink_core::sync::node_self(c).map_err(cunlink_core::DbError::from)
        })?;
        if let Some(me) = &me {
            tracing::info!(node = %me.node_id, hub = %me.hub, village = %me.village, "village node: syncing with the hub");
        }
        Ok(Arc::new(Node {
            db,
            auth,
            farm,
            me,
            kinds: OnceLock::new(),
            connected: AtomicBool::new(false),
            metrics: Metrics::default(),
            wake: Notify::new(),
            force_down: AtomicBool::new(false),
            line: line::Line::default(),
        }))
    }

    /// What the domains sync; set once by the binary after every domain opened.
    pub fn set_kinds(&self, kinds: SyncKinds) {
        let _ = self.kinds.set(kinds);
    }

    pub fn kinds(&self) -> SyncKinds {
        self.kinds.get().cloned().unwrap_or_default()
    }

    pub fn me(&self) -> Option<&NodeSelf> {
        self.me.as_ref()
    }

    pub fn node_id(&self) -> String {
        self.me
            .as_ref()
            .map(|m| m.node_id.clone())
            .unwrap_or_default()
    }

    /// Sync now: take what changed down and send what waits, without waiting
    /// for the next round.
    pub fn sync_now(&self) {
        self.force_down.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Refresh what the pages' line says (after each exchange with the hub).
    pub async fn refresh_line(&self) {
        if let Ok(Some(s)) = self.status().await {
            self.line.set(line::Snapshot {
                offline_since: s.offline_since,
                pending_up: s.pending_up,
            });
        }
    }

    pub async fn status(&self) -> Result<Option<Status>, NodeError> {
        let Some(me) = self.me.clone() else {
            return Ok(None);
        };
        let (records, pending_down, last, offline, dead) = self
            .db
            .call(
                |c| -> Result<(i64, i64, Option<i64>, Option<i64>, i64), NodeError> {
                    let records: i64 = c.query_row(
                    "SELECT COUNT(*) FROM (SELECT DISTINCT kind, key FROM core_sync_outbox) AS t",
                    [],
                    |r| r.get(0),
                )?;
                    let dead: i64 =
                        c.query_row("SELECT COUNT(*) FROM core_sync_dead_letters", [], |r| {
                            r.get(0)
                        })?;
                    Ok((
                        records,
                        state::get_i64(c, state::PENDING_DOWN)?,
                        state::get(c, state::LAST_SYNC_AT)?.and_then(|v| v.parse().ok()),
                        state::get(c, state::OFFLINE_SINCE)?.and_then(|v| v.parse().ok()),
                        dead,
                    ))
                },
            )
            .await?;
        let store = self.farm.telemetry.store().clone();
        let (readings, _) = tokio::task::spawn_blocking(move || store.uplink_pending())
            .await
            .map_err(|_| NodeError::Config("uplink count panicked".into()))?
            .map_err(|e| NodeError::Config(format!("uplink count: {e}")))?;
        let connected = self.connected.load(Ordering::Relaxed);
        Ok(Some(Status {
            hub: me.hub,
            connected,
            pending_up: records as u64 + readings,
            pending_down: pending_down.max(0) as u64,
            last_sync_at: last,
            dead_letters: dead.max(0) as u64,
            node_id: me.node_id,
            village: me.village,
            offline_since: if connected { None } else { offline },
            pending_records: records as u64,
            pending_readings: readings,
        }))
    }

    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let m = &self.metrics;
        let role = if self.me.is_some() { "node" } else { "hub" };
        let _ = writeln!(
            out,
            "# HELP cunlink_sync_info This installation's role in village node sync.\n# TYPE cunlink_sync_info gauge\ncunlink_sync_info{{role=\"{role}\"}} 1"
        );
        if self.me.is_none() {
            return;
        }
        let c = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP cunlink_sync_connected Whether the last exchange with the hub worked.\n# TYPE cunlink_sync_connected gauge\ncunlink_sync_connected {}\n\
             # HELP cunlink_sync_bytes_sent_total Batch bytes sent to the hub.\n# TYPE cunlink_sync_bytes_sent_total counter\ncunlink_sync_bytes_sent_total {}\n\
             # HELP cunlink_sync_bytes_received_total Answer bytes received from the hub.\n# TYPE cunlink_sync_bytes_received_total counter\ncunlink_sync_bytes_received_total {}\n\
             # HELP cunlink_sync_records_sent_total Records the hub acknowledged.\n# TYPE cunlink_sync_records_sent_total counter\ncunlink_sync_records_sent_total {}\n\
             # HELP cunlink_sync_readings_sent_total Readings the hub acknowledged.\n# TYPE cunlink_sync_readings_sent_total counter\ncunlink_sync_readings_sent_total {}\n\
             # HELP cunlink_sync_down_applied_total Down kinds applied.\n# TYPE cunlink_sync_down_applied_total counter\ncunlink_sync_down_applied_total {}\n\
             # HELP cunlink_sync_batch_bytes_total Compressed bytes of batches the hub acknowledged, per stream.\n# TYPE cunlink_sync_batch_bytes_total counter\ncunlink_sync_batch_bytes_total{{stream=\"records\"}} {}\ncunlink_sync_batch_bytes_total{{stream=\"readings\"}} {}",
            u8::from(self.connected.load(Ordering::Relaxed)),
            c(&m.bytes_sent),
            c(&m.bytes_received),
            c(&m.records_sent),
            c(&m.readings_sent),
            c(&m.down_kinds_applied),
            c(&m.records_bytes),
            c(&m.readings_bytes),
        );
    }
}

impl Domain for Node {
    fn name(&self) -> &'static str {
        "node"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        if self.me.is_some() {
            let node = self.clone();
            kit.status_line(Arc::new(move |locale| node.line.render(locale)));
        }
    }

    fn api_routes(self: Arc<Self>) -> cunlink_core::routes::Routes {
        routes::routes(self)
    }

    fn spawn_background(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let Some(me) = self.me.clone() else {
            return;
        };
        match runner::Runner::new(self.clone(), me) {
            Ok(r) => {
                tokio::spawn(r.run(shutdown));
            }
            Err(e) => tracing::error!(error = %e, "village node: cannot sync with the hub"),
        }
    }

    fn render_metrics(&self, out: &mut String) {
        self.render(out);
    }
}
