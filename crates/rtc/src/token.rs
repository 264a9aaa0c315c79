//! Room tokens: short-lived, single-use permissions for one user to enter one
//! room, signed with a secret only this process knows.
//!
//! A domain issues a token after checking that the signed-in user belongs in the
//! room (the two doctors of a consult, say); the WebSocket endpoint verifies it
//! against the room in its URL and the user of the session, so a token copied
//! into another room, by another user, after [`TOKEN_TTL_S`], or a second time,
//! is refused. The token itself names neither room nor user: it is
//! `EXPIRY.NONCE.MAC`, MAC = HMAC-SHA256(secret, room, user, expiry, nonce). The
//! secret is random per process: tokens live a minute, so a restart costs at
//! most a reload of the call page.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Seconds a room token may wait before it is used.
pub const TOKEN_TTL_S: u64 = 60;

/// Most tokens remembered as used at once; beyond it new tokens are refused
/// until old ones expire (a client minting tokens in a loop cannot grow memory).
const MAX_REMEMBERED: usize = 200_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the room token is malformed")]
    Malformed,
    #[error("the room token has expired")]
    Expired,
    #[error("the room token is not valid for this room and user")]
    BadSignature,
    #[error("the room token was already used")]
    Reused,
    #[error("too many room tokens in flight; try again in a minute")]
    Busy,
}

/// Signs and checks room tokens.
pub struct RoomKeys {
    secret: [u8; 32],
    /// Used nonces with their expiry, so each token enters once.
    used: Mutex<HashMap<[u8; 16], u64>>,
}

impl Default for RoomKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl RoomKeys {
    /// Keys with a fresh random secret.
    pub fn new() -> RoomKeys {
        let mut secret = [0u8; 32];
        cunlink_core::random::fill(&mut secret);
        RoomKeys {
            secret,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// A token letting `user` into `room` until `now_s + TOKEN_TTL_S`.
    pub fn issue(&self, room: &str, user: i64, now_s: u64) -> String {
        let expiry = now_s.saturating_add(TOKEN_TTL_S);
        let mut nonce = [0u8; 16];
        cunlink_core::random::fill(&mut nonce);
        let mac = self.mac(room, user, expiry, &nonce);
        format!(
            "{expiry}.{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// Check `token` for `room` and `user` at `now_s` and mark it used.
    pub fn redeem(&self, token: &str, room: &str, user: i64, now_s: u64) -> Result<(), TokenError> {
        let mut parts = token.splitn(3, '.');
        let (Some(e), Some(n), Some(m)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let expiry: u64 = e.parse().map_err(|_| TokenError::Malformed)?;
        let nonce: [u8; 16] = URL_SAFE_NO_PAD
            .decode(n)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(m)
            .map_err(|_| TokenError::Malformed)?;
        let mut check = self.hmac();
        feed(&mut check, room, user, expiry, &nonce);
        // Constant-time comparison.
        check
            .verify_slice(&mac)
            .map_err(|_| TokenError::BadSignature)?;
        if expiry < now_s {
            return Err(TokenError::Expired);
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, exp| *exp >= now_s);
            if used.len() >= MAX_REMEMBERED {
                return Err(TokenError::Busy);
            }
        }
        if used.insert(nonce, expiry).is_some() {
            return Err(TokenError::Reused);
        }
        // Forget expired nonces now and then; they can no longer pass the expiry check.
        if used.len().is_multiple_of(1024) {
            used.retain(|_, exp| *exp >= now_s);
        }
        Ok(())
    }

    fn hmac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    fn mac(&self, room: &str, user: i64, expiry: u64, nonce: &[u8; 16]) -> Vec<u8> {
        let mut m = self.hmac();
        feed(&mut m, room, user, expiry, nonce);
        m.finalize().into_bytes().to_vec()
    }
}

/// The signed fields, each length-prefixed so no two (room, user) pairs can
/// produce the same input.
fn feed(m: &mut Hmac<Sha256>, room: &str, user: i64, expiry: u64, nonce: &[u8; 16]) {
    m.update(b"cunlink-room-v1");
    m.update(&(room.len() as u64).to_be_bytes());
    m.update(room.as_bytes());
    m.update(&user.to_be_bytes());
    m.update(&expiry.to_be_bytes());
    m.update(nonce);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_enters_its_room_once() {
        let k = RoomKeys::new();
        let t = k.issue("consult:1", 5, 100);
        assert_eq!(k.redeem(&t, "consult:1", 5, 120), Ok(()));
        assert_eq!(k.redeem(&t, "consult:1", 5, 121), Err(TokenError::Reused));
    }

    #[test]
    fn another_room_user_or_time_is_refused() {
        let k = RoomKeys::new();
        let t = k.issue("consult:1", 5, 100);
        assert_eq!(
            k.redeem(&t, "consult:2", 5, 100),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            k.redeem(&t, "consult:1", 6, 100),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            k.redeem(&t, "consult:1", 5, 100 + TOKEN_TTL_S + 1),
            Err(TokenError::Expired)
        );
        // Another process's token (another secret) is refused.
        let other = RoomKeys::new().issue("consult:1", 5, 100);
        assert_eq!(
            k.redeem(&other, "consult:1", 5, 100),
            Err(TokenError::BadSignature)
        );
        // A forged expiry breaks the signature.
        let forged = format!("9{t}");
        assert_eq!(
            k.redeem(&forged, "consult:1", 5, 100),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            k.redeem("x", "consult:1", 5, 100),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            k.redeem("1.2.3", "consult:1", 5, 100),
            Err(TokenError::Malformed)
        );
    }
}
