//! Placing one order inside the writer's transaction.

use cunlink_core::sql::Connection;
use serde_json::json;

use cunlink_core::auth::{Role, User};
use cunlink_core::time::now_ms;

use crate::access;
use crate::error::MarketError;
use crate::idem::{self, Answer};
use crate::input::{self, Obj};
use crate::live::StockChange;
use crate::prices::Observation;
use crate::store::placing;

const MAX_ITEMS: usize = 50;
const MAX_QUANTITY: i64 = 100_000;

#[derive(Debug, Clone)]
pub struct ItemRequest {
    pub product_id: Option<i64>,
    pub variant_id: Option<i64>,
    pub live_item_id: Option<i64>,
    pub quantity: i64,
}

/// A validated order request; what the database must still confirm (stock,
/// products, station) is checked by [`apply`].
#[derive(Debug, Clone)]
pub struct OrderRequest {
    pub buyer_id: i64,
    pub placed_by: i64,
    /// The villager an operator orders for (assisted ordering).
    pub for_name: Option<String>,
    pub operator_village: Option<i64>,
    pub pickup_station_id: i64,
    pub live_session_id: Option<i64>,
    pub items: Vec<ItemRequest>,
}

/// What a committed order changes outside the database.
#[derive(Default)]
pub struct Effects {
    pub stock: Vec<StockChange>,
    pub prices: Vec<Observation>,
}

impl Effects {
    pub fn absorb(&mut self, other: Effects) {
        self.stock.extend(other.stock);
        self.prices.extend(other.prices);
    }
}

fn positive_quantity(o: &Obj, path: &str) -> Result<i64, MarketError> {
    let q = input::int(o, "quantity", path)?;
    if q <= 0 {
        return Err(MarketError::invalid(
            "bad_quantity",
            path,
            format!("{path} must be at least 1, got {q}"),
        ));
    }
    if q > MAX_QUANTITY {
        return Err(MarketError::invalid(
            "bad_quantity",
            path,
            format!("{path} must be at most {MAX_QUANTITY}"),
        ));
    }
    Ok(q)
}

/// `POST /api/market/orders` body → request. Buyers order for themselves;
/// station operators order for a villager (`for_name`) at their own station.
pub fn parse(user: &User, body: &Obj) -> Result<OrderRequest, MarketError> {
    access::require_role(
        user,
        &[
            Role::Buyer,
            Role::StationOperator,
            Role::Villager,
            Role::Farmer,
            Role::Admin,
        ],
        "ordering",
    )?;
    let pickup_station_id = input::int(body, "pickup_station_id", "pickup_station_id")?;
    let list = input::array(body, "items")?
        .ok_or_else(|| MarketError::invalid("missing_field", "items", "items is required"))?;
    if list.is_empty() || list.len() > MAX_ITEMS {
        return Err(MarketError::invalid(
            "bad_items",
            "items",
            format!("an order has 1-{MAX_ITEMS} items"),
        ));
    }
    let mut items = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let o = input::as_object(v, &format!("items[{i}]"))?;
        let product_id = input::opt_int(o, "product_id", &format!("items[{i}].product_id"))?;
        let variant_id = input::opt_int(o, "variant_id", &format!("items[{i}].variant_id"))?;
        if product_id.is_none() && variant_id.is_none() {
            return Err(MarketError::invalid(
                "missing_field",
                format!("items[{i}].product_id"),
                format!("items[{i}].product_id is required"),
            ));
        }
        let quantity = positive_quantity(o, &format!("items[{i}].quantity"))?;
        items.push(ItemRequest {
            product_id,
            variant_id,
            live_item_id: None,
            quantity,
        });
    }
    let for_name = input::opt_str(body, "for_name", 64)?
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if for_name.is_some() && user.role != Role::StationOperator && user.role != Role::Admin {
        return Err(MarketError::forbidden(
            "only a station operator may order on behalf of a villager (for_name)",
        ));
    }
    Ok(OrderRequest {
        buyer_id: user.id,
        placed_by: user.id,
        for_name,
        operator_village: (user.role == Role::StationOperator)
            .then_some(user.village_id)
            .flatten(),
        pickup_station_id,
        live_session_id: None,
        items,
    })
}

struct Line {
    product_id: i64,
    variant_id: i64,
    live_item_id: Option<i64>,
    quantity: i64,
    price_fen: i64,
    batch_id: Option<i64>,
    name: String,
    unit: String,
    village_id: Option<i64>,
}

/// Check and apply one order. Runs inside the writer's SAVEPOINT: any error
/// rolls back everything this call did.
pub fn apply(
    conn: &Connection,
    user_id: i64,
    key: Option<&str>,
    hash: &str,
    req: &OrderRequest,
    fx: &mut Effects,
    random: &mut cunlink_core::random::Pool,
) -> Result<Answer, MarketError> {
    if let Some(k) = key {
        if let Some(a) = idem::claim(conn, user_id, k, hash)? {
            return Ok(a);
        }
    }
    let pickup = req.pickup_station_id;
    check_pickup(conn, req)?;
    let now = now_ms();
    let lines = take_lines(conn, req, fx)?;
    let village = lines[0].village_id;
    let seller_station: Option<i64> = match village {
        Some(v) => crate::store::stations::first_in_village(conn, v)?,
        None => None,
    };
    let total = order_total(&lines)?;
    let order_id = placing::insert_order(
        conn,
        &placing::NewOrder {
            buyer_id: req.buyer_id,
            placed_by: req.placed_by,
            for_name: req.for_name.as_deref(),
            seller_station_id: seller_station,
            pickup_station_id: pickup,
            total_fen: total,
            live_session_id: req.live_session_id,
            at: now,
        },
    )?;
    let items_json = insert_items(conn, order_id, &lines, now, fx, random)?;
    let note = req
        .for_name
        .as_deref()
        .map(|n| format!("代下单: {n}"))
        .unwrap_or_default();
    placing::placed_event(conn, order_id, now, req.placed_by, &note)?;
    let v = json!({
        "id": order_id, "status": "placed", "payment": "unpaid", "total_fen": total,
        "pickup_station_id": pickup, "seller_station_id": seller_station,
        "for_name": req.for_name, "live_session_id": req.live_session_id,
        "items": items_json, "created_at": now,
    });
    let answer = Answer::created(&v);
    if let Some(k) = key {
        idem::store(conn, user_id, k, hash, &answer)?;
    }
    Ok(answer)
}

/// The pickup station exists, and an operator orders only for their own village's.
fn check_pickup(conn: &Connection, req: &OrderRequest) -> Result<(), MarketError> {
    // One read of the station's own row on this hot path; its village's name
    // is needed only for the refusal below.
    let pickup = req.pickup_station_id;
    let Some(pickup_village) = placing::station_village(conn, pickup)? else {
        // As access::station_or_404 answers.
        return Err(MarketError::invalid(
            "unknown_station",
            "pickup_station_id",
            format!("there is no station {pickup}"),
        ));
    };
    if let Some(v) = req.operator_village {
        if v != pickup_village {
            let village = access::station_or_404(conn, pickup, "pickup_station_id")?.village;
            return Err(MarketError::forbidden(format!(
                "a station operator orders only for pickup at their own village's station; station {pickup} is in {village}"
            )));
        }
    }
    Ok(())
}

/// Take every item from stock (or a live sale); all from one village.
fn take_lines(
    conn: &Connection,
    req: &OrderRequest,
    fx: &mut Effects,
) -> Result<Vec<Line>, MarketError> {
    let mut lines: Vec<Line> = Vec::with_capacity(req.items.len());
    for (i, it) in req.items.iter().enumerate() {
        let line = if let Some(live_item) = it.live_item_id {
            take_live(conn, live_item, it.quantity, fx)?
        } else {
            take_stock(conn, i, it)?
        };
        lines.push(line);
    }
    let village = lines[0].village_id;
    if lines.iter().any(|l| l.village_id != village) {
        return Err(MarketError::invalid(
            "mixed_villages",
            "items",
            "all items of one order must come from producers of one village (one packing station); place one order per village",
        ));
    }
    Ok(lines)
}

/// The order's total in fen; refused rather than wrapped.
fn order_total(lines: &[Line]) -> Result<i64, MarketError> {
    // Prices and quantities are bounded on input, so this cannot overflow today;
    // checked anyway so a raised bound can never wrap a total.
    lines
        .iter()
        .try_fold(0i64, |t, l| {
            l.price_fen.checked_mul(l.quantity)?.checked_add(t)
        })
        .ok_or_else(|| {
            MarketError::invalid("total_too_large", "items", "the order's total is too large")
        })
}

/// Insert the order's lines with fresh trace codes, note the prices seen;
/// the lines as the answer shows them.
fn insert_items(
    conn: &Connection,
    order_id: i64,
    lines: &[Line],
    now: i64,
    fx: &mut Effects,
    random: &mut cunlink_core::random::Pool,
) -> Result<Vec<serde_json::Value>, MarketError> {
    let mut items_json = Vec::with_capacity(lines.len());
    for l in lines {
        let code = trace_code(random, now);
        placing::insert_item(
            conn,
            &placing::NewItem {
                order_id,
                product_id: l.product_id,
                variant_id: l.variant_id,
                live_item_id: l.live_item_id,
                quantity: l.quantity,
                price_fen: l.price_fen,
                batch_id: l.batch_id,
                trace_code: &code,
            },
        )?;
        items_json.push(json!({
            "product_id": l.product_id, "variant_id": l.variant_id, "name": l.name, "unit": l.unit,
            "quantity": l.quantity, "price_fen": l.price_fen, "trace_code": code, "trace_url": format!("/t/{code}"),
        }));
        if let Some(v) = l.village_id {
            fx.prices.push(Observation {
                commodity: l.name.clone(),
                unit: l.unit.clone(),
                price_fen: l.price_fen,
                village_id: v,
            });
        }
    }
    Ok(items_json)
}

/// The same look-alike-free characters as `cunlink_core::random`, in ASCII order.
const SORTED: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// An order line's trace code: the time in 8 characters that sort like the
/// time, then 14 random ones (≈82 bits, the unguessable part). Codes of new
/// lines thus land at the end of the `trace_code` UNIQUE index instead of on a
/// random page of it, so a commit writes a few index pages rather than one per
/// order (at 7,000 orders/s that was most of the WAL).
fn trace_code(random: &mut cunlink_core::random::Pool, now_ms: i64) -> String {
    let base = SORTED.len() as u64;
    let mut t = now_ms.max(0) as u64;
    let mut head = [0u8; 8];
    for c in head.iter_mut().rev() {
        *c = SORTED[(t % base) as usize];
        t /= base;
    }
    let mut code = String::with_capacity(22);
    code.extend(head.iter().map(|&b| b as char));
    code.push_str(&random.token(14));
    code
}

fn take_stock(conn: &Connection, i: usize, it: &ItemRequest) -> Result<Line, MarketError> {
    let field = format!("items[{i}].product_id");
    let row = if let Some(vid) = it.variant_id {
        placing::variant(conn, vid)?.filter(|r| it.product_id.is_none_or(|p| p == r.0))
    } else {
        let pid = it.product_id.unwrap_or_default();
        let variants = placing::variant_count(conn, pid)?;
        if variants > 1 {
            return Err(MarketError::invalid(
                "variant_required",
                format!("items[{i}].variant_id"),
                format!("product {pid} has {variants} variants; say which (variant_id)"),
            ));
        }
        placing::product(conn, pid)?
    };
    let Some((product_id, variant_id, price_fen, stock, listed, batch_id, name, unit, village_id)) =
        row
    else {
        return Err(MarketError::Invalid {
            code: "unknown_product",
            field: Some(field),
            message: format!("items[{i}]: there is no such product or variant"),
        });
    };
    if !listed {
        return Err(MarketError::conflict(
            "product_delisted",
            Some(field),
            format!("{name} (product {product_id}) is no longer for sale"),
        ));
    }
    if !placing::take_stock(conn, variant_id, it.quantity)? {
        return Err(MarketError::conflict(
            "out_of_stock",
            Some(format!("items[{i}].quantity")),
            format!("{name}: only {stock} left, {} wanted", it.quantity),
        ));
    }
    Ok(Line {
        product_id,
        variant_id,
        live_item_id: None,
        quantity: it.quantity,
        price_fen,
        batch_id,
        name,
        unit,
        village_id,
    })
}

fn take_live(
    conn: &Connection,
    item: i64,
    quantity: i64,
    fx: &mut Effects,
) -> Result<Line, MarketError> {
    let row = placing::live_item(conn, item)?;
    let Some((
        session,
        product_id,
        variant_id,
        price,
        stock,
        sold,
        status,
        batch_id,
        name,
        unit,
        village_id,
    )) = row
    else {
        return Err(MarketError::not_found(
            "unknown_live_item",
            format!("there is no live-sale item {item}"),
        ));
    };
    if status != "live" {
        return Err(MarketError::conflict(
            "live_ended",
            Some("item_id".into()),
            "this live sale has ended",
        ));
    }
    // PostgreSQL: hold the session open until this order commits, so ending
    // it (which returns the unsold units to stock) waits for this sale and
    // counts it; an end that committed first makes this read find no live row.
    if conn.is_postgres() && !placing::hold_live_session(conn, session)? {
        return Err(MarketError::conflict(
            "live_ended",
            Some("item_id".into()),
            "this live sale has ended",
        ));
    }
    if !placing::take_live(conn, item, quantity)? {
        return Err(MarketError::conflict(
            "out_of_stock",
            Some("quantity".into()),
            format!("{name}: only {} left in this live sale", stock - sold),
        ));
    }
    fx.stock.push(StockChange {
        session_id: session,
        item_id: item,
        remaining: stock - sold - quantity,
    });
    Ok(Line {
        product_id,
        variant_id,
        live_item_id: Some(item),
        quantity,
        price_fen: price,
        batch_id,
        name,
        unit,
        village_id,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_codes_sort_by_time_and_differ() {
        let mut p = cunlink_core::random::Pool::default();
        let a = super::trace_code(&mut p, 1_790_000_000_000);
        let b = super::trace_code(&mut p, 1_790_000_000_001);
        let c = super::trace_code(&mut p, 1_790_000_057_000);
        assert_eq!(a.len(), 22);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_ne!(a[8..], b[8..]);
    }
}
