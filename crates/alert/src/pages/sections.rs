//! What the alert domain adds to other pages: the open alarms on top of the
//! village overview (live, like the inbox) and the lines a display board shows
//! for the open alarms of its assets.

use std::sync::Arc;

use askama::Template;

use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::{Locale, PageCtx, Section, SectionFuture, WebKit};

use super::inbox::villages_of;
use super::view::{RowTpl, severity_key, view};
use crate::Alerts;
use crate::store::{self, AlarmFilter, Status};

/// Open alarms shown on the overview; the inbox has the rest.
const OVERVIEW_LIMIT: usize = 10;
/// Open alarms a board shows per asset.
const BOARD_LIMIT: usize = 5;

pub(crate) struct OverviewAlarms(pub Arc<Alerts>);

#[derive(Template)]
#[template(path = "overview_alarms.html")]
struct OverviewTpl<'a> {
    t: &'a PageCtx,
    rows: Vec<String>,
    more: bool,
    script: &'static str,
}

impl OverviewAlarms {
    async fn html(&self, ctx: &PageCtx) -> Result<String, String> {
        if !crate::routes::can_see_alarms(&ctx.user) {
            return Ok(String::new());
        }
        let filter = AlarmFilter {
            status: Some(Status::Active),
            village_ids: villages_of(ctx),
            limit: OVERVIEW_LIMIT + 1,
            ..Default::default()
        };
        let alarms = self
            .0
            .db
            .call(move |c| store::query_alarms(c, &filter))
            .await
            .map_err(|e| e.to_string())?;
        let rows = alarms
            .iter()
            .take(OVERVIEW_LIMIT)
            .map(|a| {
                body(&RowTpl {
                    t: ctx,
                    a: view(ctx, &self.0.farm, a),
                    handle: false,
                    keep: "active",
                    compact: true,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{e:?}"))?;
        body(&OverviewTpl {
            t: ctx,
            more: alarms.len() > OVERVIEW_LIMIT,
            rows,
            script: super::assets::url(),
        })
        .map_err(|e| format!("{e:?}"))
    }
}

impl Section for OverviewAlarms {
    fn render<'a>(&'a self, ctx: &'a PageCtx) -> SectionFuture<'a> {
        Box::pin(async move {
            self.html(ctx).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "overview alarms section failed");
                String::new()
            })
        })
    }
}

/// Open alarms of a board's assets as board lines ("严重 母猪发热 · 耳标 0501 温度 39.4 °C · 5 分钟前"),
/// most urgent first. Boards are public, so a line names the device and rule only.
pub async fn board_lines(
    alerts: &Alerts,
    kit: &WebKit,
    asset_ids: &[i64],
    locale: Locale,
) -> Vec<String> {
    let ids = asset_ids.to_vec();
    let found = alerts
        .db
        .call(move |c| {
            let mut out = Vec::new();
            for id in ids {
                for status in [Status::Active, Status::Acknowledged] {
                    let f = AlarmFilter {
                        status: Some(status),
                        asset_id: Some(id),
                        limit: BOARD_LIMIT,
                        ..Default::default()
                    };
                    out.extend(store::query_alarms(c, &f)?);
                }
            }
            Ok::<_, crate::AlertStoreError>(out)
        })
        .await;
    let mut alarms = match found {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "board alarms failed");
            return Vec::new();
        }
    };
    alarms.sort_by_key(|a| (a.severity, -a.started_at));
    let f = cunlink_web::Fmt { locale };
    let now = now_ms();
    alarms
        .iter()
        .take(BOARD_LIMIT)
        .map(|a| {
            let shown = |key: &str, v: &serde_json::Value| -> Option<String> {
                let x = v.as_f64()?;
                let label = cunlink_farm::pages::readings::key_label(kit, locale, key);
                Some(format!(
                    " {label} {}",
                    f.value(x, cunlink_farm::pages::readings::unit(key))
                ))
            };
            let value: String = match (
                a.details.get("values").and_then(|v| v.as_object()),
                a.details.get("key").and_then(|k| k.as_str()),
            ) {
                (Some(vals), _) => vals.iter().filter_map(|(k, v)| shown(k, v)).collect(),
                (None, Some(key)) => a
                    .details
                    .get("value")
                    .and_then(|v| shown(key, v))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            format!(
                "{} {} · {}{} · {}",
                kit.t(locale, severity_key(a.severity)),
                a.rule,
                a.device,
                value,
                f.ago(a.started_at, now)
            )
        })
        .collect()
}
