//! A consult's course: open, accept, book a slot, close, cancel; slots and photos.

use super::*;

impl Clinic {
    /// `POST /api/clinic/consults`: a village doctor opens a consult for a
    /// patient of their village; the department's county doctors are told.
    pub async fn open_consult(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        let Some(village) = access::village_doctor(user) else {
            return Err(ClinicError::forbidden(
                "consults are opened by village doctors",
            ));
        };
        let user = user.clone();
        self.write(move |c, notify| {
            let patient_id = input::int(&body, "patient_id", 1, i64::MAX)?;
            let patient = people::patient(c, patient_id)?
                .filter(|p| p.village_id == village)
                .ok_or_else(|| {
                    ClinicError::invalid(
                        "unknown_patient",
                        "patient_id",
                        format!("no patient {patient_id} in your village"),
                    )
                })?;
            let dep_name = input::text(&body, "department", 64)?;
            let dep = people::department_by_name(c, dep_name)?.ok_or_else(|| {
                ClinicError::invalid(
                    "unknown_department",
                    "department",
                    format!("no department named '{dep_name}'"),
                )
            })?;
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
                format!(
                    "{}: {}",
                    user.village.as_deref().unwrap_or(""),
                    short(complaint)
                ),
                format!("/clinic/consults/{id}"),
            )?;
            Ok(Done {
                answer: json!({"id": id, "status": "waiting"}),
                change: Some(QueueChange {
                    department_id: dep.id,
                    consult_id: id,
                }),
                notified,
            })
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/accept`: a county doctor of the consult's department.
    pub async fn accept(&self, user: &User, id: i64) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, notify| {
            crate::sync::hub_only(c, "county doctors accept consults")?;
            // The contract: a doctor of another department is refused (403), not told "no such consult".
            let dep = access::county_department(c, &user)?;
            if dep.is_some() && consults::get(c, id)?.is_some_and(|k| Some(k.department_id) != dep)
            {
                return Err(ClinicError::forbidden(
                    "only county doctors of the consult's department accept it",
                ));
            }
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if dep != Some(consult.department_id) {
                return Err(ClinicError::forbidden(
                    "only county doctors of the consult's department accept it",
                ));
            }
            if !consults::transition(
                c,
                id,
                &[ConsultStatus::Waiting],
                ConsultStatus::Accepted,
                Some(user.id),
            )? {
                return Err(not_in_state(&consult, "accepted"));
            }
            let notified = tell_sides(
                c,
                notify,
                &consult,
                &patient,
                &user,
                "会诊已接诊",
                "accepted",
            )?;
            Ok(Done {
                answer: json!({"status": "accepted"}),
                change: Some(QueueChange {
                    department_id: consult.department_id,
                    consult_id: id,
                }),
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
            crate::sync::hub_only(c, "county doctors' slots are booked")?;
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
                return Err(ClinicError::forbidden(
                    "only the consult's doctors close it",
                ));
            }
            // At a village node the village doctor holds the consult
            // alone (no county doctor takes it there), so it closes from
            // waiting too.
            let from: &[ConsultStatus] = if cunlink_core::sync::is_node(c)? {
                &[ConsultStatus::Waiting]
            } else {
                &[
                    ConsultStatus::Accepted,
                    ConsultStatus::Scheduled,
                    ConsultStatus::InCall,
                ]
            };
            if !consults::transition(c, id, from, ConsultStatus::Closed, None)? {
                return Err(not_in_state(&consult, "closed"));
            }
            let notified =
                tell_sides(c, notify, &consult, &patient, &user, "会诊已结束", "closed")?;
            Ok(Done {
                answer: json!({"status": "closed"}),
                change: Some(QueueChange {
                    department_id: consult.department_id,
                    consult_id: id,
                }),
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
            if user.role != Role::Admin && access::village_doctor(&user) != Some(patient.village_id)
            {
                return Err(ClinicError::forbidden(
                    "the patient's village doctor cancels a consult",
                ));
            }
            let from = [
                ConsultStatus::Waiting,
                ConsultStatus::Accepted,
                ConsultStatus::Scheduled,
            ];
            if !consults::transition(c, id, &from, ConsultStatus::Cancelled, None)? {
                return Err(not_in_state(&consult, "cancelled"));
            }
            c.execute(
                "UPDATE clinic_slots SET consult_id = NULL WHERE consult_id = $1",
                [id],
            )?;
            let notified = tell_sides(
                c,
                notify,
                &consult,
                &patient,
                &user,
                "会诊已取消",
                "cancelled",
            )?;
            Ok(Done {
                answer: json!({"status": "cancelled"}),
                change: Some(QueueChange {
                    department_id: consult.department_id,
                    consult_id: id,
                }),
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
            crate::sync::hub_only(c, "slots are published")?;
            let Some(dep) = access::county_department(c, &user)? else {
                return Err(ClinicError::forbidden(
                    "slots are published by county doctors",
                ));
            };
            let now = now_ms();
            // A slot within the coming 90 days; its start on a minute.
            let starts_at = input::int(&body, "starts_at", now, now + 90 * DAY_MS)?;
            let minutes = input::int(&body, "minutes", 5, 240)?;
            let starts_at = starts_at - starts_at.rem_euclid(60_000);
            let id =
                consults::insert_slot(c, user.id, dep, starts_at, minutes)?.ok_or_else(|| {
                    ClinicError::conflict(
                        "slot_exists",
                        Some("starts_at"),
                        "you have a slot starting then",
                    )
                })?;
            Ok(plain(
                json!({"id": id, "starts_at": starts_at, "minutes": minutes}),
            ))
        })
        .await
    }

    /// `POST /api/clinic/consults/{id}/photos`: a treating doctor adds a photo.
    pub async fn add_photo(
        &self,
        user: &User,
        id: i64,
        content_type: String,
        body: bytes::Bytes,
    ) -> Result<Value, ClinicError> {
        // The access check first: who may not add a photo learns nothing from decoding it.
        let check = user.clone();
        self.db
            .call(move |c| {
                let (consult, patient) = consult_for_write(c, &check, id)?;
                if !access::can_treat(&check, &consult, &patient) {
                    return Err(ClinicError::forbidden(
                        "only the consult's doctors add photos",
                    ));
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
                return Err(ClinicError::forbidden(
                    "only the consult's doctors add photos",
                ));
            }
            open_or_conflict(&consult)?;
            // Count and insert run in one write transaction, which on
            // PostgreSQL holds the deployment-wide write lock: two nodes
            // adding the 8th photo at once are serialised, so the cap holds.
            if consults::photo_count(c, id)? >= crate::photos::MAX_PER_CONSULT {
                return Err(ClinicError::conflict(
                    "too_many_photos",
                    Some("photo"),
                    "a consult keeps at most 8 photos",
                ));
            }
            let pid = consults::insert_photo(
                c,
                id,
                prepared.width,
                prepared.height,
                &prepared.jpeg,
                user.id,
            )?;
            Ok(plain(
                json!({"id": pid, "url": format!("/api/clinic/photos/{pid}"),
                "width": prepared.width, "height": prepared.height}),
            ))
        })
        .await
    }
}

/// `vitals`: `{"key": number}` (or `{"key": {"value", "device"}}` when a
/// device's reading was accepted), every key known, every value in range.
fn parse_vitals(body: &Obj) -> Result<Vec<(&'static str, f64, Option<String>)>, ClinicError> {
    let Some(v) = body.get("vitals") else {
        return Ok(Vec::new());
    };
    if v.is_null() {
        return Ok(Vec::new());
    }
    let Value::Object(map) = v else {
        return Err(ClinicError::invalid(
            "invalid_field",
            "vitals",
            "'vitals' must be an object of numbers",
        ));
    };
    let mut out = Vec::new();
    for (key, val) in map {
        let field = format!("vitals.{key}");
        let Some(kind) = vitals::vital(key) else {
            let known: Vec<_> = vitals::VITALS.iter().map(|v| v.key).collect();
            return Err(ClinicError::invalid(
                "unknown_vital",
                field,
                format!("unknown vital '{key}'; known: {}", known.join(", ")),
            ));
        };
        let (num, device) = match val {
            Value::Object(o) => (
                o.get("value").and_then(Value::as_f64),
                o.get("device")
                    .and_then(Value::as_str)
                    .map(|s| s.chars().take(128).collect()),
            ),
            other => (other.as_f64(), None),
        };
        match num {
            Some(n) if n.is_finite() && (kind.min..=kind.max).contains(&n) => {
                out.push((kind.key, n, device))
            }
            _ => {
                return Err(ClinicError::invalid(
                    "invalid_vital",
                    field,
                    format!(
                        "'{key}' must be a number from {} to {} {}",
                        kind.min, kind.max, kind.unit
                    ),
                ));
            }
        }
    }
    Ok(out)
}
