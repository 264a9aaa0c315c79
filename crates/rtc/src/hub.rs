//! The signaling hub: rooms of members who relay each other SDP offers and
//! answers, ICE candidates, hang-ups and "audio-only" requests.
//!
//! The hub knows nothing of WebSockets ([`crate::ws`] is the glue) or of who may
//! enter a room (the domain decides that before it issues a room token). A member
//! is a bounded queue of outgoing text; a browser's queue is drained by its
//! socket task, and a server-side peer (the classroom SFU) can join with
//! [`Hub::join`] the same way and read its queue directly.
//!
//! Bounds, so that no client can make the server grow: rooms in all, members per
//! room, bytes per message, messages waiting per member. A member whose queue
//! is full (a client that stopped reading) is dropped from the room; its socket
//! task sees its queue closed and closes the connection.
//!
//! Wire format (JSON text): a client sends `{"type", "to"?, "data"?}` with type
//! one of [`RELAYED`]; the others receive `{"type", "from", "data"}` (only the
//! member `to` when given). The hub itself sends `welcome` (your peer id and the
//! members already there), `join` and `leave`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::metrics::HubMetrics;

/// Message types a member may send to others. Anything else is refused, so the
/// hub cannot be used as a general-purpose relay.
pub const RELAYED: &[&str] = &[
    "offer",
    "answer",
    "candidate",
    "hangup",
    "audio-only",
    "media",
];

/// The hub's bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rooms open at once.
    pub max_rooms: usize,
    /// Members in one room (2 for a consult; an SFU room counts the SFU too).
    pub max_members: usize,
    /// Bytes of one message (an SDP with simulcast is a few KiB).
    pub max_message_bytes: usize,
    /// Messages waiting for one member before it is dropped as too slow.
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rooms: 10_000,
            max_members: 2,
            max_message_bytes: 64 * 1024,
            queue: 64,
        }
    }
}

/// Why a member could not join.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoinError {
    #[error("the call already has all its members")]
    Full,
    #[error("too many calls are open on this server; try again later")]
    Busy,
}

/// Why a message was not relayed. The member stays in the room.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelayError {
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("message is not a JSON object with a known type")]
    Invalid,
}

/// An outgoing message, shared by all its recipients.
pub type Text = Arc<str>;

struct Member {
    peer: u64,
    user: i64,
    tx: mpsc::Sender<Text>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Vec<Member>>,
    next_peer: u64,
}

/// The rooms and their members.
pub struct Hub {
    state: Mutex<State>,
    limits: Limits,
    metrics: HubMetrics,
}

/// A member's place in a room; leaving the room is dropping it.
pub struct Membership {
    hub: Arc<Hub>,
    room: String,
    peer: u64,
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    to: Option<u64>,
    data: Option<serde_json::Value>,
}

impl Hub {
    pub fn new(limits: Limits) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            limits,
            metrics: HubMetrics::default(),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn metrics(&self) -> &HubMetrics {
        &self.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data; carry on with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put `user` into `room`. The returned queue first holds `welcome`; the
    /// members already there get `join`. The same user joining again (a page
    /// reload, a second tab) replaces their earlier connection.
    pub fn join(
        self: &Arc<Self>,
        room: &str,
        user: i64,
    ) -> Result<(Membership, mpsc::Receiver<Text>), JoinError> {
        let (tx, rx) = mpsc::channel(self.limits.queue);
        let mut guard = self.lock();
        let st = &mut *guard;
        if !st.rooms.contains_key(room) {
            if st.rooms.len() >= self.limits.max_rooms {
                self.metrics.rejected.inc();
                return Err(JoinError::Busy);
            }
            st.rooms.insert(room.to_string(), Vec::new());
        }
        let members = st
            .rooms
            .get_mut(room)
            .unwrap_or_else(|| unreachable!("the room was made above"));
        let mut gone = Vec::new();
        members.retain(|m| {
            let same = m.user == user;
            if same {
                gone.push(m.peer);
            }
            !same
        });
        for old in &gone {
            self.metrics.members.dec();
            broadcast(
                &self.metrics,
                members,
                None,
                &text(json!({"type": "leave", "peer": old})),
            );
        }
        if members.len() >= self.limits.max_members {
            self.metrics.rejected.inc();
            return Err(JoinError::Full);
        }
        let peer = st.next_peer;
        st.next_peer += 1;
        let peers: Vec<_> = members
            .iter()
            .map(|m| json!({"peer": m.peer, "user": m.user}))
            .collect();
        // The new queue is empty; the welcome always fits.
        let _ = tx.try_send(text(
            json!({"type": "welcome", "peer": peer, "peers": peers}),
        ));
        broadcast(
            &self.metrics,
            members,
            None,
            &text(json!({"type": "join", "peer": peer, "user": user})),
        );
        members.push(Member { peer, user, tx });
        self.metrics.members.inc();
        self.metrics.rooms.set(st.rooms.len() as u64);
        drop(guard);
        Ok((
            Membership {
                hub: self.clone(),
                room: room.to_string(),
                peer,
            },
            rx,
        ))
    }

    /// Members of `room` as (peer, user), for pages and tests.
    pub fn members(&self, room: &str) -> Vec<(u64, i64)> {
        self.lock()
            .rooms
            .get(room)
            .map(|m| m.iter().map(|m| (m.peer, m.user)).collect())
            .unwrap_or_default()
    }

    /// Close `room`: every member's queue is dropped, so their sockets close
    /// (a consult that was closed or cancelled).
    pub fn close_room(&self, room: &str) {
        let mut st = self.lock();
        if let Some(members) = st.rooms.remove(room) {
            for _ in &members {
                self.metrics.members.dec();
            }
        }
        self.metrics.rooms.set(st.rooms.len() as u64);
    }

    fn leave(&self, room: &str, peer: u64) {
        let mut st = self.lock();
        let Some(members) = st.rooms.get_mut(room) else {
            return;
        };
        let before = members.len();
        members.retain(|m| m.peer != peer);
        if members.len() == before {
            // Already dropped (too slow) or replaced.
            return;
        }
        self.metrics.members.dec();
        if members.is_empty() {
            st.rooms.remove(room);
        } else {
            broadcast(
                &self.metrics,
                members,
                None,
                &text(json!({"type": "leave", "peer": peer})),
            );
        }
        self.metrics.rooms.set(st.rooms.len() as u64);
    }
}

impl Membership {
    pub fn peer(&self) -> u64 {
        self.peer
    }

    pub fn room(&self) -> &str {
        &self.room
    }

    /// Relay a message `raw` from this member to the others (or to `to`).
    pub fn relay(&self, raw: &str) -> Result<(), RelayError> {
        let limit = self.hub.limits.max_message_bytes;
        if raw.len() > limit {
            return Err(RelayError::TooLarge(limit));
        }
        let msg: Incoming = serde_json::from_str(raw).map_err(|_| RelayError::Invalid)?;
        let Some(kind) = RELAYED.iter().find(|k| **k == msg.kind) else {
            return Err(RelayError::Invalid);
        };
        let out = text(json!({"type": kind, "from": self.peer, "data": msg.data}));
        let mut st = self.hub.lock();
        let Some(members) = st.rooms.get_mut(&self.room) else {
            return Ok(());
        };
        self.hub.metrics.messages.inc();
        let dropped = broadcast(&self.hub.metrics, members, Some((self.peer, msg.to)), &out);
        if dropped > 0 {
            if members.is_empty() {
                st.rooms.remove(&self.room);
            }
            self.hub.metrics.rooms.set(st.rooms.len() as u64);
        }
        Ok(())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.room, self.peer);
    }
}

fn text(v: serde_json::Value) -> Text {
    Arc::from(v.to_string())
}

/// Queue `msg` for the members (all, or all but `from.0`, and only `from.1` when
/// set). Members whose queue is full or closed are removed (and the others told);
/// returns how many were removed.
fn broadcast(
    metrics: &HubMetrics,
    members: &mut Vec<Member>,
    from: Option<(u64, Option<u64>)>,
    msg: &Text,
) -> usize {
    let mut dropped = Vec::new();
    for m in members.iter() {
        if let Some((sender, to)) = from
            && (m.peer == sender || to.is_some_and(|to| to != m.peer))
        {
            continue;
        }
        if m.tx.try_send(msg.clone()).is_err() {
            dropped.push(m.peer);
        }
    }
    if dropped.is_empty() {
        return 0;
    }
    members.retain(|m| !dropped.contains(&m.peer));
    for peer in &dropped {
        metrics.members.dec();
        metrics.dropped.inc();
        tracing::info!(peer, "signaling: dropped a member that stopped reading");
        let leave = text(json!({"type": "leave", "peer": peer}));
        for m in members.iter() {
            // Best effort: a member too slow for this one goes at its next message.
            let _ = m.tx.try_send(leave.clone());
        }
    }
    dropped.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_rooms: 2,
            max_members: 2,
            max_message_bytes: 1024,
            queue: 4,
        }
    }

    fn next(rx: &mut mpsc::Receiver<Text>) -> serde_json::Value {
        serde_json::from_str(&rx.try_recv().expect("a message")).unwrap()
    }

    #[test]
    fn members_meet_and_relay() {
        let hub = Hub::new(limits());
        let (a, mut ra) = hub.join("r", 1).unwrap();
        assert_eq!(next(&mut ra)["type"], "welcome");
        let (b, mut rb) = hub.join("r", 2).unwrap();
        let w = next(&mut rb);
        assert_eq!(w["peers"][0]["user"], 1);
        assert_eq!(next(&mut ra)["type"], "join");
        b.relay(r#"{"type":"offer","data":{"sdp":"v=0"}}"#).unwrap();
        let o = next(&mut ra);
        assert_eq!(
            (o["type"].as_str(), o["from"].as_u64()),
            (Some("offer"), Some(b.peer()))
        );
        assert!(rb.try_recv().is_err(), "no echo to the sender");
        assert_eq!(
            a.relay(r#"{"type":"shell","data":1}"#),
            Err(RelayError::Invalid)
        );
        assert_eq!(a.relay(&"x".repeat(2000)), Err(RelayError::TooLarge(1024)));
        assert_eq!(hub.metrics().messages.get(), 1);
    }

    #[test]
    fn a_full_room_and_a_full_hub_refuse() {
        let hub = Hub::new(limits());
        let _a = hub.join("r", 1).unwrap();
        let _b = hub.join("r", 2).unwrap();
        assert_eq!(hub.join("r", 3).err(), Some(JoinError::Full));
        let _c = hub.join("s", 3).unwrap();
        assert_eq!(hub.join("t", 4).err(), Some(JoinError::Busy));
        assert_eq!(hub.metrics().rooms.get(), 2);
        assert_eq!(hub.metrics().members.get(), 3);
    }

    #[test]
    fn rejoining_replaces_and_leaving_empties() {
        let hub = Hub::new(limits());
        let (a1, mut ra1) = hub.join("r", 1).unwrap();
        let (_b, mut rb) = hub.join("r", 2).unwrap();
        let _ = next(&mut rb);
        let (_a2, _ra2) = hub.join("r", 1).unwrap();
        let _ = next(&mut ra1); // welcome
        let _ = next(&mut ra1); // join of b
        assert!(matches!(
            ra1.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(next(&mut rb)["type"], "leave");
        assert_eq!(next(&mut rb)["type"], "join");
        drop(a1); // the replaced membership leaving changes nothing
        assert_eq!(hub.members("r").len(), 2);
        drop(_b);
        drop(_a2);
        assert_eq!(hub.metrics().rooms.get(), 0);
        assert_eq!(hub.metrics().members.get(), 0);
    }

    #[test]
    fn a_member_that_stops_reading_is_dropped() {
        let hub = Hub::new(limits());
        let (_a, _ra) = hub.join("r", 1).unwrap(); // never read
        let (b, _rb) = hub.join("r", 2).unwrap();
        for _ in 0..10 {
            b.relay(r#"{"type":"candidate","data":{}}"#).unwrap();
        }
        assert_eq!(hub.members("r"), vec![(b.peer(), 2)]);
        assert_eq!(hub.metrics().dropped.get(), 1);
    }
}
