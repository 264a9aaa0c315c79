//! `market_allocations` (hub) and `market_node_allocations` (node): units of a
//! variant moved between the hub's online stock and a village node's stock
//! (docs/market.md, "Village node"; the sync side is `crate::sync::allocation`).

use cunlink_core::sql::{Connection, OptionalExtension, params};

use crate::error::MarketError;

/// Hub: move `quantity` units of `variant` from the online stock to village
/// `village`'s allocation; `(granted, online stock)` after, or `None` (nothing
/// changed) when the online stock is short.
pub fn grant(
    conn: &Connection,
    village: i64,
    variant: i64,
    quantity: i64,
) -> Result<Option<(i64, i64)>, MarketError> {
    if !super::placing::take_stock(conn, variant, quantity)? {
        return Ok(None);
    }
    let granted: i64 = conn
        .prepare_cached(
            "SELECT granted FROM market_allocations WHERE village_id = $1 AND variant_id = $2",
        )?
        .query_row(params![village, variant], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let granted = granted
        .checked_add(quantity)
        .ok_or_else(|| MarketError::invalid("bad_quantity", "quantity", "too many units"))?;
    conn.prepare_cached(
        "INSERT INTO market_allocations (village_id, variant_id, granted) VALUES ($1, $2, $3)
         ON CONFLICT (village_id, variant_id) DO UPDATE SET granted = excluded.granted",
    )?
    .execute(params![village, variant, granted])?;
    Ok(Some((granted, stock(conn, variant)?)))
}

/// Node: move `quantity` units of `variant` out of the local stock into the
/// `released` counter that goes up; `(released, stock)` after, or `None`
/// (nothing changed) when the local stock is short.
pub fn release(
    conn: &Connection,
    variant: i64,
    quantity: i64,
) -> Result<Option<(i64, i64)>, MarketError> {
    if !super::placing::take_stock(conn, variant, quantity)? {
        return Ok(None);
    }
    let released: i64 = conn
        .prepare_cached("SELECT released FROM market_node_allocations WHERE variant_id = $1")?
        .query_row([variant], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let released = released
        .checked_add(quantity)
        .ok_or_else(|| MarketError::invalid("bad_quantity", "quantity", "too many units"))?;
    conn.prepare_cached(
        "INSERT INTO market_node_allocations (variant_id, released) VALUES ($1, $2)
         ON CONFLICT (variant_id) DO UPDATE SET released = excluded.released",
    )?
    .execute(params![variant, released])?;
    Ok(Some((released, stock(conn, variant)?)))
}

/// The stock of `variant` (0 if there is none).
pub fn stock(conn: &Connection, variant: i64) -> Result<i64, MarketError> {
    Ok(conn
        .prepare_cached("SELECT stock FROM market_variants WHERE id = $1")?
        .query_row([variant], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The product of variant `variant`.
pub fn product_of_variant(conn: &Connection, variant: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .prepare_cached("SELECT product_id FROM market_variants WHERE id = $1")?
        .query_row([variant], |r| r.get(0))
        .optional()?)
}
