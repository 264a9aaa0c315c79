//! Orders: placement goes through the group-commit [`writer`]; the status
//! machine, payments and reads run on the application database.
//!
//! ```text
//! placed → packed → shipped → delivered | collected
//! placed | packed → cancelled (stock returned)
//! ```

pub mod place;
pub mod writer;

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};

use crate::access::{self, Station};
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::live::StockChange;
use crate::store;

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
    let Some(row) = store::orders::head(conn, id)? else {
        return Err(MarketError::not_found(
            "unknown_order",
            format!("there is no order {id}"),
        ));
    };
    let store::orders::HeadRow {
        id,
        buyer_id,
        placed_by,
        status,
        payment,
        seller_station_id: seller,
        pickup_station_id: pickup,
    } = row;
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
    store::orders::has_product_of(conn, h.id, user.id)
}

/// `GET /api/market/orders/{id}`: the order, its items, events and parcel.
pub fn get(conn: &Connection, user: &User, id: i64) -> Result<Value, MarketError> {
    let h = head(conn, id)?;
    if !may_see(conn, user, &h)? {
        return Err(MarketError::forbidden("this order is not yours"));
    }
    let d = store::orders::detail(conn, id)?;
    let mut v = json!({
        "id": d.id, "buyer_id": d.buyer_id, "placed_by": d.placed_by,
        "for_name": d.for_name, "seller_station_id": d.seller_station_id,
        "pickup_station_id": d.pickup_station_id, "status": d.status, "payment": d.payment,
        "payment_method": d.payment_method, "total_fen": d.total_fen,
        "live_session_id": d.live_session_id, "created_at": d.created_at, "updated_at": d.updated_at,
    });
    let items: Vec<Value> = store::orders::items(conn, id)?
        .into_iter()
        .map(|i| {
            json!({"product_id": i.product_id, "variant_id": i.variant_id, "name": i.name,
                "unit": i.unit, "quantity": i.quantity, "price_fen": i.price_fen,
                "trace_url": format!("/t/{}", i.trace_code), "trace_code": i.trace_code})
        })
        .collect();
    let events: Vec<Value> = store::orders::events(conn, id)?
        .into_iter()
        .map(|e| json!({"at": e.at, "status": e.status, "user_id": e.user_id, "note": e.note}))
        .collect();
    let parcel = store::parcels::latest_of_order(conn, id)?;
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
    store::orders::add_event(conn, order, status, user, note)
}

fn set_status(conn: &Connection, h: &OrderHead, to: &str) -> Result<(), MarketError> {
    // Guarded on the status read, so two racing transitions cannot both apply.
    let n = store::orders::set_status(conn, h.id, &h.status, to)?;
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
    node_owns(conn, id)?;
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

/// On the hub, an order placed at a village node (an id in a node's range) is
/// the node's: it changes there and comes up again (docs/market.md, "Village
/// node"). Cancelling it here would also put the node's units into the online
/// stock.
fn node_owns(conn: &Connection, id: i64) -> Result<(), MarketError> {
    if id >= cunlink_core::sync::ID_SPAN && !cunlink_core::sync::is_node(conn)? {
        return Err(MarketError::conflict(
            "node_order",
            None,
            format!("order {id} was placed at a village node; it is changed there"),
        ));
    }
    Ok(())
}

/// Put the units of a cancelled order back where they came from.
fn return_stock(conn: &Connection, order: i64) -> Result<Vec<StockChange>, MarketError> {
    let lines = store::orders::lines(conn, order)?;
    let mut changes = Vec::new();
    for (variant, live, q) in lines {
        match live {
            Some(item) => {
                let (session, status) = store::live::item_session(conn, item)?;
                if status == "live" {
                    let remaining = store::live::unsell(conn, item, q)?;
                    changes.push(StockChange {
                        session_id: session,
                        item_id: item,
                        remaining,
                    });
                } else {
                    // The session is over and its unsold units went back already.
                    store::products::restock(conn, variant, q)?;
                }
            }
            None => {
                store::products::restock(conn, variant, q)?;
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
    node_owns(conn, id)?;
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
            if !store::orders::set_paid(conn, id, m)? {
                return Err(changed_meanwhile(state));
            }
        }
        ("paid_at_station", "refunded") => {
            if !store::orders::set_refunded(conn, id)? {
                return Err(changed_meanwhile(state));
            }
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

/// The order's payment or status changed between reading and writing it.
fn changed_meanwhile(state: &str) -> MarketError {
    MarketError::conflict(
        "bad_payment_transition",
        Some("state".into()),
        format!("the order changed meanwhile; payment cannot become {state} now"),
    )
}

/// Mark an order collected (called when its parcel is collected with the code).
pub fn collected(conn: &Connection, order: i64, user: i64) -> Result<(), MarketError> {
    let n = store::orders::set_collected(conn, order)?;
    if n > 0 {
        event(conn, order, "collected", user, "")?;
    }
    Ok(())
}

/// Orders the caller placed, newest first.
pub fn mine(conn: &Connection, user: &User) -> Result<Vec<Value>, MarketError> {
    let ids = store::orders::ids_of_user(conn, user.id)?;
    ids.into_iter().map(|id| get(conn, user, id)).collect()
}
