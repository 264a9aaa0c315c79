//! Live sales: a session linked to the producer's Douyin or Kuaishou stream, with
//! pinned products at a session price. Pinning sets units aside from the
//! variant's stock (so the shop and the stream cannot sell the same unit twice);
//! ending the session returns the unsold units. Buyers order through the same
//! order writer, which takes session stock atomically and publishes the
//! remaining count to viewers (SSE) after each commit.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};
use cunlink_core::time::now_ms;

use crate::access;
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::orders::place::{ItemRequest, OrderRequest};

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
    conn.execute(
        "INSERT INTO market_live_sessions (producer_id, title, platform, stream_url, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![producer, title, platform, url, now_ms()],
    )?;
    let session = conn.last_insert_rowid();
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
                None => conn.query_row(
                    "SELECT MIN(id) FROM market_variants WHERE product_id = $1",
                    [pid],
                    |r| r.get(0),
                )?,
            };
        let owner: Option<(i64, i64)> = match vid {
            Some(v) => conn
                .query_row(
                    "SELECT p.producer_id, v.stock FROM market_variants v JOIN market_products p ON p.id = v.product_id WHERE v.id = $1 AND p.id = $2 AND p.listed = 1",
                    params![v, pid],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
            None => None,
        };
        let Some((owner, have)) = owner else {
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
        let took = conn.execute(
            "UPDATE market_variants SET stock = stock - $1 WHERE id = $2 AND stock >= $1",
            params![stock, vid],
        )?;
        if took == 0 {
            return Err(MarketError::conflict(
                "out_of_stock",
                Some(format!("items[{i}].session_stock")),
                format!("product {pid} has only {have} in stock"),
            ));
        }
        conn.execute(
            "INSERT INTO market_live_items (session_id, product_id, variant_id, session_price_fen, session_stock) VALUES ($1, $2, $3, $4, $5)",
            params![session, pid, vid, price, stock],
        )?;
    }
    get(conn, session)
}

pub fn get(conn: &Connection, id: i64) -> Result<Value, MarketError> {
    let head = conn
        .query_row(
            "SELECT s.id, s.title, s.platform, s.stream_url, s.status, s.created_at, s.ended_at, pr.name FROM market_live_sessions s
             JOIN market_producers pr ON pr.id = s.producer_id WHERE s.id = $1",
            [id],
            |r| Ok(json!({"id": r.get::<_, i64>(0)?, "title": r.get::<_, String>(1)?, "platform": r.get::<_, String>(2)?,
                "stream_url": r.get::<_, String>(3)?, "status": r.get::<_, String>(4)?, "created_at": r.get::<_, i64>(5)?,
                "ended_at": r.get::<_, Option<i64>>(6)?, "producer": r.get::<_, String>(7)?})),
        )
        .optional()?;
    let Some(mut head) = head else {
        return Err(MarketError::not_found(
            "unknown_live_session",
            format!("there is no live sale {id}"),
        ));
    };
    let mut st = conn.prepare_cached(
        "SELECT i.id, i.product_id, p.name, v.unit, i.session_price_fen, i.session_stock, i.sold FROM market_live_items i
         JOIN market_products p ON p.id = i.product_id JOIN market_variants v ON v.id = i.variant_id WHERE i.session_id = $1 ORDER BY i.id",
    )?;
    let items: Vec<Value> = st
        .query_map([id], |r| {
            let (stock, sold): (i64, i64) = (r.get(5)?, r.get(6)?);
            Ok(json!({"id": r.get::<_, i64>(0)?, "product_id": r.get::<_, i64>(1)?, "name": r.get::<_, String>(2)?, "unit": r.get::<_, String>(3)?,
                "session_price_fen": r.get::<_, i64>(4)?, "session_stock": stock, "sold": sold, "remaining": stock - sold}))
        })?
        .collect::<Result<_, _>>()?;
    head["items"] = Value::Array(items);
    Ok(head)
}

/// `POST /api/market/live/{id}/end` (its producer): unsold units go back to stock.
pub fn end(conn: &Connection, user: &User, id: i64) -> Result<Value, MarketError> {
    let owner: Option<(i64, String)> = conn
        .query_row("SELECT pr.user_id, s.status FROM market_live_sessions s JOIN market_producers pr ON pr.id = s.producer_id WHERE s.id = $1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((owner, status)) = owner else {
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
    conn.execute(
        "UPDATE market_live_sessions SET status = 'ended', ended_at = $1 WHERE id = $2",
        params![now_ms(), id],
    )?;
    conn.execute(
        "UPDATE market_variants SET stock = stock + (SELECT SUM(i.session_stock - i.sold) FROM market_live_items i WHERE i.session_id = $1 AND i.variant_id = market_variants.id)
         WHERE id IN (SELECT variant_id FROM market_live_items WHERE session_id = $1)",
        [id],
    )?;
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
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM market_live_items WHERE id = $1 AND session_id = $2)",
        params![item, session],
        |r| r.get(0),
    )?)
}
