//! `/prices`: today's prices with search (Chinese, pinyin, initials) and a 7- or
//! 30-day trend of one commodity. Public, like the API: a villager may look
//! without an account; a signed-in user gets the usual navigation.

use askama::Template;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::response::Response;
use serde::Deserialize;

use cunlink_web::layout::body;
use cunlink_web::page::encode_component;
use cunlink_web::{Locale, PageCtx, PageError, PageOpts, Visitor, public_page};

use super::{St, db, yuan};
use crate::prices;

pub(crate) struct Row {
    pub commodity: String,
    pub enc: String,
    pub market: String,
    pub price: String,
    pub unit: String,
    pub date: String,
}

pub(crate) struct Trend {
    pub commodity: String,
    pub enc: String,
    pub days: i64,
    pub unit: String,
    pub first: String,
    pub last: String,
    pub change: String,
    pub svg: String,
}

/// Strings for a page that may have no signed-in user.
pub(crate) struct Tr<'a> {
    kit: &'a cunlink_web::WebKit,
    locale: Locale,
}

impl<'a> Tr<'a> {
    pub fn t(&self, key: &'a str) -> &'a str {
        self.kit.t(self.locale, key)
    }
}

#[derive(Template)]
#[template(path = "prices.html")]
struct PricesTpl<'a> {
    tr: Tr<'a>,
    q: String,
    rows: Vec<Row>,
    trend: Option<Trend>,
}

#[derive(Deserialize)]
pub(crate) struct PricesQuery {
    q: Option<String>,
    c: Option<String>,
    /// Text, not a number: `?days=abc` or an overflowing number shows the
    /// 7-day trend instead of a plain-text rejection.
    days: Option<String>,
}

/// A small line chart as inline SVG (no script: the page stays light).
fn spark(points: &[i64]) -> String {
    if points.len() < 2 {
        return String::new();
    }
    let (min, max) = (
        points.iter().min().copied().unwrap_or(0),
        points.iter().max().copied().unwrap_or(1),
    );
    let span = (max - min).max(1) as f64;
    let n = (points.len() - 1) as f64;
    let pts: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                i as f64 / n * 300.0,
                76.0 - (p - min) as f64 / span * 72.0
            )
        })
        .collect();
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 300 80\" preserveAspectRatio=\"none\" role=\"img\" aria-hidden=\"true\"><polyline fill=\"none\" stroke=\"#0b5d1e\" stroke-width=\"3\" points=\"{}\"/></svg>",
        pts.join(" ")
    )
}

pub(crate) async fn page(
    State(st): State<St>,
    Query(q): Query<PricesQuery>,
    req: Request,
) -> Result<Response, PageError> {
    let (mut parts, _) = req.into_parts();
    let ctx = PageCtx::from_request_parts(&mut parts, &st).await.ok();
    let locale = match &ctx {
        Some(c) => c.locale,
        None => Visitor::from_request_parts(&mut parts, &st)
            .await
            .map(|v| v.locale)
            .unwrap_or(Locale::ZhCn),
    };
    let kit = st.kit.clone();
    let text: String = q.q.unwrap_or_default().chars().take(32).collect();
    let rows = st
        .market
        .prices
        .search(&text, None, 60)
        .into_iter()
        .map(|r| Row {
            enc: encode_component(&r.commodity),
            commodity: r.commodity.to_string(),
            market: r.market.to_string(),
            price: yuan(r.price_fen),
            unit: r.unit.to_string(),
            date: r.date,
        })
        .collect();
    let days = if q.days.as_deref().map(str::trim) == Some("30") {
        30
    } else {
        7
    };
    let trend = match q
        .c
        .map(|c| c.trim().chars().take(32).collect::<String>())
        .filter(|c| !c.is_empty())
    {
        Some(c) => {
            let name = c.clone();
            db(&st.market, move |conn| {
                prices::trend(conn, &name, None, days)
            })
            .await
            .ok()
            .map(|v| {
                let pts: Vec<i64> = v["points"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|p| p["price_fen"].as_i64()).collect())
                    .unwrap_or_default();
                let fen = v["change"]["fen"].as_i64().unwrap_or(0);
                Trend {
                    enc: encode_component(&c),
                    commodity: c,
                    days,
                    unit: v["unit"].as_str().unwrap_or("").to_string(),
                    first: pts.first().map(|p| yuan(*p)).unwrap_or_default(),
                    last: pts.last().map(|p| yuan(*p)).unwrap_or_default(),
                    change: format!("{}{}", if fen > 0 { "+" } else { "" }, yuan(fen)),
                    svg: spark(&pts),
                }
            })
        }
        None => None,
    };
    let tpl = PricesTpl {
        tr: Tr { kit: &kit, locale },
        q: text,
        rows,
        trend,
    };
    let title = kit.t(locale, "market.prices.title");
    Ok(match &ctx {
        Some(c) => cunlink_web::page(c, title, &body(&tpl)?, PageOpts::default()),
        None => public_page(&kit, locale, title, &body(&tpl)?),
    })
}
