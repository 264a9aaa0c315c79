//! Stock has one owner at a time (docs/market.md, "Village node"): the hub owns
//! the online stock, a village node the units allocated to its village. The
//! seller moves units to a village on the hub ([`allocate`]); the node gives
//! units back ([`release`]). Neither takes units the other owns, so neither can
//! oversell, even while the link is down.

use cunlink_core::auth::{Role, User};
use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use crate::access;
use crate::catalog::MAX_STOCK;
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::store::{allocations, products};

/// The product of variant `variant`, if `user` may change it (its producer or
/// an admin).
fn own_variant(conn: &Connection, user: &User, variant: i64) -> Result<i64, MarketError> {
    let producer = access::producer_of(conn, user)?;
    let Some(product) = allocations::product_of_variant(conn, variant)? else {
        return Err(MarketError::not_found(
            "unknown_variant",
            format!("there is no variant {variant}"),
        ));
    };
    if products::owner(conn, product)? != Some(producer) && user.role != Role::Admin {
        return Err(MarketError::forbidden(
            "only the producer who listed this product may move its stock",
        ));
    }
    Ok(product)
}

fn quantity(body: &Obj) -> Result<i64, MarketError> {
    let q = input::int(body, "quantity", "quantity")?;
    if !(1..=MAX_STOCK).contains(&q) {
        return Err(MarketError::invalid(
            "bad_quantity",
            "quantity",
            format!("quantity must be 1..{MAX_STOCK}, got {q}"),
        ));
    }
    Ok(q)
}

/// `POST /api/market/variants/{id}/allocate` on the hub: move `quantity` units
/// of the online stock to village `village`'s node.
pub fn allocate(
    conn: &Connection,
    user: &User,
    variant: i64,
    body: &Obj,
) -> Result<Value, MarketError> {
    let product = own_variant(conn, user, variant)?;
    let village = input::string(body, "village", 64)?;
    let quantity = quantity(body)?;
    if cunlink_core::sync::is_node(conn)? {
        return Err(MarketError::conflict(
            "hub_only",
            None,
            "stock is allocated on the county hub; a village node gives units back with /release",
        ));
    }
    let Some(village_id) = cunlink_core::auth::village_id(conn, village)? else {
        return Err(MarketError::invalid(
            "unknown_village",
            "village",
            format!("there is no village '{village}'"),
        ));
    };
    let home = products::get(conn, product)?.and_then(|p| p.village_id);
    if home.is_some_and(|h| h != village_id) {
        return Err(MarketError::invalid(
            "wrong_village",
            "village",
            format!("product {product} is sold in its own village only, not in '{village}'"),
        ));
    }
    if !cunlink_core::sync::delegated_villages(conn)?.contains(&village_id) {
        return Err(MarketError::conflict(
            "no_node",
            Some("village".into()),
            format!("village '{village}' has no node to sell the units"),
        ));
    }
    let Some((granted, stock)) = allocations::grant(conn, village_id, variant, quantity)? else {
        let stock = allocations::stock(conn, variant)?;
        return Err(MarketError::conflict(
            "out_of_stock",
            Some("quantity".into()),
            format!("only {stock} units are in the online stock, {quantity} wanted"),
        ));
    };
    Ok(json!({
        "variant_id": variant, "village": village, "quantity": quantity,
        "granted": granted, "stock": stock,
    }))
}

/// `POST /api/market/variants/{id}/release` on a village node: give `quantity`
/// units of the village's stock back to the hub's online stock (they go up with
/// the next sync).
pub fn release(
    conn: &Connection,
    user: &User,
    variant: i64,
    body: &Obj,
) -> Result<Value, MarketError> {
    own_variant(conn, user, variant)?;
    let quantity = quantity(body)?;
    if !cunlink_core::sync::is_node(conn)? {
        return Err(MarketError::conflict(
            "node_only",
            None,
            "units are given back on the village node that holds them",
        ));
    }
    let Some((released, stock)) = allocations::release(conn, variant, quantity)? else {
        let stock = allocations::stock(conn, variant)?;
        return Err(MarketError::conflict(
            "out_of_stock",
            Some("quantity".into()),
            format!("only {stock} units are in the village's stock, {quantity} wanted"),
        ));
    };
    Ok(json!({
        "variant_id": variant, "quantity": quantity, "released": released, "stock": stock,
    }))
}

/// A node's stock is only what the hub allocated: it may not be set by hand.
pub fn refuse_on_node(conn: &Connection, what: &str) -> Result<(), MarketError> {
    if cunlink_core::sync::is_node(conn)? {
        return Err(MarketError::conflict(
            "hub_only",
            None,
            format!("{what} is done on the county hub; this is a village node"),
        ));
    }
    Ok(())
}
