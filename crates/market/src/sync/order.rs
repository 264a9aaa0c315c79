//! Station orders go up: a node's order, with its lines and events, is stored on
//! the hub under the same id. Its lines and events get the hub's own row ids (no
//! one refers to them by id); a line is known by its trace code, which the
//! buyer holds and which stays the same.
//!
//! Applying an order never touches the hub's stock: the node sold units of its
//! own allocation (docs/market.md, "Village node").

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{SyncError, UpKind, field_i64, field_opt_i64, field_str};
use serde_json::Value;

use super::{field_array, key_id};

const ORDERS: Table = Table {
    name: "market_orders",
    columns: &[
        "id",
        "buyer_id",
        "placed_by",
        "for_name",
        "seller_station_id",
        "pickup_station_id",
        "status",
        "payment",
        "payment_method",
        "total_fen",
        "live_session_id",
        "created_at",
        "updated_at",
    ],
};

const ITEMS: Table = Table {
    name: "market_order_items",
    columns: &[
        "id",
        "order_id",
        "product_id",
        "variant_id",
        "live_item_id",
        "quantity",
        "price_fen",
        "batch_id",
        "trace_code",
    ],
};

const EVENTS: Table = Table {
    name: "market_order_events",
    columns: &["id", "order_id", "at", "status", "user_id", "note"],
};

pub struct OrderKind;

impl UpKind for OrderKind {
    fn kind(&self) -> &'static str {
        "order"
    }
    fn priority(&self) -> u8 {
        0
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id = key_id(key, "an order")?;
        let Some(mut order) = rows::export_one(conn, &ORDERS, id)? else {
            return Ok(None);
        };
        let items = rows::export(conn, &ITEMS, "order_id = $1", &[&id])?;
        let events = rows::export(conn, &EVENTS, "order_id = $1", &[&id])?;
        order["items"] = Value::Array(items);
        order["events"] = Value::Array(events);
        Ok(Some(order))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = key_id(key, "an order")?;
        if field_i64(body, "id")? != id {
            return Err(SyncError::reject("the order's id differs from its key"));
        }
        super::check_stations(
            conn,
            village_id,
            body,
            super::Stations {
                what: "order",
                id,
                table: "market_orders",
                home: "pickup_station_id",
                home_name: "pickup station",
                other: "seller_station_id",
            },
        )?;
        let mut order = body.clone();
        // A live sale is the node's own (its ids mean nothing here).
        order["live_session_id"] = Value::Null;
        rows::upsert(conn, &ORDERS, &order)?;
        apply_items(conn, id, field_array(body, "items")?)?;
        apply_events(conn, id, field_array(body, "events")?)?;
        Ok(())
    }
}

/// Make the order's lines exactly `items`, matched by trace code.
fn apply_items(conn: &Connection, order: i64, items: &[Value]) -> Result<(), SyncError> {
    let mut codes = std::collections::HashSet::with_capacity(items.len());
    for it in items {
        let code = field_str(it, "trace_code")?;
        let product = field_i64(it, "product_id")?;
        let variant = field_i64(it, "variant_id")?;
        let quantity = field_i64(it, "quantity")?;
        let price = field_i64(it, "price_fen")?;
        let batch = field_opt_i64(it, "batch_id")?;
        if quantity <= 0 || price <= 0 {
            return Err(SyncError::reject(format!(
                "line {code}: quantity and price must be positive"
            )));
        }
        let known: bool = conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM market_variants WHERE id = $1 AND product_id = $2)",
            )?
            .query_row(params![variant, product], |r| r.get(0))?;
        if !known {
            return Err(SyncError::reject(format!(
                "line {code}: product {product} has no variant {variant} on the hub"
            )));
        }
        let owner: Option<i64> = conn
            .prepare_cached("SELECT order_id FROM market_order_items WHERE trace_code = $1")?
            .query_row([code], |r| r.get(0))
            .optional()?;
        match owner {
            Some(o) if o != order => {
                return Err(SyncError::reject(format!(
                    "trace code {code} belongs to order {o}"
                )));
            }
            Some(_) => {
                conn.prepare_cached(
                    "UPDATE market_order_items SET product_id = $1, variant_id = $2, quantity = $3, price_fen = $4, batch_id = $5
                     WHERE trace_code = $6",
                )?
                .execute(params![product, variant, quantity, price, batch, code])?;
            }
            None => {
                conn.prepare_cached(
                    "INSERT INTO market_order_items (order_id, product_id, variant_id, quantity, price_fen, batch_id, trace_code)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )?
                .execute(params![order, product, variant, quantity, price, batch, code])?;
            }
        }
        codes.insert(code.to_string());
    }
    let stored: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, trace_code FROM market_order_items WHERE order_id = $1")?
        .query_map([order], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (row, code) in stored {
        if !codes.contains(&code) {
            conn.prepare_cached("DELETE FROM market_order_items WHERE id = $1")?
                .execute([row])?;
        }
    }
    Ok(())
}

type Event = (i64, String, Option<i64>, String);

/// Make the order's history exactly `events` (in their order). Left alone when
/// it already is, so that applying the same record again changes no row.
fn apply_events(conn: &Connection, order: i64, events: &[Value]) -> Result<(), SyncError> {
    let mut want: Vec<Event> = Vec::with_capacity(events.len());
    for e in events {
        want.push((
            field_i64(e, "at")?,
            field_str(e, "status")?.to_string(),
            field_opt_i64(e, "user_id")?,
            field_str(e, "note")?.to_string(),
        ));
    }
    let have: Vec<Event> = conn
        .prepare_cached(
            "SELECT at, status, user_id, note FROM market_order_events WHERE order_id = $1 ORDER BY id",
        )?
        .query_map([order], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    if have == want {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM market_order_events WHERE order_id = $1")?
        .execute([order])?;
    for (at, status, user, note) in &want {
        conn.prepare_cached(
            "INSERT INTO market_order_events (order_id, at, status, user_id, note) VALUES ($1, $2, $3, $4, $5)",
        )?
        .execute(params![order, at, status, user, note])?;
    }
    Ok(())
}
