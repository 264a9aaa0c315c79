//! The consult page (its record, the notes and prescription forms, the place
//! for the call link) and the patient's record page (the patient's own view).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::Value;

use cunlink_core::auth::Role;
use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError, PageOpts};

use super::home::status_label;
use super::{Flash, St, back, form, number, outcome, page_err, refused};
use crate::access;
use crate::model::ConsultStatus;
use crate::record::{ConsultView, Record};
use crate::store::consults;

/// A prescription as the pages show it.
pub(crate) struct RxView {
    pub id: i64,
    pub version: i64,
    pub superseded: bool,
    pub prescriber: String,
    pub at: String,
    pub lines: Vec<crate::store::records::Line>,
    pub dispensed: Option<String>,
}

pub(crate) struct NoteView {
    pub author: String,
    pub at: String,
    pub soap: Vec<(&'static str, String)>,
    pub diagnosis: String,
    pub icd10: String,
}

fn rx_views(
    ctx: &PageCtx,
    list: &[crate::store::records::Prescription],
    names: &std::collections::HashMap<i64, String>,
) -> Vec<RxView> {
    let fmt = ctx.fmt();
    let name = |id: i64| names.get(&id).cloned().unwrap_or_default();
    list.iter()
        .map(|p| RxView {
            id: p.id,
            version: p.version,
            superseded: p.superseded,
            prescriber: name(p.prescriber_id),
            at: fmt.datetime(p.created_at),
            lines: p.items.clone(),
            dispensed: p.dispensed_at.map(|at| {
                format!(
                    "{} · {}",
                    name(p.dispensed_by.unwrap_or(0)),
                    fmt.datetime(at)
                )
            }),
        })
        .collect()
}

fn note_views(
    ctx: &PageCtx,
    list: &[crate::store::records::Note],
    names: &std::collections::HashMap<i64, String>,
) -> Vec<NoteView> {
    let fmt = ctx.fmt();
    list.iter()
        .map(|n| NoteView {
            author: names.get(&n.author_id).cloned().unwrap_or_default(),
            at: fmt.datetime(n.created_at),
            soap: [
                ("S", &n.subjective),
                ("O", &n.objective),
                ("A", &n.assessment),
                ("P", &n.plan),
            ]
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(k, t)| (k, t.clone()))
            .collect(),
            diagnosis: n.diagnosis.clone(),
            icd10: n.icd10.clone().unwrap_or_default(),
        })
        .collect()
}

fn vitals_line(
    ctx: &PageCtx,
    obs: &[crate::store::consults::Observation],
) -> Vec<(String, String)> {
    obs.iter()
        .map(|o| {
            let unit = crate::vitals::vital(&o.key).map(|v| v.unit).unwrap_or("");
            (
                ctx.t(&format!("clinic.vital.{}", o.key)).to_string(),
                format!(
                    "{} {unit}",
                    cunlink_farm::telemetry::value::format_num(o.value)
                ),
            )
        })
        .collect()
}

#[derive(Template)]
#[template(path = "clinic_consult.html")]
struct ConsultTpl<'a> {
    t: &'a PageCtx,
    flash: Flash,
    v: &'a ConsultView,
    status: String,
    age_sex: String,
    vitals: Vec<(String, String)>,
    notes: Vec<NoteView>,
    rxs: Vec<RxView>,
    can_accept: bool,
    can_treat: bool,
    can_cancel: bool,
    can_dispense: bool,
    is_open: bool,
    /// On the hub, a consult held at a village node: shown, changed there.
    elsewhere: bool,
    /// Free slots of the department, for the village doctor to book.
    slots: Vec<(i64, String)>,
    /// The latest prescription, which the revise form replaces.
    latest_rx: Option<i64>,
    blank_lines: Vec<usize>,
}

pub(crate) async fn show(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Query(flash): Query<Flash>,
) -> Result<Response, PageError> {
    let v = st
        .clinic
        .read_consult(&ctx.user, id, "page consult")
        .await
        .map_err(page_err)?;
    let user = ctx.user.clone();
    let dep = v.consult.department_id;
    let county = st
        .clinic
        .db
        .call(move |c| Ok::<_, crate::ClinicError>(access::county_department(c, &user)?))
        .await
        .map_err(page_err)?;
    let elsewhere = st
        .clinic
        .db
        .call(move |c| {
            Ok::<_, crate::ClinicError>(
                !cunlink_core::sync::is_node(c)? && crate::sync::node_made(id),
            )
        })
        .await
        .map_err(page_err)?;
    let waiting = v.consult.status == ConsultStatus::Waiting && !elsewhere;
    let village_doctor =
        access::village_doctor(&ctx.user) == Some(v.patient.village_id) && !elsewhere;
    let mut slots = Vec::new();
    if waiting && village_doctor {
        let fmt = ctx.fmt();
        let now = cunlink_core::time::now_ms();
        slots = st
            .clinic
            .db
            .call(move |c| {
                Ok::<_, crate::ClinicError>(consults::slots(c, Some(dep), now, true, 50)?)
            })
            .await
            .map_err(page_err)?
            .into_iter()
            .map(|s| {
                (
                    s.id,
                    format!("{} · {}′", fmt.datetime(s.starts_at), s.minutes),
                )
            })
            .collect();
    }
    let latest_rx = v
        .prescriptions
        .iter()
        .rev()
        .find(|p| !p.superseded && p.dispensed_at.is_none())
        .map(|p| p.id);
    let html = body(&ConsultTpl {
        t: &ctx,
        flash,
        status: status_label(&ctx, v.consult.status),
        age_sex: age_sex(&ctx, &v.patient),
        vitals: vitals_line(&ctx, &v.observations),
        notes: note_views(&ctx, &v.notes, &v.names),
        rxs: rx_views(&ctx, &v.prescriptions, &v.names),
        can_accept: waiting && county == Some(dep),
        can_treat: access::can_treat(&ctx.user, &v.consult, &v.patient)
            && v.consult.status.is_open()
            && !elsewhere,
        can_cancel: (village_doctor || (ctx.user.role == Role::Admin && !elsewhere))
            && matches!(
                v.consult.status,
                ConsultStatus::Waiting | ConsultStatus::Accepted | ConsultStatus::Scheduled
            ),
        can_dispense: village_doctor,
        is_open: v.consult.status.is_open(),
        elsewhere,
        slots,
        latest_rx,
        blank_lines: (0..3).collect(),
        v: &v,
    })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("clinic.consult.title"),
        &html,
        PageOpts::default(),
    ))
}

fn age_sex(ctx: &PageCtx, p: &crate::store::people::Patient) -> String {
    let today = cunlink_core::time::china_day(cunlink_core::time::now_ms());
    let (y, m, d) = cunlink_core::time::civil_from_days(today);
    let age = p
        .birth_date
        .get(0..4)
        .and_then(|by| by.parse::<i64>().ok())
        .map(|by| {
            let md = p.birth_date.get(5..).unwrap_or("");
            y - by - i64::from(md > format!("{m:02}-{d:02}").as_str())
        })
        .unwrap_or(0);
    format!(
        "{} · {age}{}",
        ctx.t(&format!("clinic.sex.{}", p.sex)),
        ctx.t("clinic.years")
    )
}

/// Accept, close, cancel or schedule, as `action=`.
pub(crate) async fn action(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut obj = form(&ctx, f)?;
    let here = format!("/clinic/consults/{id}");
    let act = obj
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let u = &ctx.user;
    let r = match act.as_str() {
        "accept" => st.clinic.accept(u, id).await,
        "close" => st.clinic.close(u, id).await,
        "cancel" => st.clinic.cancel(u, id).await,
        "schedule" => {
            number(&mut obj, "slot_id");
            st.clinic.schedule(u, id, obj).await
        }
        _ => return Ok(super::back_with(&here, "warn", ctx.t("clinic.err.action"))),
    };
    outcome(r, &here, ctx.t("clinic.done.saved"))
}

pub(crate) async fn note(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let obj = form(&ctx, f)?;
    let here = format!("/clinic/consults/{id}");
    outcome(
        st.clinic.add_note(&ctx.user, id, obj).await,
        &here,
        ctx.t("clinic.done.saved"),
    )
}

/// A prescription from the form's numbered lines (`drug_0`, `dose_0`, …);
/// with `revise_of`, a revision of that prescription.
pub(crate) async fn prescribe(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let obj = form(&ctx, f)?;
    let here = format!("/clinic/consults/{id}");
    let mut items = Vec::new();
    for i in 0..crate::flow::MAX_LINES {
        let get = |k: &str| {
            obj.get(&format!("{k}_{i}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        if get("drug").is_empty() {
            continue;
        }
        let mut line = serde_json::Map::new();
        for k in ["drug", "dose", "route", "frequency", "days", "quantity"] {
            line.insert(k.into(), get(k).into());
        }
        number(&mut line, "days");
        number(&mut line, "quantity");
        items.push(Value::Object(line));
    }
    let mut body = serde_json::Map::new();
    body.insert("items".into(), Value::Array(items));
    let revise = obj
        .get("revise_of")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok());
    let r = match revise {
        Some(rx) => st.clinic.revise(&ctx.user, rx, body).await,
        None => st.clinic.prescribe(&ctx.user, id, body).await,
    };
    outcome(r, &here, ctx.t("clinic.done.saved"))
}

pub(crate) async fn dispense(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let obj = form(&ctx, f)?;
    let to = obj
        .get("consult")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok())
        .map(|c| format!("/clinic/consults/{c}"))
        .unwrap_or_else(|| super::HOME.to_string());
    match st.clinic.dispense(&ctx.user, id).await {
        Ok(_) => Ok(back(&to, true, ctx.t("clinic.done.dispensed"))),
        Err(e) => refused(e, &to),
    }
}

#[derive(Template)]
#[template(path = "clinic_record.html")]
struct RecordTpl<'a> {
    t: &'a PageCtx,
    r: &'a Record,
    age_sex: String,
    /// (consult id, department, status, date, vitals, notes, prescriptions)
    consults: Vec<(
        i64,
        String,
        String,
        String,
        Vec<(String, String)>,
        Vec<NoteView>,
        Vec<RxView>,
    )>,
    /// The access log (for the patient and admins): (who, what, when).
    log: Vec<(String, String, String)>,
    show_log: bool,
}

/// A patient's record: the patient's own view, and the doctors'.
pub(crate) async fn record(
    State(st): State<St>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let r = st
        .clinic
        .read_record(&ctx.user, id, None, "page record")
        .await
        .map_err(page_err)?;
    let fmt = ctx.fmt();
    let consults = r
        .consults
        .iter()
        .map(|(k, dep)| {
            let obs: Vec<_> = r
                .observations
                .iter()
                .filter(|o| o.consult_id == k.id)
                .cloned()
                .collect();
            let notes: Vec<_> = r
                .notes
                .iter()
                .filter(|n| n.consult_id == k.id)
                .cloned()
                .collect();
            let rxs: Vec<_> = r
                .prescriptions
                .iter()
                .filter(|p| p.consult_id == k.id)
                .cloned()
                .collect();
            (
                k.id,
                dep.clone(),
                status_label(&ctx, k.status),
                fmt.datetime(k.created_at),
                vitals_line(&ctx, &obs),
                note_views(&ctx, &notes, &r.names),
                rx_views(&ctx, &rxs, &r.names),
            )
        })
        .collect();
    let show_log = ctx.user.role == Role::Admin || r.patient.user_id == Some(ctx.user.id);
    let log = if show_log {
        st.clinic
            .access_log(&ctx.user, id, 50)
            .await
            .map_err(page_err)?
            .into_iter()
            .map(|e| {
                (
                    e["user"].as_str().unwrap_or("").to_string(),
                    e["action"].as_str().unwrap_or("").to_string(),
                    fmt.datetime(e["at"].as_i64().unwrap_or(0)),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let html = body(&RecordTpl {
        t: &ctx,
        age_sex: age_sex(&ctx, &r.patient),
        r: &r,
        consults,
        log,
        show_log,
    })?;
    Ok(cunlink_web::page(
        &ctx,
        ctx.t("clinic.record.title"),
        &html,
        PageOpts::default(),
    ))
}
