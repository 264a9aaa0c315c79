//! The market's pages: a buyer's shop and orders (`/market`, `/market/orders`),
//! a farmer's products (`/market/mine`), a station operator's counter
//! (`/market/station`), the public price board (`/prices`) and the public
//! traceability page (`/t/{code}`).
//!
//! Every form posts to a page route that builds the same JSON object the API
//! takes and calls the same domain function, so a page cannot accept what the
//! API refuses. After a POST the page redirects (PRG) with a short message.

mod farmer;
mod prices;
mod shop;
mod station;
mod trace;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cunlink_core::routes::Routes;
use serde::Deserialize;
use serde_json::Value;

use cunlink_core::auth::{Role, User};
use cunlink_web::page::encode_component;
use cunlink_web::{KitBuilder, Locale, NavEntry, PageError, Tab, WebKit, icon};

use crate::{Market, MarketError};

#[derive(Clone)]
pub(crate) struct St {
    pub market: Arc<Market>,
    pub kit: WebKit,
}

impl FromRef<St> for WebKit {
    fn from_ref(s: &St) -> WebKit {
        s.kit.clone()
    }
}

/// Add the market's strings and navigation entries to the kit.
pub fn register(kit: &mut KitBuilder) {
    // The files are part of this crate; the page tests catch a broken one.
    let _ = kit.locale(Locale::ZhCn, include_str!("../../locales/zh-CN.yml"));
    let _ = kit.locale(Locale::En, include_str!("../../locales/en.yml"));
    kit.tab(Tab {
        id: "market",
        label: "market.tab",
        icon: icon::MARKET,
        home: "/market",
        order: 200,
        visible: |_| true,
    });
    kit.nav(NavEntry {
        tab: "market",
        href: "/market",
        label: "market.nav.shop",
        order: 40,
        visible: |_| true,
    });
    kit.nav(NavEntry {
        tab: "market",
        href: "/market/mine",
        label: "market.nav.mine",
        order: 41,
        visible: |u| matches!(u.role, Role::Farmer | Role::Admin),
    });
    kit.nav(NavEntry {
        tab: "market",
        href: "/market/station",
        label: "market.nav.station",
        order: 42,
        visible: |u| matches!(u.role, Role::StationOperator | Role::Admin),
    });
    kit.nav(NavEntry {
        tab: "market",
        href: "/prices",
        label: "market.nav.prices",
        order: 43,
        visible: |_| true,
    });
}

pub fn routes(market: Arc<Market>, kit: WebKit) -> Routes {
    Routes::new()
        .route("/market", get(shop::list))
        .route("/market/order", post(shop::order))
        .route("/market/orders", get(shop::orders))
        .route("/market/mine", get(farmer::page).post(farmer::create))
        .route("/market/mine/{id}/listed", post(farmer::set_listed))
        .route("/market/station", get(station::page))
        .route(
            "/market/station/orders/{id}/status",
            post(station::order_status),
        )
        .route(
            "/market/station/orders/{id}/payment",
            post(station::payment),
        )
        .route("/market/station/orders/{id}/pickup", post(station::pickup))
        .route("/market/station/parcels/{id}/scan", post(station::scan))
        .route(
            "/market/station/parcels/{id}/collect",
            post(station::collect),
        )
        .route("/prices", get(prices::page))
        .route("/t/{code}", get(trace::page))
        .with_state(St { market, kit })
}

/// `?ok=` / `?err=` after a redirect.
#[derive(Deserialize, Default)]
pub(crate) struct Flash {
    pub ok: Option<String>,
    pub err: Option<String>,
}

/// Back to `to` with a message for the user.
pub(crate) fn back(to: &str, ok: bool, msg: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let key = if ok { "ok" } else { "err" };
    Redirect::to(&format!("{to}{sep}{key}={}", encode_component(msg))).into_response()
}

/// A domain refusal as a message; storage failures stay page errors.
pub(crate) fn refusal(e: MarketError) -> Result<String, PageError> {
    match e {
        MarketError::Db(_) | MarketError::Storage(_) => Err(PageError::internal(e)),
        other => Ok(other.to_string()),
    }
}

pub(crate) async fn db<T: Send + 'static>(
    m: &Market,
    f: impl FnOnce(&cunlink_core::sql::Connection) -> Result<T, MarketError> + Send + 'static,
) -> Result<T, MarketError> {
    m.db.call(move |c| f(c)).await
}

/// Run `f` in one IMMEDIATE transaction (all or nothing).
pub(crate) async fn in_tx<T: Send + 'static>(
    m: &Market,
    f: impl FnOnce(&cunlink_core::sql::Connection) -> Result<T, MarketError> + Send + 'static,
) -> Result<T, MarketError> {
    m.db.call(move |c| {
        let tx = c.transaction_with_behavior(cunlink_core::sql::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok::<_, MarketError>(out)
    })
    .await
}

/// `12800` → `128.00`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let f = fen.unsigned_abs();
    format!("{sign}{}.{:02}", f / 100, f % 100)
}

/// A price typed in yuan (`128`, `128.5`, `128.50`) → integer fen. More than two
/// decimals would be a fraction of a fen and is refused, not rounded.
pub fn parse_yuan(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('¥').trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 2 {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    w.checked_mul(100)?.checked_add(f).filter(|v| *v > 0)
}

pub(crate) fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub(crate) fn i(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_default()
}

/// Stations of the user's village (every station for admins).
pub(crate) fn my_stations(
    conn: &cunlink_core::sql::Connection,
    u: &User,
) -> Result<Vec<(i64, String)>, MarketError> {
    crate::store::stations::visible(conn, u.role == Role::Admin, u.village_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_round_trips_and_refuses_fractions_of_a_fen() {
        assert_eq!(parse_yuan("128"), Some(12800));
        assert_eq!(parse_yuan("128.5"), Some(12850));
        assert_eq!(parse_yuan("0.05"), Some(5));
        assert_eq!(parse_yuan("¥8.50"), Some(850));
        assert_eq!(parse_yuan("1.005"), None);
        assert_eq!(parse_yuan("-1"), None);
        assert_eq!(parse_yuan("0"), None);
        assert_eq!(parse_yuan("abc"), None);
        assert_eq!(parse_yuan(""), None);
        assert_eq!(yuan(12800), "128.00");
        assert_eq!(yuan(5), "0.05");
    }
}
