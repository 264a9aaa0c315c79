//! Live sales: a session linked to the producer's Douyin or Kuaishou stream, with
//! pinned products at a session price. Pinning sets units aside from the
//! variant's stock (so the shop and the stream cannot sell the same unit twice);
//! ending the session returns the unsold units. Buyers order through the same
//! order writer, which takes session stock atomically and publishes the
//! remaining count to viewers (SSE) after each commit.

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};

use crate::access;
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::orders::place::{ItemRequest, OrderRequest};
use crate::store;

/// Remaining session stock of one pinned item, as pushed to viewers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StockChange {
    pub session_id: i64,
    pub item_id: i64,
    pub remaining: i64,
}

fn platform_of(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or("");
    let under = |d: &str| host == d || host.ends_with(&format!(".{d}"));
    if under("douyin.com") || under("iesdouyin.com") {
        Some("douyin")
    } else if under("kuaishou.com") || under("kuaishou.cn") || under("gifshow.com") {
        Some("kuaishou")
    } else {
        None
    }
}

/// `POST /api/market/live` (farmer) `{"title", "stream_url", "items": [{"product_id", "variant_id"?, "session_price_fen", "session_stock"}]}`.
pub fn create(conn: &Connection, user: &User, body: &Obj) -> Result<Value, MarketError> {
    let title = input::string(body, "title", 100)?;
    let url = input::string(body, "stream_url", 500)?;
    let platform = platform_of(url).ok_or_else(|| {
        MarketError::invalid("bad_stream_url", "stream_url", "stream_url must be an http(s) link to a Douyin (douyin.com) or Kuaishou (kuaishou.com) live room")
    })?;
    let items = input::array(body, "items")?
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            MarketError::invalid("missing_field", "items", "pin at least one product (items)")
        })?;
    let producer = access::producer_of(conn, user)?;
    let session = store::live::insert_session(conn, producer, title, platform, url)?;
    for (i, v) in items.iter().enumerate() {
        let o = input::as_object(v, &format!("items[{i}]"))?;
        let pid = input::int(o, "product_id", &format!("items[{i}].product_id"))?;
        let price = input::price_fen(
            o,
            "session_price_fen",
            &format!("items[{i}].session_price_fen"),
        )?;
        let stock = input::int(o, "session_stock", &format!("items[{i}].session_stock"))?;
        if !(1..=crate::catalog::MAX_STOCK).contains(&stock) {
            return Err(MarketError::invalid(
                "bad_stock",
                format!("items[{i}].session_stock"),
                format!("session_stock must be 1-{}", crate::catalog::MAX_STOCK),
            ));
        }
        let vid: Option<i64> =
            match input::opt_int(o, "variant_id", &format!("items[{i}].variant_id"))? {
                Some(v) => Some(v),
                None => store::products::first_variant(conn, pid)?,
            };
        let owner = match vid {
            Some(v) => store::live::listed_variant(conn, v, pid)?.map(|o| (v, o)),
            None => None,
        };
        let Some((vid, (owner, have))) = owner else {
            return Err(MarketError::invalid(
                "unknown_product",
                format!("items[{i}].product_id"),
                format!("there is no listed product {pid} with that variant"),
            ));
        };
        if owner != producer {
            return Err(MarketError::forbidden(format!(
                "product {pid} is not yours to sell"
            )));
        }
        if !store::live::set_aside(conn, vid, stock)? {
            return Err(MarketError::conflict(
                "out_of_stock",
                Some(format!("items[{i}].session_stock")),
                format!("product {pid} has only {have} in stock"),
            ));
        }
        store::live::insert_item(conn, session, pid, vid, price, stock)?;
    }
    get(conn, session)
}

pub fn get(conn: &Connection, id: i64) -> Result<Value, MarketError> {
    let Some(s) = store::live::session(conn, id)? else {
        return Err(MarketError::not_found(
            "unknown_live_session",
            format!("there is no live sale {id}"),
        ));
    };
    let mut head = json!({"id": s.id, "title": s.title, "platform": s.platform,
        "stream_url": s.stream_url, "status": s.status, "created_at": s.created_at,
        "ended_at": s.ended_at, "producer": s.producer});
    let items: Vec<Value> = store::live::items(conn, id)?
        .into_iter()
        .map(|i| {
            json!({"id": i.id, "product_id": i.product_id, "name": i.name, "unit": i.unit,
                "session_price_fen": i.session_price_fen, "session_stock": i.session_stock, "sold": i.sold,
                "remaining": i.session_stock - i.sold})
        })
        .collect();
    head["items"] = Value::Array(items);
    Ok(head)
}

/// `POST /api/market/live/{id}/end` (its producer): unsold units go back to stock.
pub fn end(conn: &Connection, user: &User, id: i64) -> Result<Value, MarketError> {
    let Some((owner, status)) = store::live::owner_and_status(conn, id)? else {
        return Err(MarketError::not_found(
            "unknown_live_session",
            format!("there is no live sale {id}"),
        ));
    };
    if owner != user.id && user.role != Role::Admin {
        return Err(MarketError::forbidden(
            "only the producer who runs this live sale may end it",
        ));
    }
    if status != "live" {
        return Err(MarketError::conflict(
            "live_ended",
            None,
            "this live sale has already ended",
        ));
    }
    if !store::live::end(conn, id)? {
        return Err(MarketError::conflict(
            "live_ended",
            None,
            "this live sale has already ended",
        ));
    }
    get(conn, id)
}

/// `POST /api/market/live/{id}/orders` `{"item_id", "quantity", "pickup_station_id"}`.
pub fn parse_order(user: &User, session: i64, body: &Obj) -> Result<OrderRequest, MarketError> {
    access::require_role(
        user,
        &[
            Role::Buyer,
            Role::Villager,
            Role::Farmer,
            Role::StationOperator,
            Role::Admin,
        ],
        "ordering",
    )?;
    let item = input::int(body, "item_id", "item_id")?;
    let quantity = input::int(body, "quantity", "quantity")?;
    if quantity <= 0 || quantity > 1000 {
        return Err(MarketError::invalid(
            "bad_quantity",
            "quantity",
            format!("quantity must be 1-1000, got {quantity}"),
        ));
    }
    Ok(OrderRequest {
        buyer_id: user.id,
        placed_by: user.id,
        for_name: None,
        operator_village: None,
        pickup_station_id: input::int(body, "pickup_station_id", "pickup_station_id")?,
        live_session_id: Some(session),
        items: vec![ItemRequest {
            product_id: None,
            variant_id: None,
            live_item_id: Some(item),
            quantity,
        }],
    })
}

/// Whether `item` belongs to `session` (checked before queueing a live order).
pub fn item_in_session(conn: &Connection, session: i64, item: i64) -> Result<bool, MarketError> {
    store::live::item_in_session(conn, session, item)
}
