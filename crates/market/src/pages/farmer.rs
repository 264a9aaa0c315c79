//! A farmer's products: list one (name, unit, price in yuan → integer fen,
//! stock), delist or list again.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use cunlink_core::auth::Role;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::{Flash, St, back, db, i, in_tx, parse_yuan, refusal, s, yuan};
use crate::catalog;

pub(crate) struct Mine {
    pub id: i64,
    pub name: String,
    pub unit: String,
    pub price: String,
    pub stock: i64,
    pub listed: bool,
}

#[derive(Template)]
#[template(path = "mine.html")]
struct MineTpl<'a> {
    t: &'a PageCtx,
    products: Vec<Mine>,
    flash: Flash,
}

fn require_farmer(ctx: &PageCtx) -> Result<(), PageError> {
    if matches!(ctx.user.role, Role::Farmer | Role::Admin) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

pub(crate) async fn page_(st: &St, ctx: &PageCtx, flash: Flash) -> Result<Response, PageError> {
    require_farmer(ctx)?;
    let uid = ctx.user.id;
    let list = db(&st.market, move |c| {
        let ids = crate::store::products::ids_of_user(c, uid)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(p) = catalog::product(c, id)? {
                out.push(p);
            }
        }
        Ok(out)
    })
    .await
    .map_err(PageError::internal)?;
    let products = list
        .iter()
        .map(|p: &Value| Mine {
            id: i(p, "id"),
            name: s(p, "name"),
            unit: s(p, "unit"),
            price: yuan(i(p, "price_fen")),
            stock: i(p, "stock"),
            listed: p["listed"].as_bool().unwrap_or(false),
        })
        .collect();
    let tpl = MineTpl {
        t: ctx,
        products,
        flash,
    };
    Ok(cunlink_web::page(
        ctx,
        ctx.t("market.mine.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

pub(crate) async fn page(
    State(st): State<St>,
    ctx: PageCtx,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    page_(&st, &ctx, flash).await
}

#[derive(Deserialize)]
pub(crate) struct NewProduct {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    price_yuan: String,
    #[serde(default)]
    stock: String,
}

pub(crate) async fn create(
    State(st): State<St>,
    ctx: PageCtx,
    Form(f): Form<NewProduct>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_farmer(&ctx)?;
    let Some(price) = parse_yuan(&f.price_yuan) else {
        return Ok(back("/market/mine", false, ctx.t("market.mine.bad_price")));
    };
    let Ok(stock) = f.stock.trim().parse::<i64>() else {
        return Ok(back("/market/mine", false, ctx.t("market.mine.bad_stock")));
    };
    let Value::Object(obj) =
        json!({"name": f.name.trim(), "unit": f.unit.trim(), "price_fen": price, "stock": stock})
    else {
        return Err(PageError::Internal("product body".into()));
    };
    let user = ctx.user.clone();
    match in_tx(&st.market, move |c| catalog::create_product(c, &user, &obj)).await {
        Ok(p) => Ok(back(
            "/market/mine",
            true,
            &format!("{} {}", ctx.t("market.mine.listed_ok"), s(&p, "name")),
        )),
        Err(e) => Ok(back("/market/mine", false, &refusal(e)?)),
    }
}

#[derive(Deserialize)]
pub(crate) struct ListedForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    listed: String,
}

pub(crate) async fn set_listed(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<ListedForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_farmer(&ctx)?;
    let Value::Object(obj) = json!({"listed": f.listed == "1"}) else {
        return Err(PageError::Internal("listed body".into()));
    };
    let user = ctx.user.clone();
    match in_tx(&st.market, move |c| catalog::update(c, &user, id, &obj)).await {
        Ok(_) => Ok(back("/market/mine", true, ctx.t("market.mine.saved"))),
        Err(e) => Ok(back("/market/mine", false, &refusal(e)?)),
    }
}
