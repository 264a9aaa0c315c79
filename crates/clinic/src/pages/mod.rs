//! The clinic's pages under the 医疗 tab (zh-CN first, en): the home page per
//! role, the new-consult form, the department queue (live over SSE), the
//! consult page (notes and prescription forms, a place for the call link),
//! the patient's record (the patient's own view), the slot calendar and the
//! A5 print page of a prescription.
//!
//! Every form posts to a page route that builds the same JSON object the API
//! takes and calls the same flow function, so a page cannot do what the API
//! refuses; a refused form comes back with `?err=`. Every page that shows a
//! record reads it through the audited reads of `record.rs`.

mod consult;
mod home;
mod print;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use cunlink_core::routes::Routes;
use cunlink_web::page::encode_component;
use cunlink_web::{PageCtx, PageError, WebKit};

use crate::{Clinic, ClinicError};

/// The clinic tab's home.
pub(crate) const HOME: &str = "/clinic";

#[derive(Clone)]
pub(crate) struct St {
    pub clinic: Arc<Clinic>,
    pub kit: WebKit,
}

impl FromRef<St> for WebKit {
    fn from_ref(s: &St) -> WebKit {
        s.kit.clone()
    }
}

pub(crate) fn routes(clinic: Arc<Clinic>, kit: WebKit) -> Routes {
    Routes::new()
        .route(HOME, get(home::home))
        .route("/clinic/patients", post(home::create_patient))
        .route("/clinic/departments", post(home::create_department))
        .route("/clinic/consults/new", get(home::new_consult).post(home::open_consult))
        .route("/clinic/queue", get(home::queue))
        .route("/clinic/queue/rows", get(home::queue_rows))
        .route("/clinic/slots", get(home::slots).post(home::create_slot))
        .route("/clinic/consults/{id}", get(consult::show))
        .route("/clinic/consults/{id}/action", post(consult::action))
        .route("/clinic/consults/{id}/notes", post(consult::note))
        .route("/clinic/consults/{id}/prescriptions", post(consult::prescribe))
        .route("/clinic/prescriptions/{id}/dispense", post(consult::dispense))
        .route("/clinic/patients/{id}", get(consult::record))
        .route("/clinic/prescriptions/{id}/print", get(print::print))
        .with_state(St { clinic, kit })
}

/// `?ok=` / `?err=` after a redirect.
#[derive(Default, serde::Deserialize)]
pub(crate) struct Flash {
    pub ok: Option<String>,
    /// Refused: the caller may not do this.
    pub err: Option<String>,
    /// Not done: the input or the consult's state does not allow it.
    pub warn: Option<String>,
}

/// Redirect to `to` with a short message (PRG).
pub(crate) fn back(to: &str, ok: bool, msg: &str) -> Response {
    back_with(to, if ok { "ok" } else { "err" }, msg)
}

pub(crate) fn back_with(to: &str, key: &str, msg: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}{key}={}", encode_component(msg))).into_response()
}

/// A flow's answer as a page answer: refused input goes back with its message.
pub(crate) fn outcome(r: Result<Value, ClinicError>, to: &str, done: &str) -> Result<Response, PageError> {
    match r {
        Ok(_) => Ok(back(to, true, done)),
        Err(e) => Err(e).or_else(|e| refused(e, to)),
    }
}

pub(crate) fn refused(e: ClinicError, to: &str) -> Result<Response, PageError> {
    match e {
        ClinicError::NotFound(..) => Err(PageError::NotFound),
        ClinicError::Forbidden(m) => Ok(back(to, false, &m)),
        e @ (ClinicError::Invalid { .. } | ClinicError::Conflict { .. } | ClinicError::Photo(_)) => {
            Ok(back_with(to, "warn", &e.to_string()))
        }
        ClinicError::Db(e) => Err(PageError::internal(e)),
    }
}

pub(crate) fn page_err(e: ClinicError) -> PageError {
    match e {
        ClinicError::NotFound(..) => PageError::NotFound,
        ClinicError::Forbidden(_) => PageError::Forbidden,
        ClinicError::Db(e) => PageError::internal(e),
        e => PageError::BadRequest(e.to_string()),
    }
}

/// The form's fields, after its CSRF token is checked.
pub(crate) fn form(ctx: &PageCtx, fields: Vec<(String, String)>) -> Result<Map<String, Value>, PageError> {
    let mut out = Map::new();
    let mut csrf = String::new();
    for (k, v) in fields {
        if k == "csrf" {
            csrf = v;
        } else {
            out.insert(k, Value::String(v));
        }
    }
    ctx.check_csrf(&csrf)?;
    Ok(out)
}

/// A number field of a form as a JSON number (left as text if it is not one,
/// so the flow names the field).
pub(crate) fn number(obj: &mut Map<String, Value>, key: &str) {
    if let Some(Value::String(s)) = obj.get(key)
        && let Ok(n) = s.trim().parse::<i64>()
    {
        obj.insert(key.to_string(), Value::from(n));
    }
}

pub(crate) fn allowed(ctx: &PageCtx) -> Result<(), PageError> {
    if crate::access::can_use(&ctx.user) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}
