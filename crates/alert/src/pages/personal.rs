//! The alert domain's part of `/me`: which alarms reach this person (least
//! severity, assets, push and webhook switches, quiet hours), their webhooks,
//! deliveries that failed for good (with retry), and the "notify me on this
//! phone" button that subscribes the browser to Web Push (alert.js).
//!
//! The forms post here and come back to `/me?alerts=<outcome>#alerts`; the
//! outcome key picks the message shown above the forms.

use cunlink_farm::scope;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, Section, SectionFuture};

use super::PagesState;
use super::view::severity_key;
use crate::Alerts;
use crate::notify::prefs::{Prefs, QuietHours};
use crate::notify::store as nstore;
use crate::rule::Severity;

/// Assets offered as checkboxes; a county-wide account picks from its villages' first ones.
const MAX_ASSETS: usize = 40;

pub(crate) struct PersonalSection(pub Arc<Alerts>);

struct Hook {
    id: i64,
    url: String,
}

struct Dead {
    id: i64,
    /// None for a notice's delivery (it has no alarm page).
    alarm: Option<i64>,
    channel: &'static str,
    when: String,
    error: String,
}

#[derive(Template)]
#[template(path = "personal.html")]
struct Tpl<'a> {
    t: &'a PageCtx,
    message: Option<(&'static str, bool)>,
    min_severity: &'static str,
    severities: Vec<(&'static str, &'a str)>,
    assets: Vec<(String, bool)>,
    push: bool,
    webhook: bool,
    quiet: bool,
    quiet_start: String,
    quiet_end: String,
    hooks: Vec<Hook>,
    dead: Vec<Dead>,
    devices: usize,
    script: &'static str,
}

/// Admins see every dead letter; others their own (as in the JSON API).
fn scope(ctx: &PageCtx) -> Option<i64> {
    (ctx.user.role != cunlink_core::auth::Role::Admin).then_some(ctx.user.id)
}

/// The outcome named in `?alerts=` and whether it is an error.
fn message(path: &str) -> Option<(&'static str, bool)> {
    let q = path.split_once('?')?.1;
    let v = q.split('&').find_map(|p| p.strip_prefix("alerts="))?;
    Some(match v {
        "saved" => ("alert.me.saved", false),
        "hook_added" => ("alert.me.hook_added", false),
        "hook_removed" => ("alert.me.hook_removed", false),
        "retried" => ("alert.me.retried", false),
        "bad_time" => ("alert.me.bad_time", true),
        "bad_url" => ("alert.me.bad_url", true),
        "private_url" => ("alert.me.private_url", true),
        _ => return None,
    })
}

impl PersonalSection {
    async fn html(&self, ctx: &PageCtx) -> Result<String, PageError> {
        let uid = ctx.user.id;
        let who = scope(ctx);
        let (prefs, hooks, dead, devices) = self
            .0
            .db
            .call(move |c| {
                Ok::<_, crate::AlertStoreError>((
                    nstore::prefs(c, uid)?,
                    nstore::webhooks_of(c, uid)?,
                    nstore::dead(c, who)?,
                    nstore::pushes_of(c, uid)?.len(),
                ))
            })
            .await
            .map_err(PageError::internal)?;
        let mut names: Vec<String> = self
            .0
            .farm
            .registry
            .all()
            .iter()
            .filter(|d| scope::can_see(&ctx.user, d.village_id))
            .filter_map(|d| d.asset.clone())
            .collect();
        names.sort();
        names.dedup();
        names.truncate(MAX_ASSETS);
        let f = ctx.fmt();
        let tpl = Tpl {
            t: ctx,
            message: message(&ctx.path),
            min_severity: prefs.min_severity.as_str(),
            severities: [
                Severity::Critical,
                Severity::Major,
                Severity::Minor,
                Severity::Warning,
            ]
            .into_iter()
            .map(|s| (s.as_str(), ctx.t(severity_key(s))))
            .collect(),
            assets: names
                .into_iter()
                .map(|n| {
                    let on = prefs.assets.contains(&n);
                    (n, on)
                })
                .collect(),
            push: prefs.push,
            webhook: prefs.webhook,
            quiet: prefs.quiet_hours.is_some(),
            quiet_start: prefs
                .quiet_hours
                .as_ref()
                .map_or_else(|| "22:00".into(), |q| q.start.clone()),
            quiet_end: prefs
                .quiet_hours
                .as_ref()
                .map_or_else(|| "06:00".into(), |q| q.end.clone()),
            hooks: hooks
                .into_iter()
                .map(|h| Hook {
                    id: h.id,
                    url: h.url,
                })
                .collect(),
            dead: dead
                .into_iter()
                .take(20)
                .map(|d| Dead {
                    id: d.id,
                    alarm: d.alarm_id,
                    channel: d.channel.as_str(),
                    when: f.datetime(d.created_at),
                    error: d.last_error.unwrap_or_default(),
                })
                .collect(),
            devices,
            script: super::assets::url(),
        };
        body(&tpl)
    }
}

impl Section for PersonalSection {
    fn render<'a>(&'a self, ctx: &'a PageCtx) -> SectionFuture<'a> {
        Box::pin(async move {
            self.html(ctx).await.unwrap_or_else(|e| {
                tracing::error!(error = ?e, "personal alerts section failed");
                String::new()
            })
        })
    }
}

fn back(outcome: &str) -> Response {
    Redirect::to(&format!("/me?alerts={outcome}#alerts")).into_response()
}

/// The preferences form: checkboxes are present only when ticked, and the
/// assets come as repeated `asset` fields, which `Form` cannot collect; so the
/// body is read as pairs.
pub(crate) async fn save_prefs(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    ctx.check_csrf(get("csrf").unwrap_or(""))?;
    let min_severity = get("min_severity")
        .unwrap_or("warning")
        .parse::<Severity>()
        .map_err(|e| PageError::BadRequest(e.message))?;
    let quiet_hours = get("quiet").is_some().then(|| QuietHours {
        start: get("quiet_start").unwrap_or("").to_string(),
        end: get("quiet_end").unwrap_or("").to_string(),
    });
    let p = Prefs {
        min_severity,
        assets: pairs
            .iter()
            .filter(|(n, v)| n == "asset" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect(),
        push: get("push").is_some(),
        webhook: get("webhook").is_some(),
        quiet_hours,
        ..Prefs::default()
    };
    if p.check().is_err() {
        return Ok(back("bad_time"));
    }
    let uid = ctx.user.id;
    s.alerts
        .db
        .call(move |c| nstore::put_prefs(c, uid, &p))
        .await
        .map_err(PageError::internal)?;
    Ok(back("saved"))
}

#[derive(Deserialize)]
pub(crate) struct HookForm {
    csrf: String,
    url: String,
}

pub(crate) async fn add_webhook(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Form(f): Form<HookForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let url = f.url.trim().to_string();
    match s.alerts.notifier.check_target(&url).await {
        Ok(()) => {}
        Err(crate::notify::net::TargetError::BadUrl) => return Ok(back("bad_url")),
        Err(_) => return Ok(back("private_url")),
    }
    let uid = ctx.user.id;
    s.alerts
        .db
        .call(move |c| nstore::add_webhook(c, uid, &url, now_ms()))
        .await
        .map_err(PageError::internal)?;
    Ok(back("hook_added"))
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

pub(crate) async fn remove_webhook(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let uid = ctx.user.id;
    let gone = s
        .alerts
        .db
        .call(move |c| nstore::remove_webhook(c, id, uid))
        .await
        .map_err(PageError::internal)?;
    if !gone {
        return Err(PageError::NotFound);
    }
    Ok(back("hook_removed"))
}

pub(crate) async fn retry_dead(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let who = scope(&ctx);
    let ok = s
        .alerts
        .db
        .call(move |c| nstore::revive(c, id, who, now_ms()))
        .await
        .map_err(PageError::internal)?;
    if !ok {
        return Err(PageError::NotFound);
    }
    Ok(back("retried"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_is_read_from_the_query() {
        assert_eq!(message("/me?alerts=saved"), Some(("alert.me.saved", false)));
        assert_eq!(
            message("/me?x=1&alerts=bad_url"),
            Some(("alert.me.bad_url", true))
        );
        assert_eq!(message("/me?alerts=<script>"), None);
        assert_eq!(message("/me"), None);
    }
}
