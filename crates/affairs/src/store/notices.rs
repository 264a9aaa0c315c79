//! SQL of notices, their recipients (read receipts) and groups.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub id: i64,
    pub village_id: i64,
    pub title: String,
    pub body: String,
    pub category: String,
    pub urgent: bool,
    pub group: Option<String>,
    pub expires_at: Option<i64>,
    pub photos: Vec<String>,
    pub audio: Option<String>,
    pub created_at: i64,
    pub read_count: i64,
    pub recipients: i64,
    /// Whether the caller has read it (false for those it was not sent to).
    pub read: bool,
}

pub struct NewNotice<'a> {
    pub village_id: i64,
    pub category: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub urgent: bool,
    pub group_id: Option<i64>,
    pub expires_at: Option<i64>,
    pub photos: &'a [String],
    pub audio: Option<&'a str>,
    pub created_by: i64,
}

pub fn insert(c: &Connection, n: &NewNotice<'_>, now: i64) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO affairs_notices (village_id, category, title, body, urgent, group_id, expires_at, photos, audio, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        params![
            n.village_id,
            n.category,
            n.title,
            n.body,
            n.urgent,
            n.group_id,
            n.expires_at,
            serde_json::to_string(n.photos).unwrap_or_else(|_| "[]".into()),
            n.audio,
            n.created_by,
            now
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

pub fn add_recipients(c: &Connection, notice_id: i64, users: &[i64]) -> cunlink_core::sql::Result<()> {
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO affairs_notice_recipients (notice_id, user_id) VALUES ($1, $2)",
    )?;
    for u in users {
        st.execute(params![notice_id, u])?;
    }
    Ok(())
}

const COLUMNS: &str = "n.id, n.village_id, n.title, n.body, n.category, n.urgent, g.name, n.expires_at, n.photos, n.audio, n.created_at,
    (SELECT count(*) FROM affairs_notice_recipients r WHERE r.notice_id = n.id AND r.read_at IS NOT NULL),
    (SELECT count(*) FROM affairs_notice_recipients r WHERE r.notice_id = n.id)";

fn from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Notice> {
    let photos: String = r.get(8)?;
    Ok(Notice {
        id: r.get(0)?,
        village_id: r.get(1)?,
        title: r.get(2)?,
        body: r.get(3)?,
        category: r.get(4)?,
        urgent: r.get(5)?,
        group: r.get(6)?,
        expires_at: r.get(7)?,
        photos: serde_json::from_str(&photos).unwrap_or_default(),
        audio: r.get(9)?,
        created_at: r.get(10)?,
        read_count: r.get(11)?,
        recipients: r.get(12)?,
        read: r.get(13)?,
    })
}

/// Notices of `village_id` (every village when None), newest first.
/// `for_user`: only those sent to this user (residents see what is theirs).
/// `now`: leave out expired ones; None keeps them (officials).
pub fn list(
    c: &Connection,
    caller: i64,
    village_id: Option<i64>,
    for_user: Option<i64>,
    now: Option<i64>,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<Notice>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS}, EXISTS (SELECT 1 FROM affairs_notice_recipients r WHERE r.notice_id = n.id AND r.user_id = $1 AND r.read_at IS NOT NULL)
           FROM affairs_notices n LEFT JOIN affairs_groups g ON g.id = n.group_id
          WHERE (CAST($2 AS BIGINT) IS NULL OR n.village_id = $2)
            AND (CAST($3 AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM affairs_notice_recipients r WHERE r.notice_id = n.id AND r.user_id = $3))
            AND (CAST($4 AS BIGINT) IS NULL OR n.expires_at IS NULL OR n.expires_at > $4)
          ORDER BY n.id DESC LIMIT $5"
    ))?;
    let rows = st.query_map(params![caller, village_id, for_user, now, limit], from_row)?;
    rows.collect()
}

pub fn get(c: &Connection, caller: i64, id: i64) -> cunlink_core::sql::Result<Option<Notice>> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS}, EXISTS (SELECT 1 FROM affairs_notice_recipients r WHERE r.notice_id = n.id AND r.user_id = $1 AND r.read_at IS NOT NULL)
               FROM affairs_notices n LEFT JOIN affairs_groups g ON g.id = n.group_id WHERE n.id = $2"
        ),
        params![caller, id],
        from_row,
    )
    .optional()
}

pub fn is_recipient(c: &Connection, notice_id: i64, user_id: i64) -> cunlink_core::sql::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM affairs_notice_recipients WHERE notice_id = $1 AND user_id = $2)",
        params![notice_id, user_id],
        |r| r.get(0),
    )
}

/// Mark read (the first read counts). Returns whether the user is a recipient.
pub fn mark_read(c: &Connection, notice_id: i64, user_id: i64, now: i64) -> cunlink_core::sql::Result<bool> {
    Ok(c.execute(
        "UPDATE affairs_notice_recipients SET read_at = coalesce(read_at, $1) WHERE notice_id = $2 AND user_id = $3",
        params![now, notice_id, user_id],
    )? == 1)
}

/// (user id, read at) of the first `limit` recipients by user id.
pub fn receipts(
    c: &Connection,
    notice_id: i64,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<(i64, Option<i64>)>> {
    let mut st = c.prepare_cached(
        "SELECT user_id, read_at FROM affairs_notice_recipients WHERE notice_id = $1
          ORDER BY user_id LIMIT $2",
    )?;
    let rows = st.query_map(params![notice_id, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// (recipients, of them read) of a notice, counted whatever the list's limit.
pub fn receipt_counts(c: &Connection, notice_id: i64) -> cunlink_core::sql::Result<(i64, i64)> {
    c.query_row(
        "SELECT count(*), count(read_at) FROM affairs_notice_recipients WHERE notice_id = $1",
        [notice_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Notices sent to the user and not read yet (the tab's count).
pub fn unread(c: &Connection, user_id: i64, now: i64) -> cunlink_core::sql::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM affairs_notice_recipients r JOIN affairs_notices n ON n.id = r.notice_id
          WHERE r.user_id = $1 AND r.read_at IS NULL AND (n.expires_at IS NULL OR n.expires_at > $2)",
        params![user_id, now],
        |r| r.get(0),
    )
}

pub fn set_audio(c: &Connection, notice_id: i64, hash: &str) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_notices SET audio = $1 WHERE id = $2",
        params![hash, notice_id],
    )?;
    Ok(())
}

pub fn add_photo(c: &Connection, notice_id: i64, hash: &str) -> cunlink_core::sql::Result<()> {
    // `photos` is a JSON array kept as text; append `hash` unless present.
    let sql = if c.is_postgres() {
        "UPDATE affairs_notices
            SET photos = CAST(CAST(photos AS JSONB) || jsonb_build_array(CAST($1 AS TEXT)) AS TEXT)
          WHERE id = $2 AND NOT CAST(photos AS JSONB) @> jsonb_build_array(CAST($1 AS TEXT))"
    } else {
        "UPDATE affairs_notices SET photos = json_insert(photos, '$[#]', $1)
          WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM json_each(photos) WHERE value = $1)"
    };
    c.execute(sql, params![hash, notice_id])?;
    Ok(())
}

// --- groups ---------------------------------------------------------------

pub fn group_id(c: &Connection, village_id: i64, name: &str) -> cunlink_core::sql::Result<Option<i64>> {
    c.query_row(
        "SELECT id FROM affairs_groups WHERE village_id = $1 AND name = $2",
        params![village_id, name],
        |r| r.get(0),
    )
    .optional()
}

/// Create the group if new and set its members to `users`.
pub fn put_group(
    c: &Connection,
    village_id: i64,
    name: &str,
    users: &[i64],
) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT OR IGNORE INTO affairs_groups (village_id, name) VALUES ($1, $2)",
        params![village_id, name],
    )?;
    let id = group_id(c, village_id, name)?.ok_or(cunlink_core::sql::Error::NoRows)?;
    c.execute(
        "DELETE FROM affairs_group_members WHERE group_id = $1",
        [id],
    )?;
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO affairs_group_members (group_id, user_id) VALUES ($1, $2)",
    )?;
    for u in users {
        st.execute(params![id, u])?;
    }
    Ok(id)
}

pub fn group_members(c: &Connection, group_id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st =
        c.prepare_cached("SELECT user_id FROM affairs_group_members WHERE group_id = $1")?;
    let rows = st.query_map([group_id], |r| r.get(0))?;
    rows.collect()
}

/// (name, member count) of the village's groups.
pub fn groups(c: &Connection, village_id: i64) -> cunlink_core::sql::Result<Vec<(String, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT g.name, (SELECT count(*) FROM affairs_group_members m WHERE m.group_id = g.id)
           FROM affairs_groups g WHERE g.village_id = $1 ORDER BY g.name LIMIT 200",
    )?;
    let rows = st.query_map([village_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
