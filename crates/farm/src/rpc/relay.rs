//! Device commands across the nodes of one deployment (docs/scale.md).
//!
//! A command is created on the node that received the request, but its
//! device's MQTT session may be on another node. The creating node announces a
//! command it could not deliver ([`Note::New`]); the node holding the session
//! takes it from the database and delivers it. Every state change is announced
//! ([`Note::Changed`]) so that a caller waiting on any node sees the reply.
//! The database row is the truth; the bus only says "look again".

use std::sync::Arc;

use cunlink_core::time::now_ms;
use tokio::sync::broadcast::error::RecvError;

use super::{Pending, Rpc, State, store};
use crate::telemetry::DeviceId;

pub const CHANNEL: &str = "cunlink_rpc";

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Note {
    New(i64),
    Changed(i64),
}

impl Rpc {
    pub(super) async fn announce(&self, note: Note) {
        let Some(bus) = &self.bus else { return };
        let Ok(body) = serde_json::to_string(&note) else { return };
        if let Err(e) = bus.publish(CHANNEL, body).await {
            tracing::warn!(error = %e, ?note, "bus: command note not sent");
        }
    }

    /// Whether a session of `device`, or of its gateway, is on this node.
    fn reaches(&self, device: DeviceId, gateway: Option<DeviceId>) -> bool {
        let inner = self.lock();
        inner.sessions.contains_key(&device) || gateway.is_some_and(|g| inner.sessions.contains_key(&g))
    }

    /// A session of `device` opened here: take over commands for it (or for
    /// the devices behind it) that other nodes created and could not deliver.
    pub(super) async fn adopt_waiting(self: &Arc<Self>, device: DeviceId) {
        if self.bus.is_none() {
            return;
        }
        let now = now_ms();
        let open = match self.db.call(move |c| store::unfinished(c, now)).await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "loading other nodes' commands failed");
                return;
            }
        };
        for cmd in open {
            let gateway = self.registry.get(cmd.device_id).and_then(|d| d.gateway_id);
            if cmd.state == State::Queued && (cmd.device_id == device || gateway == Some(device)) {
                self.adopt(cmd, gateway);
            }
        }
    }

    fn adopt(self: &Arc<Self>, cmd: super::Command, gateway: Option<DeviceId>) -> bool {
        let (id, at) = (cmd.id, cmd.expires_at);
        let fresh = {
            let mut inner = self.lock();
            if inner.pending.contains_key(&id) {
                false
            } else {
                inner.pending.insert(id, Pending { cmd, gateway });
                true
            }
        };
        if fresh {
            self.expire_at(id, at);
        }
        fresh
    }

    async fn on_note(self: &Arc<Self>, note: Note) {
        let id = match note {
            Note::New(id) | Note::Changed(id) => id,
        };
        let Ok(Some(cmd)) = self.db.call(move |c| store::get(c, id)).await else {
            return;
        };
        match note {
            Note::New(_) => {
                let gateway = self.registry.get(cmd.device_id).and_then(|d| d.gateway_id);
                if cmd.state == State::Queued && self.reaches(cmd.device_id, gateway) && self.adopt(cmd, gateway) {
                    self.try_deliver(id).await;
                }
            }
            Note::Changed(_) => {
                {
                    let mut inner = self.lock();
                    if cmd.is_final() {
                        inner.pending.remove(&id);
                    } else if let Some(p) = inner.pending.get_mut(&id) {
                        p.cmd = cmd.clone();
                    }
                }
                // Wake callers waiting on this node.
                let _ = self.changes.send(cmd);
            }
        }
    }

    /// Listen to the other nodes' notes until `shutdown` (nothing on one node).
    pub fn spawn_relay(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let Some(bus) = self.bus.clone() else { return };
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut rx = bus.subscribe(CHANNEL);
            loop {
                let msg = tokio::select! {
                    m = rx.recv() => m,
                    _ = shutdown.changed() => return,
                };
                let Some(rpc) = me.upgrade() else { return };
                match msg {
                    Ok(body) => match serde_json::from_str::<Note>(&body) {
                        Ok(note) => rpc.on_note(note).await,
                        Err(_) => tracing::warn!("bus: a command note that does not parse"),
                    },
                    Err(RecvError::Lagged(n)) => tracing::warn!(notes = n, "bus: command notes missed"),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
}
