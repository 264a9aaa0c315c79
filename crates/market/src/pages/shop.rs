//! The buyer's side: products (search by Chinese name, pinyin or initials),
//! ordering with a quantity and a pickup station, and "my orders" with the
//! pickup code once the parcel waits at the station.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts, page};

use super::{Flash, St, back, db, i, refusal, s, yuan};
use crate::{catalog, idem, orders, parcels, prices::names};

pub(crate) struct ProductRow {
    pub id: i64,
    pub name: String,
    pub producer: String,
    pub village: String,
    pub unit: String,
    pub price: String,
    pub stock: i64,
    /// The first photo's 320 px copy, or empty.
    pub photo: String,
}

#[derive(Template)]
#[template(path = "shop.html")]
struct ShopTpl<'a> {
    t: &'a PageCtx,
    q: String,
    products: Vec<ProductRow>,
    stations: Vec<(i64, String, bool)>,
    idem: String,
    flash: Flash,
}

#[derive(Deserialize)]
pub(crate) struct ShopQuery {
    q: Option<String>,
    ok: Option<String>,
    err: Option<String>,
}

/// Whether product `name` matches a search the way the price board does.
fn matches(name: &str, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    if !q.is_ascii() {
        return name.contains(q);
    }
    names::keys(name)
        .iter()
        .any(|(full, ini)| full.starts_with(q) || ini.starts_with(q))
}

pub(crate) async fn list(
    State(st): State<St>,
    ctx: PageCtx,
    Query(q): Query<ShopQuery>,
) -> Result<Response, PageError> {
    let text = q.q.unwrap_or_default();
    let norm = names::normalize(&text);
    let village = ctx.user.village_id;
    let (all, stations) = db(&st.market, move |c| {
        let all = catalog::list(c, None)?;
        let stations: Vec<(i64, String, bool)> = crate::store::stations::all(c)?
            .into_iter()
            .map(|s| {
                (
                    s.id,
                    format!("{} · {}", s.village, s.name),
                    Some(s.village_id) == village,
                )
            })
            .collect();
        Ok((all, stations))
    })
    .await
    .map_err(PageError::internal)?;
    let products = all
        .iter()
        .filter(|p| matches(&s(p, "name"), &norm))
        .map(|p: &Value| ProductRow {
            id: i(p, "id"),
            name: s(p, "name"),
            producer: s(p, "producer"),
            village: s(p, "village"),
            unit: s(p, "unit"),
            price: yuan(i(p, "price_fen")),
            stock: i(p, "stock"),
            photo: p["photos"]
                .get(0)
                .map(|ph| s(ph, "small"))
                .unwrap_or_default(),
        })
        .collect();
    let tpl = ShopTpl {
        t: &ctx,
        q: text,
        products,
        stations,
        idem: cunlink_core::random::token(16),
        flash: Flash {
            ok: q.ok,
            err: q.err,
        },
    };
    Ok(page(
        &ctx,
        ctx.t("market.shop.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

/// One form for the whole list: the pressed button names the product; its
/// quantity field is `qty_{id}`. `idem` (drawn when the page was shown) makes a
/// double tap one order; `for_name` is the villager an operator orders for.
pub(crate) async fn order(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    ctx.check_csrf(f.get("csrf").map(String::as_str).unwrap_or(""))?;
    // The one redirect check of the web kit, then: only back into the market.
    let from = Some(cunlink_web::page::safe_next(
        f.get("from").map(String::as_str),
    ))
    .filter(|p| p.starts_with("/market"))
    .unwrap_or_else(|| "/market".into());
    let num = |k: &str| f.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    let Some(product) = num("product_id") else {
        return Ok(back(&from, false, ctx.t("market.shop.pick_product")));
    };
    let Some(qty) = num(&format!("qty_{product}")).or_else(|| num("quantity")) else {
        return Ok(back(&from, false, ctx.t("market.shop.bad_quantity")));
    };
    let Some(station) = num("pickup_station_id") else {
        return Ok(back(&from, false, ctx.t("market.shop.pick_station")));
    };
    let mut obj =
        json!({"items": [{"product_id": product, "quantity": qty}], "pickup_station_id": station});
    if let Some(n) = f
        .get("for_name")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        obj["for_name"] = json!(n);
    }
    let Value::Object(obj) = obj else {
        return Err(PageError::Internal("order body".into()));
    };
    let key = f
        .get("idem")
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .map(|k| format!("page-{k}"));
    let hash = idem::request_hash("orders", &obj);
    let req = match orders::place::parse(&ctx.user, &obj) {
        Ok(r) => r,
        Err(e) => return Ok(back(&from, false, &refusal(e)?)),
    };
    match st.market.place(ctx.user.id, key, hash, req).await {
        Ok(a) => {
            let id = serde_json::from_str::<Value>(&a.body)
                .ok()
                .and_then(|v| v["id"].as_i64())
                .unwrap_or_default();
            let to = if from.starts_with("/market/station") {
                from
            } else {
                "/market/orders".to_string()
            };
            Ok(back(
                &to,
                true,
                &format!("{} #{id}", ctx.t("market.shop.ordered")),
            ))
        }
        Err(e) => Ok(back(&from, false, &refusal(e)?)),
    }
}

pub(crate) struct OrderRow {
    pub id: i64,
    pub status: String,
    pub payment: String,
    pub total: String,
    pub items: Vec<(String, i64, String, String)>,
    pub for_name: String,
    pub parcel: String,
    pub code: Option<String>,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersTpl<'a> {
    t: &'a PageCtx,
    orders: Vec<OrderRow>,
    flash: Flash,
}

pub(crate) async fn orders(
    State(st): State<St>,
    ctx: PageCtx,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    let user = ctx.user.clone();
    let rows = db(&st.market, move |c| {
        let list = orders::mine(c, &user)?;
        let mut out = Vec::new();
        for o in list {
            let parcel = match o["parcel_id"].as_i64() {
                Some(pid) => parcels::get(c, &user, pid).ok(),
                None => None,
            };
            let code = parcel
                .as_ref()
                .filter(|p| p["status"] == "at_village_station")
                .and_then(|p| p["pickup_code"].as_str().map(str::to_string));
            out.push(OrderRow {
                id: i(&o, "id"),
                status: s(&o, "status"),
                payment: s(&o, "payment"),
                total: yuan(i(&o, "total_fen")),
                items: o["items"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|it| {
                                (
                                    s(it, "name"),
                                    i(it, "quantity"),
                                    s(it, "unit"),
                                    s(it, "trace_url"),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                for_name: s(&o, "for_name"),
                parcel: parcel.as_ref().map(|p| s(p, "status")).unwrap_or_default(),
                code,
            });
        }
        Ok(out)
    })
    .await
    .map_err(PageError::internal)?;
    let tpl = OrdersTpl {
        t: &ctx,
        orders: rows,
        flash,
    };
    Ok(page(
        &ctx,
        ctx.t("market.orders.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}
