//! `market_live_sessions` and `market_live_items` (live sales).

use cunlink_core::sql::{Connection, OptionalExtension, params};

use cunlink_core::time::now_ms;

use crate::error::MarketError;

/// A session with its producer's name.
pub struct SessionRow {
    pub id: i64,
    pub title: String,
    pub platform: String,
    pub stream_url: String,
    pub status: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    pub producer: String,
}

/// A pinned item with its product's name and unit.
pub struct ItemRow {
    pub id: i64,
    pub product_id: i64,
    pub name: String,
    pub unit: String,
    pub session_price_fen: i64,
    pub session_stock: i64,
    pub sold: i64,
}

pub fn insert_session(
    conn: &Connection,
    producer: i64,
    title: &str,
    platform: &str,
    stream_url: &str,
) -> Result<i64, MarketError> {
    conn.execute(
        "INSERT INTO market_live_sessions (producer_id, title, platform, stream_url, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![producer, title, platform, stream_url, now_ms()],
    )?;
    Ok(conn.last_insert_rowid()?)
}

/// (producer, stock) of `variant` when it is a variant of listed product `product`.
pub fn listed_variant(
    conn: &Connection,
    variant: i64,
    product: i64,
) -> Result<Option<(i64, i64)>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT p.producer_id, v.stock FROM market_variants v JOIN market_products p ON p.id = v.product_id WHERE v.id = $1 AND p.id = $2 AND p.listed = 1",
            params![variant, product],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Set `quantity` units of `variant` aside; false (nothing changed) if it has fewer.
pub fn set_aside(conn: &Connection, variant: i64, quantity: i64) -> Result<bool, MarketError> {
    Ok(conn.execute(
        "UPDATE market_variants SET stock = stock - $1 WHERE id = $2 AND stock >= $1",
        params![quantity, variant],
    )? > 0)
}

pub fn insert_item(
    conn: &Connection,
    session: i64,
    product: i64,
    variant: i64,
    price_fen: i64,
    stock: i64,
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_live_items (session_id, product_id, variant_id, session_price_fen, session_stock) VALUES ($1, $2, $3, $4, $5)",
        params![session, product, variant, price_fen, stock],
    )?;
    Ok(())
}

pub fn session(conn: &Connection, id: i64) -> Result<Option<SessionRow>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT s.id, s.title, s.platform, s.stream_url, s.status, s.created_at, s.ended_at, pr.name FROM market_live_sessions s
             JOIN market_producers pr ON pr.id = s.producer_id WHERE s.id = $1",
            [id],
            |r| {
                Ok(SessionRow {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    platform: r.get(2)?,
                    stream_url: r.get(3)?,
                    status: r.get(4)?,
                    created_at: r.get(5)?,
                    ended_at: r.get(6)?,
                    producer: r.get(7)?,
                })
            },
        )
        .optional()?)
}

/// A session's pinned items, first pinned first.
pub fn items(conn: &Connection, session: i64) -> Result<Vec<ItemRow>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT i.id, i.product_id, p.name, v.unit, i.session_price_fen, i.session_stock, i.sold FROM market_live_items i
         JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id WHERE i.session_id = $1 ORDER BY i.id",
    )?;
    let rows = st.query_map([session], |r| {
        Ok(ItemRow {
            id: r.get(0)?,
            product_id: r.get(1)?,
            name: r.get(2)?,
            unit: r.get(3)?,
            session_price_fen: r.get(4)?,
            session_stock: r.get(5)?,
            sold: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// (the producer's user id, status) of session `id`.
pub fn owner_and_status(conn: &Connection, id: i64) -> Result<Option<(i64, String)>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT pr.user_id, s.status FROM market_live_sessions s JOIN market_producers pr ON pr.id = s.producer_id WHERE s.id = $1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// End live session `id` and return its unsold units to their variants'
/// stock; false (nothing changed) if it was not live.
///
/// The status update comes first: on PostgreSQL it waits for the orders that
/// hold the session (`placing::hold_live_session`), and the next statement
/// then sees what they sold.
pub fn end(conn: &Connection, id: i64) -> Result<bool, MarketError> {
    if conn.execute(
        "UPDATE market_live_sessions SET status = 'ended', ended_at = $1 WHERE id = $2 AND status = 'live'",
        params![now_ms(), id],
    )? == 0
    {
        return Ok(false);
    }
    conn.execute(
        "UPDATE market_variants SET stock = stock + (SELECT SUM(i.session_stock - i.sold) FROM market_live_items i WHERE i.session_id = $1 AND i.variant_id = market_variants.id)
         WHERE id IN (SELECT variant_id FROM market_live_items WHERE session_id = $1)",
        [id],
    )?;
    Ok(true)
}

pub fn item_in_session(conn: &Connection, session: i64, item: i64) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_live_items WHERE id = $1 AND session_id = $2)",
        params![item, session],
        |r| r.get(0),
    )?)
}

/// (session, session status) of pinned item `item`.
pub fn item_session(conn: &Connection, item: i64) -> Result<(i64, String), MarketError> {
    Ok(conn.query_row(
        "SELECT s.id, s.status FROM market_live_items i JOIN market_live_sessions s ON s.id = i.session_id WHERE i.id = $1",
        [item],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// `quantity` sold units of `item` are back in the session; its remaining count.
pub fn unsell(conn: &Connection, item: i64, quantity: i64) -> Result<i64, MarketError> {
    conn.execute(
        "UPDATE market_live_items SET sold = sold - $1 WHERE id = $2",
        params![quantity, item],
    )?;
    Ok(conn.query_row(
        "SELECT session_stock - sold FROM market_live_items WHERE id = $1",
        [item],
        |r| r.get(0),
    )?)
}
