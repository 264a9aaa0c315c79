//! The consultation flow — every write of the clinic, each one transaction:
//! patients, consults (open, accept, schedule, close, cancel), slots, photos,
//! notes, prescriptions and their revisions, dispensing. Pages and the API call
//! these same functions, so a page cannot do what the API refuses.
//!
//! Notices to the other side go through the [`NotifyUsers`] port inside the
//! same transaction; after the commit the dispatcher is woken and the
//! department's live queue told.

use std::collections::BTreeSet;

use rusqlite::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};
use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::time::{DAY_MS, china_day, now_ms};

use crate::access;
use crate::error::ClinicError;
use crate::input::{self, Obj};
use crate::live::QueueChange;
use crate::model::{ConsultStatus, SEXES};
use crate::store::consults::{self, Consult};
use crate::store::people::{self, NewPatient, Patient};
use crate::store::records::{self, Line, NewNote};
use crate::vitals;
use crate::Clinic;

/// Most lines on one prescription.
pub const MAX_LINES: usize = 30;

/// What a write produced: its answer, and the queue change and notices to
/// announce after the commit.
struct Done {
    answer: Value,
    change: Option<QueueChange>,
    notified: bool,
}

impl Clinic {
    /// Run `work` in one transaction; on commit, wake the notifier and tell live pages.
    async fn write<F>(&self, work: F) -> Result<Value, ClinicError>
    where
        F: FnOnce(&Connection, &dyn NotifyUsers) -> Result<Done, ClinicError> + Send + 'static,
    {
        let notify = self.notify.clone();
        let done = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let done = work(&tx, notify.as_ref())?;
                tx.commit()?;
                Ok::<_, ClinicError>(done)
            })
            .await?;
        if done.notified {
            self.notify.wake();
        }
        if let Some(ch) = done.change {
            self.live.send(ch);
        }
        Ok(done.answer)
    }

    /// `POST /api/clinic/departments`: admins.
    pub async fn create_department(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        if user.role != Role::Admin {
            return Err(ClinicError::forbidden("only admins create departments"));
        }
        self.write(move |c, _| {
            let name = input::text(&body, "name", 64)?;
            if people::department_by_name(c, name)?.is_some() {
                return Err(ClinicError::conflict("department_exists", Some("name"), format!("department '{name}' exists")));
            }
            let id = people::ensure_department(c, name)?;
            Ok(plain(json!({"id": id, "name": name})))
        })
        .await
    }

    /// `POST /api/clinic/doctors` `{"user", "department"}`: an admin makes a
    /// doctor account without a village a county doctor of a department
    /// (created if new) — what `cunlink user create --department` does.
    pub async fn link_doctor(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        if user.role != Role::Admin {
            return Err(ClinicError::forbidden("only admins assign county doctors"));
        }
        let name = input::text(&body, "user", 64)?.to_string();
        let department = input::text(&body, "department", 64)?.to_string();
        let doctor = self
            .auth
            .users_by_names(vec![name.clone()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ClinicError::invalid("unknown_user", "user", format!("no user named '{name}'")))?;
        self.assign_department(doctor, department).await
    }

    /// Make `doctor` (role doctor, no village) a county doctor of `department`,
    /// created if new. For the admin API and the demo.
    pub async fn assign_department(&self, doctor: User, department: String) -> Result<Value, ClinicError> {
        if doctor.role != Role::Doctor || doctor.village_id.is_some() {
            return Err(ClinicError::invalid(
                "not_a_county_doctor",
                "user",
                "a county doctor is an account with role doctor and no village",
            ));
        }
        self.write(move |c, _| {
            let dep = people::link_county_doctor(c, doctor.id, &department)?;
            Ok(plain(json!({"user": doctor.username, "department": department, "department_id": dep})))
        })
        .await
    }

    /// `POST /api/clinic/patients`: a village doctor (their village) or an admin.
    pub async fn create_patient(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        if user.role != Role::Admin && access::village_doctor(user).is_none() {
            return Err(ClinicError::forbidden("patients are registered by village doctors and admins"));
        }
        // The patient's own account, by username, so they can read their record.
        // Resolved through core before the transaction (core owns the accounts).
        let account = match input::opt_text(&body, "user", 64)? {
            None => None,
            Some(name) => Some(
                self.auth
                    .users_by_names(vec![name.to_string()])
                    .await?
                    .first()
                    .map(|u| u.id)
                    .ok_or_else(|| ClinicError::invalid("unknown_user", "user", format!("no user named '{name}'")))?,
            ),
        };
        let user = user.clone();
        self.write(move |c, _| {
            let name = input::text(&body, "name", 64)?;
            let sex = input::text(&body, "sex", 10)?;
            if !SEXES.contains(&sex) {
                return Err(ClinicError::invalid("invalid_field", "sex", "'sex' must be male, female, other or unknown"));
            }
            let birth_date = input::past_date(&body, "birth_date", china_day(now_ms()))?;
            let village = input::text(&body, "village", 64)?;
            let village_id = cunlink_core::auth::village_id(c, village)?
                .ok_or_else(|| ClinicError::invalid("unknown_village", "village", format!("no village named '{village}'")))?;
            if user.role != Role::Admin && user.village_id != Some(village_id) {
                return Err(ClinicError::forbidden("a village doctor registers patients of their own village"));
            }
            let phone = input::opt_text(&body, "phone", 32)?;
            if let Some(p) = phone
                && !p.chars().all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | '-' | ' '))
            {
                return Err(ClinicError::invalid("invalid_field", "phone", "'phone' may hold digits, spaces, + and - only"));
            }
            let user_id = account;
            let id = people::insert_patient(
                c,
                &NewPatient { name, sex, birth_date, village_id, phone, user_id, created_by: user.id },
            )?;
            Ok(plain(json!({"id": id})))
        })
        .await
    }

    /// `POST /api/clinic/consults`: a village doctor opens a consult for a
    /// patient of their village; the department's county doctors are told.
    pub async fn open_consult(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        let Some(village) = access::village_doctor(user) else {
            return Err(ClinicError::forbidden("consults are opened by village doctors"));
        };
        let user = user.clone();
        self.write(move |c, notify| {
            let patient_id = input::int(&body, "patient_id", 1, i64::MAX)?;
            let patient = people::patient(c, patient_id)?
                .filter(|p| p.village_id == village)
                .ok_or_else(|| ClinicError::invalid("unknown_patient", "patient_id", format!("no patient {patient_id} in your village")))?;
            let dep_name = input::text(&body, "department", 64)?;
            let dep = people::department_by_name(c, dep_name)?
                .ok_or_else(|| ClinicError::invalid("unknown_department", "department", format!("no department named '{dep_name}'")))?;
            let complaint = input::text(&body, "complaint", 2000)?;
            let vitals = parse_vitals(&body)?;
            let id = consults::insert(c, patient.id, dep.id, user.id, complaint)?;
            let now = now_ms();
            for (key, value, device) in &vitals {
                consults::insert_observation(c, id, key, *value, device.as_deref(), now)?;
            }
            let doctors = people::department_doctors(c, dep.id)?;
            let notified = tell(
                c,
                notify,
                doctors,
                format!("新会诊 · {}", dep.name),
                format!("{}: {}", user.village.as_deref().unwrap_or(""), short(complaint)),
                format!("/clinic/consults/{id}"),
            )?;
            Ok(Done {
                answer: json!({"id": id, "status": "waiting"}),
                change: Some(QueueChange { department_id: dep.id, consult_id: id }),
                notified,
            })
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/accept`: a county doctor of the consult's department.
    pub async fn accept(&self, user: &User, id: i64) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, notify| {
            // The contract: a doctor of another department is refused (403), not told "no such consult".
            let dep = access::county_department(c, &user)?;
            if dep.is_some() && consults::get(c, id)?.is_some_and(|k| Some(k.department_id) != dep) {
                return Err(ClinicError::forbidden("only county doctors of the consult's department accept it"));
            }
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if dep != Some(consult.department_id) {
                return Err(ClinicError::forbidden("only county doctors of the consult's department accept it"));
            }
            if !consults::transition(c, id, &[ConsultStatus::Waiting], ConsultStatus::Accepted, Some(user.id))? {
                return Err(not_in_state(&consult, "accepted"));
            }
            let notified = tell_sides(c, notify, &consult, &patient, &user, "会诊已接诊", "accepted")?;
            Ok(Done {
                answer: json!({"status": "accepted"}),
                change: Some(QueueChange { department_id: consult.department_id, consult_id: id }),
                notified,
            })
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/schedule` `{"slot_id"}`: a doctor of the
    /// patient's village books a free slot of the consult's department.
    pub async fn schedule(&self, user: &User, id: i64, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, notify| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if access::village_doctor(&user) != Some(patient.village_id) {
                return Err(ClinicError::forbidden("slots are booked by the patient's village doctors"));
            }
            let slot_id = input::int(&body, "slot_id", 1, i64::MAX)?;
            let slot = consults::slot(c, slot_id)?
                .filter(|s| s.department_id == consult.department_id)
                .ok_or_else(|| ClinicError::invalid("unknown_slot", "slot_id", format!("no slot {slot_id} in this consult's department")))?;
            if slot.starts_at.saturating_add(slot.minutes.saturating_mul(60_000)) < now_ms() {
                return Err(ClinicError::invalid("slot_past", "slot_id", "that slot is over"));
            }
            if consult.status != ConsultStatus::Waiting {
                return Err(not_in_state(&consult, "scheduled"));
            }
            if !consults::book_slot(c, slot.id, id)? {
                return Err(ClinicError::conflict("slot_taken", Some("slot_id"), "that slot was booked already"));
            }
            if !consults::transition(c, id, &[ConsultStatus::Waiting], ConsultStatus::Scheduled, Some(slot.doctor_id))? {
                return Err(not_in_state(&consult, "scheduled"));
            }
            let taken = Consult { county_doctor_id: Some(slot.doctor_id), ..consult.clone() };
            let notified = tell_sides(c, notify, &taken, &patient, &user, "会诊已预约", "scheduled")?;
            Ok(Done {
                answer: json!({"status": "scheduled", "slot_id": slot.id, "starts_at": slot.starts_at}),
                change: Some(QueueChange { department_id: consult.department_id, consult_id: id }),
                notified,
            })
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/close`: a treating doctor, once taken.
    pub async fn close(&self, user: &User, id: i64) -> Result<Value, ClinicError> {
        let user = user.clone();
        let done = self.write(move |c, notify| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden("only the consult's doctors close it"));
            }
            let from = [ConsultStatus::Accepted, ConsultStatus::Scheduled, ConsultStatus::InCall];
            if !consults::transition(c, id, &from, ConsultStatus::Closed, None)? {
                return Err(not_in_state(&consult, "closed"));
            }
            let notified = tell_sides(c, notify, &consult, &patient, &user, "会诊已结束", "closed")?;
            Ok(Done {
                answer: json!({"status": "closed"}),
                change: Some(QueueChange { department_id: consult.department_id, consult_id: id }),
                notified,
            })
        })
        .await;
        // A closed or cancelled consult has no call: its room closes, so the pages end it.
        if done.is_ok() {
            crate::call::end(self, id);
        }
        done
    }

    /// `POST /api/clinic/consults/{id}/cancel`: the patient's village doctors or
    /// an admin, before a call began.
    pub async fn cancel(&self, user: &User, id: i64) -> Result<Value, ClinicError> {
        let user = user.clone();
        let done = self.write(move |c, notify| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if user.role != Role::Admin && access::village_doctor(&user) != Some(patient.village_id) {
                return Err(ClinicError::forbidden("the patient's village doctor cancels a consult"));
            }
            let from = [ConsultStatus::Waiting, ConsultStatus::Accepted, ConsultStatus::Scheduled];
            if !consults::transition(c, id, &from, ConsultStatus::Cancelled, None)? {
                return Err(not_in_state(&consult, "cancelled"));
            }
            c.execute("UPDATE clinic_slots SET consult_id = NULL WHERE consult_id = $1", [id])?;
            let notified = tell_sides(c, notify, &consult, &patient, &user, "会诊已取消", "cancelled")?;
            Ok(Done {
                answer: json!({"status": "cancelled"}),
                change: Some(QueueChange { department_id: consult.department_id, consult_id: id }),
                notified,
            })
        })
        .await;
        // A closed or cancelled consult has no call: its room closes, so the pages end it.
        if done.is_ok() {
            crate::call::end(self, id);
        }
        done
    }

    /// `POST /api/clinic/slots` `{"starts_at": ms, "minutes"}`: a county doctor publishes a slot.
    pub async fn create_slot(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, _| {
            let Some(dep) = access::county_department(c, &user)? else {
                return Err(ClinicError::forbidden("slots are published by county doctors"));
            };
            let now = now_ms();
            // A slot within the coming 90 days; its start on a minute.
            let starts_at = input::int(&body, "starts_at", now, now + 90 * DAY_MS)?;
            let minutes = input::int(&body, "minutes", 5, 240)?;
            let starts_at = starts_at - starts_at.rem_euclid(60_000);
            let id = consults::insert_slot(c, user.id, dep, starts_at, minutes)?
                .ok_or_else(|| ClinicError::conflict("slot_exists", Some("starts_at"), "you have a slot starting then"))?;
            Ok(plain(json!({"id": id, "starts_at": starts_at, "minutes": minutes})))
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/photos`: a treating doctor adds a photo.
    pub async fn add_photo(&self, user: &User, id: i64, content_type: String, body: bytes::Bytes) -> Result<Value, ClinicError> {
        // The access check first: who may not add a photo learns nothing from decoding it.
        let check = user.clone();
        self.db
            .call(move |c| {
                let (consult, patient) = consult_for_write(c, &check, id)?;
                if !access::can_treat(&check, &consult, &patient) {
                    return Err(ClinicError::forbidden("only the consult's doctors add photos"));
                }
                Ok(())
            })
            .await?;
        let format = crate::photos::format_of(&content_type)?;
        let prepared = tokio::task::spawn_blocking(move || crate::photos::prepare(&body, format))
            .await
            .map_err(|_| ClinicError::Db(cunlink_core::DbError::Join))??;
        let user = user.clone();
        self.write(move |c, _| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden("only the consult's doctors add photos"));
            }
            open_or_conflict(&consult)?;
            if consults::photo_count(c, id)? >= crate::photos::MAX_PER_CONSULT {
                return Err(ClinicError::conflict("too_many_photos", Some("photo"), "a consult keeps at most 8 photos"));
            }
            let pid = consults::insert_photo(c, id, prepared.width, prepared.height, &prepared.jpeg, user.id)?;
            Ok(plain(json!({"id": pid, "url": format!("/api/clinic/photos/{pid}"),
                "width": prepared.width, "height": prepared.height})))
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/notes`: a SOAP note with a diagnosis.
    pub async fn add_note(&self, user: &User, id: i64, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, _| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden("only the consult's doctors write its notes"));
            }
            open_or_conflict(&consult)?;
            let note = NewNote {
                subjective: input::text_or_empty(&body, "subjective", 4000)?,
                objective: input::text_or_empty(&body, "objective", 4000)?,
                assessment: input::text_or_empty(&body, "assessment", 4000)?,
                plan: input::text_or_empty(&body, "plan", 4000)?,
                diagnosis: input::text(&body, "diagnosis", 200)?,
                icd10: match input::opt_text(&body, "icd10", 8)? {
                    Some(code) if !is_icd10(code) => {
                        return Err(ClinicError::invalid("invalid_icd10", "icd10", "'icd10' must be an ICD-10 code such as J06.9"));
                    }
                    other => other,
                },
            };
            let nid = records::insert_note(c, id, user.id, &note)?;
            Ok(plain(json!({"id": nid})))
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/prescriptions`: version 1 of a prescription.
    pub async fn prescribe(&self, user: &User, id: i64, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, notify| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden("only the consult's doctors prescribe"));
            }
            open_or_conflict(&consult)?;
            let items = parse_lines(&body)?;
            let (rx, version) = records::insert_prescription(c, id, user.id, None, &items)?;
            let notified = tell_rx(c, notify, &consult, &patient, &user, rx)?;
            Ok(Done { answer: json!({"id": rx, "version": version}), change: None, notified })
        })
        .await
    }

    /// `POST /api/clinic/prescriptions/{id}/revise`: the next version; the
    /// previous one stays readable, superseded.
    pub async fn revise(&self, user: &User, id: i64, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, notify| {
            let prev = records::prescription(c, id)?
                .ok_or_else(|| ClinicError::not_found("unknown_prescription", format!("no prescription {id}")))?;
            let (consult, patient) = consult_for_write(c, &user, prev.consult_id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden("only the consult's doctors revise its prescriptions"));
            }
            open_or_conflict(&consult)?;
            if prev.superseded {
                return Err(ClinicError::conflict("prescription_superseded", None, "revise the latest version of this prescription"));
            }
            if prev.dispensed_at.is_some() {
                return Err(ClinicError::conflict("prescription_dispensed", None, "a dispensed prescription cannot be revised; write a new one"));
            }
            let items = parse_lines(&body)?;
            let (rx, version) = records::insert_prescription(c, consult.id, user.id, Some(&prev), &items)?;
            let notified = tell_rx(c, notify, &consult, &patient, &user, rx)?;
            Ok(Done {
                answer: json!({"id": rx, "version": version, "previous_id": prev.id}),
                change: None,
                notified,
            })
        })
        .await
    }

    /// `POST /api/clinic/prescriptions/{id}/dispense`: handed out at the
    /// patient's village clinic, by one of its doctors.
    pub async fn dispense(&self, user: &User, id: i64) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, _| {
            let rx = records::prescription(c, id)?
                .ok_or_else(|| ClinicError::not_found("unknown_prescription", format!("no prescription {id}")))?;
            let (_, patient) = consult_for_write(c, &user, rx.consult_id)?;
            if access::village_doctor(&user) != Some(patient.village_id) {
                return Err(ClinicError::forbidden("prescriptions are dispensed by the patient's village clinic"));
            }
            if rx.superseded {
                return Err(ClinicError::conflict("prescription_superseded", None, "a later version replaced this prescription"));
            }
            if !records::dispense(c, id, user.id)? {
                return Err(ClinicError::conflict("already_dispensed", None, "this prescription was dispensed already"));
            }
            Ok(plain(json!({"id": id, "dispensed_by": user.username, "dispensed_at": now_ms()})))
        })
        .await
    }
}

fn plain(answer: Value) -> Done {
    Done { answer, change: None, notified: false }
}


/// The consult and its patient, if `user` may read it; else 404.
pub(crate) fn consult_for_write(c: &Connection, user: &User, id: i64) -> Result<(Consult, Patient), ClinicError> {
    let gone = || ClinicError::not_found("unknown_consult", format!("no consult {id}"));
    let consult = consults::get(c, id)?.ok_or_else(gone)?;
    let patient = people::patient(c, consult.patient_id)?.ok_or_else(gone)?;
    if !access::can_read_consult(c, user, &consult, &patient)? {
        return Err(gone());
    }
    Ok((consult, patient))
}

fn open_or_conflict(consult: &Consult) -> Result<(), ClinicError> {
    if consult.status.is_open() {
        Ok(())
    } else {
        Err(ClinicError::conflict(
            "consult_closed",
            Some("consult"),
            format!("the consult is {}; it takes no more notes, photos or prescriptions", consult.status),
        ))
    }
}

fn not_in_state(consult: &Consult, to: &str) -> ClinicError {
    ClinicError::conflict(
        "invalid_transition",
        Some("status"),
        format!("a {} consult cannot become {to}", consult.status),
    )
}

/// `vitals`: `{"key": number}` (or `{"key": {"value", "device"}}` when a
/// device's reading was accepted), every key known, every value in range.
fn parse_vitals(body: &Obj) -> Result<Vec<(&'static str, f64, Option<String>)>, ClinicError> {
    let Some(v) = body.get("vitals") else { return Ok(Vec::new()) };
    if v.is_null() {
        return Ok(Vec::new());
    }
    let Value::Object(map) = v else {
        return Err(ClinicError::invalid("invalid_field", "vitals", "'vitals' must be an object of numbers"));
    };
    let mut out = Vec::new();
    for (key, val) in map {
        let field = format!("vitals.{key}");
        let Some(kind) = vitals::vital(key) else {
            let known: Vec<_> = vitals::VITALS.iter().map(|v| v.key).collect();
            return Err(ClinicError::invalid("unknown_vital", field, format!("unknown vital '{key}'; known: {}", known.join(", "))));
        };
        let (num, device) = match val {
            Value::Object(o) => (o.get("value").and_then(Value::as_f64), o.get("device").and_then(Value::as_str).map(|s| s.chars().take(128).collect())),
            other => (other.as_f64(), None),
        };
        match num {
            Some(n) if n.is_finite() && (kind.min..=kind.max).contains(&n) => out.push((kind.key, n, device)),
            _ => {
                return Err(ClinicError::invalid(
                    "invalid_vital",
                    field,
                    format!("'{key}' must be a number from {} to {} {}", kind.min, kind.max, kind.unit),
                ));
            }
        }
    }
    Ok(out)
}

/// `items`: 1..=30 lines, each with every field; days and quantity positive.
fn parse_lines(body: &Obj) -> Result<Vec<Line>, ClinicError> {
    let Some(Value::Array(items)) = body.get("items") else {
        return Err(ClinicError::invalid("missing_field", "items", "'items' must be a list of prescription lines"));
    };
    if items.is_empty() || items.len() > MAX_LINES {
        return Err(ClinicError::invalid("invalid_field", "items", format!("a prescription has 1 to {MAX_LINES} lines")));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(o) = item else {
            return Err(ClinicError::invalid("invalid_field", format!("items[{i}]"), "each line must be an object"));
        };
        let f = |name: &str| format!("items[{i}].{name}");
        let text = |name: &str, max: usize| -> Result<String, ClinicError> {
            input::text(o, name, max).map(str::to_string).map_err(|e| rename(e, f(name)))
        };
        let num = |name: &str, max: i64| -> Result<i64, ClinicError> {
            match o.get(name) {
                None | Some(Value::Null) => Err(ClinicError::invalid("missing_field", f(name), format!("'{name}' is required"))),
                Some(v) => input::int_value(v, &f(name), 1, max),
            }
        };
        out.push(Line {
            drug: text("drug", 100)?,
            dose: text("dose", 50)?,
            route: text("route", 30)?,
            frequency: text("frequency", 30)?,
            days: num("days", 365)?,
            quantity: num("quantity", 10_000)?,
        });
    }
    Ok(out)
}

fn rename(e: ClinicError, field: String) -> ClinicError {
    match e {
        ClinicError::Invalid { code, message, .. } => ClinicError::Invalid { code, field, message },
        other => other,
    }
}

/// ICD-10 shape: a letter, two digits (or digit + letter for some chapters),
/// an optional dot and up to four more.
fn is_icd10(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 3 || !b[0].is_ascii_uppercase() || !b[1].is_ascii_digit() || !b[2].is_ascii_alphanumeric() {
        return false;
    }
    match &b[3..] {
        [] => true,
        [b'.', rest @ ..] => (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric),
        _ => false,
    }
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn tell(
    c: &Connection,
    notify: &dyn NotifyUsers,
    users: impl IntoIterator<Item = i64>,
    title: String,
    body: String,
    url: String,
) -> Result<bool, ClinicError> {
    let user_ids: Vec<i64> = users.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    if user_ids.is_empty() {
        return Ok(false);
    }
    let n = notify.enqueue(c, &UserNotice { user_ids, source: "clinic", title, body, url, urgent: false })?;
    Ok(n > 0)
}

/// Tell both sides of a consult (and the patient's account) except `by`.
fn tell_sides(
    c: &Connection,
    notify: &dyn NotifyUsers,
    consult: &Consult,
    patient: &Patient,
    by: &User,
    title: &str,
    status: &str,
) -> Result<bool, ClinicError> {
    let who = [Some(consult.village_doctor_id), consult.county_doctor_id, patient.user_id]
        .into_iter()
        .flatten()
        .filter(|u| *u != by.id);
    tell(
        c,
        notify,
        who,
        title.to_string(),
        format!("#{} {} ({status}) · {}", consult.id, patient.name, by.username),
        format!("/clinic/consults/{}", consult.id),
    )
}

fn tell_rx(
    c: &Connection,
    notify: &dyn NotifyUsers,
    consult: &Consult,
    patient: &Patient,
    by: &User,
    rx: i64,
) -> Result<bool, ClinicError> {
    let who = [Some(consult.village_doctor_id), consult.county_doctor_id, patient.user_id]
        .into_iter()
        .flatten()
        .filter(|u| *u != by.id);
    tell(
        c,
        notify,
        who,
        "新处方".to_string(),
        format!("#{} {} · {}", consult.id, patient.name, by.username),
        format!("/clinic/prescriptions/{rx}/print"),
    )
}

#[cfg(test)]
mod tests {
    use super::is_icd10;

    #[test]
    fn icd10_shapes() {
        for ok in ["J06.9", "I10", "E11.65", "O9A.1"] {
            assert!(is_icd10(ok), "{ok}");
        }
        for bad in ["j06", "J0", "J06.", "J06.12345", "106.9", "J06-9"] {
            assert!(!is_icd10(bad), "{bad}");
        }
    }
}
