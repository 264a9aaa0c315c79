//! What comes down for a village's station to sell: the producers, products and
//! variants of the village and the county-wide ones (a product with no village),
//! and the village's stations.
//!
//! The hub never deletes these rows (products are delisted, not deleted), so a
//! node only inserts and updates them. A variant comes down without its stock:
//! on the node `stock` is the village's allocation (`super::allocation`), so a
//! new variant starts at 0 and an update leaves it alone; and the online stock
//! changing with every sale on the hub does not resend the list.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, field_i64, field_opt_i64, field_str};
use serde_json::Value;

const PRODUCERS: Table = Table {
    name: "market_producers",
    columns: &["id", "user_id", "name", "kind", "village_id", "created_at"],
};

const PRODUCTS: Table = Table {
    name: "market_products",
    columns: &[
        "id",
        "producer_id",
        "village_id",
        "name",
        "description",
        "listed",
        "batch_id",
        "created_at",
    ],
};

const STATIONS: Table = Table {
    name: "market_stations",
    columns: &["id", "village_id", "name", "created_at"],
};

/// Without `stock`, which is each side's own.
const VARIANTS: Table = Table {
    name: "market_variants",
    columns: &["id", "product_id", "unit", "weight_g", "price_fen"],
};

/// Products sold in village `$1`: its own and the county-wide ones.
const PRODUCT_SCOPE: &str = "village_id = $1 OR village_id IS NULL";
const PRODUCER_SCOPE: &str = "village_id = $1 OR id IN (SELECT producer_id FROM market_products WHERE village_id = $1 OR village_id IS NULL)";
const VARIANT_SCOPE: &str =
    "product_id IN (SELECT id FROM market_products WHERE village_id = $1 OR village_id IS NULL)";

fn exists(conn: &Connection, sql: &str, id: i64) -> Result<bool, SyncError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub struct ProducerKind;

impl DownKind for ProducerKind {
    fn kind(&self) -> &'static str {
        "producers"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &PRODUCERS, PRODUCER_SCOPE, &[&village_id])
    }
    fn apply(&self, conn: &Connection, _village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let id = field_i64(r, "id")?;
            let user = field_i64(r, "user_id")?;
            // A producer record the node made for this user before the hub's
            // came down (one per user): dropped when nothing refers to it.
            conn.prepare_cached(
                "DELETE FROM market_producers WHERE user_id = $1 AND id <> $2
                 AND NOT EXISTS (SELECT 1 FROM market_products p WHERE p.producer_id = market_producers.id)",
            )?
            .execute(params![user, id])?;
            let other: Option<i64> = conn
                .prepare_cached("SELECT id FROM market_producers WHERE user_id = $1 AND id <> $2")?
                .query_row(params![user, id], |r| r.get(0))
                .optional()?;
            if let Some(o) = other {
                return Err(SyncError::reject(format!(
                    "producer {o} of this node sells for user {user}, whose producer on the hub is {id}"
                )));
            }
            rows::upsert(conn, &PRODUCERS, r)?;
        }
        Ok(())
    }
}

pub struct ProductKind;

impl DownKind for ProductKind {
    fn kind(&self) -> &'static str {
        "products"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &PRODUCTS, PRODUCT_SCOPE, &[&village_id])
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            if field_opt_i64(r, "village_id")?.is_some_and(|v| v != village_id) {
                return Err(SyncError::reject("a product of another village"));
            }
            let producer = field_i64(r, "producer_id")?;
            if !exists(
                conn,
                "SELECT 1 FROM market_producers WHERE id = $1",
                producer,
            )? {
                return Err(SyncError::reject(format!(
                    "there is no producer {producer}"
                )));
            }
            rows::upsert(conn, &PRODUCTS, r)?;
        }
        Ok(())
    }
}

pub struct StationKind;

impl DownKind for StationKind {
    fn kind(&self) -> &'static str {
        "stations"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &STATIONS, "village_id = $1", &[&village_id])
    }
    /// The pickup-code counter stays the node's: the station's parcels are
    /// scanned in at the node.
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let id = field_i64(r, "id")?;
            let name = field_str(r, "name")?;
            let created = field_i64(r, "created_at")?;
            if field_i64(r, "village_id")? != village_id {
                return Err(SyncError::reject("a station of another village"));
            }
            let clash: Option<i64> = conn
                .prepare_cached(
                    "SELECT id FROM market_stations WHERE village_id = $1 AND name = $2 AND id <> $3",
                )?
                .query_row(params![village_id, name, id], |r| r.get(0))
                .optional()?;
            if let Some(c) = clash {
                return Err(SyncError::reject(format!(
                    "station {c} of this node has the name of the hub's station {id}"
                )));
            }
            conn.prepare_cached(
                "INSERT INTO market_stations (id, village_id, name, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET village_id = excluded.village_id, name = excluded.name,
                 created_at = excluded.created_at",
            )?
            .execute(params![id, village_id, name, created])?;
        }
        Ok(())
    }
}

pub struct VariantKind;

impl DownKind for VariantKind {
    fn kind(&self) -> &'static str {
        "variants"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &VARIANTS, VARIANT_SCOPE, &[&village_id])
    }
    fn apply(&self, conn: &Connection, _village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let id = field_i64(r, "id")?;
            let product = field_i64(r, "product_id")?;
            let unit = field_str(r, "unit")?;
            let weight = field_opt_i64(r, "weight_g")?;
            let price = field_i64(r, "price_fen")?;
            if price <= 0 {
                return Err(SyncError::reject(format!(
                    "variant {id}: price_fen must be positive"
                )));
            }
            if !exists(conn, "SELECT 1 FROM market_products WHERE id = $1", product)? {
                return Err(SyncError::reject(format!("there is no product {product}")));
            }
            conn.prepare_cached(
                "INSERT INTO market_variants (id, product_id, unit, weight_g, price_fen, stock) VALUES ($1, $2, $3, $4, $5, 0)
                 ON CONFLICT (id) DO UPDATE SET product_id = excluded.product_id, unit = excluded.unit,
                 weight_g = excluded.weight_g, price_fen = excluded.price_fen",
            )?
            .execute(params![id, product, unit, weight, price])?;
        }
        Ok(())
    }
}
