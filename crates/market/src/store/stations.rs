//! `market_stations`: village e-commerce service stations.

use std::collections::HashMap;

use cunlink_core::sql::{Connection, OptionalExtension, params};

use cunlink_core::auth;

use crate::error::MarketError;

/// A station with its village's name (from core).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Station {
    pub id: i64,
    pub village_id: i64,
    pub village: String,
    pub name: String,
}

/// Station `id`; `None` as well when its village is gone (as an inner join would).
pub fn get(conn: &Connection, id: i64) -> Result<Option<Station>, MarketError> {
    let row: Option<(i64, i64, String)> = conn
        .prepare_cached("SELECT id, village_id, name FROM market_stations WHERE id = $1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((id, village_id, name)) = row else {
        return Ok(None);
    };
    Ok(
        auth::village_name(conn, village_id)?.map(|village| Station {
            id,
            village_id,
            village,
            name,
        }),
    )
}

/// Every station in id order, with village names resolved in one batched call.
pub fn all(conn: &Connection) -> Result<Vec<Station>, MarketError> {
    let mut st =
        conn.prepare_cached("SELECT id, village_id, name FROM market_stations ORDER BY id")?;
    let rows: Vec<(i64, i64, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let villages: HashMap<i64, String> = auth::village_names(conn, &ids)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, village_id, name)| {
            let village = villages.get(&village_id)?.clone();
            Some(Station {
                id,
                village_id,
                village,
                name,
            })
        })
        .collect())
}

/// (id, name) of the stations of `village_id`, or of every station when `every`.
pub fn visible(
    conn: &Connection,
    every: bool,
    village_id: Option<i64>,
) -> Result<Vec<(i64, String)>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT id, name FROM market_stations WHERE $1 = 1 OR village_id = $2 ORDER BY id",
    )?;
    let rows = st.query_map(params![every, village_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The first station of `village_id`, if it has one.
pub fn first_in_village(conn: &Connection, village_id: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .prepare_cached("SELECT MIN(id) FROM market_stations WHERE village_id = $1")?
        .query_row([village_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// The station named `name` in `village_id`.
pub fn id_by_name(
    conn: &Connection,
    village_id: i64,
    name: &str,
) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT id FROM market_stations WHERE village_id = $1 AND name = $2",
            params![village_id, name],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn insert(conn: &Connection, village_id: i64, name: &str) -> Result<i64, MarketError> {
    conn.execute(
        "INSERT INTO market_stations (village_id, name, created_at) VALUES ($1, $2, $3)",
        params![village_id, name, cunlink_core::time::now_ms()],
    )?;
    Ok(conn.last_insert_rowid()?)
}

/// The next number of the station's pickup-code counter.
pub fn next_pickup_seq(conn: &Connection, id: i64) -> Result<i64, MarketError> {
    Ok(conn.query_row(
        "UPDATE market_stations SET pickup_seq = pickup_seq + 1 WHERE id = $1 RETURNING pickup_seq",
        [id],
        |r| r.get(0),
    )?)
}

/// Whether any station of village `name` exists (the demo seeds once).
pub fn any_in_village_named(conn: &Connection, name: &str) -> Result<bool, MarketError> {
    let Some(village) = auth::village_id(conn, name)? else {
        return Ok(false);
    };
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_stations WHERE village_id = $1)",
        [village],
        |r| r.get(0),
    )?)
}
