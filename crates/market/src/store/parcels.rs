//! `market_parcels` and `market_parcel_events`.

use cunlink_core::sql::{Connection, OptionalExtension, params};

use cunlink_core::time::now_ms;

use super::id_list;
use crate::error::MarketError;

/// A parcel as the station counter lists it (`order_id` 0: not from an order).
pub struct ParcelRow {
    pub id: i64,
    pub order_id: i64,
    pub status: String,
    pub recipient: String,
    /// Empty when the parcel has no pickup code (yet).
    pub code: String,
}

/// Parcels created at `stations` waiting for the courier (at most 100).
pub fn leaving(conn: &Connection, stations: &[i64]) -> Result<Vec<ParcelRow>, MarketError> {
    let mut q = conn.prepare(&format!(
        "SELECT id, COALESCE(order_id, 0), status, recipient_name, '' FROM market_parcels
         WHERE from_station_id IN ({}) AND status = 'created' ORDER BY id LIMIT 100",
        id_list(stations)
    ))?;
    let rows = q.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Parcels on their way to or waiting at `stations` (at most 100).
pub fn arriving(conn: &Connection, stations: &[i64]) -> Result<Vec<ParcelRow>, MarketError> {
    let mut q = conn.prepare(&format!(
        "SELECT id, COALESCE(order_id, 0), status, recipient_name, COALESCE(pickup_code, '') FROM market_parcels
         WHERE to_station_id IN ({}) AND status NOT IN ('collected', 'returned') ORDER BY id LIMIT 100",
        id_list(stations)
    ))?;
    let rows = q.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<ParcelRow> {
    Ok(ParcelRow {
        id: r.get(0)?,
        order_id: r.get(1)?,
        status: r.get(2)?,
        recipient: r.get(3)?,
        code: r.get(4)?,
    })
}

/// The columns the parcel rules need.
pub struct HeadRow {
    pub order_id: Option<i64>,
    pub from_station_id: Option<i64>,
    pub to_station_id: i64,
    pub recipient_user_id: Option<i64>,
    pub status: String,
    pub pickup_code: Option<String>,
}

/// A parcel as `GET /api/market/parcels/{id}` shows it (without its code).
pub struct Detail {
    pub id: i64,
    pub order_id: Option<i64>,
    pub from_station_id: Option<i64>,
    pub to_station_id: i64,
    pub recipient_user_id: Option<i64>,
    pub recipient_name: String,
    pub tracking: String,
    pub status: String,
    pub arrived_at: Option<i64>,
    pub collected_at: Option<i64>,
    pub created_at: i64,
}

pub struct Event {
    pub at: i64,
    pub status: String,
    pub place: String,
    pub operator_id: Option<i64>,
    pub note: String,
}

/// A parcel waiting at a station, with the station's name.
pub struct Waiting {
    pub id: i64,
    pub recipient_name: String,
    pub pickup_code: Option<String>,
    pub arrived_at: i64,
    pub station_id: i64,
    pub station: String,
    pub last_reminder_at: Option<i64>,
}

pub struct NewParcel<'a> {
    pub order_id: Option<i64>,
    pub from_station_id: Option<i64>,
    pub to_station_id: i64,
    pub recipient_user_id: Option<i64>,
    pub recipient_name: &'a str,
    pub tracking: &'a str,
}

/// A new parcel in status `created`.
pub fn insert(conn: &Connection, p: &NewParcel<'_>) -> Result<i64, MarketError> {
    // In this installation's id range, so that a parcel a village node made
    // keeps its id on the hub (cunlink_core::sync).
    let id = cunlink_core::sync::next_id(conn, "market_parcels")?;
    conn.execute(
        "INSERT INTO market_parcels (order_id, from_station_id, to_station_id, recipient_user_id, recipient_name, tracking, status, created_at, id)
         VALUES ($1, $2, $3, $4, $5, $6, 'created', $7, $8)",
        params![p.order_id, p.from_station_id, p.to_station_id, p.recipient_user_id, p.recipient_name, p.tracking, now_ms(), id],
    )?;
    Ok(id)
}

pub fn add_event(
    conn: &Connection,
    parcel: i64,
    status: &str,
    place: &str,
    operator: Option<i64>,
    note: &str,
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_parcel_events (parcel_id, at, status, place, operator_id, note) VALUES ($1, $2, $3, $4, $5, $6)",
        params![parcel, now_ms(), status, place, operator, note],
    )?;
    Ok(())
}

pub fn head(conn: &Connection, id: i64) -> Result<Option<HeadRow>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT order_id, from_station_id, to_station_id, recipient_user_id, status, pickup_code FROM market_parcels WHERE id = $1",
            [id],
            |r| {
                Ok(HeadRow {
                    order_id: r.get(0)?,
                    from_station_id: r.get(1)?,
                    to_station_id: r.get(2)?,
                    recipient_user_id: r.get(3)?,
                    status: r.get(4)?,
                    pickup_code: r.get(5)?,
                })
            },
        )
        .optional()?)
}

pub fn detail(conn: &Connection, id: i64) -> Result<Detail, MarketError> {
    Ok(conn.query_row(
        "SELECT id, order_id, from_station_id, to_station_id, recipient_user_id, recipient_name, tracking, status, arrived_at, collected_at, created_at
         FROM market_parcels WHERE id = $1",
        [id],
        |r| {
            Ok(Detail {
                id: r.get(0)?,
                order_id: r.get(1)?,
                from_station_id: r.get(2)?,
                to_station_id: r.get(3)?,
                recipient_user_id: r.get(4)?,
                recipient_name: r.get(5)?,
                tracking: r.get(6)?,
                status: r.get(7)?,
                arrived_at: r.get(8)?,
                collected_at: r.get(9)?,
                created_at: r.get(10)?,
            })
        },
    )?)
}

/// A parcel's scans, first first.
pub fn events(conn: &Connection, id: i64) -> Result<Vec<Event>, MarketError> {
    let mut st = conn.prepare_cached("SELECT at, status, place, operator_id, note FROM market_parcel_events WHERE parcel_id = $1 ORDER BY id")?;
    let rows = st.query_map([id], |r| {
        Ok(Event {
            at: r.get(0)?,
            status: r.get(1)?,
            place: r.get(2)?,
            operator_id: r.get(3)?,
            note: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Move parcel `id` from status `from` to `to`; with a pickup code, it arrived now.
pub fn set_status(
    conn: &Connection,
    id: i64,
    from: &str,
    to: &str,
    code: Option<&str>,
) -> Result<(), MarketError> {
    match code {
        Some(code) => conn.execute(
            "UPDATE market_parcels SET status = $1, pickup_code = $2, arrived_at = $3 WHERE id = $4 AND status = $5",
            params![to, code, now_ms(), id, from],
        )?,
        None => conn.execute(
            "UPDATE market_parcels SET status = $1 WHERE id = $2 AND status = $3",
            params![to, id, from],
        )?,
    };
    Ok(())
}

/// Whether a parcel waiting at `station` holds pickup code `code`.
pub fn code_taken(conn: &Connection, station: i64, code: &str) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_parcels WHERE to_station_id = $1 AND pickup_code = $2 AND status = 'at_village_station')",
        params![station, code],
        |r| r.get(0),
    )?)
}

/// A parcel waiting at its station is collected now.
pub fn set_collected(conn: &Connection, id: i64) -> Result<(), MarketError> {
    conn.execute(
        "UPDATE market_parcels SET status = 'collected', collected_at = $1 WHERE id = $2 AND status = 'at_village_station'",
        params![now_ms(), id],
    )?;
    Ok(())
}

/// Parcels that arrived before `before` and still wait, oldest first, at most
/// 500, optionally at the stations of one village.
pub fn waiting(
    conn: &Connection,
    before: i64,
    village: Option<i64>,
) -> Result<Vec<Waiting>, MarketError> {
    let mut st = conn.prepare(
        "SELECT p.id, p.recipient_name, p.pickup_code, p.arrived_at, p.to_station_id, s.name, p.last_reminder_at
         FROM market_parcels p JOIN market_stations s ON s.id = p.to_station_id
         WHERE p.status = 'at_village_station' AND p.arrived_at < $1 AND (CAST($2 AS BIGINT) IS NULL OR s.village_id = $2) ORDER BY p.arrived_at LIMIT 500",
    )?;
    let rows = st.query_map(params![before, village], |r| {
        Ok(Waiting {
            id: r.get(0)?,
            recipient_name: r.get(1)?,
            pickup_code: r.get(2)?,
            arrived_at: r.get(3)?,
            station_id: r.get(4)?,
            station: r.get(5)?,
            last_reminder_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ids of parcels that arrived before `before` and were not reminded since `since`.
/// Only ids below `below`: a hub leaves the parcels of village nodes (ids in
/// their ranges) to the nodes, which remind their own.
pub fn due_reminders(
    conn: &Connection,
    before: i64,
    since: i64,
    below: i64,
) -> Result<Vec<i64>, MarketError> {
    let ids = conn
        .prepare(
            "SELECT id FROM market_parcels WHERE status = 'at_village_station' AND arrived_at < $1
             AND (last_reminder_at IS NULL OR last_reminder_at < $2) AND id < $3",
        )?
        .query_map(params![before, since, below], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Claim parcel `id`'s reminder at `at` unless one was recorded since `since`:
/// true for the one caller (of several nodes) that claimed it.
pub fn set_reminded(conn: &Connection, id: i64, at: i64, since: i64) -> Result<bool, MarketError> {
    let n = conn.execute(
        "UPDATE market_parcels SET last_reminder_at = $1
          WHERE id = $2 AND (last_reminder_at IS NULL OR last_reminder_at < $3)",
        params![at, id, since],
    )?;
    Ok(n == 1)
}

/// The newest parcel of order `order`.
pub fn latest_of_order(conn: &Connection, order: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT id FROM market_parcels WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
            [order],
            |r| r.get(0),
        )
        .optional()?)
}
