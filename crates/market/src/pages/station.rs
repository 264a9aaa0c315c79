//! A station operator's counter: orders to pack and ship, parcels arriving
//! (scan buttons), handing over with the pickup code, payments taken at the
//! counter, and ordering for a villager without a phone.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use cunlink_core::auth::Role;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::{Flash, St, back, db, in_tx, my_stations, refusal, yuan};
use crate::{catalog, orders, parcels, pickups, store};

pub(crate) struct ToPack {
    pub id: i64,
    pub status: String,
    pub lines: String,
    pub total: String,
    pub buyer: String,
}

pub(crate) struct Arriving {
    pub id: i64,
    pub order_id: i64,
    pub status: String,
    pub recipient: String,
    pub code: String,
}

/// A parcel waiting at the origin station for the courier (no pickup code:
/// that belongs to the destination station).
pub(crate) struct Leaving {
    pub id: i64,
    pub order_id: i64,
    pub recipient: String,
}

/// A hub order waiting at this node's station (docs/market.md, "Village node").
pub(crate) struct Pickup {
    pub id: i64,
    pub lines: String,
    pub buyer: String,
    pub total: String,
    pub unpaid: bool,
    /// Handed over here, waiting to be sent to the hub.
    pub done: bool,
}

pub(crate) struct Unpaid {
    pub id: i64,
    pub total: String,
    pub buyer: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "station.html")]
struct StationTpl<'a> {
    t: &'a PageCtx,
    stations: Vec<(i64, String)>,
    to_pack: Vec<ToPack>,
    leaving: Vec<Leaving>,
    arriving: Vec<Arriving>,
    unpaid: Vec<Unpaid>,
    pickups: Vec<Pickup>,
    products: Vec<(i64, String)>,
    idem: String,
    flash: Flash,
}

fn require_operator(ctx: &PageCtx) -> Result<(), PageError> {
    if matches!(ctx.user.role, Role::StationOperator | Role::Admin) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

pub(crate) async fn page(
    State(st): State<St>,
    ctx: PageCtx,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    require_operator(&ctx)?;
    let user = ctx.user.clone();
    let (stations, to_pack, leaving, arriving, unpaid, pickups, products) =
        db(&st.market, move |c| {
            let stations = my_stations(c, &user)?;
            let ids: Vec<i64> = stations.iter().map(|s| s.0).collect();
            let to_pack = store::orders::to_pack(c, &ids)?
                .into_iter()
                .map(|o| ToPack {
                    id: o.id,
                    status: o.status,
                    total: yuan(o.total_fen),
                    buyer: o.buyer,
                    lines: o.lines,
                })
                .collect();
            let leaving = store::parcels::leaving(c, &ids)?
                .into_iter()
                .map(|p| Leaving {
                    id: p.id,
                    order_id: p.order_id,
                    recipient: p.recipient,
                })
                .collect();
            let arriving = store::parcels::arriving(c, &ids)?
                .into_iter()
                .map(|p| Arriving {
                    id: p.id,
                    order_id: p.order_id,
                    status: p.status,
                    recipient: p.recipient,
                    code: p.code,
                })
                .collect();
            let unpaid = store::orders::unpaid(c, &ids)?
                .into_iter()
                .map(|o| Unpaid {
                    id: o.id,
                    total: yuan(o.total_fen),
                    buyer: o.buyer,
                    status: o.status,
                })
                .collect();
            // Only a village node holds copies of the hub's orders.
            let pickups = if cunlink_core::sync::is_node(c)? {
                pickups::list(c, &user)?.iter().map(pickup_row).collect()
            } else {
                Vec::new()
            };
            let products = catalog::list(c, None)?
                .iter()
                .map(|p: &Value| {
                    (
                        p["id"].as_i64().unwrap_or_default(),
                        format!(
                            "{} {}元/{}",
                            super::s(p, "name"),
                            yuan(p["price_fen"].as_i64().unwrap_or_default()),
                            super::s(p, "unit")
                        ),
                    )
                })
                .collect();
            Ok((
                stations, to_pack, leaving, arriving, unpaid, pickups, products,
            ))
        })
        .await
        .map_err(PageError::internal)?;
    let tpl = StationTpl {
        t: &ctx,
        stations,
        to_pack,
        leaving,
        arriving,
        unpaid,
        pickups,
        products,
        idem: cunlink_core::random::token(16),
        flash,
    };
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("market.station.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

fn pickup_row(o: &Value) -> Pickup {
    let lines = o["lines"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    format!(
                        "{}×{}{}",
                        super::s(l, "name"),
                        super::i(l, "quantity"),
                        super::s(l, "unit")
                    )
                })
                .collect::<Vec<_>>()
                .join("，")
        })
        .unwrap_or_default();
    let buyer = match o["for_name"].as_str() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => super::s(o, "buyer_name"),
    };
    Pickup {
        id: super::i(o, "id"),
        lines,
        buyer,
        total: yuan(super::i(o, "total_fen")),
        unpaid: o["payment"] == "unpaid",
        done: o["picked_up_at"].is_i64(),
    }
}

#[derive(Deserialize)]
pub(crate) struct Act {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
}

const HERE: &str = "/market/station";

fn obj(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

pub(crate) async fn order_status(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Act>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let (user, b) = (ctx.user.clone(), obj(json!({"status": f.status})));
    match in_tx(&st.market, move |c| orders::transition(c, &user, id, &b)).await {
        Ok((_, changes)) => {
            for ch in changes {
                let _ = st.market.live.send(ch);
            }
            Ok(back(
                HERE,
                true,
                &format!("#{id} {}", ctx.t(&format!("market.status.{}", f.status))),
            ))
        }
        Err(e) => Ok(back(HERE, false, &refusal(e)?)),
    }
}

pub(crate) async fn payment(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Act>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let (user, b) = (
        ctx.user.clone(),
        obj(json!({"state": "paid_at_station", "method": f.method})),
    );
    match in_tx(&st.market, move |c| orders::payment(c, &user, id, &b)).await {
        Ok(_) => Ok(back(
            HERE,
            true,
            &format!("#{id} {}", ctx.t("market.station.paid_ok")),
        )),
        Err(e) => Ok(back(HERE, false, &refusal(e)?)),
    }
}

pub(crate) async fn scan(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Act>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let (user, b) = (ctx.user.clone(), obj(json!({"status": f.status})));
    match in_tx(&st.market, move |c| parcels::scan(c, &user, id, &b)).await {
        Ok(_) => Ok(back(
            HERE,
            true,
            &format!(
                "{} {id}: {}",
                ctx.t("market.station.parcel"),
                ctx.t(&format!("market.parcel.{}", f.status))
            ),
        )),
        Err(e) => Ok(back(HERE, false, &refusal(e)?)),
    }
}

pub(crate) async fn collect(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Act>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let (user, b) = (ctx.user.clone(), obj(json!({"code": f.code.trim()})));
    match in_tx(&st.market, move |c| parcels::collect(c, &user, id, &b)).await {
        Ok(_) => Ok(back(
            HERE,
            true,
            &format!(
                "{} {id}: {}",
                ctx.t("market.station.parcel"),
                ctx.t("market.parcel.collected")
            ),
        )),
        Err(e) => Ok(back(HERE, false, &refusal(e)?)),
    }
}

/// A node's station hands over a hub order (and took the payment, if `method`).
pub(crate) async fn pickup(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Act>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let body = if f.method.is_empty() {
        json!({})
    } else {
        json!({"method": f.method})
    };
    let (user, b) = (ctx.user.clone(), obj(body));
    match in_tx(&st.market, move |c| pickups::pickup(c, &user, id, &b)).await {
        Ok(_) => Ok(back(
            HERE,
            true,
            &format!("#{id} {}", ctx.t("market.station.handed_over")),
        )),
        Err(e) => Ok(back(HERE, false, &refusal(e)?)),
    }
}
