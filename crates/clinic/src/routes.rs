//! The clinic's JSON API (see docs/clinic.md). Handlers parse, call the flow
//! (`flow.rs`) or an audited read (`record.rs`), and answer; the rules are
//! there, not here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, Role, User};
use cunlink_core::routes::Routes;
use cunlink_core::time::now_ms;
use cunlink_core::web::CurrentUser;

use crate::error::ClinicError;
use crate::model::ConsultStatus;
use crate::store::{consults, people};
use crate::{Clinic, access, input, photos, record};

#[derive(Clone)]
pub struct ClinicState(pub Arc<Clinic>);

impl FromRef<ClinicState> for AuthService {
    fn from_ref(s: &ClinicState) -> AuthService {
        s.0.auth.clone()
    }
}

type R<T> = Result<T, ApiError>;
pub(crate) type RawQuery = Result<Query<HashMap<String, String>>, QueryRejection>;

/// Default and largest page of a list.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

pub fn routes(clinic: Arc<Clinic>) -> Routes {
    Routes::new()
        .route(
            "/api/clinic/departments",
            get(list_departments).post(create_department),
        )
        .route("/api/clinic/doctors", post(link_doctor))
        .route(
            "/api/clinic/patients",
            get(list_patients).post(create_patient),
        )
        .route("/api/clinic/patients/{id}", get(get_record))
        .route("/api/clinic/patients/{id}/access-log", get(access_log))
        .route(
            "/api/clinic/consults",
            get(list_consults).post(open_consult),
        )
        .route("/api/clinic/consults/{id}", get(get_consult))
        .route("/api/clinic/consults/{id}/accept", post(accept))
        .route("/api/clinic/consults/{id}/schedule", post(schedule))
        .route("/api/clinic/consults/{id}/close", post(close))
        .route("/api/clinic/consults/{id}/cancel", post(cancel))
        .route("/api/clinic/consults/{id}/notes", post(add_note))
        .route("/api/clinic/consults/{id}/prescriptions", post(prescribe))
        .route(
            "/api/clinic/consults/{id}/photos",
            post(add_photo).layer(axum::extract::DefaultBodyLimit::max(photos::MAX_BYTES + 1)),
        )
        .route("/api/clinic/photos/{id}", get(get_photo))
        .route("/api/clinic/prescriptions/{id}", get(get_prescription))
        .route("/api/clinic/prescriptions/{id}/revise", post(revise))
        .route("/api/clinic/prescriptions/{id}/dispense", post(dispense))
        .route("/api/clinic/slots", get(list_slots).post(create_slot))
        .route("/api/clinic/vitals", get(offered_vitals))
        .route("/api/clinic/queue/stream", get(queue_stream))
        .with_state(ClinicState(clinic))
}

pub(crate) fn query(q: RawQuery) -> R<HashMap<String, String>> {
    q.map(|Query(m)| m)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()).with_field("query"))
}

fn limit(q: &HashMap<String, String>) -> Result<i64, ClinicError> {
    match q.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ClinicError::invalid(
                "invalid_limit",
                "limit",
                format!("limit must be 1 to {MAX_LIMIT}"),
            )),
        },
    }
}

fn id_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ClinicError> {
    match q.get(name).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| {
                ClinicError::invalid(
                    "invalid_field",
                    name,
                    format!("'{name}' must be a positive id"),
                )
            }),
    }
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn obj(body: &Bytes) -> R<input::Obj> {
    Ok(input::object(body)?)
}

async fn db<T: Send + 'static>(
    s: &ClinicState,
    f: impl FnOnce(&cunlink_core::sql::Connection) -> Result<T, ClinicError> + Send + 'static,
) -> R<T> {
    Ok(s.0.db.call(move |c| f(c)).await?)
}

// --- departments and patients -----------------------------------------------

async fn list_departments(
    State(s): State<ClinicState>,
    CurrentUser(_u): CurrentUser,
) -> R<Json<Value>> {
    let list = db(&s, |c| Ok(people::departments(c)?)).await?;
    Ok(Json(json!(list)))
}

async fn create_department(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.create_department(&u, obj(&body)?).await?))
}

async fn link_doctor(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Json<Value>> {
    Ok(Json(s.0.link_doctor(&u, obj(&body)?).await?))
}

async fn create_patient(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.create_patient(&u, obj(&body)?).await?))
}

/// Patients of the caller's village (admins: every village, or `?village=`):
/// names for choosing a patient, no clinical content.
async fn list_patients(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    q: RawQuery,
) -> R<Json<Value>> {
    let q = query(q)?;
    let limit = limit(&q)?;
    let village = q.get("village").cloned();
    let list = db(&s, move |c| {
        let scope = match (u.role, access::village_doctor(&u)) {
            (Role::Admin, _) => match village.as_deref() {
                None => None,
                Some(v) => Some(cunlink_core::auth::village_id(c, v)?.ok_or_else(|| {
                    ClinicError::invalid(
                        "unknown_village",
                        "village",
                        format!("no village named '{v}'"),
                    )
                })?),
            },
            (_, Some(v)) => Some(v),
            _ => {
                return Err(ClinicError::forbidden(
                    "patient lists are for village doctors and admins",
                ));
            }
        };
        let list = people::patients(c, scope, limit)?;
        Ok(list
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name, "sex": p.sex, "birth_date": p.birth_date}))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(Value::Array(list)))
}

/// A patient's whole record; `?consult=` says which consult it was read for.
async fn get_record(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    q: RawQuery,
) -> R<Json<Value>> {
    let q = query(q)?;
    let why = id_param(&q, "consult")?;
    let rec = s.0.read_record(&u, id, why, "read record").await?;
    Ok(Json(rec.to_json()))
}

async fn access_log(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    q: RawQuery,
) -> R<Json<Value>> {
    let q = query(q)?;
    let limit = limit(&q)?;
    Ok(Json(Value::Array(s.0.access_log(&u, id, limit).await?)))
}

// --- consults ---------------------------------------------------------------

async fn open_consult(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.open_consult(&u, obj(&body)?).await?))
}

/// Consults the caller deals with, newest first: `?status=&department=&limit=&before=`.
/// Ids, states and departments only (no clinical content, so not a record read).
async fn list_consults(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    q: RawQuery,
) -> R<Json<Value>> {
    let q = query(q)?;
    let list = s.0.consult_list(&u, &q).await?;
    Ok(Json(Value::Array(list)))
}

impl Clinic {
    /// The consult list of `user`, filtered by `q` (see [`list_consults`]).
    pub async fn consult_list(
        &self,
        user: &User,
        q: &HashMap<String, String>,
    ) -> Result<Vec<Value>, ClinicError> {
        let status = match q.get("status").filter(|s| !s.is_empty()) {
            None => None,
            Some(st) => Some(st.parse::<ConsultStatus>().map_err(|_| {
                ClinicError::invalid(
                    "invalid_status",
                    "status",
                    "status must be waiting, accepted, scheduled, in_call, closed or cancelled",
                )
            })?),
        };
        let limit = limit(q)?;
        let before = id_param(q, "before")?;
        let department = q.get("department").filter(|s| !s.is_empty()).cloned();
        let user = user.clone();
        self.db
            .call(move |c| {
                let dep = match department.as_deref() {
                    None => None,
                    Some(name) => Some(people::department_by_name(c, name)?.ok_or_else(|| {
                        ClinicError::invalid(
                            "unknown_department",
                            "department",
                            format!("no department named '{name}'"),
                        )
                    })?),
                };
                let mut f = consults::Filter {
                    status,
                    department_id: dep.as_ref().map(|d| d.id),
                    before,
                    limit,
                    ..Default::default()
                };
                let mut patients_of_user = None;
                if user.role == Role::Admin {
                } else if let Some(v) = access::village_doctor(&user) {
                    f.village_id = Some(v);
                } else if let Some(d) = access::county_department(c, &user)? {
                    // A county doctor's list: their department's queue, and what they took elsewhere.
                    if f.department_id.is_some_and(|x| x != d) {
                        f.county_doctor_id = Some(user.id);
                    } else {
                        f.department_id = Some(d);
                    }
                } else {
                    // Anyone else: the consults of the patients they are.
                    patients_of_user = Some(people::patients_of_user(c, user.id)?);
                }
                let list = match patients_of_user {
                    None => consults::list(c, &f)?,
                    Some(ps) => {
                        let mut all = Vec::new();
                        for p in ps {
                            all.extend(consults::list(
                                c,
                                &consults::Filter {
                                    patient_id: Some(p.id),
                                    ..f.clone()
                                },
                            )?);
                        }
                        all.sort_by(|a, b| b.id.cmp(&a.id));
                        all.truncate(f.limit as usize);
                        all
                    }
                };
                let deps: HashMap<i64, String> = people::departments(c)?
                    .into_iter()
                    .map(|d| (d.id, d.name))
                    .collect();
                Ok(list
                    .iter()
                    .map(|k| {
                        json!({"id": k.id, "patient_id": k.patient_id,
                            "department": deps.get(&k.department_id).cloned().unwrap_or_default(),
                            "status": k.status, "created_at": k.created_at})
                    })
                    .collect())
            })
            .await
    }
}

async fn get_consult(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(
        s.0.read_consult(&u, id, "read consult").await?.to_json(),
    ))
}

async fn accept(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(s.0.accept(&u, id).await?))
}

async fn schedule(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Json<Value>> {
    Ok(Json(s.0.schedule(&u, id, obj(&body)?).await?))
}

async fn close(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(s.0.close(&u, id).await?))
}

async fn cancel(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(s.0.cancel(&u, id).await?))
}

async fn add_note(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.add_note(&u, id, obj(&body)?).await?))
}

async fn prescribe(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.prescribe(&u, id, obj(&body)?).await?))
}

async fn add_photo(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> R<Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Ok(created(s.0.add_photo(&u, id, ct, body).await?))
}

async fn get_photo(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Response> {
    let jpeg = s.0.read_photo(&u, id).await?;
    // Private: never in a shared cache.
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        jpeg,
    )
        .into_response())
}

// --- prescriptions ------------------------------------------------------------

async fn get_prescription(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    let (rx, view) = s.0.read_prescription(&u, id, "read prescription").await?;
    let mut v = record::rx_json(&rx, &view.names);
    v["patient"] = record::patient_json(&view.patient, &view.village);
    Ok(Json(v))
}

async fn revise(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.revise(&u, id, obj(&body)?).await?))
}

async fn dispense(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    Ok(Json(s.0.dispense(&u, id).await?))
}

// --- slots, vitals, the live queue ---------------------------------------------

async fn create_slot(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    Ok(created(s.0.create_slot(&u, obj(&body)?).await?))
}

/// Coming slots: `?department=NAME` (default: the caller's, for a county
/// doctor), `?free=1` for unbooked only. Doctors and admins.
async fn list_slots(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    q: RawQuery,
) -> R<Json<Value>> {
    let q = query(q)?;
    let list = s.0.slot_list(&u, &q).await?;
    Ok(Json(Value::Array(list)))
}

impl Clinic {
    /// See [`list_slots`].
    pub async fn slot_list(
        &self,
        user: &User,
        q: &HashMap<String, String>,
    ) -> Result<Vec<Value>, ClinicError> {
        if user.role != Role::Doctor && user.role != Role::Admin {
            return Err(ClinicError::forbidden("slots are for doctors"));
        }
        let limit = limit(q)?;
        let department = q.get("department").filter(|s| !s.is_empty()).cloned();
        let free = q.get("free").is_some_and(|v| v == "1" || v == "true");
        let user = user.clone();
        self.db
            .call(move |c| {
                let dep = match department.as_deref() {
                    Some(name) => Some(
                        people::department_by_name(c, name)?
                            .ok_or_else(|| ClinicError::invalid("unknown_department", "department", format!("no department named '{name}'")))?
                            .id,
                    ),
                    None => access::county_department(c, &user)?,
                };
                // Slots that ended an hour ago are history.
                let list = consults::slots(c, dep, now_ms() - 3_600_000, free, limit)?;
                let ids: Vec<i64> = list.iter().map(|s| s.doctor_id).collect();
                let names = cunlink_core::auth::usernames(c, &ids)?;
                Ok(list
                    .iter()
                    .map(|s| {
                        json!({"id": s.id, "doctor": names.get(&s.doctor_id), "starts_at": s.starts_at,
                            "minutes": s.minutes, "booked": s.consult_id.is_some()})
                    })
                    .collect())
            })
            .await
    }
}

/// `?patient_id=`: the latest fresh readings of the `vitals` devices of the
/// patient's village, for the village doctor filling the consult form.
async fn offered_vitals(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    q: RawQuery,
) -> R<Json<Value>> {
    let q = query(q)?;
    let Some(village) = access::village_doctor(&u) else {
        return Err(ClinicError::forbidden("vitals are offered to village doctors").into());
    };
    if let Some(pid) = id_param(&q, "patient_id")? {
        let p = db(&s, move |c| Ok(people::patient(c, pid)?)).await?;
        if p.is_none_or(|p| p.village_id != village) {
            return Err(ClinicError::invalid(
                "unknown_patient",
                "patient_id",
                format!("no patient {pid} in your village"),
            )
            .into());
        }
    }
    let offered = crate::vitals::offered(&s.0.farm, village, now_ms());
    Ok(Json(json!(offered)))
}

/// SSE: an event `changed` (data: the consult id) whenever a consult of
/// `?department=` (default: the caller's) changes state. County doctors of it,
/// village doctors and admins.
async fn queue_stream(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    q: RawQuery,
) -> R<Response> {
    let q = query(q)?;
    let department = q.get("department").cloned();
    let user = u.clone();
    let dep = db(&s, move |c| {
        let own = access::county_department(c, &user)?;
        let named = match department.as_deref() {
            None => None,
            Some(name) => Some(
                people::department_by_name(c, name)?
                    .ok_or_else(|| {
                        ClinicError::invalid(
                            "unknown_department",
                            "department",
                            format!("no department named '{name}'"),
                        )
                    })?
                    .id,
            ),
        };
        if user.role != Role::Admin && access::village_doctor(&user).is_none() && own.is_none() {
            return Err(ClinicError::forbidden("the queue is for doctors"));
        }
        named
            .or(own)
            .ok_or_else(|| ClinicError::invalid("missing_field", "department", "name a department"))
    })
    .await?;
    let rx = s.0.live.subscribe();
    let hello = tokio_stream::once(Ok::<_, Infallible>(
        Event::default().event("hello").data(dep.to_string()),
    ));
    let updates = BroadcastStream::new(rx).filter_map(move |m| match m {
        Ok(ch) if ch.department_id == dep => Some(Ok(Event::default()
            .event("changed")
            .data(ch.consult_id.to_string()))),
        // Lagged: tell the page to reload anyway.
        Err(_) => Some(Ok(Event::default().event("changed").data("0"))),
        _ => None,
    });
    Ok(Sse::new(hello.chain(updates))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
