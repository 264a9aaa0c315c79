//! Readings across the nodes of one deployment (docs/scale.md).
//!
//! Each node relays what its writer committed to the other nodes over the
//! cluster bus (channel [`CHANNEL`]), and hands what the others committed to its
//! own listeners — live pages (SSE) and the alert engine — as if committed
//! here, and makes them this node's latest values. Keys travel by name: key
//! ids are each node's own.
//!
//! The bus delivers at most once; a node that misses a message (bus connection
//! lost) misses it on live views only: the readings themselves are in the
//! database.

use std::sync::Arc;

use cunlink_core::cluster::{Cluster, MAX_PAYLOAD};
use tokio::sync::broadcast::error::RecvError;

use super::Telemetry;
use super::value::{DeviceId, Reading, Value};
use super::writer::Committed;

pub const CHANNEL: &str = "cunlink_readings";

/// One reading on the wire: `[device, "key", ts, value]`.
type Wire = (i64, String, i64, serde_json::Value);

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Num(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Text(t) => serde_json::Value::String(t.to_string()),
    }
}

fn from_json(v: &serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().map(Value::Num),
        serde_json::Value::Bool(b) => Some(Value::Bool(*b)),
        serde_json::Value::String(s) => Some(Value::Text(s.as_str().into())),
        _ => None,
    }
}

/// Messages of at most [`MAX_PAYLOAD`] bytes carrying `c`'s readings.
pub fn encode(t: &Telemetry, c: &Committed) -> Vec<String> {
    let keys = &t.store().keys;
    let mut out = Vec::new();
    let mut cur = String::from("[");
    for r in &c.readings {
        let Some(name) = keys.name(r.key) else { continue };
        let w: Wire = (r.device.0, name.to_string(), r.ts, to_json(&r.value));
        let Ok(item) = serde_json::to_string(&w) else { continue };
        if item.len() + 2 > MAX_PAYLOAD {
            continue; // a single huge text value: live views do without it
        }
        if cur.len() + item.len() + 2 > MAX_PAYLOAD {
            cur.push(']');
            out.push(std::mem::replace(&mut cur, String::from("[")));
        }
        if cur.len() > 1 {
            cur.push(',');
        }
        cur.push_str(&item);
    }
    if cur.len() > 1 {
        cur.push(']');
        out.push(cur);
    }
    out
}

/// Readings of one message, keys interned on this node.
pub fn decode(t: &Telemetry, payload: &str) -> Vec<Reading> {
    let Ok(items) = serde_json::from_str::<Vec<Wire>>(payload) else {
        tracing::warn!("bus: a readings message that does not parse");
        return Vec::new();
    };
    let store = t.store();
    items
        .into_iter()
        .filter_map(|(device, key, ts, v)| {
            let value = from_json(&v)?;
            // `latest()` here follows the other nodes at once.
            store.note_peer_latest(DeviceId(device), &key, ts, &value);
            Some(Reading {
                device: DeviceId(device),
                key: store.keys.intern(&key),
                ts,
                value,
            })
        })
        .collect()
}

/// Relay this node's commits out and the other nodes' commits in, until
/// `shutdown`. Nothing to do with one node (SQLite).
pub fn spawn(
    telemetry: Arc<Telemetry>,
    cluster: Arc<Cluster>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if !cluster.is_shared() {
        return;
    }
    let (t, c, mut stop) = (telemetry.clone(), cluster.clone(), shutdown.clone());
    tokio::spawn(async move {
        let mut rx = t.subscribe();
        loop {
            let committed = tokio::select! {
                r = rx.recv() => r,
                _ = stop.changed() => return,
            };
            match committed {
                Ok(done) if !done.remote => {
                    tracing::debug!(readings = done.readings.len(), "bus: relaying commit");
                    for m in encode(&t, &done) {
                        if let Err(e) = c.bus.publish(CHANNEL, m).await {
                            tracing::warn!(error = %e, "bus: readings not relayed");
                        }
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => tracing::warn!(batches = n, "bus: relay fell behind"),
                Err(RecvError::Closed) => return,
            }
        }
    });
    let mut stop = shutdown;
    tokio::spawn(async move {
        let mut rx = cluster.bus.subscribe(CHANNEL);
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = stop.changed() => return,
            };
            match msg {
                Ok(payload) => {
                    let readings = decode(&telemetry, &payload);
                    tracing::debug!(readings = readings.len(), "bus: readings from another node");
                    if !readings.is_empty() {
                        telemetry.relay_remote(Committed {
                            readings,
                            attributes: Vec::new(),
                            committed_at: cunlink_core::time::now_ms(),
                            remote: true,
                        });
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!(messages = n, "bus: fell behind other nodes' readings"),
                Err(RecvError::Closed) => return,
            }
        }
    });
}
