//! The MQTT listener for devices and gateways (ThingsBoard device API).
//!
//! Why our own server rather than a broker library: devices here only publish to
//! the server (and later receive RPC from it); nothing is routed between clients.
//! What matters is that a PUBACK leaves only after the message is committed and
//! that a slow disk slows the sockets instead of filling memory. `rumqttd` acks
//! inside its router before a consumer sees the message; `ntex-mqtt` fits but
//! brings a second runtime and framework beside tokio/axum. The server side of the
//! packets devices use is small (see [`packet`]); its decoder is property-tested
//! in `cargo test` (crates/farm/tests/parsers_prop.rs) and fuzzed by the
//! `mqtt_codec` cargo-fuzz target (fuzz/, results in bench/results/fuzz.md).

pub mod packet;
mod session;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::Ingest;

/// Accept connections until `shutdown` turns true, then let every session finish
/// its in-flight acknowledgements (at most `drain` long).
///
/// At most `max_connections` sessions run at once. One more is accepted and
/// dropped at once, before anything is read or allocated for it: a crowd of idle
/// sockets costs a file descriptor each and nothing else.
pub async fn serve(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
    max_connections: usize,
) {
    let mut sessions = JoinSet::new();
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        ingest.telemetry.metrics.mqtt_refused_full.inc();
                        tracing::debug!(%peer, max_connections, "mqtt connection refused: server full");
                        drop(stream);
                        continue;
                    };
                    let ingest = ingest.clone();
                    let shutdown = shutdown.clone();
                    let metrics = ingest.telemetry.metrics.clone();
                    metrics.mqtt_connections.inc();
                    sessions.spawn(async move {
                        session::run(stream, peer, ingest, shutdown).await;
                        // The slot is free before the gauge says so.
                        drop(slot);
                        metrics.mqtt_connections.dec();
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "mqtt accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let open = sessions.len();
    if open > 0 {
        tracing::info!(open, "mqtt: draining sessions");
    }
    let _ = tokio::time::timeout(drain, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    sessions.abort_all();
}
