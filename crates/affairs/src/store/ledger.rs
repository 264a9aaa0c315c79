//! SQL of the open ledger: entries, approvals, published months, questions.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    #[serde(skip)]
    pub village_id: i64,
    pub month: String,
    pub date: String,
    pub item: String,
    pub kind: String,
    pub amount_fen: i64,
    pub category: String,
    pub voucher: Option<String>,
    pub corrects: Option<i64>,
    pub created_at: i64,
    pub approvals: i64,
}

pub struct NewEntry<'a> {
    pub village_id: i64,
    pub month: &'a str,
    pub date: &'a str,
    pub item: &'a str,
    pub kind: &'a str,
    pub amount_fen: i64,
    pub category: &'a str,
    pub corrects: Option<i64>,
    pub created_by: i64,
}

pub fn insert(c: &Connection, e: &NewEntry<'_>, now: i64) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO affairs_ledger_entries (village_id, month, date, item, kind, amount_fen, category, corrects, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![
            e.village_id,
            e.month,
            e.date,
            e.item,
            e.kind,
            e.amount_fen,
            e.category,
            e.corrects,
            e.created_by,
            now
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

const COLUMNS: &str = "e.id, e.village_id, e.month, e.date, e.item, e.kind, e.amount_fen, e.category, e.voucher, e.corrects, e.created_at,
    (SELECT count(*) FROM affairs_ledger_approvals a WHERE a.entry_id = e.id)";

fn from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        village_id: r.get(1)?,
        month: r.get(2)?,
        date: r.get(3)?,
        item: r.get(4)?,
        kind: r.get(5)?,
        amount_fen: r.get(6)?,
        category: r.get(7)?,
        voucher: r.get(8)?,
        corrects: r.get(9)?,
        created_at: r.get(10)?,
        approvals: r.get(11)?,
    })
}

pub fn get(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Entry>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM affairs_ledger_entries e WHERE e.id = $1"),
        [id],
        from_row,
    )
    .optional()
}

/// A month's entries, by date then id (bounded by [`crate::ledger::MAX_PER_MONTH`]).
pub fn month(c: &Connection, village_id: i64, month: &str) -> cunlink_core::sql::Result<Vec<Entry>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM affairs_ledger_entries e WHERE e.village_id = $1 AND e.month = $2 ORDER BY e.date, e.id LIMIT 5000"
    ))?;
    let rows = st.query_map(params![village_id, month], from_row)?;
    rows.collect()
}

pub fn count_in_month(c: &Connection, village_id: i64, month: &str) -> cunlink_core::sql::Result<i64> {
    c.query_row(
        "SELECT count(*) FROM affairs_ledger_entries WHERE village_id = $1 AND month = $2",
        params![village_id, month],
        |r| r.get(0),
    )
}

/// Ids of entries that correct `id`.
pub fn corrected_by(c: &Connection, id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = c.prepare_cached(
        "SELECT id FROM affairs_ledger_entries WHERE corrects = $1 ORDER BY id LIMIT 100",
    )?;
    let rows = st.query_map([id], |r| r.get(0))?;
    rows.collect()
}

pub fn delete(c: &Connection, id: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "DELETE FROM affairs_ledger_approvals WHERE entry_id = $1",
        [id],
    )?;
    c.execute(
        "DELETE FROM affairs_ledger_questions WHERE entry_id = $1",
        [id],
    )?;
    c.execute("DELETE FROM affairs_ledger_entries WHERE id = $1", [id])?;
    Ok(())
}

/// Returns false when this user already approved it.
pub fn approve(c: &Connection, id: i64, user_id: i64, now: i64) -> cunlink_core::sql::Result<bool> {
    Ok(c.execute(
        "INSERT OR IGNORE INTO affairs_ledger_approvals (entry_id, user_id, approved_at) VALUES ($1, $2, $3)",
        params![id, user_id, now],
    )? == 1)
}

pub fn set_voucher(c: &Connection, id: i64, hash: &str) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_ledger_entries SET voucher = $1 WHERE id = $2",
        params![hash, id],
    )?;
    Ok(())
}

pub fn published(c: &Connection, village_id: i64, month: &str) -> cunlink_core::sql::Result<Option<i64>> {
    c.query_row(
        "SELECT published_at FROM affairs_ledger_months WHERE village_id = $1 AND month = $2",
        params![village_id, month],
        |r| r.get(0),
    )
    .optional()
}

pub fn publish(
    c: &Connection,
    village_id: i64,
    month: &str,
    by: i64,
    now: i64,
) -> cunlink_core::sql::Result<()> {
    c.execute(
        "INSERT INTO affairs_ledger_months (village_id, month, published_at, published_by) VALUES ($1, $2, $3, $4)",
        params![village_id, month, now, by],
    )?;
    Ok(())
}

/// (month, published) of every month with entries, newest first.
pub fn months(c: &Connection, village_id: i64) -> cunlink_core::sql::Result<Vec<(String, bool)>> {
    let mut st = c.prepare_cached(
        "SELECT e.month, EXISTS (SELECT 1 FROM affairs_ledger_months m WHERE m.village_id = $1 AND m.month = e.month)
           FROM affairs_ledger_entries e WHERE e.village_id = $1 GROUP BY e.month ORDER BY e.month DESC LIMIT 120",
    )?;
    let rows = st.query_map([village_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Question {
    pub id: i64,
    pub entry_id: i64,
    pub text: String,
    pub asked_at: i64,
    pub answer: Option<String>,
    pub answered_at: Option<i64>,
}

pub fn ask(c: &Connection, entry_id: i64, by: i64, text: &str, now: i64) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO affairs_ledger_questions (entry_id, asked_by, text, asked_at) VALUES ($1, $2, $3, $4)",
        params![entry_id, by, text, now],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// (question, the entry's village) of a question.
pub fn question(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<(Question, i64)>> {
    c.query_row(
        "SELECT q.id, q.entry_id, q.text, q.asked_at, q.answer, q.answered_at, e.village_id
           FROM affairs_ledger_questions q JOIN affairs_ledger_entries e ON e.id = q.entry_id WHERE q.id = $1",
        [id],
        |r| {
            Ok((
                Question {
                    id: r.get(0)?,
                    entry_id: r.get(1)?,
                    text: r.get(2)?,
                    asked_at: r.get(3)?,
                    answer: r.get(4)?,
                    answered_at: r.get(5)?,
                },
                r.get(6)?,
            ))
        },
    )
    .optional()
}

pub fn answer(c: &Connection, id: i64, by: i64, text: &str, now: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "UPDATE affairs_ledger_questions SET answer = $1, answered_by = $2, answered_at = $3 WHERE id = $4",
        params![text, by, now, id],
    )?;
    Ok(())
}

pub fn questions(c: &Connection, entry_id: i64) -> cunlink_core::sql::Result<Vec<Question>> {
    let mut st = c.prepare_cached(
        "SELECT id, entry_id, text, asked_at, answer, answered_at FROM affairs_ledger_questions
          WHERE entry_id = $1 ORDER BY id LIMIT 200",
    )?;
    let rows = st.query_map([entry_id], |r| {
        Ok(Question {
            id: r.get(0)?,
            entry_id: r.get(1)?,
            text: r.get(2)?,
            asked_at: r.get(3)?,
            answer: r.get(4)?,
            answered_at: r.get(5)?,
        })
    })?;
    rows.collect()
}
