//! `/clinic/prescriptions/{id}/print`: a prescription on one A5 sheet for the
//! village pharmacy to hand out — a page of its own (no app shell), black on
//! white, with `@page { size: A5 }`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};

use cunlink_web::layout::body;
use cunlink_web::{PageCtx, PageError};

use super::{St, page_err};
use crate::store::records::Line;

#[derive(Template)]
#[template(path = "clinic_print.html")]
struct PrintTpl<'a> {
    t: &'a PageCtx,
    id: i64,
    version: i64,
    superseded: bool,
    patient: String,
    sex_age: String,
    village: String,
    department: String,
    diagnosis: String,
    prescriber: String,
    date: String,
    lines: Vec<Line>,
    dispensed: String,
}

pub(crate) async fn print(State(st): State<St>, ctx: PageCtx, Path(id): Path<i64>) -> Result<Response, PageError> {
    let (rx, v) = st.clinic.read_prescription(&ctx.user, id, "page print").await.map_err(page_err)?;
    let fmt = ctx.fmt();
    let name = |id: i64| v.names.get(&id).cloned().unwrap_or_default();
    let diagnosis = v
        .notes
        .last()
        .map(|n| match &n.icd10 {
            Some(c) => format!("{} ({c})", n.diagnosis),
            None => n.diagnosis.clone(),
        })
        .unwrap_or_default();
    let html = body(&PrintTpl {
        t: &ctx,
        id: rx.id,
        version: rx.version,
        superseded: rx.superseded,
        patient: v.patient.name.clone(),
        sex_age: format!("{} · {}", ctx.t(&format!("clinic.sex.{}", v.patient.sex)), v.patient.birth_date),
        village: v.village.clone(),
        department: v.department.clone(),
        diagnosis,
        prescriber: name(rx.prescriber_id),
        date: fmt.datetime(rx.created_at),
        lines: rx.items.clone(),
        dispensed: rx
            .dispensed_at
            .map(|at| format!("{} · {}", name(rx.dispensed_by.unwrap_or(0)), fmt.datetime(at)))
            .unwrap_or_default(),
    })?;
    Ok(Html(html).into_response())
}
