//! One MQTT connection: CONNECT with the device token as username, then
//! PUBLISHes acknowledged in order, each PUBACK only after its commit.
//!
//! The connection is split in two tasks. The reader parses, validates and queues
//! messages, handing each pending ack to the writer in arrival order; the writer
//! waits for each commit and sends the PUBACK. Up to [`MAX_INFLIGHT`] acks may be
//! pending; beyond that, or when the ingest queue is full, the reader stops
//! reading the socket (TCP backpressure reaches the device).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot, watch};

use super::packet::{self, ConnectCode, Packet, ProtoError, Publish, Version, reason};
use crate::ingest::{Ingest, IngestError, Kind};
use crate::model::Device;
use crate::telemetry::{Ack, Admission, CommitError, WriteError};

const MAX_PACKET: usize = crate::ingest::http::MAX_BODY_BYTES + 64 * 1024;
const MAX_INFLIGHT: usize = 1024;
/// Before CONNECT the client is anonymous: it gets a few seconds and a few KB.
/// A CONNECT holds a client id, the token, a password and perhaps a small will.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_CONNECT_BYTES: usize = 4096;

enum Out {
    /// PUBACK once `ack` resolves.
    Ack { pkid: u16, ack: Ack },
    /// Bytes to send as they are.
    Raw(Vec<u8>),
    /// Send what precedes, then close the connection.
    Close,
}

pub async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    ingest: Arc<Ingest>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    if let Err(e) = serve(stream, ingest, shutdown).await {
        tracing::debug!(%peer, error = %e, "mqtt connection closed");
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Proto(#[from] ProtoError),
    #[error("no CONNECT within {0:?}")]
    ConnectTimeout(Duration),
    #[error("first packet was not CONNECT")]
    NotConnect,
    #[error("device token refused")]
    Unauthorized,
}

async fn serve(
    stream: TcpStream,
    ingest: Arc<Ingest>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SessionError> {
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(MAX_CONNECT_BYTES);
    let metrics = ingest.telemetry.metrics.clone();

    let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            // The version is unknown until CONNECT is parsed; CONNECT itself parses the same in both.
            // The small size limit keeps `buf` within MAX_CONNECT_BYTES (plus the fixed header).
            match packet::decode(&mut buf, Version::V311, MAX_CONNECT_BYTES) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => {
                    if rd.read_buf(&mut buf).await? == 0 {
                        return Err(SessionError::Io(std::io::ErrorKind::UnexpectedEof.into()));
                    }
                }
                Err(ProtoError::UnsupportedProtocol(level)) => {
                    let mut out = Vec::new();
                    packet::connack(&mut out, Version::V311, ConnectCode::BadProtocol);
                    let _ = wr.write_all(&out).await;
                    return Err(ProtoError::UnsupportedProtocol(level).into());
                }
                Err(e) => {
                    if matches!(e, ProtoError::TooLarge(_)) {
                        metrics.mqtt_connect_too_large.inc();
                    }
                    return Err(e.into());
                }
            }
        }
    })
    .await
    .map_err(|_| {
        metrics.mqtt_connect_timeouts.inc();
        SessionError::ConnectTimeout(CONNECT_TIMEOUT)
    })??;
    let Packet::Connect(connect) = first else {
        return Err(SessionError::NotConnect);
    };
    let version = connect.version;

    let device = match connect.username.as_deref() {
        Some(token) => ingest.registry.by_token(token).await.ok().flatten(),
        None => None,
    };
    let mut out = Vec::new();
    let Some(device) = device else {
        ingest.telemetry.metrics.rejected_auth.inc();
        packet::connack(&mut out, version, ConnectCode::NotAuthorized);
        let _ = wr.write_all(&out).await;
        return Err(SessionError::Unauthorized);
    };
    packet::connack(&mut out, version, ConnectCode::Accepted);
    wr.write_all(&out).await?;
    tracing::debug!(device = %device.name, client_id = %connect.client_id, ?version, "mqtt connected");

    let (tx, rx) = mpsc::channel::<Out>(MAX_INFLIGHT);
    let writer = tokio::spawn(write_loop(wr, rx, version));
    let to_socket = tx.clone();
    let rpc = ingest.rpc.register(
        device.id,
        version,
        Box::new(move |bytes| to_socket.try_send(Out::Raw(bytes)).is_ok()),
    );
    let idle =
        (connect.keep_alive > 0).then(|| Duration::from_millis(connect.keep_alive as u64 * 1500));
    let result = read_loop(
        &mut rd,
        &mut buf,
        &tx,
        &ingest,
        &device,
        &rpc,
        version,
        idle,
        &mut shutdown,
    )
    .await;
    ingest.rpc.unregister(&rpc);
    drop(rpc);
    drop(tx);
    // The writer sends every pending ack (their commits are under way) before closing.
    let _ = writer.await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn read_loop(
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    tx: &mpsc::Sender<Out>,
    ingest: &Ingest,
    device: &Device,
    rpc: &Arc<crate::rpc::Session>,
    version: Version,
    idle: Option<Duration>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), SessionError> {
    loop {
        let pkt = match packet::decode(buf, version, MAX_PACKET) {
            Ok(Some(p)) => p,
            Ok(None) => {
                let read = async {
                    match idle {
                        Some(d) => tokio::time::timeout(d, rd.read_buf(buf))
                            .await
                            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?,
                        None => rd.read_buf(buf).await,
                    }
                };
                tokio::select! {
                    n = read => if n? == 0 { return Ok(()) },
                    _ = shutdown.changed() => {
                        let mut out = Vec::new();
                        packet::disconnect(&mut out, version, reason::SERVER_SHUTTING_DOWN);
                        let _ = tx.send(Out::Raw(out)).await;
                        return Ok(());
                    }
                }
                continue;
            }
            Err(e) => {
                let mut out = Vec::new();
                let code = if matches!(e, ProtoError::TooLarge(_)) {
                    reason::PACKET_TOO_LARGE
                } else {
                    reason::MALFORMED_PACKET
                };
                packet::disconnect(&mut out, version, code);
                let _ = tx.send(Out::Raw(out)).await;
                return Err(e.into());
            }
        };
        let mut out = Vec::new();
        match pkt {
            Packet::Publish(p) => {
                if !publish(p, tx, ingest, device, version).await {
                    return Ok(());
                }
                continue;
            }
            Packet::Subscribe { pkid, filters } => {
                // Granted at most QoS 1: the server never sends QoS 2.
                let codes: Vec<u8> = filters.iter().map(|(_, q)| (*q).min(1)).collect();
                packet::suback(&mut out, version, pkid, &codes);
                if tx.send(Out::Raw(out)).await.is_err() {
                    return Ok(());
                }
                // After the SUBACK: commands waiting for this device go out now.
                ingest.rpc.subscribed(rpc, &filters).await;
                continue;
            }
            Packet::Unsubscribe { pkid, filters } => {
                ingest.rpc.unsubscribed(rpc, &filters);
                packet::unsuback(&mut out, version, pkid, filters.len())
            }
            Packet::PingReq => packet::pingresp(&mut out),
            Packet::PubAck(pkid) => {
                ingest.rpc.acked(rpc, pkid).await;
                continue;
            }
            Packet::Disconnect => return Ok(()),
            Packet::Connect(_) => {
                packet::disconnect(&mut out, version, reason::PROTOCOL_ERROR);
                let _ = tx.send(Out::Raw(out)).await;
                return Ok(());
            }
        }
        if tx.send(Out::Raw(out)).await.is_err() {
            return Ok(());
        }
    }
}

/// Handle one PUBLISH. Returns false when the connection must close.
async fn publish(
    p: Publish,
    tx: &mpsc::Sender<Out>,
    ingest: &Ingest,
    device: &Device,
    version: Version,
) -> bool {
    let metrics = &ingest.telemetry.metrics;
    metrics.mqtt_messages.inc();
    if p.qos == 2 {
        return refuse(
            tx,
            version,
            &p,
            reason::QOS_NOT_SUPPORTED,
            "QoS 2 is not supported; publish with QoS 0 or 1",
        )
        .await;
    }
    let kind = match p.topic.as_str() {
        "v1/devices/me/telemetry" => Kind::Telemetry,
        "v1/devices/me/attributes" => Kind::Attributes,
        "v1/gateway/telemetry" => Kind::GatewayTelemetry,
        "v1/gateway/attributes" => Kind::GatewayAttributes,
        "v1/gateway/connect" => {
            return match ingest.gateway_connect(device, &p.payload).await {
                Ok(_) => ack_now(tx, &p).await,
                Err(e) => refuse_error(tx, version, &p, &e).await,
            };
        }
        // Accepted so that ThingsBoard gateway clients work; nothing to store.
        "v1/gateway/disconnect" => return ack_now(tx, &p).await,
        t if t.starts_with("v1/devices/me/rpc/response/") => {
            let id = &t["v1/devices/me/rpc/response/".len()..];
            // A reply to a command that timed out or was never sent is accepted and dropped.
            ingest.rpc.replied(device.id, id, &p.payload).await;
            return ack_now(tx, &p).await;
        }
        "v1/gateway/rpc" => {
            ingest.rpc.gateway_replied(device.id, &p.payload).await;
            return ack_now(tx, &p).await;
        }
        other => {
            let msg = format!(
                "unknown topic '{other}'; publish to v1/devices/me/telemetry, v1/devices/me/attributes or v1/gateway/*"
            );
            return refuse(tx, version, &p, reason::TOPIC_NAME_INVALID, &msg).await;
        }
    };
    let prepared = match ingest.prepare(device, kind, &p.payload).await {
        Ok(prep) => prep,
        Err(e) => {
            metrics.rejected_bad_input.inc();
            return refuse_error(tx, version, &p, &e).await;
        }
    };
    if prepared.is_empty() {
        return ack_now(tx, &p).await;
    }
    match ingest
        .telemetry
        .enqueue(prepared.readings, prepared.attributes, Admission::Wait)
        .await
    {
        Ok(ack) if p.qos == 1 => tx.send(Out::Ack { pkid: p.pkid, ack }).await.is_ok(),
        Ok(_) => true,
        Err(_) => {
            refuse(
                tx,
                version,
                &p,
                reason::SERVER_SHUTTING_DOWN,
                "the server is shutting down",
            )
            .await
        }
    }
}

async fn ack_now(tx: &mpsc::Sender<Out>, p: &Publish) -> bool {
    if p.qos == 0 {
        return true;
    }
    let (done, ack) = oneshot::channel();
    let _ = done.send(Ok(()));
    tx.send(Out::Ack { pkid: p.pkid, ack }).await.is_ok()
}

async fn refuse_error(
    tx: &mpsc::Sender<Out>,
    version: Version,
    p: &Publish,
    e: &IngestError,
) -> bool {
    let code = match e {
        IngestError::Payload(_) => reason::PAYLOAD_FORMAT_INVALID,
        IngestError::NotAGateway(_)
        | IngestError::UnknownToken
        | IngestError::Store(crate::FarmStoreError::NotGatewayChild { .. }) => {
            reason::NOT_AUTHORIZED
        }
        IngestError::Write(WriteError::Overloaded) => reason::SERVER_BUSY,
        _ => reason::UNSPECIFIED,
    };
    refuse(tx, version, p, code, &e.to_string()).await
}

/// Refuse a message. MQTT 5 QoS 1 gets a PUBACK with the reason code and a reason
/// string and the connection stays; otherwise (3.1.1 has no reason codes, QoS 0 no
/// ack) the server closes the connection, as ThingsBoard does, with a DISCONNECT
/// carrying the reason in MQTT 5.
async fn refuse(
    tx: &mpsc::Sender<Out>,
    version: Version,
    p: &Publish,
    code: u8,
    message: &str,
) -> bool {
    tracing::debug!(topic = %p.topic, code, "mqtt message refused: {message}");
    let mut out = Vec::new();
    if version == Version::V5 && p.qos == 1 {
        packet::puback(&mut out, version, p.pkid, code, Some(message));
        return tx.send(Out::Raw(out)).await.is_ok();
    }
    packet::disconnect(&mut out, version, code);
    let _ = tx.send(Out::Raw(out)).await;
    let _ = tx.send(Out::Close).await;
    false
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Out>, version: Version) {
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    'outer: while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Out::Raw(bytes) => pending.extend_from_slice(&bytes),
                Out::Close => break 'outer,
                Out::Ack { pkid, mut ack } => {
                    let result = match ack.try_recv() {
                        Ok(r) => r.map_err(WriteError::from),
                        Err(oneshot::error::TryRecvError::Empty) => {
                            // Send what is ready before waiting for this commit.
                            if !pending.is_empty() && wr.write_all(&pending).await.is_err() {
                                return;
                            }
                            pending.clear();
                            crate::telemetry::settle(ack).await
                        }
                        Err(oneshot::error::TryRecvError::Closed) => Err(WriteError::ShuttingDown),
                    };
                    match result {
                        Ok(()) => {
                            packet::puback(&mut pending, version, pkid, reason::SUCCESS, None)
                        }
                        Err(e) if version == Version::V5 => {
                            let code = match e {
                                WriteError::Commit(CommitError::Storage(_)) => reason::UNSPECIFIED,
                                _ => reason::SERVER_BUSY,
                            };
                            packet::puback(&mut pending, version, pkid, code, Some(&e.to_string()));
                        }
                        // 3.1.1 cannot say "not stored": close, so the device resends.
                        Err(_) => break 'outer,
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        if !pending.is_empty() {
            if wr.write_all(&pending).await.is_err() {
                return;
            }
            pending.clear();
        }
    }
    if !pending.is_empty() {
        let _ = wr.write_all(&pending).await;
    }
    let _ = wr.shutdown().await;
}
