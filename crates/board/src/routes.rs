//! `/board/{slug}`, `/board/{slug}.txt` and `/board/{slug}/live`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use cunlink_core::routes::Routes;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use cunlink_core::time::now_ms;
use cunlink_farm::pages::readings;
use cunlink_web::{Fmt, Locale, PageError, Visitor, WebKit};

use crate::{Board, Boards, text};

#[derive(Clone)]
struct St {
    boards: Arc<Boards>,
    kit: WebKit,
}

pub fn routes(boards: Arc<Boards>, kit: WebKit) -> Routes {
    Routes::new()
        .route("/board/{slug}", get(board))
        .route("/board/{slug}/live", get(live))
        .with_state(St { boards, kit })
}

struct Val {
    device: i64,
    key: String,
    label: String,
    value: String,
    unit: &'static str,
    dec: usize,
    bad: bool,
}

struct Slide {
    asset: String,
    vals: Vec<Val>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct Tpl<'a> {
    lang: &'a str,
    name: &'a str,
    slug: &'a str,
    rotate: u32,
    slides: Vec<Slide>,
    /// (CSS class, heading, lines) of the other domains' sections.
    extra: Vec<(&'static str, &'a str, Vec<String>)>,
    updated: &'a str,
    no_data: &'a str,
    time: String,
    css: &'static str,
    app_js: &'static str,
}

async fn find(st: &St, slug: &str) -> Result<Board, PageError> {
    // Slugs come from our own alphabet; anything else is not worth a query.
    if slug.is_empty() || slug.len() > 64 || !slug.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PageError::NotFound);
    }
    let s = slug.to_string();
    st.boards
        .db
        .call(move |c| crate::store::by_slug(c, &s))
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)
}

fn slides(st: &St, b: &Board, locale: Locale) -> Vec<Slide> {
    let farm = &st.boards.farm;
    let store = farm.telemetry.store();
    let f = Fmt { locale };
    let devices = farm.registry.all();
    let asset_names: Vec<(i64, String)> = b
        .assets
        .iter()
        .map(|id| {
            let name = devices
                .iter()
                .find(|d| d.asset_id == Some(*id))
                .and_then(|d| d.asset.clone())
                .unwrap_or_default();
            (*id, name)
        })
        .collect();
    asset_names
        .into_iter()
        .map(|(id, asset)| {
            let mut vals = Vec::new();
            for d in devices
                .iter()
                .filter(|d| d.asset_id == Some(id) && !d.is_gateway && d.profile != "ear-tag")
            {
                for (k, _, v) in store.latest(d.id) {
                    let shown = if b.keys.is_empty() {
                        k.as_ref() != "battery"
                    } else {
                        b.keys.iter().any(|x| x == k.as_ref())
                    };
                    if !shown {
                        continue;
                    }
                    vals.push(Val {
                        device: d.id.0,
                        label: readings::key_label(&st.kit, locale, &k),
                        value: readings::show(f, &k, &v),
                        unit: readings::unit_shown(f, &k),
                        dec: readings::decimals(&k, &v),
                        bad: v
                            .as_f64()
                            .is_some_and(|x| readings::status(&k, x) >= readings::Status::Warn),
                        key: k.to_string(),
                    });
                }
            }
            Slide { asset, vals }
        })
        .collect()
}

async fn extras<'a>(
    st: &'a St,
    b: &'a Board,
    locale: Locale,
) -> Vec<(&'static str, &'a str, Vec<String>)> {
    let mut out = Vec::new();
    for (part, s) in st.kit.board_sections() {
        let lines = s.lines(&st.kit, &b.assets, locale).await;
        if !lines.is_empty() {
            out.push((part.class, st.kit.t(locale, part.heading), lines));
        }
    }
    out
}

#[derive(Deserialize)]
struct TxtQuery {
    /// Which page of lines (default: rotate with the clock).
    page: Option<usize>,
}

async fn board(
    State(st): State<St>,
    v: Visitor,
    Path(slug): Path<String>,
    Query(q): Query<TxtQuery>,
) -> Result<Response, PageError> {
    if let Some(s) = slug.strip_suffix(".txt") {
        return txt(&st, v.locale, s, q.page).await;
    }
    let b = find(&st, &slug).await?;
    let extra = extras(&st, &b, v.locale).await;
    let tpl = Tpl {
        lang: v.locale.code(),
        name: &b.name,
        slug: &b.slug,
        rotate: b.rotate_secs,
        slides: slides(&st, &b, v.locale),
        extra,
        updated: st.kit.t(v.locale, "board.updated"),
        no_data: st.kit.t(v.locale, "board.no_data"),
        time: Fmt { locale: v.locale }.time(now_ms()),
        css: cunlink_web::assets::url("board.css"),
        app_js: cunlink_web::assets::url("app.js"),
    };
    let html = tpl.render().map_err(PageError::internal)?;
    Ok(no_store(Html(html).into_response()))
}

/// The text feed: line 1 is the board's name, then one line per value
/// (`asset label ... value`), `line_count` lines per page; without `?page=` the
/// page turns every `rotate_secs`, so a controller that polls sees them all.
async fn txt(
    st: &St,
    locale: Locale,
    slug: &str,
    page: Option<usize>,
) -> Result<Response, PageError> {
    let b = find(st, slug).await?;
    let w = b.line_width;
    let mut lines = Vec::new();
    for s in slides(st, &b, locale) {
        if s.vals.is_empty() {
            lines.push(text::line(&s.asset, st.kit.t(locale, "board.no_data"), w));
        }
        for v in s.vals {
            lines.push(text::line(
                &format!("{} {}", s.asset, v.label),
                &v.value.replace(' ', ""),
                w,
            ));
        }
    }
    for (_, _, extra) in extras(st, &b, locale).await {
        lines.extend(extra.iter().map(|l| text::fit(l, w)));
    }
    let body_lines = b.line_count.saturating_sub(1).max(1);
    let tick = (now_ms() / 1000 / i64::from(b.rotate_secs.max(1))) as usize;
    let (page_lines, _) = text::page_of(&lines, body_lines, page.unwrap_or(tick));
    let mut out = String::new();
    if b.line_count > 1 {
        out.push_str(&text::fit(&b.name, w));
        out.push('\n');
    }
    for l in page_lines {
        out.push_str(&l);
        out.push('\n');
    }
    let mut r = (StatusCode::OK, out).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(no_store(r))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn live(State(st): State<St>, Path(slug): Path<String>) -> Result<Response, PageError> {
    let b = find(&st, &slug).await?;
    let farm = st.boards.farm.clone();
    let devices: HashSet<i64> = farm
        .registry
        .all()
        .iter()
        .filter(|d| d.asset_id.is_some_and(|a| b.assets.contains(&a)))
        .map(|d| d.id.0)
        .collect();
    let keys = b.keys.clone();
    let rx = farm.telemetry.subscribe();
    let events = BroadcastStream::new(rx).filter_map(move |batch| {
        let batch = batch.ok()?;
        let store = farm.telemetry.store();
        let out: Vec<serde_json::Value> = batch
            .readings
            .iter()
            .filter(|r| devices.contains(&r.device.0))
            .filter_map(|r| {
                let k = store.keys.name(r.key)?;
                (keys.is_empty() || keys.iter().any(|x| x == k.as_ref()))
                    .then(|| serde_json::json!({ "d": r.device.0, "k": k.as_ref(), "v": r.value, "t": r.ts }))
            })
            .collect();
        (!out.is_empty()).then(|| {
            Ok::<_, Infallible>(Event::default().event("reading").data(serde_json::Value::Array(out).to_string()))
        })
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
