//! The WebSocket glue between a browser and the [`Hub`]: one task per
//! connection reads the client's messages into [`Membership::relay`] and writes
//! the member's queue out.
//!
//! A domain's endpoint checks the session and redeems the room token, then calls
//! [`serve`]. The socket closes when the member is dropped from the room (too
//! slow, replaced by the same user's new connection, room closed), when the
//! client sends nothing for [`IDLE`] (browsers answer our pings, so a live
//! page never idles out), or when it floods.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, interval};

use crate::hub::{Hub, JoinError, Membership, Text};

/// Bytes read from a socket at a time.
const READ_BUFFER: usize = 4096;
/// A ping this often keeps NAT and proxy mappings open on rural links.
const PING: Duration = Duration::from_secs(20);
/// Nothing heard for this long (not even a pong): the client is gone.
const IDLE: Duration = Duration::from_secs(60);
/// A write that takes longer than this means the client stopped reading.
const WRITE: Duration = Duration::from_secs(10);
/// Messages a client may send in a burst, and per second after it (ICE
/// candidates come in bursts of a few dozen).
const BURST: f64 = 200.0;
const PER_SECOND: f64 = 50.0;

/// Join `room` as `user` and hand the socket to a task; `Err` when the room
/// refuses (answer it as 409/503 before upgrading).
pub fn serve(
    hub: &Arc<Hub>,
    room: &str,
    user: i64,
    upgrade: WebSocketUpgrade,
) -> Result<Response, JoinError> {
    let (member, rx) = hub.join(room, user)?;
    let max = hub.limits().max_message_bytes;
    // tungstenite's defaults reserve 128 KiB per socket for reading; signaling
    // messages are a few KiB and a village node holds many idle rooms, so read
    // in small chunks (a large message still arrives, in more reads) and write
    // each message out at once instead of buffering.
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run(socket, member, rx))
        .into_response())
}

async fn run(mut socket: WebSocket, member: Membership, mut rx: tokio::sync::mpsc::Receiver<Text>) {
    let mut ping = interval(PING);
    ping.reset();
    let mut heard = Instant::now();
    let mut tokens = BURST;
    let mut refilled = Instant::now();
    let reason = loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => {
                    let send = socket.send(Message::Text(text.as_ref().into()));
                    match tokio::time::timeout(WRITE, send).await {
                        Ok(Ok(())) => {}
                        _ => break None,
                    }
                }
                // Dropped from the room: tell the client why, then close.
                None => break Some("left the room"),
            },
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { break None };
                heard = Instant::now();
                match msg {
                    Message::Text(t) => {
                        let now = Instant::now();
                        tokens = (tokens + now.duration_since(refilled).as_secs_f64() * PER_SECOND).min(BURST);
                        refilled = now;
                        if tokens < 1.0 {
                            break Some("too many messages");
                        }
                        tokens -= 1.0;
                        if let Err(e) = member.relay(t.as_str()) {
                            let err = serde_json::json!({"type": "error", "message": e.to_string()});
                            if socket.send(Message::Text(err.to_string().into())).await.is_err() {
                                break None;
                            }
                        }
                    }
                    Message::Binary(_) => break Some("binary messages are not used"),
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > IDLE {
                    break Some("idle");
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break None;
                }
            }
        }
    };
    // Leave the room before the close handshake, so the others hear `leave` at once.
    drop(member);
    if let Some(reason) = reason {
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: 1000,
                reason: reason.into(),
            })))
            .await;
    }
}
