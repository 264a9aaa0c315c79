//! SQL of the in-app feed (`alert_feed`): one row per user per notice that
//! another domain sent through the `NotifyUsers` port (see `users.rs`).

use cunlink_core::sql::{Connection, params};
use serde::Serialize;

/// Most entries one request lists.
pub const MAX_LIMIT: usize = 200;
/// Entries listed when the request names no limit.
pub const DEFAULT_LIMIT: usize = 50;

/// One entry of a user's feed, as `GET /api/me/notifications/feed` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FeedEntry {
    pub id: i64,
    pub source: String,
    pub title: String,
    pub body: String,
    pub url: String,
    pub urgent: bool,
    pub created_at: i64,
    pub read: bool,
}

/// The fields of a new entry.
pub struct NewEntry<'a> {
    pub user_id: i64,
    pub source: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub url: &'a str,
    pub urgent: bool,
}

pub fn insert(conn: &Connection, e: &NewEntry<'_>, now: i64) -> cunlink_core::sql::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO alert_feed (user_id, source, title, body, url, urgent, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )?
    .execute(params![
        e.user_id, e.source, e.title, e.body, e.url, e.urgent, now
    ])?;
    Ok(conn.last_insert_rowid()?)
}

/// The user's newest `limit` entries, newest first.
pub fn list(
    conn: &Connection,
    user_id: i64,
    limit: usize,
) -> cunlink_core::sql::Result<Vec<FeedEntry>> {
    let mut st = conn.prepare_cached(
        "SELECT id, source, title, body, url, urgent, created_at, read_at IS NOT NULL
           FROM alert_feed WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
    )?;
    let rows = st.query_map(params![user_id, limit.min(MAX_LIMIT) as i64], |r| {
        Ok(FeedEntry {
            id: r.get(0)?,
            source: r.get(1)?,
            title: r.get(2)?,
            body: r.get(3)?,
            url: r.get(4)?,
            urgent: r.get(5)?,
            created_at: r.get(6)?,
            read: r.get(7)?,
        })
    })?;
    rows.collect()
}

/// How many of the user's entries are unread.
pub fn unread(conn: &Connection, user_id: i64) -> cunlink_core::sql::Result<i64> {
    conn.prepare_cached("SELECT count(*) FROM alert_feed WHERE user_id = $1 AND read_at IS NULL")?
        .query_row([user_id], |r| r.get(0))
}

/// Mark one of the user's entries read (the first time only). Returns whether
/// the entry is the user's.
pub fn mark_read(
    conn: &Connection,
    id: i64,
    user_id: i64,
    now: i64,
) -> cunlink_core::sql::Result<bool> {
    let n = conn.execute(
        "UPDATE alert_feed SET read_at = coalesce(read_at, $1) WHERE id = $2 AND user_id = $3",
        params![now, id, user_id],
    )?;
    Ok(n == 1)
}
