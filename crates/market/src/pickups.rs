//! Online orders handed over at a village station that runs a node
//! (docs/market.md, "Village node"). The order is the hub's; the node holds a
//! read-only copy of the ones waiting at its stations (`market_station_orders`,
//! from the down kind `station_orders`) and records the handover
//! (`market_pickups`), which goes up as kind `pickup` and becomes the order's
//! `collected` event on the hub. This works offline: the hub learns it later.

use cunlink_core::auth::{Role, User};
use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::time::now_ms;
use serde_json::{Value, json};

use crate::access;
use crate::error::MarketError;
use crate::input::{self, Obj};

/// Most orders one list shows.
const LIMIT: i64 = 200;

fn node_only() -> MarketError {
    MarketError::conflict(
        "node_only",
        None,
        "handing over at a village station is recorded on the village's node; on the hub an order is collected through its parcel",
    )
}

fn operators_only(user: &User) -> Result<(), MarketError> {
    access::require_role(
        user,
        &[Role::StationOperator, Role::Admin],
        "handing over orders at a station",
    )
}

/// `GET /api/market/pickups` on a node: the hub's online orders waiting at the
/// caller's stations (an operator's village; every station for an admin),
/// oldest first, at most 200, each with `picked_up_at` once handed over here.
pub fn list(conn: &Connection, user: &User) -> Result<Vec<Value>, MarketError> {
    operators_only(user)?;
    if !cunlink_core::sync::is_node(conn)? {
        return Err(node_only());
    }
    let village = if user.role == Role::Admin {
        None
    } else {
        Some(user.village_id.unwrap_or(-1))
    };
    rows(conn, village, None)
}

/// Copies at the stations of `village` (all with `None`), or copy `id` only.
fn rows(
    conn: &Connection,
    village: Option<i64>,
    id: Option<i64>,
) -> Result<Vec<Value>, MarketError> {
    let mut st = conn.prepare_cached(
        "SELECT o.id, o.buyer_id, o.buyer_name, o.for_name, o.pickup_station_id, o.status, o.payment,
                o.total_fen, o.created_at, o.lines, p.at, p.method
         FROM market_station_orders o JOIN market_stations s ON s.id = o.pickup_station_id
         LEFT JOIN market_pickups p ON p.order_id = o.id
         WHERE (CAST($1 AS BIGINT) IS NULL OR s.village_id = $1)
           AND (CAST($2 AS BIGINT) IS NULL OR o.id = $2) ORDER BY o.id LIMIT $3",
    )?;
    let rows = st.query_map(params![village, id, LIMIT], |r| {
        let lines: String = r.get(9)?;
        Ok(json!({
            "id": r.get::<_, i64>(0)?, "buyer_id": r.get::<_, i64>(1)?,
            "buyer_name": r.get::<_, String>(2)?, "for_name": r.get::<_, Option<String>>(3)?,
            "pickup_station_id": r.get::<_, i64>(4)?, "status": r.get::<_, String>(5)?,
            "payment": r.get::<_, String>(6)?, "total_fen": r.get::<_, i64>(7)?,
            "created_at": r.get::<_, i64>(8)?,
            // Written by this node's down sync from the hub's lines.
            "lines": serde_json::from_str::<Value>(&lines).unwrap_or(Value::Array(Vec::new())),
            "picked_up_at": r.get::<_, Option<i64>>(10)?, "method": r.get::<_, Option<String>>(11)?,
        }))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `POST /api/market/orders/{id}/pickup` `{"method"?: "cash"|"qr"}` on a node:
/// the pickup station's operator hands the hub's order `id` over (and took
/// the payment, if `method` is given). Once per order.
pub fn pickup(conn: &Connection, user: &User, id: i64, body: &Obj) -> Result<Value, MarketError> {
    operators_only(user)?;
    let method = input::opt_str(body, "method", 16)?;
    if method.is_some_and(|m| m != "cash" && m != "qr") {
        return Err(MarketError::invalid(
            "bad_method",
            "method",
            "method must be cash or qr",
        ));
    }
    if !cunlink_core::sync::is_node(conn)? {
        // Still answer who may act first, so the hub reveals nothing more.
        if let Some(h) = crate::store::orders::head(conn, id)? {
            let station = access::station_or_404(conn, h.pickup_station_id, "pickup_station_id")?;
            access::require_operator_of(user, &station)?;
        }
        return Err(node_only());
    }
    let copy: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT pickup_station_id, payment FROM market_station_orders WHERE id = $1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((station, payment)) = copy else {
        if crate::store::orders::head(conn, id)?.is_some() {
            return Err(MarketError::conflict(
                "station_order",
                None,
                format!(
                    "order {id} was placed at this station; it is collected through its parcel"
                ),
            ));
        }
        return Err(MarketError::not_found(
            "unknown_order",
            format!("no online order {id} waits at this village's stations"),
        ));
    };
    let station = access::station_or_404(conn, station, "pickup_station_id")?;
    access::require_operator_of(user, &station)?;
    if method.is_some() && payment != "unpaid" {
        return Err(MarketError::conflict(
            "already_paid",
            Some("method".into()),
            format!("order {id} is {payment}; nothing to pay at the station"),
        ));
    }
    let n = conn
        .prepare_cached(
            "INSERT INTO market_pickups (order_id, station_id, at, operator_id, method) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (order_id) DO NOTHING",
        )?
        .execute(params![id, station.id, now_ms(), user.id, method])?;
    if n == 0 {
        return Err(MarketError::conflict(
            "already_picked_up",
            None,
            format!("order {id} was handed over already"),
        ));
    }
    list_one(conn, id)
}

fn list_one(conn: &Connection, id: i64) -> Result<Value, MarketError> {
    rows(conn, None, Some(id))?
        .pop()
        .ok_or_else(|| MarketError::not_found("unknown_order", format!("no order {id}")))
}
