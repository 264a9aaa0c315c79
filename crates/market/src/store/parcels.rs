//! `market_parcels` reads for the station counter.

use rusqlite::Connection;

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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ParcelRow> {
    Ok(ParcelRow {
        id: r.get(0)?,
        order_id: r.get(1)?,
        status: r.get(2)?,
        recipient: r.get(3)?,
        code: r.get(4)?,
    })
}
