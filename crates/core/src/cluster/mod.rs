//! Several `cunlink serve` processes over one PostgreSQL, behaving as one
//! deployment (docs/scale.md).
//!
//! - [`node_id`]: this process's name among the nodes.
//! - [`Leases`]: one node at a time holds a named piece of work (a background
//!   job, one village's alert rules); a dead holder's lease expires and another
//!   node takes it over.
//! - [`Bus`]: messages to the other nodes after a commit (PostgreSQL
//!   `LISTEN/NOTIFY`): live readings, device commands, cache invalidation.
//!
//! On SQLite there is one node: it holds every lease and the bus carries
//! nothing between processes.

mod bus;
mod lease;

pub use bus::{Bus, MAX_PAYLOAD, notify};
pub use lease::{LeaseError, Leases, heartbeat, owner};

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use crate::Db;

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is gone: its work moves.
pub const ALIVE: Duration = Duration::from_secs(3);

/// This node's view of the deployment: its leases, the bus, the live nodes.
pub struct Cluster {
    pub leases: Arc<Leases>,
    pub bus: Arc<Bus>,
    db: Db,
    nodes: RwLock<Vec<String>>,
    started_at: i64,
    /// Turns true after the first heartbeat read the live nodes.
    seen: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    /// Start this node's part (migrate `cluster` first).
    pub fn start(db: Db) -> Arc<Cluster> {
        Arc::new(Cluster {
            leases: Leases::new(db.clone()),
            bus: Bus::start(db.clone()),
            nodes: RwLock::new(vec![node_id().to_string()]),
            db,
            started_at: crate::time::now_ms(),
            seen: tokio::sync::watch::Sender::new(false),
        })
    }

    /// True with several nodes possible (PostgreSQL); false on SQLite.
    pub fn is_shared(&self) -> bool {
        self.db.database_url().is_some()
    }

    /// This node knows the live nodes (its first heartbeat read them): before
    /// that it would think every item its own.
    pub fn settled(&self) -> bool {
        !self.is_shared() || *self.seen.borrow()
    }

    /// Wait (at most `within`) until [`Cluster::settled`].
    pub async fn wait_settled(&self, within: Duration) {
        let mut rx = self.seen.subscribe();
        let _ = tokio::time::timeout(within, rx.wait_for(|s| *s)).await;
    }

    /// Live nodes as of the last heartbeat, sorted (this one included).
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `item` (a village, a job) belongs to this node among the live
    /// ones. Always true on SQLite.
    pub fn owns(&self, item: &str) -> bool {
        if !self.is_shared() {
            return true;
        }
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        owner(item, &nodes) == Some(node_id())
    }

    /// Say "alive" every [`HEARTBEAT`] and refresh the live nodes, until
    /// `shutdown` turns true. Nothing to do on SQLite.
    pub fn spawn_heartbeat(
        self: &Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.is_shared() {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                let started_at = me.started_at;
                let seen = me
                    .db
                    .call(move |c| {
                        heartbeat(c, node_id(), started_at, ALIVE).map_err(crate::DbError::from)
                    })
                    .await;
                match seen {
                    Ok(nodes) => {
                        *me.nodes.write().unwrap_or_else(|p| p.into_inner()) = nodes;
                        me.seen.send_replace(true);
                    }
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
            }
        }))
    }
}

/// The core cluster tables (`core_leases`, `core_nodes`), migrated as domain
/// `cluster` by the binary at start.
pub const MIGRATIONS: &[crate::Migration] = &[crate::Migration {
    version: 1,
    name: "leases",
    sql: include_str!("../../migrations/sqlite/cluster_0001.sql"),
}];

/// This process's node id: random, new at every start (a restarted node is a
/// new node; its old leases expire).
pub fn node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let mut b = [0u8; 6];
        crate::random::fill(&mut b);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(24).collect::<String>())
            .unwrap_or_default();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        if host.is_empty() { hex } else { format!("{host}-{hex}") }
    })
}
