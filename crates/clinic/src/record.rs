//! Reading records (issue 11 item 6). Every read of a patient's record — a
//! consult, the whole record, a prescription, a photo, a FHIR resource — is
//! checked by [`crate::access`] and writes one `clinic_access_log` row in the
//! same transaction as the read: a read that could not be logged is not
//! answered. Lists that show no clinical content (the queue, the consult list:
//! ids, states, departments) are not record reads.

use std::collections::HashMap;

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};

use crate::Clinic;
use crate::access;
use crate::error::ClinicError;
use crate::store::consults::{self, Consult, Observation};
use crate::store::log;
use crate::store::people::{self, Patient};
use crate::store::records::{self, Note, Prescription};

/// Most consults one record read returns (newest first).
pub const MAX_CONSULTS: i64 = 500;

/// A consult with everything written in it.
#[derive(Debug, Clone)]
pub struct ConsultView {
    pub consult: Consult,
    pub patient: Patient,
    pub department: String,
    pub village: String,
    pub observations: Vec<Observation>,
    pub notes: Vec<Note>,
    pub prescriptions: Vec<Prescription>,
    pub photos: Vec<i64>,
    /// Names of every user id above.
    pub names: HashMap<i64, String>,
}

/// A patient's whole record.
#[derive(Debug, Clone)]
pub struct Record {
    pub patient: Patient,
    pub village: String,
    /// Newest first, with their department names.
    pub consults: Vec<(Consult, String)>,
    pub observations: Vec<Observation>,
    pub notes: Vec<Note>,
    pub prescriptions: Vec<Prescription>,
    pub names: HashMap<i64, String>,
}

impl Clinic {
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, ClinicError> + Send + 'static,
    ) -> Result<T, ClinicError> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let out = work(&tx)?;
                tx.commit()?;
                Ok(out)
            })
            .await
    }

    /// One consult, logged as `action` for that consult.
    pub async fn read_consult(
        &self,
        user: &User,
        id: i64,
        action: &'static str,
    ) -> Result<ConsultView, ClinicError> {
        let user = user.clone();
        self.read(move |c| {
            let (consult, patient) = readable_consult(c, &user, id)?;
            log::record(c, patient.id, user.id, action, Some(id))?;
            consult_view(c, consult, patient)
        })
        .await
    }

    /// A patient's record, logged as `action`; `why` is the consult it was read for.
    pub async fn read_record(
        &self,
        user: &User,
        patient_id: i64,
        why: Option<i64>,
        action: &'static str,
    ) -> Result<Record, ClinicError> {
        let user = user.clone();
        self.read(move |c| {
            let patient = readable_patient(c, &user, patient_id)?;
            if let Some(w) = why
                && consults::get(c, w)?.is_none_or(|k| k.patient_id != patient_id)
            {
                return Err(ClinicError::invalid(
                    "unknown_consult",
                    "consult",
                    format!("consult {w} is not this patient's"),
                ));
            }
            log::record(c, patient.id, user.id, action, why)?;
            record_of(c, patient)
        })
        .await
    }

    /// One prescription (any version), with its consult and patient.
    pub async fn read_prescription(
        &self,
        user: &User,
        id: i64,
        action: &'static str,
    ) -> Result<(Prescription, ConsultView), ClinicError> {
        let user = user.clone();
        self.read(move |c| {
            let gone =
                || ClinicError::not_found("unknown_prescription", format!("no prescription {id}"));
            let rx = records::prescription(c, id)?.ok_or_else(gone)?;
            let (consult, patient) =
                readable_consult(c, &user, rx.consult_id).map_err(|_| gone())?;
            log::record(c, patient.id, user.id, action, Some(consult.id))?;
            Ok((rx, consult_view(c, consult, patient)?))
        })
        .await
    }

    /// A photo's JPEG bytes.
    pub async fn read_photo(&self, user: &User, id: i64) -> Result<Vec<u8>, ClinicError> {
        let user = user.clone();
        self.read(move |c| {
            let gone = || ClinicError::not_found("unknown_photo", format!("no photo {id}"));
            let (consult_id, jpeg) = consults::photo(c, id)?.ok_or_else(gone)?;
            let (_, patient) = readable_consult(c, &user, consult_id).map_err(|_| gone())?;
            log::record(c, patient.id, user.id, "read photo", Some(consult_id))?;
            Ok(jpeg)
        })
        .await
    }

    /// A patient's access log, newest first: for the patient's own account and admins.
    pub async fn access_log(
        &self,
        user: &User,
        patient_id: i64,
        limit: i64,
    ) -> Result<Vec<Value>, ClinicError> {
        let user = user.clone();
        self.read(move |c| {
            let gone =
                || ClinicError::not_found("unknown_patient", format!("no patient {patient_id}"));
            let patient = people::patient(c, patient_id)?.ok_or_else(gone)?;
            if user.role != Role::Admin && patient.user_id != Some(user.id) {
                // Readers of the record learn it exists; others do not.
                return Err(if access::can_read_patient(c, &user, &patient)? {
                    ClinicError::forbidden("the access log is for the patient and admins")
                } else {
                    gone()
                });
            }
            let rows = log::list(c, patient_id, None, limit)?;
            let ids: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
            let names = cunlink_core::auth::usernames(c, &ids)?;
            Ok(rows
                .into_iter()
                .map(|r| {
                    json!({"user": names.get(&r.user_id).cloned().unwrap_or_default(),
                        "action": r.action, "at": r.at, "consult_id": r.consult_id})
                })
                .collect())
        })
        .await
    }
}

/// The patient if `user` may read their record, else 404.
pub(crate) fn readable_patient(
    c: &Connection,
    user: &User,
    id: i64,
) -> Result<Patient, ClinicError> {
    let gone = || ClinicError::not_found("unknown_patient", format!("no patient {id}"));
    let p = people::patient(c, id)?.ok_or_else(gone)?;
    if !access::can_read_patient(c, user, &p)? {
        return Err(gone());
    }
    Ok(p)
}

pub(crate) fn readable_consult(
    c: &Connection,
    user: &User,
    id: i64,
) -> Result<(Consult, Patient), ClinicError> {
    let gone = || ClinicError::not_found("unknown_consult", format!("no consult {id}"));
    let consult = consults::get(c, id)?.ok_or_else(gone)?;
    let patient = people::patient(c, consult.patient_id)?.ok_or_else(gone)?;
    if !access::can_read_consult(c, user, &consult, &patient)? {
        return Err(gone());
    }
    Ok((consult, patient))
}

fn consult_view(
    c: &Connection,
    consult: Consult,
    patient: Patient,
) -> Result<ConsultView, ClinicError> {
    let ids = [consult.id];
    let observations = consults::observations(c, &ids)?;
    let notes = records::notes(c, &ids)?;
    let prescriptions = records::prescriptions(c, &ids)?;
    let photos = consults::photo_ids(c, consult.id)?;
    let department = people::department_name(c, consult.department_id)?.unwrap_or_default();
    let village = cunlink_core::auth::village_name(c, patient.village_id)?.unwrap_or_default();
    let mut who = vec![consult.village_doctor_id];
    who.extend(consult.county_doctor_id);
    who.extend(notes.iter().map(|n| n.author_id));
    who.extend(prescriptions.iter().map(|p| p.prescriber_id));
    who.extend(prescriptions.iter().filter_map(|p| p.dispensed_by));
    let names = cunlink_core::auth::usernames(c, &who)?;
    Ok(ConsultView {
        consult,
        patient,
        department,
        village,
        observations,
        notes,
        prescriptions,
        photos,
        names,
    })
}

pub(crate) fn record_of(c: &Connection, patient: Patient) -> Result<Record, ClinicError> {
    let list = consults::of_patient(c, patient.id, MAX_CONSULTS)?;
    let ids: Vec<i64> = list.iter().map(|k| k.id).collect();
    let observations = consults::observations(c, &ids)?;
    let notes = records::notes(c, &ids)?;
    let prescriptions = records::prescriptions(c, &ids)?;
    let deps: HashMap<i64, String> = people::departments(c)?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    let village = cunlink_core::auth::village_name(c, patient.village_id)?.unwrap_or_default();
    let mut who: Vec<i64> = list.iter().map(|k| k.village_doctor_id).collect();
    who.extend(list.iter().filter_map(|k| k.county_doctor_id));
    who.extend(notes.iter().map(|n| n.author_id));
    who.extend(prescriptions.iter().map(|p| p.prescriber_id));
    who.extend(prescriptions.iter().filter_map(|p| p.dispensed_by));
    who.sort_unstable();
    who.dedup();
    let names = cunlink_core::auth::usernames(c, &who)?;
    let consults = list
        .into_iter()
        .map(|k| {
            let d = deps.get(&k.department_id).cloned().unwrap_or_default();
            (k, d)
        })
        .collect();
    Ok(Record {
        patient,
        village,
        consults,
        observations,
        notes,
        prescriptions,
        names,
    })
}

// --- JSON forms ---------------------------------------------------------------

pub fn patient_json(p: &Patient, village: &str) -> Value {
    json!({"id": p.id, "name": p.name, "sex": p.sex, "birth_date": p.birth_date,
        "village": village, "phone": p.phone, "linked_account": p.user_id.is_some()})
}

fn name(names: &HashMap<i64, String>, id: i64) -> Value {
    names
        .get(&id)
        .map(|n| Value::String(n.clone()))
        .unwrap_or(Value::Null)
}

pub fn consult_json(k: &Consult, department: &str, names: &HashMap<i64, String>) -> Value {
    json!({"id": k.id, "patient_id": k.patient_id, "department": department, "status": k.status,
        "complaint": k.complaint, "village_doctor": name(names, k.village_doctor_id),
        "county_doctor": k.county_doctor_id.map(|d| name(names, d)), "slot_id": k.slot_id,
        "video": k.video, "created_at": k.created_at, "updated_at": k.updated_at, "closed_at": k.closed_at})
}

pub fn note_json(n: &Note, names: &HashMap<i64, String>) -> Value {
    json!({"id": n.id, "consult_id": n.consult_id, "author": name(names, n.author_id),
        "subjective": n.subjective, "objective": n.objective, "assessment": n.assessment, "plan": n.plan,
        "diagnosis": n.diagnosis, "icd10": n.icd10, "created_at": n.created_at})
}

pub fn rx_json(p: &Prescription, names: &HashMap<i64, String>) -> Value {
    json!({"id": p.id, "consult_id": p.consult_id, "version": p.version, "previous_id": p.previous_id,
        "superseded": p.superseded, "prescriber": name(names, p.prescriber_id), "created_at": p.created_at,
        "items": p.items, "dispensed_by": p.dispensed_by.map(|d| name(names, d)), "dispensed_at": p.dispensed_at})
}

pub fn observation_json(o: &Observation) -> Value {
    let unit = crate::vitals::vital(&o.key).map(|v| v.unit);
    json!({"key": o.key, "value": o.value, "unit": unit, "device": o.device, "observed_at": o.observed_at})
}

impl ConsultView {
    pub fn to_json(&self) -> Value {
        let mut v = consult_json(&self.consult, &self.department, &self.names);
        v["patient"] = patient_json(&self.patient, &self.village);
        v["observations"] = self.observations.iter().map(observation_json).collect();
        v["notes"] = self
            .notes
            .iter()
            .map(|n| note_json(n, &self.names))
            .collect();
        v["prescriptions"] = self
            .prescriptions
            .iter()
            .map(|p| rx_json(p, &self.names))
            .collect();
        v["photos"] = self
            .photos
            .iter()
            .map(|p| json!(format!("/api/clinic/photos/{p}")))
            .collect();
        v
    }
}

impl Record {
    pub fn to_json(&self) -> Value {
        let by_consult = |id: i64| -> Value {
            json!({
                "observations": self.observations.iter().filter(|o| o.consult_id == id).map(observation_json).collect::<Vec<_>>(),
                "notes": self.notes.iter().filter(|n| n.consult_id == id).map(|n| note_json(n, &self.names)).collect::<Vec<_>>(),
                "prescriptions": self.prescriptions.iter().filter(|p| p.consult_id == id).map(|p| rx_json(p, &self.names)).collect::<Vec<_>>(),
            })
        };
        let consults: Vec<Value> = self
            .consults
            .iter()
            .map(|(k, d)| {
                let mut v = consult_json(k, d, &self.names);
                let extra = by_consult(k.id);
                for key in ["observations", "notes", "prescriptions"] {
                    v[key] = extra[key].clone();
                }
                v
            })
            .collect();
        json!({"patient": patient_json(&self.patient, &self.village), "consults": consults})
    }
}
