//! Real-time calls for cunlink, with no domain in it: the clinic's one-to-one
//! video consult (signaling hub, media peer to peer) and the school's live
//! class ([`sfu`]: media through cunlink).
//!
//! * [`turn`]: the ICE-servers list with coturn REST credentials
//!   (`use-auth-secret`).
//! * [`token`]: short-lived, single-use room tokens bound to one room and one user.
//! * [`hub`]: rooms and the relay of signaling messages, with every queue bounded.
//! * [`ws`]: the WebSocket glue a domain's endpoint hands a socket to.
//! * [`metrics`]: the hub's figures for `/metrics`.
//! * [`sfu`]: the selective forwarding unit (str0m, one UDP socket, one thread).
//! * [`Calls`]: the three together, the one value a domain keeps.
//!
//! The browser side is `call.js`, embedded by `cunlink-web` (it joins, sets
//! `#call[data-state]`, runs the low-bitrate profile and its adaptation); its
//! protocol is the one in [`hub`].
//!
//! How a domain wires a call (see `cunlink-clinic`'s `call.rs`): a page or API
//! call checks that the user belongs in the room and answers
//! [`Calls::issue`]'s token together with [`Calls::ice_servers`]; the WebSocket
//! endpoint checks the session again, [`Calls::redeem`]s the token for the room
//! named by its URL and calls [`ws::serve`].

pub mod hub;
pub mod metrics;
pub mod sfu;
pub mod token;
pub mod turn;
pub mod ws;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use hub::{Hub, JoinError, Limits};
pub use token::{RoomKeys, TokenError};
pub use turn::{IceServers, TurnConfig};

/// A domain's call machinery: its hub, its room keys and the TURN settings.
pub struct Calls {
    pub hub: Arc<Hub>,
    pub keys: RoomKeys,
    pub turn: TurnConfig,
}

impl Calls {
    pub fn new(turn: TurnConfig, limits: Limits) -> Calls {
        Calls {
            hub: Hub::new(limits),
            keys: RoomKeys::new(),
            turn,
        }
    }

    /// A room token for `user` in `room`, valid for [`token::TOKEN_TTL_S`].
    pub fn issue(&self, room: &str, user: i64) -> String {
        self.keys.issue(room, user, now_s())
    }

    /// Redeem `token` for `room` and `user` (once).
    pub fn redeem(&self, token: &str, room: &str, user: i64) -> Result<(), TokenError> {
        let r = self.keys.redeem(token, room, user, now_s());
        if r.is_err() {
            self.hub.metrics().rejected.inc();
        }
        r
    }

    /// The ICE servers for `user` now.
    pub fn ice_servers(&self, user: i64) -> IceServers {
        turn::ice_servers(&self.turn, user, now_s())
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
