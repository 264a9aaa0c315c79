//! `market_batches` (traceability: a harvest grown on a farm asset) and the
//! reads of the public trace page.

use cunlink_core::sql::{Connection, OptionalExtension, params};

use crate::error::MarketError;

pub struct NewBatch<'a> {
    pub producer: i64,
    pub product: Option<i64>,
    pub asset_id: i64,
    pub asset_name: &'a str,
    pub grown_from: i64,
    pub harvested_at: i64,
    pub note: &'a str,
    pub code: &'a str,
}

/// A batch with its producer and product names (the village name comes from core).
pub struct BatchRow {
    pub asset_id: i64,
    pub asset_name: String,
    pub grown_from: i64,
    pub harvested_at: i64,
    pub note: String,
    pub producer: String,
    pub producer_village_id: Option<i64>,
    pub product: Option<String>,
}

/// An order line found by its trace code.
pub struct LineRow {
    pub item_batch: Option<i64>,
    pub product_batch: Option<i64>,
    pub product: String,
    pub producer: String,
    pub producer_village_id: Option<i64>,
    pub quantity: i64,
    pub unit: String,
}

/// Whether batch `batch` is producer `producer`'s.
pub fn of_producer(conn: &Connection, batch: i64, producer: i64) -> Result<bool, MarketError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_batches WHERE id = $1 AND producer_id = $2)",
        params![batch, producer],
        |r| r.get(0),
    )?)
}

pub fn insert(conn: &Connection, b: &NewBatch<'_>) -> Result<i64, MarketError> {
    conn.execute(
        "INSERT INTO market_batches (producer_id, product_id, asset_id, asset_name, grown_from, harvested_at, note, code, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![b.producer, b.product, b.asset_id, b.asset_name, b.grown_from, b.harvested_at, b.note, b.code, cunlink_core::time::now_ms()],
    )?;
    Ok(conn.last_insert_rowid()?)
}

const BATCH_SQL: &str = "SELECT b.asset_id, b.asset_name, b.grown_from, b.harvested_at, b.note, pr.name, pr.village_id, p.name
     FROM market_batches b JOIN market_producers pr ON pr.id = b.producer_id
     LEFT JOIN market_products p ON p.id = b.product_id WHERE ";

fn batch_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<BatchRow> {
    Ok(BatchRow {
        asset_id: r.get(0)?,
        asset_name: r.get(1)?,
        grown_from: r.get(2)?,
        harvested_at: r.get(3)?,
        note: r.get(4)?,
        producer: r.get(5)?,
        producer_village_id: r.get(6)?,
        product: r.get(7)?,
    })
}

pub fn by_code(conn: &Connection, code: &str) -> Result<Option<BatchRow>, MarketError> {
    Ok(conn
        .query_row(&format!("{BATCH_SQL} b.code = $1"), [code], batch_row)
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> Result<Option<BatchRow>, MarketError> {
    Ok(conn
        .query_row(&format!("{BATCH_SQL} b.id = $1"), [id], batch_row)
        .optional()?)
}

/// The order line whose trace code is `code`.
pub fn line_by_trace_code(conn: &Connection, code: &str) -> Result<Option<LineRow>, MarketError> {
    Ok(conn
        .query_row(
            "SELECT i.batch_id, p.batch_id, p.name, pr.name, pr.village_id, i.quantity, va.unit FROM market_order_items i
             JOIN market_products p ON p.id = i.product_id JOIN market_producers pr ON pr.id = p.producer_id
             JOIN market_variants va ON va.id = i.variant_id WHERE i.trace_code = $1",
            [code],
            |r| {
                Ok(LineRow {
                    item_batch: r.get(0)?,
                    product_batch: r.get(1)?,
                    product: r.get(2)?,
                    producer: r.get(3)?,
                    producer_village_id: r.get(4)?,
                    quantity: r.get(5)?,
                    unit: r.get(6)?,
                })
            },
        )
        .optional()?)
}
