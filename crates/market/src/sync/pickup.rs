//! Online orders picked up at a village station (docs/market.md, "Village
//! node"). Such an order is placed on the hub and **stays the hub's**:
//!
//! - down (`station_orders`): the hub's orders whose pickup station is in the
//!   village and that wait for pickup (placed, packed, shipped or delivered),
//!   with their lines; the node keeps a read-only copy
//!   (`market_station_orders`), replaced at every sync;
//! - up (`pickup`): the station handing one over, one record per order
//!   (`market_pickups`, keyed by the order id). The hub applies it as the
//!   order's `collected` event (and its parcel's, if it has one). Applied twice,
//!   or after the order was collected on the hub, it changes nothing; an order
//!   cancelled on the hub meanwhile refuses it into the dead letters.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{
    DownKind, ID_SPAN, SyncError, UpKind, field_i64, field_opt_str, field_str,
};
use cunlink_core::time::now_ms;
use serde_json::{Value, json};

use super::key_id;

/// The statuses of an order that waits for its buyer at the pickup station.
pub const AWAITING: &str = "('placed', 'packed', 'shipped', 'delivered')";

const COPIES: Table = Table {
    name: "market_station_orders",
    columns: &[
        "id",
        "buyer_id",
        "buyer_name",
        "for_name",
        "pickup_station_id",
        "status",
        "payment",
        "total_fen",
        "created_at",
        "lines",
    ],
};

/// Down: the village's online orders waiting for pickup.
pub struct StationOrdersKind;

impl DownKind for StationOrdersKind {
    fn kind(&self) -> &'static str {
        "station_orders"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        // Only the hub's own orders (below 2^40): a node's orders are the node's.
        let heads: Vec<(i64, i64, Option<String>, i64, String, String, i64, i64)> = conn
            .prepare_cached(&format!(
                "SELECT o.id, o.buyer_id, o.for_name, o.pickup_station_id, o.status, o.payment, o.total_fen, o.created_at
                 FROM market_orders o JOIN market_stations s ON s.id = o.pickup_station_id
                 WHERE s.village_id = $1 AND o.id < $2 AND o.status IN {AWAITING} ORDER BY o.id"
            ))?
            .query_map(params![village_id, ID_SPAN], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        let buyers: Vec<i64> = heads.iter().map(|h| h.1).collect();
        let names = cunlink_core::auth::usernames(conn, &buyers)?;
        let mut out = Vec::with_capacity(heads.len());
        for (id, buyer, for_name, station, status, payment, total, created) in heads {
            let lines = lines(conn, id)?;
            out.push(json!({
                "id": id, "buyer_id": buyer,
                "buyer_name": names.get(&buyer).cloned().unwrap_or_default(),
                "for_name": for_name, "pickup_station_id": station, "status": status,
                "payment": payment, "total_fen": total, "created_at": created,
                "lines": Value::Array(lines).to_string(),
            }));
        }
        Ok(out)
    }
    fn apply(&self, conn: &Connection, _village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            if field_i64(r, "id")? >= ID_SPAN {
                return Err(SyncError::reject("a station order copy must be the hub's"));
            }
            serde_json::from_str::<Vec<Value>>(field_str(r, "lines")?)
                .map_err(|_| SyncError::reject("field 'lines' must hold a JSON list"))?;
        }
        // The table holds only the hub's copies: every row is replaced.
        rows::replace_all(conn, &COPIES, "1 = 1", &[], list)
    }
}

/// An order's lines as the station counter shows them.
fn lines(conn: &Connection, order: i64) -> Result<Vec<Value>, SyncError> {
    let mut st = conn.prepare_cached(
        "SELECT p.name, v.unit, i.quantity, i.price_fen, i.trace_code FROM market_order_items i
         JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id
         WHERE i.order_id = $1 ORDER BY i.id",
    )?;
    let rows = st.query_map([order], |r| {
        Ok(json!({
            "name": r.get::<_, String>(0)?, "unit": r.get::<_, String>(1)?,
            "quantity": r.get::<_, i64>(2)?, "price_fen": r.get::<_, i64>(3)?,
            "trace_code": r.get::<_, String>(4)?,
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up: a hub order handed over at the village's station.
pub struct PickupKind;

impl UpKind for PickupKind {
    fn kind(&self) -> &'static str {
        "pickup"
    }
    fn priority(&self) -> u8 {
        0
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id = key_id(key, "an order")?;
        let row: Option<(i64, i64, i64, Option<String>)> = conn
            .prepare_cached(
                "SELECT station_id, at, operator_id, method FROM market_pickups WHERE order_id = $1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        Ok(row.map(|(station, at, operator, method)| {
            json!({"order_id": id, "station_id": station, "at": at,
                "operator_id": operator, "method": method})
        }))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = key_id(key, "an order")?;
        if field_i64(body, "order_id")? != id {
            return Err(SyncError::reject("the pickup's order differs from its key"));
        }
        let station = field_i64(body, "station_id")?;
        let at = field_i64(body, "at")?;
        let operator = field_i64(body, "operator_id")?;
        let method = field_opt_str(body, "method")?;
        if method.is_some_and(|m| m != "cash" && m != "qr") {
            return Err(SyncError::reject("field 'method' must be cash or qr"));
        }
        if id >= ID_SPAN {
            return Err(SyncError::reject(format!(
                "order {id} is a node's; it is collected through its parcel"
            )));
        }
        let order: Option<(i64, String, String, i64)> = conn
            .prepare_cached(
                "SELECT o.pickup_station_id, o.status, o.payment, s.village_id
                 FROM market_orders o JOIN market_stations s ON s.id = o.pickup_station_id WHERE o.id = $1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((pickup, status, payment, village)) = order else {
            return Err(SyncError::reject(format!(
                "there is no order {id} on the hub"
            )));
        };
        if village != village_id {
            return Err(SyncError::reject(format!(
                "order {id} is picked up in another village"
            )));
        }
        if pickup != station {
            return Err(SyncError::reject(format!(
                "order {id} is picked up at station {pickup}, not {station}"
            )));
        }
        match status.as_str() {
            // Applied already (or collected with its parcel's code): nothing to do.
            "collected" => return Ok(()),
            "cancelled" => {
                return Err(SyncError::reject(format!(
                    "order {id} was cancelled on the hub before the station handed it over"
                )));
            }
            _ => {}
        }
        let now = now_ms();
        conn.prepare_cached(&format!(
            "UPDATE market_orders SET status = 'collected', updated_at = $1 WHERE id = $2 AND status IN {AWAITING}"
        ))?
        .execute(params![now, id])?;
        event(conn, id, at, "collected", operator, "在村服务站取货")?;
        if let Some(m) = method {
            if payment == "unpaid" {
                conn.prepare_cached(
                    "UPDATE market_orders SET payment = 'paid_at_station', payment_method = $1 WHERE id = $2",
                )?
                .execute(params![m, id])?;
                event(conn, id, at, "payment:paid_at_station", operator, m)?;
            }
        }
        collect_parcel(conn, id, at, operator)?;
        Ok(())
    }
}

fn event(
    conn: &Connection,
    order: i64,
    at: i64,
    status: &str,
    user: i64,
    note: &str,
) -> Result<(), SyncError> {
    conn.prepare_cached(
        "INSERT INTO market_order_events (order_id, at, status, user_id, note) VALUES ($1, $2, $3, $4, $5)",
    )?
    .execute(params![order, at, status, user, note])?;
    Ok(())
}

/// The order's parcel on the hub, if it is still on its way or waiting: the
/// buyer has the goods, so it is collected too.
fn collect_parcel(conn: &Connection, order: i64, at: i64, operator: i64) -> Result<(), SyncError> {
    let parcel: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM market_parcels WHERE order_id = $1 AND status NOT IN ('collected', 'returned')
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row([order], |r| r.get(0))
        .optional()?;
    let Some(parcel) = parcel else {
        return Ok(());
    };
    conn.prepare_cached(
        "UPDATE market_parcels SET status = 'collected', collected_at = $1 WHERE id = $2",
    )?
    .execute(params![at, parcel])?;
    conn.prepare_cached(
        "INSERT INTO market_parcel_events (parcel_id, at, status, place, operator_id, note) VALUES ($1, $2, 'collected', '', $3, $4)",
    )?
    .execute(params![parcel, at, operator, "在村服务站取货（村节点）"])?;
    Ok(())
}
