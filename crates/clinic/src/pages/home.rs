//! `/clinic` per role, patients and departments forms, the new-consult form,
//! the department queue (live) and the slot calendar.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};

use cunlink_core::auth::Role;
use cunlink_core::time::now_ms;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::{Flash, St, allowed, back, form, number, outcome, page_err, refused};
use crate::access;
use crate::store::{consults, people};

/// One consult in a list.
pub(crate) struct Row {
    pub id: i64,
    pub who: String,
    pub department: String,
    pub status: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "clinic_home.html")]
struct HomeTpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    village_doctor: bool,
    county_doctor: bool,
    admin: bool,
    rows: Vec<Row>,
    patients: Vec<(i64, String)>,
    /// (name, name for a query string)
    departments: Vec<(String, String)>,
    mine: Vec<(i64, String)>,
}

pub(crate) fn status_label(ctx: &PageCtx, s: crate::ConsultStatus) -> String {
    ctx.t(&format!("clinic.status.{}", s.as_str())).to_string()
}

async fn rows(st: &St, ctx: &PageCtx, q: HashMap<String, String>) -> Result<Vec<Row>, PageError> {
    let list = st.clinic.consult_list(&ctx.user, &q).await.map_err(page_err)?;
    let fmt = ctx.fmt();
    Ok(list
        .iter()
        .map(|v| Row {
            id: v["id"].as_i64().unwrap_or(0),
            who: format!("#{}", v["patient_id"]),
            department: v["department"].as_str().unwrap_or("").to_string(),
            status: v["status"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .map(|s| status_label(ctx, s))
                .unwrap_or_default(),
            at: fmt.datetime(v["created_at"].as_i64().unwrap_or(0)),
        })
        .collect())
}

pub(crate) async fn home(State(st): State<St>, ctx: PageCtx, Query(flash): Query<Flash>) -> Result<Response, PageError> {
    allowed(&ctx)?;
    let user = ctx.user.clone();
    let (county, patients, departments, mine) = st
        .clinic
        .db
        .call(move |c| {
            let county = access::county_department(c, &user)?.is_some();
            let patients = match access::village_doctor(&user) {
                Some(v) => people::patients(c, Some(v), 200)?.into_iter().map(|p| (p.id, p.name)).collect(),
                None => Vec::new(),
            };
            let departments = people::departments(c)?.into_iter().map(|d| d.name).collect();
            let mine = people::patients_of_user(c, user.id)?.into_iter().map(|p| (p.id, p.name)).collect();
            Ok::<_, crate::ClinicError>((county, patients, departments, mine))
        })
        .await
        .map_err(page_err)?;
    let village_doctor = access::village_doctor(&ctx.user).is_some();
    let admin = ctx.user.role == Role::Admin;
    let mut list = if village_doctor || county || admin {
        let mut q = HashMap::new();
        q.insert("limit".to_string(), "30".to_string());
        rows(&st, &ctx, q).await?
    } else {
        Vec::new()
    };
    let names: HashMap<i64, &String> = patients.iter().map(|(i, n)| (*i, n)).collect();
    for r in &mut list {
        if let Some(n) = r.who.trim_start_matches('#').parse::<i64>().ok().and_then(|i| names.get(&i)) {
            r.who = (*n).clone();
        }
    }
    let html = body(&HomeTpl {
        t: &ctx,
        flash,
        village_doctor,
        county_doctor: county,
        admin,
        rows: list,
        patients,
        departments: with_enc(departments),
        mine,
    })?;
    Ok(cunlink_web::page(&ctx, ctx.t("clinic.home.title"), &html, PageOpts::default()))
}

pub(crate) async fn create_patient(State(st): State<St>, ctx: PageCtx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let mut obj = form(&ctx, f)?;
    if !obj.contains_key("village")
        && let Some(v) = &ctx.user.village
    {
        obj.insert("village".into(), v.clone().into());
    }
    outcome(st.clinic.create_patient(&ctx.user, obj).await, super::HOME, ctx.t("clinic.done.patient"))
}

pub(crate) async fn create_department(State(st): State<St>, ctx: PageCtx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let obj = form(&ctx, f)?;
    outcome(st.clinic.create_department(&ctx.user, obj).await, super::HOME, ctx.t("clinic.done.department"))
}

#[derive(Template)]
#[template(path = "clinic_new_consult.html")]
struct NewTpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    patients: Vec<(i64, String)>,
    departments: Vec<String>,
    /// (key, label, unit, offered value, device)
    vitals: Vec<(&'static str, String, &'static str, String, String)>,
}

pub(crate) async fn new_consult(State(st): State<St>, ctx: PageCtx, Query(flash): Query<Flash>) -> Result<Response, PageError> {
    let Some(village) = access::village_doctor(&ctx.user) else {
        return Err(PageError::Forbidden);
    };
    let (patients, departments) = st
        .clinic
        .db
        .call(move |c| {
            let p = people::patients(c, Some(village), 200)?.into_iter().map(|p| (p.id, p.name)).collect::<Vec<_>>();
            let d = people::departments(c)?.into_iter().map(|d| d.name).collect::<Vec<_>>();
            Ok::<_, crate::ClinicError>((p, d))
        })
        .await
        .map_err(page_err)?;
    // The clinic's devices' fresh readings, filled in for the doctor to accept or change.
    let offered = crate::vitals::offered(&st.clinic.farm, village, now_ms());
    let vitals = crate::vitals::VITALS
        .iter()
        .map(|v| {
            let o = offered.iter().find(|o| o.key == v.key);
            (
                v.key,
                ctx.t(&format!("clinic.vital.{}", v.key)).to_string(),
                v.unit,
                o.map(|o| cunlink_farm::telemetry::value::format_num(o.value)).unwrap_or_default(),
                o.map(|o| o.device.clone()).unwrap_or_default(),
            )
        })
        .collect();
    let html = body(&NewTpl { t: &ctx, flash, patients, departments, vitals })?;
    Ok(cunlink_web::page(&ctx, ctx.t("clinic.new.title"), &html, PageOpts::default()))
}

pub(crate) async fn open_consult(State(st): State<St>, ctx: PageCtx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let raw = form(&ctx, f)?;
    let mut obj = serde_json::Map::new();
    let mut vitals = serde_json::Map::new();
    for (k, v) in raw {
        let text = v.as_str().unwrap_or("").trim().to_string();
        if let Some(key) = k.strip_prefix("vital_") {
            if text.is_empty() {
                continue;
            }
            // A number stays a number; anything else goes on as text so the flow names the field.
            let val = text.parse::<f64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::String(text));
            vitals.insert(key.to_string(), val);
        } else {
            obj.insert(k, serde_json::Value::String(text));
        }
    }
    number(&mut obj, "patient_id");
    obj.insert("vitals".into(), serde_json::Value::Object(vitals));
    match st.clinic.open_consult(&ctx.user, obj).await {
        Ok(v) => Ok(back(&format!("/clinic/consults/{}", v["id"]), true, ctx.t("clinic.done.consult"))),
        Err(e) => refused(e, "/clinic/consults/new"),
    }
}

#[derive(Template)]
#[template(path = "clinic_queue.html")]
struct QueueTpl<'a> {
    t: &'a PageCtx,
    department: String,
    departments: Vec<(String, String)>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "clinic_queue_rows.html")]
struct RowsTpl<'a> {
    t: &'a PageCtx,
    rows: Vec<Row>,
}

/// The department whose queue is shown: `?department=`, else the county doctor's own.
async fn queue_department(st: &St, ctx: &PageCtx, q: &HashMap<String, String>) -> Result<(String, Vec<String>), PageError> {
    let user = ctx.user.clone();
    let asked = q.get("department").cloned().filter(|s| !s.is_empty());
    st.clinic
        .db
        .call(move |c| {
            let all: Vec<_> = people::departments(c)?;
            let own = access::county_department(c, &user)?;
            let name = asked
                .or_else(|| own.and_then(|d| all.iter().find(|x| x.id == d).map(|x| x.name.clone())))
                .or_else(|| all.first().map(|d| d.name.clone()))
                .unwrap_or_default();
            Ok::<_, crate::ClinicError>((name, all.into_iter().map(|d| d.name).collect()))
        })
        .await
        .map_err(page_err)
}

fn may_see_queue(ctx: &PageCtx) -> bool {
    matches!(ctx.user.role, Role::Doctor | Role::Admin)
}

/// The department queue: waiting consults, oldest first, no clinical content
/// (opening one is the audited read). Rows reload when the SSE stream says so.
pub(crate) async fn queue(State(st): State<St>, ctx: PageCtx, Query(q): Query<HashMap<String, String>>) -> Result<Response, PageError> {
    if !may_see_queue(&ctx) {
        return Err(PageError::Forbidden);
    }
    let (department, departments) = queue_department(&st, &ctx, &q).await?;
    let rows = queue_list(&st, &ctx, &department).await?;
    let html = body(&QueueTpl { t: &ctx, department, departments: with_enc(departments), rows })?;
    Ok(cunlink_web::page(&ctx, ctx.t("clinic.queue.title"), &html, PageOpts::default()))
}

pub(crate) async fn queue_rows(State(st): State<St>, ctx: PageCtx, Query(q): Query<HashMap<String, String>>) -> Result<Response, PageError> {
    if !may_see_queue(&ctx) {
        return Err(PageError::Forbidden);
    }
    let (department, _) = queue_department(&st, &ctx, &q).await?;
    let rows = queue_list(&st, &ctx, &department).await?;
    Ok(Html(body(&RowsTpl { t: &ctx, rows })?).into_response())
}

/// Waiting consults of a department, oldest first (the queue's order), at most 100.
async fn queue_list(st: &St, ctx: &PageCtx, department: &str) -> Result<Vec<Row>, PageError> {
    if department.is_empty() {
        return Ok(Vec::new());
    }
    let dep = department.to_string();
    let list = st
        .clinic
        .db
        .call(move |c| {
            let Some(d) = people::department_by_name(c, &dep)? else { return Ok(Vec::new()) };
            Ok::<_, crate::ClinicError>(consults::waiting(c, d.id, 100)?)
        })
        .await
        .map_err(page_err)?;
    let fmt = ctx.fmt();
    let now = now_ms();
    Ok(list
        .into_iter()
        .map(|(k, village, sex, birth)| Row {
            id: k.id,
            who: format!("{village} · {} · {birth}", ctx.t(&format!("clinic.sex.{sex}"))),
            department: department.to_string(),
            status: format!(
                "{} {}{}",
                ctx.t("clinic.status.waiting"),
                (now - k.created_at).max(0) / 60_000,
                ctx.t("clinic.queue.minutes")
            ),
            at: fmt.datetime(k.created_at),
        })
        .collect())
}

#[derive(Template)]
#[template(path = "clinic_slots.html")]
struct SlotsTpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    county_doctor: bool,
    /// (day, [(time, minutes, doctor, booked)])
    days: Vec<(String, Vec<(String, i64, String, bool)>)>,
    department: String,
}

/// The slot calendar: the coming slots of a department, by day.
pub(crate) async fn slots(State(st): State<St>, ctx: PageCtx, Query(q): Query<HashMap<String, String>>) -> Result<Response, PageError> {
    if !may_see_queue(&ctx) {
        return Err(PageError::Forbidden);
    }
    let flash = Flash { ok: q.get("ok").cloned(), err: q.get("err").cloned(), warn: q.get("warn").cloned() };
    let (department, _) = queue_department(&st, &ctx, &q).await?;
    let mut qq = HashMap::new();
    if !department.is_empty() {
        qq.insert("department".to_string(), department.clone());
    }
    let list = st.clinic.slot_list(&ctx.user, &qq).await.map_err(page_err)?;
    let county_doctor = {
        let u = ctx.user.clone();
        st.clinic
            .db
            .call(move |c| Ok::<_, crate::ClinicError>(access::county_department(c, &u)?.is_some()))
            .await
            .map_err(page_err)?
    };
    let fmt = ctx.fmt();
    let mut days: Vec<(String, Vec<(String, i64, String, bool)>)> = Vec::new();
    for s in list {
        let at = s["starts_at"].as_i64().unwrap_or(0);
        let full = fmt.datetime(at);
        let (day, time) = full.rsplit_once(' ').map(|(d, t)| (d.to_string(), t.to_string())).unwrap_or((full.clone(), String::new()));
        let entry = (time, s["minutes"].as_i64().unwrap_or(0), s["doctor"].as_str().unwrap_or("").to_string(), s["booked"] == true);
        match days.last_mut() {
            Some((d, v)) if *d == day => v.push(entry),
            _ => days.push((day, vec![entry])),
        }
    }
    let html = body(&SlotsTpl { t: &ctx, flash, county_doctor, days, department })?;
    Ok(cunlink_web::page(&ctx, ctx.t("clinic.slots.title"), &html, PageOpts::default()))
}

/// A county doctor publishes a slot: a date, a time (China time) and minutes.
pub(crate) async fn create_slot(State(st): State<St>, ctx: PageCtx, Form(f): Form<Vec<(String, String)>>) -> Result<Response, PageError> {
    let mut obj = form(&ctx, f)?;
    let date = obj.get("date").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let time = obj.get("time").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let Some(ms) = china_ms(&date, &time) else {
        return Ok(super::back_with("/clinic/slots", "warn", ctx.t("clinic.slots.bad_time")));
    };
    obj.insert("starts_at".into(), ms.into());
    number(&mut obj, "minutes");
    let r = st.clinic.create_slot(&ctx.user, obj).await;
    outcome(r, "/clinic/slots", ctx.t("clinic.done.slot"))
}

/// `YYYY-MM-DD` and `HH:MM` in China time as epoch ms.
fn china_ms(date: &str, time: &str) -> Option<i64> {
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let ([y, m, dd], [h, mi]) = (d.as_slice(), t.as_slice()) else { return None };
    if !(2000..=2200).contains(y) || !(1..=12).contains(m) || *dd < 1 || *dd > cunlink_core::time::days_in_month(*y, *m) {
        return None;
    }
    if !(0..24).contains(h) || !(0..60).contains(mi) {
        return None;
    }
    let days = cunlink_core::time::days_from_civil(*y, *m, *dd);
    Some(days * 86_400_000 + h * 3_600_000 + mi * 60_000 - 8 * 3_600_000)
}

fn with_enc(names: Vec<String>) -> Vec<(String, String)> {
    names
        .into_iter()
        .map(|n| {
            let e = cunlink_web::page::encode_component(&n);
            (n, e)
        })
        .collect()
}
