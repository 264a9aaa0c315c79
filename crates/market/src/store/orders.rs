//! `market_orders` reads for lists (the station counter). Buyers' names come
//! from core in one batched call per list, not from a join on `users`.

use rusqlite::{Connection, OptionalExtension};

use cunlink_core::auth;

use super::id_list;
use crate::error::MarketError;

/// An order as the station counter lists it.
pub struct OrderRow {
    pub id: i64,
    pub status: String,
    pub total_fen: i64,
    /// The villager's name for assisted orders, else the buyer's username, else "".
    pub buyer: String,
    /// "name ×quantity unit" per line, joined by "，" (to-pack list only).
    pub lines: String,
}

/// Orders the stations `stations` must pack or ship (oldest first, at most 100).
pub fn to_pack(conn: &Connection, stations: &[i64]) -> Result<Vec<OrderRow>, MarketError> {
    let mut q = conn.prepare(&format!(
        "SELECT o.id, o.status, o.total_fen, o.for_name, o.buyer_id,
                (SELECT group_concat(p.name || ' ×' || i.quantity || ' ' || v.unit, '，') FROM market_order_items i
                 JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id WHERE i.order_id = o.id)
         FROM market_orders o
         WHERE o.seller_station_id IN ({}) AND o.status IN ('placed', 'packed') ORDER BY o.id LIMIT 100",
        id_list(stations)
    ))?;
    let rows = q
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    with_buyers(conn, rows)
}

/// Unpaid, not cancelled orders to be picked up at `stations` (newest first, at most 100).
pub fn unpaid(conn: &Connection, stations: &[i64]) -> Result<Vec<OrderRow>, MarketError> {
    let mut q = conn.prepare(&format!(
        "SELECT o.id, o.status, o.total_fen, o.for_name, o.buyer_id FROM market_orders o
         WHERE o.pickup_station_id IN ({}) AND o.payment = 'unpaid' AND o.status <> 'cancelled' ORDER BY o.id DESC LIMIT 100",
        id_list(stations)
    ))?;
    let rows = q
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, None))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    with_buyers(conn, rows)
}

type Raw = (i64, String, i64, Option<String>, i64, Option<String>);

fn with_buyers(conn: &Connection, rows: Vec<Raw>) -> Result<Vec<OrderRow>, MarketError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.4).collect();
    let names = auth::usernames(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, status, total_fen, for_name, buyer_id, lines)| OrderRow {
                id,
                status,
                total_fen,
                buyer: for_name
                    .or_else(|| names.get(&buyer_id).cloned())
                    .unwrap_or_default(),
                lines: lines.unwrap_or_default(),
            },
        )
        .collect())
}

/// The recipient name of order `order`'s parcel: the villager's name for an
/// assisted order, else the buyer's username; `None` if the order or its buyer
/// is unknown.
pub fn recipient_name(conn: &Connection, order: i64) -> Result<Option<String>, MarketError> {
    let row: Option<(Option<String>, i64)> = conn
        .prepare_cached("SELECT for_name, buyer_id FROM market_orders WHERE id = $1")?
        .query_row([order], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((for_name, buyer)) = row else {
        return Ok(None);
    };
    let username = auth::usernames(conn, &[buyer])?.remove(&buyer);
    // The buyer must exist, as the inner join this replaces required.
    Ok(username.map(|u| for_name.unwrap_or(u)))
}
