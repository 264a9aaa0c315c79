//! The order writer's statements (`orders::place`). Every one is
//! `prepare_cached`: the writer has its own connection, so each is parsed and
//! planned once and reused for every order (see `orders::writer` on QPSG).

use cunlink_core::sql::{Connection, OptionalExtension, params};

use crate::error::MarketError;

/// What an order line needs of a variant on sale: (product, variant, price_fen,
/// stock, listed, batch, product name, unit, product's village).
pub type SaleRow = (
    i64,
    i64,
    i64,
    i64,
    bool,
    Option<i64>,
    String,
    String,
    Option<i64>,
);

/// What an order line needs of a live-sale item: (session, product, variant,
/// session price, session stock, sold, session status, batch, name, unit, village).
pub type LiveRow = (
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    Option<i64>,
    String,
    String,
    Option<i64>,
);

fn sale_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<SaleRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

/// The village of pickup station `id`. Stations and villages are never deleted
/// or renamed, so this one-table read stands for the station with its village.
pub fn station_village(conn: &Connection, id: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .prepare_cached("SELECT village_id FROM market_stations WHERE id = $1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub fn variant(conn: &Connection, variant: i64) -> Result<Option<SaleRow>, MarketError> {
    Ok(conn
        .prepare_cached(
            "SELECT p.id, v.id, v.price_fen, v.stock, p.listed, p.batch_id, p.name, v.unit, p.village_id
             FROM market_variants v JOIN market_products p ON p.id = v.product_id WHERE v.id = $1",
        )?
        .query_row([variant], sale_row)
        .optional()?)
}

pub fn variant_count(conn: &Connection, product: i64) -> Result<i64, MarketError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM market_variants WHERE product_id = $1")?
        .query_row([product], |r| r.get(0))?)
}

/// A single-variant product's variant.
pub fn product(conn: &Connection, product: i64) -> Result<Option<SaleRow>, MarketError> {
    Ok(conn
        .prepare_cached(
            "SELECT p.id, v.id, v.price_fen, v.stock, p.listed, p.batch_id, p.name, v.unit, p.village_id
             FROM market_products p JOIN market_variants v ON v.product_id = p.id WHERE p.id = $1",
        )?
        .query_row([product], sale_row)
        .optional()?)
}

/// Take `quantity` units of `variant`; false (nothing changed) if it has fewer.
/// The only place stock is taken by orders (the writer's thread; on PostgreSQL
/// one per node: READ COMMITTED evaluates the condition again on the row a
/// concurrent writer committed).
pub fn take_stock(conn: &Connection, variant: i64, quantity: i64) -> Result<bool, MarketError> {
    Ok(conn
        .prepare_cached(
            "UPDATE market_variants SET stock = stock - $1 WHERE id = $2 AND stock >= $1",
        )?
        .execute(params![quantity, variant])?
        > 0)
}

pub fn live_item(conn: &Connection, item: i64) -> Result<Option<LiveRow>, MarketError> {
    Ok(conn
        .prepare_cached(
            "SELECT i.session_id, i.product_id, i.variant_id, i.session_price_fen, i.session_stock, i.sold, s.status,
                    p.batch_id, p.name, v.unit, p.village_id
             FROM market_live_items i JOIN market_live_sessions s ON s.id = i.session_id
             JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id
             WHERE i.id = $1",
        )?
        .query_row([item], |r| {
            Ok((
                r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?,
                r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?,
            ))
        })
        .optional()?)
}

/// PostgreSQL: share-lock live session `session` until the transaction ends;
/// false if it is not live (any more). Ending a session updates this row, so it
/// waits for every order that holds it.
pub fn hold_live_session(conn: &Connection, session: i64) -> Result<bool, MarketError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM market_live_sessions WHERE id = $1 AND status = 'live' FOR SHARE",
        )?
        .query_row([session], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Sell `quantity` units of live item `item`; false (nothing changed) if fewer are left.
pub fn take_live(conn: &Connection, item: i64, quantity: i64) -> Result<bool, MarketError> {
    Ok(conn
        .prepare_cached("UPDATE market_live_items SET sold = sold + $1 WHERE id = $2 AND sold + $1 <= session_stock")?
        .execute(params![quantity, item])?
        > 0)
}

pub struct NewOrder<'a> {
    pub buyer_id: i64,
    pub placed_by: i64,
    pub for_name: Option<&'a str>,
    pub seller_station_id: Option<i64>,
    pub pickup_station_id: i64,
    pub total_fen: i64,
    pub live_session_id: Option<i64>,
    pub at: i64,
}

/// A new order in status `placed`; its id.
pub fn insert_order(conn: &Connection, o: &NewOrder<'_>) -> Result<i64, MarketError> {
    // In this installation's id range, so that a village node's station order
    // keeps its id on the hub (cunlink_core::sync).
    let id = cunlink_core::sync::next_id(conn, "market_orders")?;
    conn.prepare_cached(
        "INSERT INTO market_orders (buyer_id, placed_by, for_name, seller_station_id, pickup_station_id, status, total_fen, live_session_id, created_at, updated_at, id)
         VALUES ($1, $2, $3, $4, $5, 'placed', $6, $7, $8, $8, $9)",
    )?
    .execute(params![o.buyer_id, o.placed_by, o.for_name, o.seller_station_id, o.pickup_station_id, o.total_fen, o.live_session_id, o.at, id])?;
    Ok(id)
}

pub struct NewItem<'a> {
    pub order_id: i64,
    pub product_id: i64,
    pub variant_id: i64,
    pub live_item_id: Option<i64>,
    pub quantity: i64,
    pub price_fen: i64,
    pub batch_id: Option<i64>,
    pub trace_code: &'a str,
}

pub fn insert_item(conn: &Connection, i: &NewItem<'_>) -> Result<(), MarketError> {
    conn.prepare_cached(
        "INSERT INTO market_order_items (order_id, product_id, variant_id, live_item_id, quantity, price_fen, batch_id, trace_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )?
    .execute(params![i.order_id, i.product_id, i.variant_id, i.live_item_id, i.quantity, i.price_fen, i.batch_id, i.trace_code])?;
    Ok(())
}

/// The `placed` event of a new order.
pub fn placed_event(
    conn: &Connection,
    order: i64,
    at: i64,
    user: i64,
    note: &str,
) -> Result<(), MarketError> {
    conn.prepare_cached("INSERT INTO market_order_events (order_id, at, status, user_id, note) VALUES ($1, $2, 'placed', $3, $4)")?
        .execute(params![order, at, user, note])?;
    Ok(())
}
