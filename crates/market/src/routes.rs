//! The market HTTP API (see docs/market.md) and the public traceability pages.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use cunlink_core::routes::Routes;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, Role, User};
use cunlink_core::web::CurrentUser;

use crate::error::MarketError;
use crate::idem::{self, Answer};
use crate::input::{self, Obj};
use crate::query::Params;
use crate::{Market, access, catalog, live, orders, parcels, photos, pickups, prices, trace};

#[derive(Clone)]
pub struct MarketState(pub Arc<Market>);

impl FromRef<MarketState> for AuthService {
    fn from_ref(s: &MarketState) -> AuthService {
        s.0.auth.clone()
    }
}

type R<T> = Result<T, ApiError>;

pub fn routes(market: Arc<Market>) -> Routes {
    Routes::new()
        .route(
            "/api/market/stations",
            get(list_stations).post(create_station),
        )
        .route(
            "/api/market/products",
            get(list_products).post(create_product),
        )
        .route(
            "/api/market/products/{id}",
            get(get_product).patch(update_product),
        )
        .route(
            "/api/market/products/{id}/photos",
            post(add_photo).layer(axum::extract::DefaultBodyLimit::max(photos::MAX_BYTES + 1)),
        )
        .route("/api/market/variants/{id}/allocate", post(allocate_variant))
        .route("/api/market/variants/{id}/release", post(release_variant))
        .route("/api/market/photos/{file}", get(photo_file))
        .route("/api/market/orders", get(my_orders).post(create_order))
        .route("/api/market/orders/{id}", get(get_order))
        .route("/api/market/orders/{id}/status", post(order_status))
        .route("/api/market/orders/{id}/payment", post(order_payment))
        .route("/api/market/orders/{id}/pickup", post(order_pickup))
        .route("/api/market/pickups", get(list_pickups))
        .route("/api/market/parcels", post(create_parcel))
        .route("/api/market/parcels/reminders", get(reminders))
        .route("/api/market/parcels/{id}", get(get_parcel))
        .route("/api/market/parcels/{id}/scan", post(scan_parcel))
        .route("/api/market/parcels/{id}/collect", post(collect_parcel))
        .route("/api/market/prices", get(search_prices).post(report_price))
        .route("/api/market/prices/trend", get(price_trend))
        .route("/api/market/live", post(create_live))
        .route("/api/market/live/{id}", get(get_live))
        .route("/api/market/live/{id}/stream", get(live_stream))
        .route("/api/market/live/{id}/orders", post(live_order))
        .route("/api/market/live/{id}/end", post(end_live))
        .route("/api/market/batches", post(create_batch))
        .route("/t/{code}/qr.svg", get(trace_qr))
        .with_state(MarketState(market))
}

fn body_obj(body: &Bytes) -> R<Obj> {
    Ok(input::object(body)?)
}

/// Run a creating request with `Idempotency-Key` support on the database.
async fn creating<F>(
    m: &Market,
    user: &User,
    headers: &HeaderMap,
    route: &'static str,
    body: Bytes,
    work: F,
) -> R<Answer>
where
    F: FnOnce(&cunlink_core::sql::Connection, &Obj) -> Result<Value, MarketError> + Send + 'static,
{
    let key = idem::key(headers)?;
    let obj = body_obj(&body)?;
    Ok(idem::create(&m.db, user.id, key, route, obj, work).await?)
}

async fn db<T: Send + 'static>(
    m: &Market,
    f: impl FnOnce(&cunlink_core::sql::Connection) -> Result<T, MarketError> + Send + 'static,
) -> R<T> {
    Ok(m.db.call(move |c| f(c)).await?)
}

// --- stations -------------------------------------------------------------

async fn create_station(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    access::require_role(&u, &[Role::Admin, Role::CountyStaff], "creating a station")?;
    creating(&s.0, &u, &headers, "stations", body, |c, b| {
        let village = input::string(b, "village", 64)?;
        let name = input::string(b, "name", 64)?;
        let id = access::create_station(c, village, name)?;
        Ok(json!({"id": id, "village": village, "name": name}))
    })
    .await
}

async fn list_stations(
    State(s): State<MarketState>,
    CurrentUser(_u): CurrentUser,
) -> R<Json<Value>> {
    let list = db(&s.0, |c| {
        let all = crate::store::stations::all(c)?;
        Ok::<_, MarketError>(
            all.into_iter()
                .map(|s| json!({"id": s.id, "name": s.name, "village_id": s.village_id, "village": s.village}))
                .collect::<Vec<_>>(),
        )
    })
    .await?;
    Ok(Json(Value::Array(list)))
}

// --- products -------------------------------------------------------------

async fn create_product(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    let user = u.clone();
    creating(&s.0, &u, &headers, "products", body, move |c, b| {
        catalog::create_product(c, &user, b)
    })
    .await
}

type RawQuery = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn list_products(State(s): State<MarketState>, q: RawQuery) -> R<Json<Value>> {
    let village = Params::from(q)?.int("village_id", 1..=i64::MAX)?;
    Ok(Json(Value::Array(
        db(&s.0, move |c| catalog::list(c, village)).await?,
    )))
}

async fn get_product(State(s): State<MarketState>, Path(id): Path<i64>) -> R<Json<Value>> {
    db(&s.0, move |c| catalog::product(c, id))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("unknown_product", format!("there is no product {id}")))
}

async fn update_product(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        db(&s.0, move |c| catalog::update(c, &u, id, &b)).await?,
    ))
}

// --- stock between the hub and village nodes (docs/market.md) -------------

async fn allocate_variant(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        in_tx(&s.0, move |c| crate::allocations::allocate(c, &u, id, &b)).await?,
    ))
}

async fn release_variant(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        in_tx(&s.0, move |c| crate::allocations::release(c, &u, id, &b)).await?,
    ))
}

// --- photos ---------------------------------------------------------------

/// `POST /api/market/products/{id}/photos`: the raw photo as the body, with its
/// Content-Type. 201 when new to the product, 200 when it had it already.
async fn add_photo(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> R<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = photos::format_of(ct).map_err(MarketError::from)?;
    // Who may add is checked before the costly decode.
    let user = u.clone();
    db(&s.0, move |c| {
        let producer = access::producer_of(c, &user)?;
        match crate::store::products::owner(c, id)? {
            None => Err(MarketError::not_found(
                "unknown_product",
                format!("there is no product {id}"),
            )),
            Some(o) if o != producer && user.role != Role::Admin => Err(MarketError::forbidden(
                "only the producer who listed this product may add its photos",
            )),
            _ => Ok(()),
        }
    })
    .await?;
    let dir = s.0.photo_dir();
    let prepared = tokio::task::spawn_blocking(move || {
        let p = photos::prepare(&body, format)?;
        photos::store_files(&dir, &p)?;
        Ok::<_, MarketError>(p)
    })
    .await
    .map_err(ApiError::internal)??;
    let admin = u.role == Role::Admin;
    let (v, new) = in_tx(&s.0, move |c| {
        let producer = access::producer_of(c, &u)?;
        photos::attach(c, producer, admin, id, &prepared)
    })
    .await?;
    let status = if new {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, Json(v)).into_response())
}

/// `GET /api/market/photos/{hash}-{size}.jpg`: never changes, cached for a year.
async fn photo_file(State(s): State<MarketState>, Path(file): Path<String>) -> R<Response> {
    let Some((hash, size)) = photos::parse_file_name(&file) else {
        return Err(ApiError::not_found("unknown_photo", "no such photo"));
    };
    let path = photos::file_path(&s.0.photo_dir(), hash, size);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(ApiError::internal)?
        .map_err(|_| ApiError::not_found("unknown_photo", "no such photo"))?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(r)
}

// --- orders ---------------------------------------------------------------

async fn create_order(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    let key = idem::key(&headers)?;
    let obj = body_obj(&body)?;
    let hash = key
        .as_ref()
        .map(|_| idem::request_hash("orders", &obj))
        .unwrap_or_default();
    let req = orders::place::parse(&u, &obj)?;
    Ok(s.0.place(u.id, key, hash, req).await?)
}

async fn my_orders(State(s): State<MarketState>, CurrentUser(u): CurrentUser) -> R<Json<Value>> {
    Ok(Json(Value::Array(
        db(&s.0, move |c| orders::mine(c, &u)).await?,
    )))
}

async fn get_order(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(db(&s.0, move |c| orders::get(c, &u, id)).await?))
}

async fn order_status(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    let (v, changes) = in_tx(&s.0, move |c| orders::transition(c, &u, id, &b)).await?;
    for ch in changes {
        let _ = s.0.live.send(ch);
    }
    Ok(Json(v))
}

async fn order_payment(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        in_tx(&s.0, move |c| orders::payment(c, &u, id, &b)).await?,
    ))
}

/// A village node's station hands over a hub order (docs/market.md, "Village node").
async fn order_pickup(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        in_tx(&s.0, move |c| pickups::pickup(c, &u, id, &b)).await?,
    ))
}

async fn list_pickups(State(s): State<MarketState>, CurrentUser(u): CurrentUser) -> R<Json<Value>> {
    Ok(Json(Value::Array(
        db(&s.0, move |c| pickups::list(c, &u)).await?,
    )))
}

async fn in_tx<T: Send + 'static>(
    m: &Market,
    f: impl FnOnce(&cunlink_core::sql::Connection) -> Result<T, MarketError> + Send + 'static,
) -> R<T> {
    Ok(m.db
        .call(move |c| {
            let tx =
                c.transaction_with_behavior(cunlink_core::sql::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok::<_, MarketError>(out)
        })
        .await?)
}

// --- parcels --------------------------------------------------------------

async fn create_parcel(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    let user = u.clone();
    creating(&s.0, &u, &headers, "parcels", body, move |c, b| {
        parcels::create(c, &user, b)
    })
    .await
}

async fn get_parcel(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(db(&s.0, move |c| parcels::get(c, &u, id)).await?))
}

async fn scan_parcel(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        in_tx(&s.0, move |c| parcels::scan(c, &u, id, &b)).await?,
    ))
}

async fn collect_parcel(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    let b = body_obj(&body)?;
    Ok(Json(
        in_tx(&s.0, move |c| parcels::collect(c, &u, id, &b)).await?,
    ))
}

async fn reminders(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    q: RawQuery,
) -> R<Json<Value>> {
    let days = Params::from(q)?
        .int("days", 0..=parcels::MAX_REMINDER_DAYS)?
        .unwrap_or(s.0.config.reminder_days);
    Ok(Json(Value::Array(
        db(&s.0, move |c| parcels::waiting(c, &u, days)).await?,
    )))
}

// --- prices ---------------------------------------------------------------

async fn report_price(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    access::require_role(
        &u,
        &[Role::StationOperator, Role::Admin],
        "reporting prices",
    )?;
    let user = u.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let answer = creating(&s.0, &u, &headers, "prices", body, move |c, b| {
        let commodity = input::string(b, "commodity", 32)?;
        let price = input::price_fen(b, "price_fen", "price_fen")?;
        let unit = input::opt_str(b, "unit", 16)?
            .filter(|x| !x.is_empty())
            .unwrap_or("kg");
        let station = match input::opt_int(b, "station_id", "station_id")? {
            Some(id) => Some(access::station_or_404(c, id, "station_id")?),
            None => match user.village_id {
                Some(v) => crate::store::stations::first_in_village(c, v)?
                    .map(|id| access::station_or_404(c, id, "station_id"))
                    .transpose()?,
                None => None,
            },
        };
        let market = match (&station, input::opt_str(b, "market", 64)?) {
            (Some(st), _) => {
                access::require_operator_of(&user, st)?;
                st.village.clone()
            }
            (None, Some(m)) if user.role == Role::Admin && !m.is_empty() => m.to_string(),
            _ => {
                return Err(MarketError::forbidden(
                    "you operate no station; a price is reported for a station's village market",
                ));
            }
        };
        let day = match input::opt_str(b, "date", 10)? {
            Some(d) => {
                let day = crate::dates::day_number(d).ok_or_else(|| {
                    MarketError::invalid(
                        "bad_date",
                        "date",
                        "date must be a day YYYY-MM-DD from the year 2000 on",
                    )
                })?;
                if day > prices::today() {
                    return Err(MarketError::invalid(
                        "bad_date",
                        "date",
                        "a price cannot be reported for a future day",
                    ));
                }
                day
            }
            None => prices::today(),
        };
        let applied = prices::record(
            c,
            &prices::Report {
                commodity,
                market: &market,
                price_fen: price,
                unit,
                day,
                source: "report",
                reporter: Some(user.id),
            },
        )?;
        let v = applied.json();
        let _ = tx.send(applied);
        Ok(v)
    })
    .await?;
    // Memory learns the price only after the commit (a replay sends nothing).
    if let Ok(applied) = rx.await {
        applied.to_board(&s.0.prices);
    }
    Ok(answer)
}

/// Public: the price board is for everyone, signed in or not.
async fn search_prices(State(s): State<MarketState>, q: RawQuery) -> R<Response> {
    let q = Params::from(q)?;
    let text = q.str("q").unwrap_or_default();
    if text.chars().count() > 32 {
        return Err(
            ApiError::bad_request("bad_query", "q must be at most 32 characters").with_field("q"),
        );
    }
    let limit = q.int("limit", 1..=1000)?.unwrap_or(100) as usize;
    let started = std::time::Instant::now();
    let body = s.0.prices.search_json(text, q.str("market"), limit);
    // The server's share of the answer, so a benchmark can tell it from the network and client.
    let timing = format!("search;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&timing) {
        r.headers_mut().insert("server-timing", v);
    }
    Ok(r)
}

async fn price_trend(State(s): State<MarketState>, q: RawQuery) -> R<Json<Value>> {
    let q = Params::from(q)?;
    let commodity = q
        .str("commodity")
        .filter(|c| !c.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::bad_request("missing_field", "commodity is required").with_field("commodity")
        })?;
    let days = q.int("days", 1..=30)?.unwrap_or(7);
    if days != 7 && days != 30 {
        return Err(ApiError::bad_request("bad_days", "days must be 7 or 30").with_field("days"));
    }
    let market = q.str("market").map(str::to_string);
    Ok(Json(
        db(&s.0, move |c| {
            prices::trend(c, commodity.trim(), market.as_deref(), days)
        })
        .await?,
    ))
}

// --- live sales -----------------------------------------------------------

async fn create_live(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    let user = u.clone();
    creating(&s.0, &u, &headers, "live", body, move |c, b| {
        live::create(c, &user, b)
    })
    .await
}

async fn get_live(State(s): State<MarketState>, Path(id): Path<i64>) -> R<Json<Value>> {
    Ok(Json(db(&s.0, move |c| live::get(c, id)).await?))
}

async fn end_live(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(in_tx(&s.0, move |c| live::end(c, &u, id)).await?))
}

async fn live_order(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    let key = idem::key(&headers)?;
    let obj = body_obj(&body)?;
    let req = live::parse_order(&u, id, &obj)?;
    let item = req.items[0].live_item_id.unwrap_or_default();
    if !db(&s.0, move |c| live::item_in_session(c, id, item)).await? {
        return Err(ApiError::not_found(
            "unknown_live_item",
            format!("live sale {id} has no item {item}"),
        )
        .with_field("item_id"));
    }
    let hash = key
        .as_ref()
        .map(|_| idem::request_hash(&format!("live/{id}"), &obj))
        .unwrap_or_default();
    Ok(s.0.place(u.id, key, hash, req).await?)
}

/// Public SSE: a snapshot of the session, then `stock` events as units sell.
async fn live_stream(State(s): State<MarketState>, Path(id): Path<i64>) -> R<Response> {
    let rx = s.0.live.subscribe();
    let snapshot = db(&s.0, move |c| live::get(c, id)).await?;
    let first = tokio_stream::once(Ok::<_, Infallible>(
        Event::default().event("session").data(snapshot.to_string()),
    ));
    let updates = BroadcastStream::new(rx).filter_map(move |m| match m {
        Ok(ch) if ch.session_id == id => Some(Ok(Event::default()
            .event("stock")
            .data(json!(ch).to_string()))),
        _ => None,
    });
    Ok(Sse::new(first.chain(updates))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

// --- traceability ---------------------------------------------------------

async fn create_batch(
    State(s): State<MarketState>,
    CurrentUser(u): CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> R<Answer> {
    let user = u.clone();
    creating(&s.0, &u, &headers, "batches", body, move |c, b| {
        trace::create_batch(c, &user, b)
    })
    .await
}

async fn trace_qr(
    State(s): State<MarketState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> R<Response> {
    let c = code.clone();
    if db(&s.0, move |conn| trace::lookup(conn, &c))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            "unknown_trace_code",
            "no such traceability code",
        ));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let svg = trace::qr_svg(&format!("http://{host}/t/{code}"))
        .ok_or_else(|| ApiError::internal("QR encoding failed"))?;
    let mut r = svg.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    Ok(r)
}
