//! `market_producers`, `market_products` and `market_variants`.

use cunlink_core::sql::{Connection, OptionalExtension, params};

use cunlink_core::time::now_ms;

use crate::error::MarketError;

/// A product row with its producer's name (the village name comes from core).
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub listed: bool,
    pub batch_id: Option<i64>,
    pub producer_id: i64,
    pub producer: String,
    pub village_id: Option<i64>,
}

pub struct VariantRow {
    pub id: i64,
    pub unit: String,
    pub weight_g: Option<i64>,
    pub price_fen: i64,
    pub stock: i64,
}

/// The producer record of user `user_id`.
pub fn producer_of_user(conn: &Connection, user_id: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT id FROM market_producers WHERE user_id = $1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// A farmer's producer record (kind `farmer`).
pub fn insert_producer(
    conn: &Connection,
    user_id: i64,
    name: &str,
    village_id: Option<i64>,
) -> Result<i64, MarketError> {
    // In this installation's id range: a node's own producer record never
    // takes the id of one that comes down from the hub.
    let id = cunlink_core::sync::next_id(conn, "market_producers")?;
    conn.execute(
        "INSERT INTO market_producers (user_id, name, kind, village_id, created_at, id) VALUES ($1, $2, 'farmer', $3, $4, $5)",
        params![user_id, name, village_id, now_ms(), id],
    )?;
    Ok(id)
}

/// The producer who listed product `id`.
pub fn owner(conn: &Connection, id: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT producer_id FROM market_products WHERE id = $1",
            [id],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn insert(
    conn: &Connection,
    producer: i64,
    village_id: Option<i64>,
    name: &str,
    description: &str,
    batch_id: Option<i64>,
) -> Result<i64, MarketError> {
    conn.execute(
        "INSERT INTO market_products (producer_id, village_id, name, description, batch_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![producer, village_id, name, description, batch_id, now_ms()],
    )?;
    Ok(conn.last_insert_rowid()?)
}

pub fn insert_variant(
    conn: &Connection,
    product: i64,
    unit: &str,
    weight_g: Option<i64>,
    price_fen: i64,
    stock: i64,
) -> Result<(), MarketError> {
    conn.execute(
        "INSERT INTO market_variants (product_id, unit, weight_g, price_fen, stock) VALUES ($1, $2, $3, $4, $5)",
        params![product, unit, weight_g, price_fen, stock],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<ProductRow>, MarketError> {
    Ok(conn
        .prepare_cached(
            "SELECT p.id, p.name, p.description, p.listed, p.batch_id, p.producer_id, pr.name, p.village_id
             FROM market_products p JOIN market_producers pr ON pr.id = p.producer_id WHERE p.id = $1",
        )?
        .query_row([id], |r| {
            Ok(ProductRow {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                listed: r.get(3)?,
                batch_id: r.get(4)?,
                producer_id: r.get(5)?,
                producer: r.get(6)?,
                village_id: r.get(7)?,
            })
        })
        .optional()?)
}

/// The variants of product `id`, first created first.
pub fn variants(conn: &Connection, id: i64) -> Result<Vec<VariantRow>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT id, unit, weight_g, price_fen, stock FROM market_variants WHERE product_id = $1 ORDER BY id",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(VariantRow {
            id: r.get(0)?,
            unit: r.get(1)?,
            weight_g: r.get(2)?,
            price_fen: r.get(3)?,
            stock: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ids of listed products, newest first, at most 200, optionally of one village.
pub fn listed_ids(conn: &Connection, village_id: Option<i64>) -> Result<Vec<i64>, MarketError> {
    let ids = conn
        .prepare_cached(
            "SELECT id FROM market_products WHERE listed = 1 AND (CAST($1 AS BIGINT) IS NULL OR village_id = $1) ORDER BY id DESC LIMIT 200",
        )?
        .query_map([village_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Ids of the products of user `user_id`'s producer record, newest first, at most 200.
pub fn ids_of_user(conn: &Connection, user_id: i64) -> Result<Vec<i64>, MarketError> {
    let ids = conn
        .prepare_cached("SELECT p.id FROM market_products p JOIN market_producers pr ON pr.id = p.producer_id WHERE pr.user_id = $1 ORDER BY p.id DESC LIMIT 200")?
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Whether `variant` is one of product `product`'s.
pub fn has_variant(conn: &Connection, product: i64, variant: i64) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_variants WHERE id = $1 AND product_id = $2)",
        params![variant, product],
        |r| r.get(0),
    )?)
}

/// The first variant of product `product`.
pub fn first_variant(conn: &Connection, product: i64) -> Result<Option<i64>, MarketError> {
    Ok(conn.query_row(
        "SELECT MIN(id) FROM market_variants WHERE product_id = $1",
        [product],
        |r| r.get(0),
    )?)
}

pub fn set_listed(conn: &Connection, product: i64, listed: bool) -> Result<(), MarketError> {
    conn.execute(
        "UPDATE market_products SET listed = $1 WHERE id = $2",
        params![listed, product],
    )?;
    Ok(())
}

pub fn set_price(
    conn: &Connection,
    product: i64,
    variant: i64,
    price_fen: i64,
) -> Result<(), MarketError> {
    conn.execute(
        "UPDATE market_variants SET price_fen = $1 WHERE id = $2 AND product_id = $3",
        params![price_fen, variant, product],
    )?;
    Ok(())
}

pub fn set_stock(
    conn: &Connection,
    product: i64,
    variant: i64,
    stock: i64,
) -> Result<(), MarketError> {
    conn.execute(
        "UPDATE market_variants SET stock = $1 WHERE id = $2 AND product_id = $3",
        params![stock, variant, product],
    )?;
    Ok(())
}

/// Whether product `product` is producer `producer`'s.
pub fn is_producers(conn: &Connection, product: i64, producer: i64) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_products WHERE id = $1 AND producer_id = $2)",
        params![product, producer],
        |r| r.get(0),
    )?)
}

/// Product `product` now comes from harvest batch `batch`.
pub fn set_batch(conn: &Connection, product: i64, batch: i64) -> Result<(), MarketError> {
    conn.execute(
        "UPDATE market_products SET batch_id = $1 WHERE id = $2",
        params![batch, product],
    )?;
    Ok(())
}

/// `quantity` units go back to `variant`'s stock.
pub fn restock(conn: &Connection, variant: i64, quantity: i64) -> Result<(), MarketError> {
    conn.execute(
        "UPDATE market_variants SET stock = stock + $1 WHERE id = $2",
        params![quantity, variant],
    )?;
    Ok(())
}
