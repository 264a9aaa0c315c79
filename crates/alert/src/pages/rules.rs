//! `/rules`: the rules a user sees; `/rules/new` and `/rules/{id}`: one form for
//! every rule kind (threshold with several comparisons, AND/OR and a duration;
//! rate of change; silence; herd fever), with an optional device command and
//! escalation. The target is chosen from lists and the keys offered are those
//! its devices report (`/rules/keys`, from [`crate::Alerts::target_keys`]).
//!
//! The form is sent by alert.js as the rule JSON to `/api/rules` (the same
//! validation as for scripts); an error is shown next to the field the API
//! names in `field`. Durations are entered in minutes, the API takes seconds.

use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use cunlink_farm::scope;
use serde::Deserialize;

use cunlink_web::layout::body;
use cunlink_web::layout::page as shell;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::view::{severity_class, severity_key};
use super::{PagesState, require_alarms};
use crate::AlertStoreError;
use crate::rule::{Condition, HerdFever, Match, Op, Rule, Severity, Target};
use crate::store;

/// Device names offered in the target list; more are typed.
const MAX_DEVICES: usize = 300;

struct RuleRow {
    id: i64,
    name: String,
    kind: String,
    target: String,
    class: &'static str,
    severity: String,
    enabled: bool,
    builtin: bool,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct ListTpl<'a> {
    t: &'a PageCtx,
    rows: Vec<RuleRow>,
    manage: bool,
}

fn kind_key(c: &Condition) -> &'static str {
    match c {
        Condition::Threshold { .. } => "alert.rule.kind.threshold",
        Condition::Rate { .. } => "alert.rule.kind.rate",
        Condition::Silence { .. } => "alert.rule.kind.silence",
        Condition::HerdFever(_) => "alert.rule.kind.herd_fever",
    }
}

fn target_parts(t: &Target) -> (&'static str, &str) {
    match t {
        Target::Device(n) => ("device", n),
        Target::Asset(n) => ("asset", n),
        Target::Profile(n) => ("profile", n),
        Target::AssetKind(n) => ("asset_kind", n),
    }
}

pub(crate) async fn list(State(s): State<PagesState>, ctx: PageCtx) -> Result<Response, PageError> {
    require_alarms(&ctx.user)?;
    let rules = s
        .alerts
        .db
        .call(|c| store::rules(c))
        .await
        .map_err(PageError::internal)?;
    let rows = rules
        .into_iter()
        .filter(|r| ctx.user.can_see_village(r.village_id))
        .map(|r| {
            let (k, n) = target_parts(&r.target);
            RuleRow {
                id: r.id,
                kind: ctx.t(kind_key(&r.condition)).to_string(),
                target: format!("{} {n}", ctx.t(&format!("alert.target.{k}"))),
                class: severity_class(r.severity),
                severity: ctx.t(severity_key(r.severity)).to_string(),
                enabled: r.enabled,
                builtin: r.builtin,
                name: r.name,
            }
        })
        .collect();
    let tpl = ListTpl {
        t: &ctx,
        rows,
        manage: crate::routes::can_manage_rules(&ctx.user),
    };
    Ok(shell(
        &ctx,
        ctx.t("alert.rules.title"),
        &body(&tpl)?,
        PageOpts::default(),
    ))
}

/// The form's values as text, so one template serves new and stored rules.
struct Vals {
    name: String,
    severity: &'static str,
    enabled: bool,
    auto_clear: bool,
    village: String,
    target_kind: &'static str,
    target_name: String,
    cond: &'static str,
    any: bool,
    comparisons: Vec<(String, &'static str, String)>,
    for_min: String,
    rate_key: String,
    rate_change: String,
    rate_within_min: String,
    silence_after_min: String,
    silence_intervals: String,
    hf: HerdFever,
    hf_for_min: String,
    hf_activity_drop_pct: String,
    action: Option<(String, String)>,
    escalate: Option<(String, String)>,
}

/// Seconds as minutes, without trailing zeros ("1.5", "30").
fn minutes(s: u32) -> String {
    let m = f64::from(s) / 60.0;
    let t = format!("{m:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn op_str(op: Op) -> &'static str {
    match op {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Eq => "==",
        Op::Ne => "!=",
    }
}

impl Vals {
    fn blank() -> Vals {
        Vals {
            name: String::new(),
            severity: "major",
            enabled: true,
            auto_clear: true,
            village: String::new(),
            target_kind: "asset",
            target_name: String::new(),
            cond: "threshold",
            any: false,
            comparisons: vec![(String::new(), ">", String::new())],
            for_min: "0".into(),
            rate_key: String::new(),
            rate_change: String::new(),
            rate_within_min: "60".into(),
            silence_after_min: String::new(),
            silence_intervals: "3".into(),
            hf: HerdFever::default(),
            hf_for_min: minutes(HerdFever::default().for_s),
            hf_activity_drop_pct: String::new(),
            action: None,
            escalate: None,
        }
    }

    fn of(r: &Rule, village: String) -> Vals {
        let mut v = Vals::blank();
        v.name = r.name.clone();
        v.severity = r.severity.as_str();
        v.enabled = r.enabled;
        v.auto_clear = r.auto_clear;
        v.village = village;
        let (k, n) = target_parts(&r.target);
        v.target_kind = k;
        v.target_name = n.to_string();
        match &r.condition {
            Condition::Threshold {
                r#match,
                conditions,
                for_s,
            } => {
                v.any = *r#match == Match::Any;
                v.comparisons = conditions
                    .iter()
                    .map(|c| (c.key.clone(), op_str(c.op), c.value.to_string()))
                    .collect();
                v.for_min = minutes(*for_s);
            }
            Condition::Rate {
                key,
                change,
                within_s,
            } => {
                v.cond = "rate";
                v.rate_key = key.clone();
                v.rate_change = change.to_string();
                v.rate_within_min = minutes(*within_s);
            }
            Condition::Silence { after_s, intervals } => {
                v.cond = "silence";
                v.silence_after_min = after_s.map(minutes).unwrap_or_default();
                v.silence_intervals = intervals.map(|i| i.to_string()).unwrap_or_default();
            }
            Condition::HerdFever(h) => {
                v.cond = "herd_fever";
                v.hf = h.clone();
                v.hf_for_min = minutes(h.for_s);
                v.hf_activity_drop_pct = h
                    .activity_drop
                    .map(|d| format!("{}", (d * 100.0).round()))
                    .unwrap_or_default();
            }
        }
        v.action = r.action.as_ref().map(|a| {
            let params = if a.rpc.params.is_null() {
                String::new()
            } else {
                a.rpc.params.to_string()
            };
            (a.rpc.method.clone(), params)
        });
        v.escalate = r
            .escalate
            .as_ref()
            .map(|e| (minutes(e.after_s), e.to.join(", ")));
        v
    }
}

#[derive(Template)]
#[template(path = "rule_form.html")]
struct FormTpl<'a> {
    t: &'a PageCtx,
    id: Option<i64>,
    builtin: bool,
    v: Vals,
    villages: Vec<String>,
    devices: Vec<String>,
    assets: Vec<String>,
    /// (name, label)
    profiles: Vec<(String, String)>,
    kinds: [&'static str; 4],
    keys: Vec<String>,
    severities: Vec<(&'static str, &'a str)>,
    ops: [&'static str; 6],
    users: Vec<String>,
    script: &'static str,
}

/// Villages a county-wide user may put a rule in (id, name); none for others.
async fn village_choices(s: &PagesState, ctx: &PageCtx) -> Result<Vec<(i64, String)>, PageError> {
    if !ctx.user.role.is_county_wide() {
        return Ok(Vec::new());
    }
    Ok(s.alerts
        .auth
        .list_villages()
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect())
}

/// Names of the devices (at most `MAX_DEVICES`, sorted) and assets the caller
/// may target.
fn target_choices(s: &PagesState, ctx: &PageCtx) -> (Vec<String>, Vec<String>) {
    let visible: Vec<_> = s
        .alerts
        .farm
        .registry
        .all()
        .into_iter()
        .filter(|d| scope::can_see(&ctx.user, d.village_id) && !d.is_gateway)
        .collect();
    // Sort references, copy only what is shown: a county has thousands of devices.
    let mut names: Vec<&str> = visible.iter().map(|d| d.name.as_str()).collect();
    if names.len() > MAX_DEVICES {
        names.select_nth_unstable(MAX_DEVICES);
        names.truncate(MAX_DEVICES);
    }
    names.sort_unstable();
    let devices: Vec<String> = names.into_iter().map(str::to_string).collect();
    let assets: Vec<String> = visible
        .iter()
        .filter_map(|d| d.asset.as_deref())
        .collect::<std::collections::BTreeSet<&str>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    (devices, assets)
}

/// Profiles a rule may target, as (name, label shown).
async fn profile_choices(
    s: &PagesState,
    ctx: &PageCtx,
) -> Result<Vec<(String, String)>, PageError> {
    Ok(s.alerts
        .farm
        .profiles()
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .filter(|p| p.name != "gateway")
        .map(|p| {
            let key = format!("farm.profile.{}", p.name);
            let label = ctx.t(&key);
            let label = if label == key {
                p.name.clone()
            } else {
                format!("{label} ({})", p.name)
            };
            (p.name, label)
        })
        .collect())
}

async fn form(s: &PagesState, ctx: &PageCtx, rule: Option<Rule>) -> Result<Response, PageError> {
    if !crate::routes::can_manage_rules(&ctx.user) {
        return Err(PageError::Forbidden);
    }
    let villages = village_choices(s, ctx).await?;
    let village = rule
        .as_ref()
        .and_then(|r| r.village_id)
        .and_then(|id| villages.iter().find(|v| v.0 == id))
        .map(|v| v.1.clone())
        .unwrap_or_default();
    let v = match &rule {
        Some(r) => Vals::of(r, village),
        None => Vals::blank(),
    };
    let (devices, assets) = target_choices(s, ctx);
    let profiles = profile_choices(s, ctx).await?;
    // Keys of the target come from `/rules/keys` once the page is shown.
    let keys: Vec<String> = Vec::new();
    let users = s
        .alerts
        .auth
        .users_for_village(ctx.user.village_id)
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|u| u.username)
        .collect();
    let title = if rule.is_some() {
        ctx.t("alert.rule.edit")
    } else {
        ctx.t("alert.rule.new")
    };
    let tpl = FormTpl {
        t: ctx,
        id: rule.as_ref().map(|r| r.id),
        builtin: rule.as_ref().is_some_and(|r| r.builtin),
        v,
        villages: villages.into_iter().map(|v| v.1).collect(),
        devices,
        assets,
        profiles,
        kinds: ["field", "greenhouse", "barn", "pen"],
        keys,
        severities: [
            Severity::Critical,
            Severity::Major,
            Severity::Minor,
            Severity::Warning,
        ]
        .into_iter()
        .map(|s| (s.as_str(), ctx.t(severity_key(s))))
        .collect(),
        ops: ["<", "<=", ">", ">=", "==", "!="],
        users,
        script: super::assets::url(),
    };
    Ok(shell(ctx, title, &body(&tpl)?, PageOpts::default()))
}

pub(crate) async fn new(State(s): State<PagesState>, ctx: PageCtx) -> Result<Response, PageError> {
    require_alarms(&ctx.user)?;
    form(&s, &ctx, None).await
}

async fn visible_rule(s: &PagesState, ctx: &PageCtx, id: i64) -> Result<Rule, PageError> {
    require_alarms(&ctx.user)?;
    let r = s
        .alerts
        .db
        .call(move |c| store::rule(c, id))
        .await
        .map_err(|e| match e {
            AlertStoreError::NoSuchRule(_) => PageError::NotFound,
            e => PageError::internal(e),
        })?;
    if !ctx.user.can_see_village(r.village_id) {
        return Err(PageError::NotFound);
    }
    Ok(r)
}

pub(crate) async fn edit(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let r = visible_rule(&s, &ctx, id).await?;
    form(&s, &ctx, Some(r)).await
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

/// Delete from the list or the form: the same checks as `DELETE /api/rules/{id}`
/// (the built-in herd-fever rule stays; it can be switched off).
pub(crate) async fn delete(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&f.csrf)?;
    let r = visible_rule(&s, &ctx, id).await?;
    if !crate::routes::can_manage_rules(&ctx.user)
        || (r.village_id.is_none() && !ctx.user.role.is_county_wide())
    {
        return Err(PageError::Forbidden);
    }
    if r.builtin {
        return Err(PageError::BadRequest(
            ctx.t("alert.rule.builtin").to_string(),
        ));
    }
    s.alerts
        .db
        .call(move |c| store::delete_rule(c, id, cunlink_core::time::now_ms()))
        .await
        .map_err(super::store_error)?;
    s.alerts.engine.reload();
    Ok(Redirect::to("/rules").into_response())
}

#[derive(Deserialize)]
pub(crate) struct KeysQuery {
    kind: String,
    name: String,
}

/// `GET /rules/keys?kind=asset&name=二号猪舍`: what the form offers as keys.
pub(crate) async fn keys(
    State(s): State<PagesState>,
    ctx: PageCtx,
    Query(q): Query<KeysQuery>,
) -> Result<Response, PageError> {
    require_alarms(&ctx.user)?;
    let name = q.name.trim().to_string();
    let target = match q.kind.as_str() {
        "device" => Target::Device(name),
        "asset" => Target::Asset(name),
        "profile" => Target::Profile(name),
        "asset_kind" => Target::AssetKind(name),
        _ => return Err(PageError::BadRequest("kind".into())),
    };
    let found = s
        .alerts
        .target_keys(&target, crate::Scope::of(&ctx.user))
        .await
        .map_err(PageError::internal)?;
    Ok(Json(serde_json::json!({
        "exists": found.exists,
        "devices": found.devices,
        "keys": found.keys,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_show_as_minutes() {
        assert_eq!(minutes(0), "0");
        assert_eq!(minutes(1800), "30");
        assert_eq!(minutes(90), "1.5");
        assert_eq!(minutes(20), "0.33");
    }
}
