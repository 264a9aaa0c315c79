//! Integration tokens: how a network server (ChirpStack's HTTP integration)
//! proves it may write readings. It sends `Authorization: Bearer TOKEN`; only the
//! SHA-256 of a token is stored (as for users' API tokens), so a copy of the
//! database does not hand out working tokens.

use std::collections::HashMap;
use std::sync::Mutex;

use cunlink_core::sql::{Connection, params};

use crate::FarmStoreError;
use crate::model::MAX_NAME_CHARS;
use cunlink_core::Db;
use cunlink_core::auth::secret_hash;
use cunlink_core::time::now_ms;

/// How long a checked token is trusted without asking the database again.
const CACHE_MS: i64 = 30_000;
/// Most tokens remembered; the cache is dropped whole when it is full.
const CACHE_MAX: usize = 1_024;
/// Longest token looked at: longer ones are refused without hashing.
const MAX_TOKEN_LEN: usize = 256;

/// Create integration `name` and return its token, shown this once.
pub fn create(conn: &Connection, name: &str) -> Result<String, FarmStoreError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(FarmStoreError::BadName);
    }
    let token = cunlink_core::random::token(32);
    let n = conn.execute(
        "INSERT OR IGNORE INTO farm_integrations (name, token_hash, created_at) VALUES ($1, $2, $3)",
        params![name, secret_hash(&token), now_ms()],
    )?;
    if n == 0 {
        return Err(FarmStoreError::IntegrationExists(name.to_string()));
    }
    Ok(token)
}

/// Whether `token` belongs to an integration that is not revoked.
pub fn is_valid(conn: &Connection, token: &str) -> Result<bool, FarmStoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM farm_integrations WHERE token_hash = $1 AND revoked_at IS NULL)",
        [secret_hash(token)],
        |r| r.get(0),
    )?)
}

/// Checks integration tokens, remembering good ones for a while so a busy
/// network server does not cost a database round trip per uplink.
pub struct Integrations {
    db: Db,
    /// Token hash → when it stops being trusted without a new check.
    good: Mutex<HashMap<String, i64>>,
}

impl Integrations {
    pub fn new(db: Db) -> Integrations {
        Integrations {
            db,
            good: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the `Authorization` header value `header` carries a valid token.
    pub async fn authorize(&self, header: Option<&str>) -> Result<bool, FarmStoreError> {
        let Some(token) = header.and_then(bearer) else {
            return Ok(false);
        };
        let hash = secret_hash(token);
        let now = now_ms();
        if self
            .good
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .is_some_and(|until| *until > now)
        {
            return Ok(true);
        }
        let t = token.to_string();
        let ok = self.db.call(move |c| is_valid(c, &t)).await?;
        if ok {
            let mut good = self.good.lock().unwrap_or_else(|p| p.into_inner());
            if good.len() >= CACHE_MAX {
                good.clear();
            }
            good.insert(hash, now + CACHE_MS);
        }
        Ok(ok)
    }
}

/// The token of a `Bearer TOKEN` header value (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN)
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
        assert_eq!(bearer(&format!("Bearer {}", "x".repeat(300))), None);
    }

    #[test]
    fn tokens_are_stored_hashed_and_checked() {
        let mut conn = Connection::open_in_memory().unwrap();
        cunlink_core::db::migrate(&mut conn, "farm", crate::store::MIGRATIONS).unwrap();
        let token = create(&conn, "chirpstack").unwrap();
        assert!(is_valid(&conn, &token).unwrap());
        assert!(!is_valid(&conn, "not-the-token").unwrap());
        let stored: String = conn
            .query_row("SELECT token_hash FROM farm_integrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, secret_hash(&token));
        assert!(matches!(
            create(&conn, " chirpstack "),
            Err(FarmStoreError::IntegrationExists(_))
        ));
        assert!(matches!(create(&conn, ""), Err(FarmStoreError::BadName)));
    }
}
