//! Which villages' rules this node evaluates (several nodes over PostgreSQL,
//! docs/scale.md).
//!
//! Villages are spread over the live nodes by rendezvous hashing; a node
//! evaluates a village only while it holds the village's lease
//! (`alert.village.<id>`, or `alert.village.county` for county-level devices),
//! so two nodes never evaluate one village at once. When a node dies its
//! heartbeat stops, the others see a new spread within
//! [`cunlink_core::cluster::ALIVE`], and the new owner takes the lease when it
//! runs out ([`LEASE_TTL`]), rebuilding its state from history. With one node
//! (SQLite) it holds everything.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cunlink_core::cluster::Cluster;

/// How long a village stays with a node that stopped renewing.
pub const LEASE_TTL: Duration = Duration::from_secs(4);
/// How often leases are renewed and the spread looked at again.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a starting engine waits to learn the other nodes.
pub const SETTLE_WAIT: Duration = Duration::from_secs(3);

impl Partition {
    pub async fn wait_settled(&self) {
        self.cluster.wait_settled(SETTLE_WAIT).await;
    }
}

/// A village by its id; `None`: county-level devices.
pub type Village = Option<i64>;

fn lease_name(v: Village) -> String {
    match v {
        Some(id) => format!("alert.village.{id}"),
        None => "alert.village.county".into(),
    }
}

pub struct Partition {
    cluster: Arc<Cluster>,
    held: HashSet<Village>,
    /// Villages as of the last renewal; one created since is evaluated by the
    /// node it would go to until the next renewal takes its lease.
    known: HashSet<Village>,
    /// On a hub: villages with their own node, which evaluates them (offline or
    /// not); evaluating them here too would raise their alarms twice.
    delegated: HashSet<i64>,
}

/// What changed at a renewal.
#[derive(Debug, Default, PartialEq)]
pub struct Change {
    pub gained: Vec<Village>,
    pub lost: Vec<Village>,
}

impl Partition {
    pub fn new(cluster: Arc<Cluster>) -> Partition {
        Partition {
            cluster,
            held: HashSet::new(),
            known: HashSet::new(),
            delegated: HashSet::new(),
        }
    }

    /// One node: every village is this node's, always.
    pub fn is_everything(&self) -> bool {
        !self.cluster.is_shared()
    }

    pub fn set_delegated(&mut self, villages: HashSet<i64>) {
        self.delegated = villages;
    }

    pub fn holds(&self, v: Village) -> bool {
        if v.is_some_and(|v| self.delegated.contains(&v)) {
            return false;
        }
        self.is_everything()
            || self.held.contains(&v)
            || (!self.known.contains(&v) && self.cluster.owns(&lease_name(v)))
    }

    /// Renew or take the leases of the villages this node owns among
    /// `villages`, give up the others; returns what changed.
    pub async fn renew(&mut self, villages: &HashSet<Village>) -> Change {
        let mut change = Change::default();
        if self.is_everything() || !self.cluster.settled() {
            return change;
        }
        self.known = villages.clone();
        for &v in villages {
            let name = lease_name(v);
            if self.cluster.owns(&name) {
                let got = match self.cluster.leases.acquire(&name, LEASE_TTL).await {
                    Ok(got) => got.is_some(),
                    // Unsure: keep evaluating only while our lease surely lasts.
                    Err(_) => self.cluster.leases.holds(&name),
                };
                if got && self.held.insert(v) {
                    change.gained.push(v);
                } else if !got && self.held.remove(&v) {
                    change.lost.push(v);
                }
            } else if self.held.remove(&v) {
                // Another live node owns it now: hand it over.
                let _ = self.cluster.leases.release(&name).await;
                change.lost.push(v);
            }
        }
        let gone: Vec<Village> = self.held.iter().filter(|v| !villages.contains(v)).copied().collect();
        for v in gone {
            self.held.remove(&v);
            let _ = self.cluster.leases.release(&lease_name(v)).await;
            change.lost.push(v);
        }
        change
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }
}
