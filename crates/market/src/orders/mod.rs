//! Orders: placement goes through the group-commit [`writer`]; the status
//! machine, payments and reads run on the application database.
//!
//! ```text
//! placed → packed → shipped → delivered | collected
//! placed | packed → cancelled (stock returned)
//! ```

pub mod place;
pub mod writer;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};
use cunlink_core::time::now_ms;

use crate::access::{self, Station};
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::live::StockChange;

struct OrderHead {
    id: i64,
    buyer_id: i64,
    placed_by: i64,
    status: String,
    payment: String,
    seller: Option<Station>,
    pickup: Station,
}

fn head(conn: &Connection, id: i64) -> Result<OrderHead, MarketError> {
    let row: Option<(i64, i64, i64, String, String, Option<i64>, i64)> = conn
        .query_row(
            "SELECT id, buyer_id, placed_by, status, payment, seller_station_id, pickup_station_id FROM market_orders WHERE id = $1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .optional()?;
    let Some((id, buyer_id, placed_by, status, payment, seller, pickup)) = row else {
        return Err(MarketError::not_found(
            "unknown_order",
            format!("there is no order {id}"),
        ));
    };
    let seller = seller
        .map(|s| access::station(conn, s))
        .transpose()?
        .flatten();
    let pickup = access::station_or_404(conn, pickup, "pickup_station_id")?;
    Ok(OrderHead {
        id,
        buyer_id,
        placed_by,
        status,
        payment,
        seller,
        pickup,
    })
}

fn operates_any(user: &User, h: &OrderHead) -> bool {
    access::operates(user, &h.pickup)
        || h.seller.as_ref().is_some_and(|s| access::operates(user, s))
}

fn may_see(conn: &Connection, user: &User, h: &OrderHead) -> Result<bool, MarketError> {
    if user.id == h.buyer_id
        || user.id == h.placed_by
        || operates_any(user, h)
        || user.role == Role::CountyStaff
    {
        return Ok(true);
    }
    // A producer sees orders containing their products.
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_order_items i JOIN market_products p ON p.id = i.product_id
         JOIN market_producers pr ON pr.id = p.producer_id WHERE i.order_id = $1 AND pr.user_id = $2)",
        params![h.id, user.id],
        |r| r.get(0),
    )?)
}

/// `GET /api/market/orders/{id}`: the order, its items, events and parcel.
pub fn get(conn: &Connection, user: &User, id: i64) -> Result<Value, MarketError> {
    let h = head(conn, id)?;
    if !may_see(conn, user, &h)? {
        return Err(MarketError::forbidden("this order is not yours"));
    }
    let mut v = conn.query_row(
        "SELECT id, buyer_id, placed_by, for_name, seller_station_id, pickup_station_id, status, payment, payment_method, total_fen, live_session_id, created_at, updated_at
         FROM market_orders WHERE id = $1",
        [id],
        |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?, "buyer_id": r.get::<_, i64>(1)?, "placed_by": r.get::<_, i64>(2)?,
                "for_name": r.get::<_, Option<String>>(3)?, "seller_station_id": r.get::<_, Option<i64>>(4)?,
                "pickup_station_id": r.get::<_, i64>(5)?, "status": r.get::<_, String>(6)?, "payment": r.get::<_, String>(7)?,
                "payment_method": r.get::<_, Option<String>>(8)?, "total_fen": r.get::<_, i64>(9)?,
                "live_session_id": r.get::<_, Option<i64>>(10)?, "created_at": r.get::<_, i64>(11)?, "updated_at": r.get::<_, i64>(12)?,
            }))
        },
    )?;
    let mut st = conn.prepare_cached(
        "SELECT i.product_id, i.variant_id, p.name, v.unit, i.quantity, i.price_fen, i.trace_code FROM market_order_items i
         JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id WHERE i.order_id = $1 ORDER BY i.id",
    )?;
    let items: Vec<Value> = st
        .query_map([id], |r| {
            let code: String = r.get(6)?;
            Ok(json!({"product_id": r.get::<_, i64>(0)?, "variant_id": r.get::<_, i64>(1)?, "name": r.get::<_, String>(2)?,
                "unit": r.get::<_, String>(3)?, "quantity": r.get::<_, i64>(4)?, "price_fen": r.get::<_, i64>(5)?,
                "trace_url": format!("/t/{code}"), "trace_code": code}))
        })?
        .collect::<Result<_, _>>()?;
    let mut st = conn.prepare_cached(
        "SELECT at, status, user_id, note FROM market_order_events WHERE order_id = $1 ORDER BY id",
    )?;
    let events: Vec<Value> = st
        .query_map([id], |r| {
            Ok(json!({"at": r.get::<_, i64>(0)?, "status": r.get::<_, String>(1)?, "user_id": r.get::<_, Option<i64>>(2)?, "note": r.get::<_, String>(3)?}))
        })?
        .collect::<Result<_, _>>()?;
    let parcel: Option<i64> = conn
        .query_row(
            "SELECT id FROM market_parcels WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    v["items"] = Value::Array(items);
    v["events"] = Value::Array(events);
    v["parcel_id"] = json!(parcel);
    Ok(v)
}

fn event(
    conn: &Connection,
    order: i64,
    status: &str,
    user: i64,
    note: &str,
) -> Result<(), MarketError> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO market_order_events (order_id, at, status, user_id, note) VALUES ($1, $2, $3, $4, $5)",
        params![order, now, status, user, note],
    )?;
    Ok(())
}

fn set_status(conn: &Connection, h: &OrderHead, to: &str) -> Result<(), MarketError> {
    // Guarded on the status read, so two racing transitions cannot both apply.
    let n = conn.execute(
        "UPDATE market_orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        params![to, now_ms(), h.id, h.status],
    )?;
    if n == 0 {
        return Err(MarketError::conflict(
            "status_changed",
            Some("status".into()),
            "the order changed meanwhile; reload it",
        ));
    }
    Ok(())
}

/// `POST /api/market/orders/{id}/status` `{"status": "packed"|"shipped"|"delivered"|"cancelled", "note"?}`.
/// Returns the order and the stock changes of a cancellation.
pub fn transition(
    conn: &Connection,
    user: &User,
    id: i64,
    body: &Obj,
) -> Result<(Value, Vec<StockChange>), MarketError> {
    let to = input::string(body, "status", 16)?;
    let note = input::opt_str(body, "note", 500)?.unwrap_or("");
    let h = head(conn, id)?;
    let seller_op =
        h.seller.as_ref().is_some_and(|s| access::operates(user, s)) || user.role == Role::Admin;
    let pickup_op = access::operates(user, &h.pickup);
    let from = h.status.as_str();
    let mut stock = Vec::new();
    match (from, to) {
        ("placed", "packed") | ("packed", "shipped") => {
            if !seller_op {
                return Err(MarketError::forbidden(match &h.seller {
                    Some(s) => format!(
                        "only the operator of the packing station '{}' ({}) may mark this order {to}",
                        s.name, s.village
                    ),
                    None => "this order's village has no station yet; only an admin may pack it"
                        .to_string(),
                }));
            }
            set_status(conn, &h, to)?;
            if to == "shipped" {
                crate::parcels::create_for_order(
                    conn,
                    &h.pickup,
                    h.seller.as_ref(),
                    id,
                    h.buyer_id,
                    user.id,
                )?;
            }
        }
        ("shipped", "delivered") => {
            if !pickup_op {
                return Err(MarketError::forbidden(format!(
                    "only the operator of station '{}' may mark this order delivered",
                    h.pickup.name
                )));
            }
            set_status(conn, &h, to)?;
        }
        ("placed" | "packed", "cancelled") => {
            let own = (user.id == h.buyer_id || user.id == h.placed_by) && from == "placed";
            if !(own || seller_op || pickup_op) {
                return Err(MarketError::forbidden(
                    "only the buyer (before packing) or the stations' operators may cancel this order",
                ));
            }
            set_status(conn, &h, to)?;
            stock = return_stock(conn, id)?;
        }
        (_, "placed" | "packed" | "shipped" | "delivered" | "cancelled" | "collected") => {
            let hint = if to == "collected" {
                " (collection goes through the parcel and its pickup code)"
            } else {
                ""
            };
            return Err(MarketError::conflict(
                "bad_transition",
                Some("status".into()),
                format!("an order that is {from} cannot become {to}{hint}"),
            ));
        }
        _ => {
            return Err(MarketError::invalid(
                "unknown_status",
                "status",
                format!("unknown status '{to}'; expected packed, shipped, delivered or cancelled"),
            ));
        }
    }
    event(conn, id, to, user.id, note)?;
    Ok((get(conn, user, id)?, stock))
}

/// Put the units of a cancelled order back where they came from.
fn return_stock(conn: &Connection, order: i64) -> Result<Vec<StockChange>, MarketError> {
    let mut st = conn.prepare(
        "SELECT variant_id, live_item_id, quantity FROM market_order_items WHERE order_id = $1",
    )?;
    let lines: Vec<(i64, Option<i64>, i64)> = st
        .query_map([order], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut changes = Vec::new();
    for (variant, live, q) in lines {
        match live {
            Some(item) => {
                let (session, status): (i64, String) = conn.query_row(
                    "SELECT s.id, s.status FROM market_live_items i JOIN market_live_sessions s ON s.id = i.session_id WHERE i.id = $1",
                    [item],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                if status == "live" {
                    conn.execute(
                        "UPDATE market_live_items SET sold = sold - $1 WHERE id = $2",
                        params![q, item],
                    )?;
                    let remaining: i64 = conn.query_row(
                        "SELECT session_stock - sold FROM market_live_items WHERE id = $1",
                        [item],
                        |r| r.get(0),
                    )?;
                    changes.push(StockChange {
                        session_id: session,
                        item_id: item,
                        remaining,
                    });
                } else {
                    // The session is over and its unsold units went back already.
                    conn.execute(
                        "UPDATE market_variants SET stock = stock + $1 WHERE id = $2",
                        params![q, variant],
                    )?;
                }
            }
            None => {
                conn.execute(
                    "UPDATE market_variants SET stock = stock + $1 WHERE id = $2",
                    params![q, variant],
                )?;
            }
        }
    }
    Ok(changes)
}

/// `POST /api/market/orders/{id}/payment` `{"state": "paid_at_station"|"refunded", "method": "cash"|"qr"}`:
/// what a station operator took or gave back at the counter. No gateway is pretended.
pub fn payment(conn: &Connection, user: &User, id: i64, body: &Obj) -> Result<Value, MarketError> {
    let state = input::string(body, "state", 32)?;
    let method = input::opt_str(body, "method", 16)?;
    let h = head(conn, id)?;
    if !operates_any(user, &h) {
        return Err(MarketError::forbidden(
            "only an operator of this order's stations records payments",
        ));
    }
    match (h.payment.as_str(), state) {
        ("unpaid", "paid_at_station") => {
            let m = method.ok_or_else(|| {
                MarketError::invalid("missing_field", "method", "method is required: cash or qr")
            })?;
            if m != "cash" && m != "qr" {
                return Err(MarketError::invalid(
                    "bad_method",
                    "method",
                    format!("method must be cash or qr, got '{m}'"),
                ));
            }
            if h.status == "cancelled" {
                return Err(MarketError::conflict(
                    "order_cancelled",
                    Some("state".into()),
                    "this order is cancelled; nothing to pay",
                ));
            }
            conn.execute("UPDATE market_orders SET payment = 'paid_at_station', payment_method = $1, updated_at = $2 WHERE id = $3 AND payment = 'unpaid'", params![m, now_ms(), id])?;
        }
        ("paid_at_station", "refunded") => {
            conn.execute("UPDATE market_orders SET payment = 'refunded', updated_at = $1 WHERE id = $2 AND payment = 'paid_at_station'", params![now_ms(), id])?;
        }
        (_, "unpaid" | "paid_at_station" | "refunded") => {
            return Err(MarketError::conflict(
                "bad_payment_transition",
                Some("state".into()),
                format!("payment that is {} cannot become {state}", h.payment),
            ));
        }
        _ => {
            return Err(MarketError::invalid(
                "unknown_payment_state",
                "state",
                format!("unknown payment state '{state}'; expected paid_at_station or refunded"),
            ));
        }
    }
    event(
        conn,
        id,
        &format!("payment:{state}"),
        user.id,
        method.unwrap_or(""),
    )?;
    get(conn, user, id)
}

/// Mark an order collected (called when its parcel is collected with the code).
pub fn collected(conn: &Connection, order: i64, user: i64) -> Result<(), MarketError> {
    let n = conn.execute(
        "UPDATE market_orders SET status = 'collected', updated_at = $1 WHERE id = $2 AND status IN ('shipped', 'delivered')",
        params![now_ms(), order],
    )?;
    if n > 0 {
        event(conn, order, "collected", user, "")?;
    }
    Ok(())
}

/// Orders the caller placed, newest first.
pub fn mine(conn: &Connection, user: &User) -> Result<Vec<Value>, MarketError> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM market_orders WHERE buyer_id = $1 OR placed_by = $1 ORDER BY id DESC LIMIT 100")?
        .query_map([user.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| get(conn, user, id)).collect()
}
