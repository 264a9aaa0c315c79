//! `market_product_photos` (the files live under `<data_dir>/photos`).

use cunlink_core::sql::{Connection, params};

use crate::error::MarketError;

pub fn exists(conn: &Connection, product: i64, hash: &str) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_product_photos WHERE product_id = $1 AND hash = $2)",
        params![product, hash],
        |r| r.get(0),
    )?)
}

pub fn count(conn: &Connection, product: i64) -> Result<i64, MarketError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM market_product_photos WHERE product_id = $1",
        [product],
        |r| r.get(0),
    )?)
}

pub fn insert(
    conn: &Connection,
    product: i64,
    hash: &str,
    width: u32,
    height: u32,
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_product_photos (product_id, hash, width, height, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![product, hash, width, height, cunlink_core::time::now_ms()],
    )?;
    Ok(())
}

/// (hash, width, height) of a product's photos, first added first.
pub fn of_product(conn: &Connection, product: i64) -> Result<Vec<(String, i64, i64)>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT hash, width, height FROM market_product_photos WHERE product_id = $1 ORDER BY id",
    )?;
    let rows = st.query_map([product], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
