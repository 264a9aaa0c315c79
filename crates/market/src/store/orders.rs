//! `market_orders`, `market_order_items` and `market_order_events` outside the
//! order writer (which keeps its own prepared statements in `orders::place`).
//! Buyers' names come from core in one batched call per list, not from a join
//! on `users`.

use cunlink_core::sql::{Connection, OptionalExtension, params};

use cunlink_core::time::now_ms;

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
                (SELECT string_agg(p.name || ' ×' || i.quantity || ' ' || v.unit, '，') FROM market_order_items i
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

/// The columns the order rules need.
pub struct HeadRow {
    pub id: i64,
    pub buyer_id: i64,
    pub placed_by: i64,
    pub status: String,
    pub payment: String,
    pub seller_station_id: Option<i64>,
    pub pickup_station_id: i64,
}

/// An order as `GET /api/market/orders/{id}` shows it.
pub struct Detail {
    pub id: i64,
    pub buyer_id: i64,
    pub placed_by: i64,
    pub for_name: Option<String>,
    pub seller_station_id: Option<i64>,
    pub pickup_station_id: i64,
    pub status: String,
    pub payment: String,
    pub payment_method: Option<String>,
    pub total_fen: i64,
    pub live_session_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An order line with its product's name and unit.
pub struct ItemRow {
    pub product_id: i64,
    pub variant_id: i64,
    pub name: String,
    pub unit: String,
    pub quantity: i64,
    pub price_fen: i64,
    pub trace_code: String,
}

pub struct EventRow {
    pub at: i64,
    pub status: String,
    pub user_id: Option<i64>,
    pub note: String,
}

pub fn head(conn: &Connection, id: i64) -> Result<Option<HeadRow>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT id, buyer_id, placed_by, status, payment, seller_station_id, pickup_station_id FROM market_orders WHERE id = $1",
            [id],
            |r| {
                Ok(HeadRow {
                    id: r.get(0)?,
                    buyer_id: r.get(1)?,
                    placed_by: r.get(2)?,
                    status: r.get(3)?,
                    payment: r.get(4)?,
                    seller_station_id: r.get(5)?,
                    pickup_station_id: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Whether order `order` contains a product of user `user_id`'s producer record.
pub fn has_product_of(conn: &Connection, order: i64, user_id: i64) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_order_items i JOIN market_products p ON p.id = i.product_id
         JOIN market_producers pr ON pr.id = p.producer_id WHERE i.order_id = $1 AND pr.user_id = $2)",
        params![order, user_id],
        |r| r.get(0),
    )?)
}

pub fn detail(conn: &Connection, id: i64) -> Result<Detail, MarketError> {
    Ok(conn.query_row(
        "SELECT id, buyer_id, placed_by, for_name, seller_station_id, pickup_station_id, status, payment, payment_method, total_fen, live_session_id, created_at, updated_at
         FROM market_orders WHERE id = $1",
        [id],
        |r| {
            Ok(Detail {
                id: r.get(0)?,
                buyer_id: r.get(1)?,
                placed_by: r.get(2)?,
                for_name: r.get(3)?,
                seller_station_id: r.get(4)?,
                pickup_station_id: r.get(5)?,
                status: r.get(6)?,
                payment: r.get(7)?,
                payment_method: r.get(8)?,
                total_fen: r.get(9)?,
                live_session_id: r.get(10)?,
                created_at: r.get(11)?,
                updated_at: r.get(12)?,
            })
        },
    )?)
}

/// An order's lines, first first.
pub fn items(conn: &Connection, id: i64) -> Result<Vec<ItemRow>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT i.product_id, i.variant_id, p.name, v.unit, i.quantity, i.price_fen, i.trace_code FROM market_order_items i
         JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id WHERE i.order_id = $1 ORDER BY i.id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(ItemRow {
            product_id: r.get(0)?,
            variant_id: r.get(1)?,
            name: r.get(2)?,
            unit: r.get(3)?,
            quantity: r.get(4)?,
            price_fen: r.get(5)?,
            trace_code: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An order's events, first first.
pub fn events(conn: &Connection, id: i64) -> Result<Vec<EventRow>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT at, status, user_id, note FROM market_order_events WHERE order_id = $1 ORDER BY id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(EventRow {
            at: r.get(0)?,
            status: r.get(1)?,
            user_id: r.get(2)?,
            note: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn add_event(
    conn: &Connection,
    order: i64,
    status: &str,
    user: i64,
    note: &str,
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_order_events (order_id, at, status, user_id, note) VALUES ($1, $2, $3, $4, $5)",
        params![order, now_ms(), status, user, note],
    )?;
    Ok(())
}

/// Move order `id` from `from` to `to`; the number of rows changed (0: it moved meanwhile).
pub fn set_status(conn: &Connection, id: i64, from: &str, to: &str) -> Result<usize, MarketError> {
    Ok(conn.execute(
        "UPDATE market_orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        params![to, now_ms(), id, from],
    )?)
}

/// (variant, live item, quantity) of each line of order `order`.
pub fn lines(conn: &Connection, order: i64) -> Result<Vec<(i64, Option<i64>, i64)>, MarketError> {
    let mut st = conn.prepare(
        "SELECT variant_id, live_item_id, quantity FROM market_order_items WHERE order_id = $1",
    )?;
    let rows = st.query_map([order], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An unpaid, not cancelled order was paid at the station with `method`;
/// false (nothing changed) if it was not unpaid (any more) or was cancelled.
pub fn set_paid(conn: &Connection, id: i64, method: &str) -> Result<bool, MarketError> {
    Ok(conn.execute(
        "UPDATE market_orders SET payment = 'paid_at_station', payment_method = $1, updated_at = $2
         WHERE id = $3 AND payment = 'unpaid' AND status <> 'cancelled'",
        params![method, now_ms(), id],
    )? > 0)
}

/// A payment taken at the station was given back; false (nothing changed) if
/// the order was not paid (any more).
pub fn set_refunded(conn: &Connection, id: i64) -> Result<bool, MarketError> {
    Ok(conn.execute(
        "UPDATE market_orders SET payment = 'refunded', updated_at = $1 WHERE id = $2 AND payment = 'paid_at_station'",
        params![now_ms(), id],
    )? > 0)
}

/// A shipped or delivered order was collected; the number of rows changed.
pub fn set_collected(conn: &Connection, id: i64) -> Result<usize, MarketError> {
    Ok(conn.execute(
        "UPDATE market_orders SET status = 'collected', updated_at = $1 WHERE id = $2 AND status IN ('shipped', 'delivered')",
        params![now_ms(), id],
    )?)
}

/// Ids of the orders user `user_id` bought or placed, newest first, at most 100.
pub fn ids_of_user(conn: &Connection, user_id: i64) -> Result<Vec<i64>, MarketError> {
    let ids = conn
        .prepare("SELECT id FROM market_orders WHERE buyer_id = $1 OR placed_by = $1 ORDER BY id DESC LIMIT 100")?
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}
