//! `Idempotency-Key`: the first successful answer to a (user, key) is stored in
//! the same transaction as the work it reports, so a retry after a lost answer
//! replays it (`Idempotent-Replayed: true`) instead of doing the work twice.
//! A key reused for a different request (route or body) is a 422. Refusals
//! (4xx) are not stored: bad input changes nothing, and a retry may succeed.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cunlink_core::sql::Connection;
use sha2::{Digest, Sha256};

use crate::error::MarketError;
use crate::input::Obj;

/// The header, validated: 1-255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, MarketError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(MarketError::invalid(
            "bad_idempotency_key",
            "Idempotency-Key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(Some(s.to_string()))
}

/// Fingerprint of a request: its route and its body as canonical JSON (keys
/// sorted), so whitespace or key order do not make a retry "different".
pub fn request_hash(route: &str, body: &Obj) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update([0]);
    h.update(serde_json::to_string(body).unwrap_or_default().as_bytes());
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    out
}

/// The stored answer for (user, key), or a mismatch error.
pub fn lookup(
    conn: &Connection,
    user_id: i64,
    key: &str,
    hash: &str,
) -> Result<Option<Answer>, MarketError> {
    match crate::store::idem::get(conn, user_id, key)? {
        None => Ok(None),
        Some((h, _, _)) if h != hash => Err(MarketError::IdempotencyMismatch(key.to_string())),
        Some((_, status, body)) => Ok(Some(Answer {
            status: status as u16,
            body,
            replayed: true,
        })),
    }
}

/// Before the work of a request with (user, key): the answer to replay if the
/// key was used already, else `None` and the key is this transaction's.
///
/// SQLite has one writer, so looking is enough (and [`store`] inserts). On
/// PostgreSQL writers on several nodes run at once: the key is claimed first
/// (a placeholder row, `INSERT … ON CONFLICT DO NOTHING`, which waits for a
/// concurrent claimant to finish) and read back when another request had it,
/// so a retry through another node replays the first answer and never does
/// the work twice.
pub fn claim(
    conn: &Connection,
    user_id: i64,
    key: &str,
    hash: &str,
) -> Result<Option<Answer>, MarketError> {
    if !conn.is_postgres() {
        return lookup(conn, user_id, key, hash);
    }
    if crate::store::idem::claim(conn, user_id, key, hash)? {
        return Ok(None);
    }
    match lookup(conn, user_id, key, hash)? {
        // Committed claims always carry their answer; a placeholder is seen
        // only if the claimant's transaction is ours, which cannot reach here.
        Some(a) if a.status != 0 => Ok(Some(a)),
        _ => Err(MarketError::Storage(format!(
            "idempotency key {key} is held by an unfinished request"
        ))),
    }
}

/// After the work: the answer for (user, key), in the same transaction as the
/// work and the [`claim`].
pub fn store(
    conn: &Connection,
    user_id: i64,
    key: &str,
    hash: &str,
    answer: &Answer,
) -> Result<(), MarketError> {
    if conn.is_postgres() {
        crate::store::idem::answer(conn, user_id, key, answer.status as i64, &answer.body)
    } else {
        crate::store::idem::insert(conn, user_id, key, hash, answer.status as i64, &answer.body)
    }
}

/// A JSON answer to a creating request, possibly replayed.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub replayed: bool,
}

impl Answer {
    pub fn created(v: &serde_json::Value) -> Answer {
        Answer {
            status: 201,
            body: v.to_string(),
            replayed: false,
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::CREATED);
        let mut resp = (status, self.body).into_response();
        let h = resp.headers_mut();
        h.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.replayed {
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        resp
    }
}

/// Run a creating request on the application database: replay if the key was
/// seen, else do `work` and store its answer, all in one transaction.
pub async fn create<F>(
    db: &cunlink_core::Db,
    user_id: i64,
    key: Option<String>,
    route: &'static str,
    body: Obj,
    work: F,
) -> Result<Answer, MarketError>
where
    F: FnOnce(&Connection, &Obj) -> Result<serde_json::Value, MarketError> + Send + 'static,
{
    db.call(move |c| {
        let tx = c.transaction_with_behavior(cunlink_core::sql::TransactionBehavior::Immediate)?;
        let hash = key.as_ref().map(|_| request_hash(route, &body));
        if let (Some(k), Some(h)) = (&key, &hash) {
            if let Some(a) = claim(&tx, user_id, k, h)? {
                return Ok(a);
            }
        }
        let v = work(&tx, &body)?;
        let answer = Answer::created(&v);
        if let (Some(k), Some(h)) = (&key, &hash) {
            store(&tx, user_id, k, h, &answer)?;
        }
        tx.commit()?;
        Ok(answer)
    })
    .await
}
