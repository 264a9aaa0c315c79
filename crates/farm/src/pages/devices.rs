//! `/farm/devices`: the devices a user sees, a form to add one, and each
//! device's page with its token, a QR code of its HTTP address and copy-paste
//! connection examples (MQTT, HTTP, ChirpStack).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::page::encode_component;
use cunlink_web::{PageCtx, PageError, PageOpts, page};

use super::{PagesState, can_manage_devices, require_farm};
use crate::FarmStoreError;
use crate::model::AssetKind;
use crate::store::NewDevice;

const PER_PAGE: usize = 50;
const PROFILES: [&str; 4] = ["air-probe", "soil-probe", "ear-tag", "default"];

pub(crate) struct Row {
    pub name: String,
    pub name_enc: String,
    pub profile: String,
    pub asset: String,
    pub seen: String,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct ListTpl<'a> {
    t: &'a PageCtx,
    rows: Vec<Row>,
    total: usize,
    page: usize,
    pages: usize,
    manage: bool,
    /// Admins and county staff name the village of a new device.
    county_wide: bool,
    profiles: &'static [&'static str],
    error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    page: Option<usize>,
}

async fn render_list(
    s: &PagesState,
    ctx: &PageCtx,
    pg: Option<usize>,
    error: Option<String>,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let all: Vec<_> = s
        .farm
        .registry
        .all()
        .into_iter()
        .filter(|d| crate::scope::can_see(&ctx.user, d.village_id))
        .collect();
    let pages = all.len().div_ceil(PER_PAGE).max(1);
    let pg = pg.unwrap_or(1).clamp(1, pages);
    let now = now_ms();
    let f = ctx.fmt();
    let store = s.farm.telemetry.store();
    let rows = all
        .iter()
        .skip((pg - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|d| Row {
            name: d.name.clone(),
            name_enc: encode_component(&d.name),
            profile: d.profile.clone(),
            asset: d.asset.clone().unwrap_or_default(),
            seen: store
                .latest(d.id)
                .iter()
                .map(|l| l.1)
                .max()
                .map_or_else(|| ctx.t("farm.never").to_string(), |t| f.ago(t, now)),
        })
        .collect();
    let tpl = ListTpl {
        t: ctx,
        rows,
        total: all.len(),
        page: pg,
        pages,
        manage: can_manage_devices(&ctx.user),
        county_wide: ctx.user.role.is_county_wide(),
        profiles: &PROFILES,
        error,
    };
    Ok(page(
        ctx,
        ctx.t("farm.devices.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

pub(crate) async fn list(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    render_list(&s, &ctx, q.page, None).await
}

#[derive(Deserialize)]
pub(crate) struct NewDeviceForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    asset: String,
    #[serde(default)]
    asset_kind: String,
    #[serde(default)]
    village: String,
}

pub(crate) async fn create(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Form(f): Form<NewDeviceForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    require_farm(&ctx.user)?;
    if !can_manage_devices(&ctx.user) {
        return Err(PageError::Forbidden);
    }
    let asset = Some(f.asset.trim().to_string()).filter(|a| !a.is_empty());
    // Village-bound users add to their own village; county-wide users name one
    // (or reuse an existing location's). County-level devices are made through
    // the API or the command line, where the flag is explicit.
    let village = Some(f.village.trim().to_string())
        .filter(|v| !v.is_empty())
        .or_else(|| ctx.user.village.clone());
    let place =
        crate::scope::placement(&ctx.user, village, false).map_err(|_| PageError::Forbidden)?;
    let new = NewDevice {
        name: f.name.trim().to_string(),
        profile: Some(f.profile.trim().to_string()).filter(|p| !p.is_empty()),
        asset,
        asset_kind: Some(
            f.asset_kind
                .parse::<AssetKind>()
                .unwrap_or(AssetKind::Field),
        ),
        village: place.village,
        ..NewDevice::default()
    };
    match s.farm.registry.create(new).await {
        Ok(d) => Ok(
            Redirect::to(&format!("/farm/devices/{}", encode_component(&d.name))).into_response(),
        ),
        Err(FarmStoreError::Db(e)) => Err(PageError::internal(e)),
        Err(e) => {
            let msg = match &e {
                FarmStoreError::DeviceExists(_) => ctx.t("farm.devices.exists").to_string(),
                FarmStoreError::BadName => ctx.t("farm.devices.bad_name").to_string(),
                other => other.to_string(),
            };
            let mut r = render_list(&s, &ctx, None, Some(msg)).await?;
            *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
    }
}

#[derive(Template)]
#[template(path = "device.html")]
struct ShowTpl<'a> {
    t: &'a PageCtx,
    name: String,
    profile: String,
    asset: String,
    token: Option<String>,
    qr: String,
    mqtt: String,
    http: String,
    chirpstack: String,
}

pub(crate) async fn show(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    require_farm(&ctx.user)?;
    let d = s
        .farm
        .registry
        .by_name(&name)
        .await
        .map_err(PageError::internal)?
        .filter(|d| crate::scope::can_see(&ctx.user, d.village_id))
        .ok_or(PageError::NotFound)?;
    let manage = can_manage_devices(&ctx.user);
    let host_port = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".:-[]".contains(c))
        })
        .unwrap_or("127.0.0.1:8080")
        .to_string();
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => host_port.clone(),
    };
    let token = if manage {
        d.token.clone()
    } else {
        "ACCESS_TOKEN".into()
    };
    let http_url = format!("http://{host_port}/api/v1/{token}/telemetry");
    let sample = match d.profile.as_str() {
        "soil-probe" => r#"{"soil_moisture":31.5,"soil_temperature":14.2}"#,
        "ear-tag" => r#"{"temperature":38.1,"activity":42,"battery":87}"#,
        _ => r#"{"temperature":21.5,"humidity":63}"#,
    };
    let tpl = ShowTpl {
        t: &ctx,
        name: d.name.clone(),
        profile: d.profile.clone(),
        asset: d.asset.clone().unwrap_or_default(),
        qr: if manage {
            qr_svg(&http_url)
        } else {
            String::new()
        },
        mqtt: format!(
            "mosquitto_pub -h {host} -p {port} -q 1 -u '{token}' \\\n  -t v1/devices/me/telemetry -m '{sample}'",
            port = s.mqtt_port
        ),
        http: format!(
            "curl -X POST '{http_url}' \\\n  -H 'Content-Type: application/json' -d '{sample}'"
        ),
        chirpstack: format!(
            "URL: http://{host_port}/api/integrations/chirpstack\nDevEUI: {}",
            d.dev_eui
                .clone()
                .unwrap_or_else(|| ctx.t("farm.device.no_eui").to_string())
        ),
        token: manage.then_some(token),
    };
    Ok(page(&ctx, &d.name, &body(&tpl)?, PageOpts::default()))
}

/// A QR code as inline SVG: one path of dark modules, a 4-module quiet zone.
pub fn qr_svg(data: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else {
        return String::new();
    };
    let w = code.width();
    let colors = code.to_colors();
    let mut path = String::new();
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % w + 4, i / w + 4));
        }
    }
    let size = w + 8;
    format!(
        "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"QR\" shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}
