//! SQL of votes. Who voted (`affairs_vote_voters`) and how many chose each
//! option (`affairs_vote_tallies`) are kept apart: no row links a person to
//! a choice.

use cunlink_core::sql::{Connection, OptionalExtension, params};

#[derive(Debug, Clone)]
pub struct Vote {
    pub id: i64,
    pub village_id: i64,
    pub question: String,
    pub options: Vec<String>,
    pub closes_at: i64,
    pub created_at: i64,
    pub voters: i64,
}

pub fn insert(
    c: &Connection,
    village_id: i64,
    question: &str,
    options: &[String],
    closes_at: i64,
    by: i64,
    now: i64,
) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO affairs_votes (village_id, question, options, closes_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![
            village_id,
            question,
            serde_json::to_string(options).unwrap_or_else(|_| "[]".into()),
            closes_at,
            by,
            now
        ],
    )?;
    let id = c.last_insert_rowid()?;
    let mut st = c.prepare_cached(
        "INSERT INTO affairs_vote_tallies (vote_id, option, count) VALUES ($1, $2, 0)",
    )?;
    for i in 0..options.len() {
        st.execute(params![id, i as i64])?;
    }
    Ok(id)
}

const COLUMNS: &str = "v.id, v.village_id, v.question, v.options, v.closes_at, v.created_at,
    (SELECT count(*) FROM affairs_vote_voters w WHERE w.vote_id = v.id)";

fn from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Vote> {
    let options: String = r.get(3)?;
    Ok(Vote {
        id: r.get(0)?,
        village_id: r.get(1)?,
        question: r.get(2)?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        closes_at: r.get(4)?,
        created_at: r.get(5)?,
        voters: r.get(6)?,
    })
}

pub fn get(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Vote>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM affairs_votes v WHERE v.id = $1"),
        [id],
        from_row,
    )
    .optional()
}

pub fn list(c: &Connection, village_id: Option<i64>, limit: i64) -> cunlink_core::sql::Result<Vec<Vote>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM affairs_votes v WHERE (CAST($1 AS BIGINT) IS NULL OR v.village_id = $1) ORDER BY v.id DESC LIMIT $2"
    ))?;
    let rows = st.query_map(params![village_id, limit], from_row)?;
    rows.collect()
}

pub fn has_voted(c: &Connection, vote_id: i64, user_id: i64) -> cunlink_core::sql::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM affairs_vote_voters WHERE vote_id = $1 AND user_id = $2)",
        params![vote_id, user_id],
        |r| r.get(0),
    )
}

/// Record that `user_id` voted and count the choice; false (nothing
/// changed) when they already had.
pub fn cast(c: &Connection, vote_id: i64, user_id: i64, option: i64) -> cunlink_core::sql::Result<bool> {
    let new = c.execute(
        "INSERT OR IGNORE INTO affairs_vote_voters (vote_id, user_id) VALUES ($1, $2)",
        params![vote_id, user_id],
    )? == 1;
    if new {
        c.execute(
            "UPDATE affairs_vote_tallies SET count = count + 1 WHERE vote_id = $1 AND option = $2",
            params![vote_id, option],
        )?;
    }
    Ok(new)
}

/// Counts per option, in option order.
pub fn tallies(c: &Connection, vote_id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = c.prepare_cached(
        "SELECT count FROM affairs_vote_tallies WHERE vote_id = $1 ORDER BY option",
    )?;
    let rows = st.query_map([vote_id], |r| r.get(0))?;
    rows.collect()
}
