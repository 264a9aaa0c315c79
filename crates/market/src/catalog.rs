//! Products and their variants. A product created with `unit`/`price_fen`/`stock`
//! gets one variant; `variants: [...]` lists several.

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::User;

use crate::access;
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::store::products;

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
    // Products come down from the hub with their ids; one made here would clash.
    crate::allocations::refuse_on_node(conn, "listing a product")?;
    if let Some(b) = batch_id {
        if !crate::store::batches::of_producer(conn, b, producer)? {
            return Err(MarketError::invalid(
                "unknown_batch",
                "batch_id",
                format!("you have no harvest batch {b}"),
            ));
        }
    }
    let id = products::insert(conn, producer, user.village_id, name, description, batch_id)?;
    for v in &variants {
        products::insert_variant(conn, id, &v.unit, v.weight_g, v.price_fen, v.stock)?;
    }
    product(conn, id)?.ok_or_else(|| MarketError::not_found("unknown_product", "product vanished"))
}

/// A product as the API shows it; `stock` is the sum over its variants.
pub fn product(conn: &Connection, id: i64) -> Result<Option<Value>, MarketError> {
    let Some(p) = products::get(conn, id)? else {
        return Ok(None);
    };
    let village = match p.village_id {
        Some(v) => cunlink_core::auth::village_name(conn, v)?,
        None => None,
    };
    let mut head = json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "listed": p.listed,
        "batch_id": p.batch_id,
        "producer_id": p.producer_id,
        "producer": p.producer,
        "village": village,
        "village_id": p.village_id,
    });
    let variants: Vec<Value> = products::variants(conn, id)?
        .into_iter()
        .map(|v| {
            json!({
                "id": v.id,
                "unit": v.unit,
                "weight_g": v.weight_g,
                "price_fen": v.price_fen,
                "stock": v.stock,
            })
        })
        .collect();
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
    let ids = products::listed_ids(conn, village_id)?;
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
    match products::owner(conn, id)? {
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
            if !products::has_variant(conn, id, v)? {
                return Err(MarketError::invalid(
                    "unknown_variant",
                    "variant_id",
                    format!("product {id} has no variant {v}"),
                ));
            }
            Some(v)
        }
        None => products::first_variant(conn, id)?,
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
    if stock.is_some() {
        // A node's stock is the village's allocation (docs/market.md).
        crate::allocations::refuse_on_node(conn, "setting the stock")?;
    }
    if let Some(l) = listed {
        products::set_listed(conn, id, l)?;
    }
    if let Some(vid) = variant_id {
        if let Some(p) = price {
            products::set_price(conn, id, vid, p)?;
        }
        if let Some(s) = stock {
            products::set_stock(conn, id, vid, s)?;
        }
    }
    product(conn, id)?.ok_or_else(|| MarketError::not_found("unknown_product", "product vanished"))
}
