//! ICE servers for a browser, with TURN REST credentials in the form coturn's
//! `use-auth-secret` checks: username `EXPIRY:ID` (EXPIRY in Unix seconds) and
//! credential `base64(HMAC-SHA1(secret, username))`. cunlink and coturn share
//! only the secret; nothing is stored per user and a leaked credential dies by
//! itself at EXPIRY.
//!
//! Without a TURN secret the list has no TURN entry: browsers then gather host
//! (and, if a `stun:` URL is configured, server-reflexive) candidates only,
//! which is enough when both ends are on the village node's own network but not
//! across NATs. `stun:` URLs are passed on without credentials; `turn:`/`turns:`
//! URLs are left out when there is no secret, since a TURN server without
//! credentials would only fail the allocation.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;

/// Seconds a TURN credential stays valid. coturn checks the expiry when an
/// allocation is made or refreshed, so it must outlast a long consultation;
/// a working day keeps a leaked credential's use short.
pub const CREDENTIAL_TTL_S: u64 = 8 * 3600;

/// The TURN settings from the configuration (`turn_secret`, `turn_urls`).
#[derive(Debug, Clone, Default)]
pub struct TurnConfig {
    /// coturn's `static-auth-secret`.
    pub secret: Option<String>,
    /// `turn:host:3478?transport=udp`, `turns:host:443?transport=tcp`, `stun:host:3478`, …
    pub urls: Vec<String>,
}

impl TurnConfig {
    pub fn new(secret: Option<String>, urls: Vec<String>) -> TurnConfig {
        let secret = secret.filter(|s| !s.is_empty());
        let urls = urls
            .into_iter()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        TurnConfig { secret, urls }
    }

    /// Whether a relay can be offered (a secret and at least one TURN URL).
    pub fn has_relay(&self) -> bool {
        self.secret.is_some() && self.urls.iter().any(|u| is_turn(u))
    }
}

fn is_turn(url: &str) -> bool {
    url.starts_with("turn:") || url.starts_with("turns:")
}

/// The body of `GET …/ice-servers`, exactly the shape of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IceServers {
    #[serde(rename = "iceServers")]
    pub ice_servers: Vec<IceServer>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The ICE servers for user `id` at `now_s` (Unix seconds).
pub fn ice_servers(cfg: &TurnConfig, id: i64, now_s: u64) -> IceServers {
    let mut out = Vec::new();
    let stun: Vec<String> = cfg
        .urls
        .iter()
        .filter(|u| u.starts_with("stun:") || u.starts_with("stuns:"))
        .cloned()
        .collect();
    if !stun.is_empty() {
        out.push(IceServer {
            urls: stun,
            username: None,
            credential: None,
        });
    }
    if let Some(secret) = &cfg.secret {
        let turn: Vec<String> = cfg.urls.iter().filter(|u| is_turn(u)).cloned().collect();
        if !turn.is_empty() {
            let username = format!("{}:{id}", now_s.saturating_add(CREDENTIAL_TTL_S));
            let credential = credential(secret, &username);
            out.push(IceServer {
                urls: turn,
                username: Some(username),
                credential: Some(credential),
            });
        }
    }
    IceServers { ice_servers: out }
}

/// `base64(HMAC-SHA1(secret, username))`, standard alphabet with padding (coturn's form).
pub fn credential(secret: &str, username: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2202_hmac_sha1_vector() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            credential("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
    }

    #[test]
    fn no_secret_means_no_turn_entry() {
        let cfg = TurnConfig::new(
            None,
            vec!["turn:t.example:3478".into(), "stun:s.example:3478".into()],
        );
        let s = ice_servers(&cfg, 7, 1000);
        assert_eq!(s.ice_servers.len(), 1);
        assert_eq!(s.ice_servers[0].urls, vec!["stun:s.example:3478"]);
        assert!(s.ice_servers[0].username.is_none());
        assert!(!cfg.has_relay());
    }

    #[test]
    fn turn_entry_has_expiring_username() {
        let cfg = TurnConfig::new(Some("s3cret".into()), vec!["turn:t.example:3478".into()]);
        let s = ice_servers(&cfg, 42, 1000);
        let t = &s.ice_servers[0];
        let user = t.username.as_deref().unwrap();
        assert_eq!(user, format!("{}:42", 1000 + CREDENTIAL_TTL_S));
        assert_eq!(t.credential.as_deref().unwrap(), credential("s3cret", user));
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["iceServers"][0]["urls"].is_array());
    }
}
