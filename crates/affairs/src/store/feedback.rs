//! SQL of residents' feedback.

use cunlink_core::sql::{Connection, OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct Feedback {
    pub id: i64,
    pub village_id: i64,
    pub reporter_id: i64,
    pub anonymous: bool,
    pub category: String,
    pub text: String,
    pub place: Option<String>,
    pub photo: Option<String>,
    pub status: String,
    pub assignee_id: Option<i64>,
    pub reply: Option<String>,
    pub rating: Option<i64>,
    pub created_at: i64,
    pub acked_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub escalated_ack_at: Option<i64>,
    pub escalated_resolve_at: Option<i64>,
}

pub struct NewFeedback<'a> {
    pub village_id: i64,
    pub reporter_id: i64,
    pub anonymous: bool,
    pub category: &'a str,
    pub text: &'a str,
    pub place: Option<&'a str>,
}

pub fn insert(c: &Connection, f: &NewFeedback<'_>, now: i64) -> cunlink_core::sql::Result<i64> {
    // In this installation's id range: feedback made on a village node keeps
    // its id on the hub (docs/node.md, "Ids").
    let id = cunlink_core::sync::next_id(c, "affairs_feedback")?;
    c.execute(
        "INSERT INTO affairs_feedback (id, village_id, reporter_id, anonymous, category, text, place, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        params![id, f.village_id, f.reporter_id, f.anonymous, f.category, f.text, f.place, now],
    )?;
    Ok(id)
}

const COLUMNS: &str = "id, village_id, reporter_id, anonymous, category, text, place, photo, status, assignee_id, reply, rating,
    created_at, acked_at, resolved_at, escalated_ack_at, escalated_resolve_at";

fn from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Feedback> {
    Ok(Feedback {
        id: r.get(0)?,
        village_id: r.get(1)?,
        reporter_id: r.get(2)?,
        anonymous: r.get(3)?,
        category: r.get(4)?,
        text: r.get(5)?,
        place: r.get(6)?,
        photo: r.get(7)?,
        status: r.get(8)?,
        assignee_id: r.get(9)?,
        reply: r.get(10)?,
        rating: r.get(11)?,
        created_at: r.get(12)?,
        acked_at: r.get(13)?,
        resolved_at: r.get(14)?,
        escalated_ack_at: r.get(15)?,
        escalated_resolve_at: r.get(16)?,
    })
}

pub fn get(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Feedback>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM affairs_feedback WHERE id = $1"),
        [id],
        from_row,
    )
    .optional()
}

/// Newest first. `village_id` None: every village; `reporter` limits to one
/// person's own.
pub fn list(
    c: &Connection,
    village_id: Option<i64>,
    reporter: Option<i64>,
    limit: i64,
) -> cunlink_core::sql::Result<Vec<Feedback>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM affairs_feedback WHERE (CAST($1 AS BIGINT) IS NULL OR village_id = $1)
            AND (CAST($2 AS BIGINT) IS NULL OR reporter_id = $2) ORDER BY id DESC LIMIT $3"
    ))?;
    let rows = st.query_map(params![village_id, reporter, limit], from_row)?;
    rows.collect()
}

pub fn ack(c: &Connection, id: i64, now: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_feedback SET status = 'acknowledged', acked_at = $1 WHERE id = $2 AND status = 'received'",
        params![now, id],
    )?;
    Ok(())
}

pub fn assign(c: &Connection, id: i64, user_id: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_feedback SET assignee_id = $1 WHERE id = $2",
        params![user_id, id],
    )?;
    Ok(())
}

pub fn resolve(c: &Connection, id: i64, reply: &str, now: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_feedback SET status = 'resolved', reply = $1, resolved_at = $2,
                acked_at = coalesce(acked_at, $2) WHERE id = $3",
        params![reply, now, id],
    )?;
    Ok(())
}

pub fn rate(c: &Connection, id: i64, rating: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_feedback SET rating = $1 WHERE id = $2",
        params![rating, id],
    )?;
    Ok(())
}

pub fn set_photo(c: &Connection, id: i64, hash: &str) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_feedback SET photo = $1 WHERE id = $2",
        params![hash, id],
    )?;
    Ok(())
}

/// Feedback not acknowledged since before `ack_before`, not yet escalated for it.
/// Only ids below `owned_below`: what this installation owns.
pub fn due_unacknowledged(
    c: &Connection,
    ack_before: i64,
    owned_below: i64,
) -> cunlink_core::sql::Result<Vec<Feedback>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM affairs_feedback WHERE status = 'received' AND created_at <= $1
            AND escalated_ack_at IS NULL AND id < $2 ORDER BY id LIMIT 500"
    ))?;
    let rows = st.query_map(params![ack_before, owned_below], from_row)?;
    rows.collect()
}

/// Feedback not resolved since before `resolve_before`, not yet escalated for it.
/// Only ids below `owned_below`: what this installation owns.
pub fn due_unresolved(
    c: &Connection,
    resolve_before: i64,
    owned_below: i64,
) -> cunlink_core::sql::Result<Vec<Feedback>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM affairs_feedback WHERE status <> 'resolved' AND created_at <= $1
            AND escalated_resolve_at IS NULL AND id < $2 ORDER BY id LIMIT 500"
    ))?;
    let rows = st.query_map(params![resolve_before, owned_below], from_row)?;
    rows.collect()
}

/// Claim the escalation of `id` for one reason: true for the one caller that
/// set the mark, false if it was set already (by another node's pass), so
/// the township is told once however many nodes run the pass.
pub fn mark_escalated(c: &Connection, id: i64, unresolved: bool, now: i64) -> cunlink_core::sql::Result<bool> {
    let sql = if unresolved {
        "UPDATE affairs_feedback SET escalated_resolve_at = $1 WHERE id = $2 AND escalated_resolve_at IS NULL"
    } else {
        "UPDATE affairs_feedback SET escalated_ack_at = $1 WHERE id = $2 AND escalated_ack_at IS NULL"
    };
    Ok(c.execute(sql, params![now, id])? == 1)
}

/// (category, received, resolved) of the village's feedback made in
/// `[from, to)` (ms).
pub fn stats(
    c: &Connection,
    village_id: i64,
    from: i64,
    to: i64,
) -> cunlink_core::sql::Result<Vec<(String, i64, i64)>> {
    let mut st = c.prepare_cached(
        "SELECT category, count(*), SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END) FROM affairs_feedback
          WHERE village_id = $1 AND created_at >= $2 AND created_at < $3
          GROUP BY category ORDER BY category LIMIT 100",
    )?;
    let rows = st.query_map(params![village_id, from, to], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect()
}
