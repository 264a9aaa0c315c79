//! Products and their variants. A product created with `unit`/`price_fen`/`stock`
//! gets one variant; `variants: [...]` lists several.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use cunlink_core::auth::User;
use cunlink_core::time::now_ms;

use crate::access;
use crate::error::MarketError;
use crate::input::{self, Obj};

/// Most units of one variant (also bounds a live sale's session stock).
pub const MAX_STOCK: i64 = 10_000_000;
/// Heaviest unit: 100 t (a lorry load).
const MAX_WEIGHT_G: i64 = 100_000_000;

struct NewVariant {
    unit: String,
    weight_g: Option<i64>,
    price_fen: i64,
    stock: i64,
}

fn variant(o: &Obj, path: &str) -> Result<NewVariant, MarketError> {
    let unit = input::opt_str(o, "unit", 16)?.unwrap_or("");
    if unit.is_empty() {
        return Err(MarketError::invalid(
            "missing_field",
            format!("{path}unit"),
            format!("{path}unit is required, e.g. \"500g\" or \"kg\""),
        ));
    }
    let price_fen = input::price_fen(o, "price_fen", &format!("{path}price_fen"))?;
    let stock = input::int(o, "stock", &format!("{path}stock"))?;
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(MarketError::invalid(
            "bad_stock",
            format!("{path}stock"),
            format!("{path}stock must be 0..{MAX_STOCK}, got {stock}"),
        ));
    }
    let weight_g = input::opt_int(o, "weight_g", &format!("{path}weight_g"))?;
    if weight_g.is_some_and(|w| !(1..=MAX_WEIGHT_G).contains(&w)) {
        return Err(MarketError::invalid(
            "bad_weight",
            format!("{path}weight_g"),
            format!("weight_g must be 1-{MAX_WEIGHT_G}"),
        ));
    }
    Ok(NewVariant {
        unit: unit.to_string(),
        weight_g,
        price_fen,
        stock,
    })
}

/// `POST /api/market/products` (farmer).
pub fn create_product(conn: &Connection, user: &User, body: &Obj) -> Result<Value, MarketError> {
    let name = input::string(body, "name", 64)?;
    let description = input::opt_str(body, "description", 2000)?.unwrap_or("");
    let variants = match input::array(body, "variants")? {
        Some(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .map(|(i, v)| {
                variant(
                    input::as_object(v, &format!("variants[{i}]"))?,
                    &format!("variants[{i}]."),
                )
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(MarketError::invalid(
                "missing_field",
                "variants",
                "variants must not be empty",
            ));
        }
        None => vec![variant(body, "")?],
    };
    let batch_id = input::opt_int(body, "batch_id", "batch_id")?;
    let producer = access::producer_of(conn, user)?;
    if let Some(b) = batch_id {
        let ok: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM market_batches WHERE id = $1 AND producer_id = $2)",
            params![b, producer],
            |r| r.get(0),
        )?;
        if !ok {
            return Err(MarketError::invalid(
                "unknown_batch",
                "batch_id",
                format!("you have no harvest batch {b}"),
            ));
        }
    }
    conn.execute(
        "INSERT INTO market_products (producer_id, village_id, name, description, batch_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![producer, user.village_id, name, description, batch_id, now_ms()],
    )?;
    let id = conn.last_insert_rowid();
    for v in &variants {
        conn.execute(
            "INSERT INTO market_variants (product_id, unit, weight_g, price_fen, stock) VALUES ($1, $2, $3, $4, $5)",
            params![id, v.unit, v.weight_g, v.price_fen, v.stock],
        )?;
    }
    product(conn, id)?.ok_or_else(|| MarketError::not_found("unknown_product", "product vanished"))
}

/// A product as the API shows it; `stock` is the sum over its variants.
pub fn product(conn: &Connection, id: i64) -> Result<Option<Value>, MarketError> {
    let head = conn
        .prepare_cached(
            "SELECT p.id, p.name, p.description, p.listed, p.batch_id, p.producer_id, pr.name, p.village_id
             FROM market_products p JOIN market_producers pr ON pr.id = p.producer_id WHERE p.id = $1",
        )?
        .query_row([id], |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "name": r.get::<_, String>(1)?,
                "description": r.get::<_, String>(2)?,
                "listed": r.get::<_, bool>(3)?,
                "batch_id": r.get::<_, Option<i64>>(4)?,
                "producer_id": r.get::<_, i64>(5)?,
                "producer": r.get::<_, String>(6)?,
                "village": Value::Null,
                "village_id": r.get::<_, Option<i64>>(7)?,
            }))
        })
        .optional()?;
    let Some(mut head) = head else {
        return Ok(None);
    };
    if let Some(v) = head["village_id"].as_i64() {
        head["village"] = cunlink_core::auth::village_name(conn, v)?.into();
    }
    let mut st = conn.prepare_cached(
        "SELECT id, unit, weight_g, price_fen, stock FROM market_variants WHERE product_id = $1 ORDER BY id",
    )?;
    let variants: Vec<Value> = st
        .query_map([id], |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?,
                "unit": r.get::<_, String>(1)?,
                "weight_g": r.get::<_, Option<i64>>(2)?,
                "price_fen": r.get::<_, i64>(3)?,
                "stock": r.get::<_, i64>(4)?,
            }))
        })?
        .collect::<Result<_, _>>()?;
    let stock: i64 = variants.iter().filter_map(|v| v["stock"].as_i64()).sum();
    if let Some(first) = variants.first() {
        head["unit"] = first["unit"].clone();
        head["price_fen"] = first["price_fen"].clone();
    }
    head["stock"] = json!(stock);
    head["variants"] = Value::Array(variants);
    head["photos"] = Value::Array(crate::photos::of_product(conn, id)?);
    Ok(Some(head))
}

/// Listed products, newest first, optionally of one village.
pub fn list(conn: &Connection, village_id: Option<i64>) -> Result<Vec<Value>, MarketError> {
    let ids: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM market_products WHERE listed = 1 AND ($1 IS NULL OR village_id = $1) ORDER BY id DESC LIMIT 200",
        )?
        .query_map([village_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(p) = product(conn, id)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// `PATCH /api/market/products/{id}`: the owner changes `listed`, prices or stock.
pub fn update(conn: &Connection, user: &User, id: i64, body: &Obj) -> Result<Value, MarketError> {
    let producer = access::producer_of(conn, user)?;
    let owner: Option<i64> = conn
        .query_row(
            "SELECT producer_id FROM market_products WHERE id = $1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    match owner {
        None => {
            return Err(MarketError::not_found(
                "unknown_product",
                format!("there is no product {id}"),
            ));
        }
        Some(o) if o != producer && user.role != cunlink_core::auth::Role::Admin => {
            return Err(MarketError::forbidden(
                "only the producer who listed this product may change it",
            ));
        }
        _ => {}
    }
    let listed = input::opt_bool(body, "listed")?;
    let variant_id = match input::opt_int(body, "variant_id", "variant_id")? {
        Some(v) => {
            // Only this product's variants: another product's id is unknown here.
            let ours: bool = conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM market_variants WHERE id = $1 AND product_id = $2)",
                params![v, id],
                |r| r.get(0),
            )?;
            if !ours {
                return Err(MarketError::invalid(
                    "unknown_variant",
                    "variant_id",
                    format!("product {id} has no variant {v}"),
                ));
            }
            Some(v)
        }
        None => conn.query_row(
            "SELECT MIN(id) FROM market_variants WHERE product_id = $1",
            [id],
            |r| r.get(0),
        )?,
    };
    let price = if body.contains_key("price_fen") {
        Some(input::price_fen(body, "price_fen", "price_fen")?)
    } else {
        None
    };
    let stock = input::opt_int(body, "stock", "stock")?;
    if stock.is_some_and(|s| !(0..=MAX_STOCK).contains(&s)) {
        return Err(MarketError::invalid(
            "bad_stock",
            "stock",
            format!("stock must be 0..{MAX_STOCK}"),
        ));
    }
    if let Some(l) = listed {
        conn.execute(
            "UPDATE market_products SET listed = $1 WHERE id = $2",
            params![l, id],
        )?;
    }
    if let Some(vid) = variant_id {
        if let Some(p) = price {
            conn.execute(
                "UPDATE market_variants SET price_fen = $1 WHERE id = $2 AND product_id = $3",
                params![p, vid, id],
            )?;
        }
        if let Some(s) = stock {
            conn.execute(
                "UPDATE market_variants SET stock = $1 WHERE id = $2 AND product_id = $3",
                params![s, vid, id],
            )?;
        }
    }
    product(conn, id)?.ok_or_else(|| MarketError::not_found("unknown_product", "product vanished"))
}
