//! FHIR R4 export (JSON, `application/fhir+json`) of the records: Patient,
//! Practitioner, Encounter (class VR for consults that had a video call, AMB
//! otherwise), Observation (vital signs, LOINC-coded, UCUM units), Condition
//! (the notes' diagnoses, ICD-10 when given), MedicationRequest (one per
//! prescription line; a revision's lines point at the previous version with
//! `priorPrescription`), MedicationDispense, `Patient/{id}/$everything` and
//! searchset Bundles by `?patient=`. The same access rules and access log as
//! every other read apply (`record.rs`).
//!
//! Ids: `Patient/{patient id}`, `Practitioner/{user id}`, `Encounter/{consult
//! id}`, `Observation/{observation id}`, `Condition/{note id}`,
//! `MedicationRequest/{prescription id}-{line number}`,
//! `MedicationDispense/{prescription id}-{line number}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use cunlink_core::ApiError;
use cunlink_core::auth::User;
use cunlink_core::routes::Routes;
use cunlink_core::web::CurrentUser;

use crate::Clinic;
use crate::error::ClinicError;
use crate::model::ConsultStatus;
use crate::record::Record;
use crate::routes::ClinicState;
use crate::store::consults::Consult;

pub const CONTENT_TYPE: &str = "application/fhir+json";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";

type R<T> = Result<T, ApiError>;

pub fn routes(clinic: Arc<Clinic>) -> Routes {
    let mut r = Routes::new()
        .route("/fhir/r4/Patient/{id}", get(patient))
        .route("/fhir/r4/Patient/{id}/$everything", get(everything))
        .route("/fhir/r4/Practitioner/{id}", get(practitioner));
    for (kind, action) in SEARCHES {
        let handler = move |State(s): State<ClinicState>,
                            CurrentUser(u): CurrentUser,
                            q: crate::routes::RawQuery,
                            h: HeaderMap| async move {
            // Parsed through the crate's `routes::query`, so a malformed query
            // answers the JSON error naming `query`, like every other clinic
            // route, not axum's plain-text 400.
            search(s, u, crate::routes::query(q)?, h, kind, action).await
        };
        r = r.route(&format!("/fhir/r4/{kind}"), get(handler));
    }
    r.with_state(ClinicState(clinic))
}

/// The searches by patient: (resource type, the access-log action of the read).
const SEARCHES: [(&str, &str); 5] = [
    ("Encounter", "fhir Encounter search"),
    ("Observation", "fhir Observation search"),
    ("Condition", "fhir Condition search"),
    ("MedicationRequest", "fhir MedicationRequest search"),
    ("MedicationDispense", "fhir MedicationDispense search"),
];

fn fhir(v: Value) -> Response {
    fhir_text(v.to_string())
}

fn fhir_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

/// The server's FHIR base as the client reached it (for Bundle fullUrls).
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("http://{host}/fhir/r4")
}

async fn patient(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Response> {
    let rec = s.0.read_record(&u, id, None, "fhir Patient").await?;
    Ok(fhir(patient_resource(&rec)))
}

async fn everything(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> R<Response> {
    let rec =
        s.0.read_record(&u, id, None, "fhir Patient/$everything")
            .await?;
    let base = base(&headers);
    Ok(fhir_text(bundle(
        &base,
        &format!("{base}/Patient/{id}/$everything"),
        resources(&rec, None),
    )))
}

async fn practitioner(
    State(s): State<ClinicState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Response> {
    if !crate::access::can_use(&u) {
        return Err(ClinicError::forbidden("practitioners are listed for clinic users").into());
    }
    // Practitioners are the clinic's doctors: county doctors and doctors who
    // opened a consult. Anyone else is not found.
    let name =
        s.0.db
            .call(move |c| {
                let known = crate::store::people::is_practitioner(c, id)?;
                let names = if known {
                    cunlink_core::auth::usernames(c, &[id])?
                } else {
                    HashMap::new()
                };
                names.get(&id).cloned().ok_or_else(|| {
                    ClinicError::not_found("unknown_practitioner", format!("no practitioner {id}"))
                })
            })
            .await?;
    Ok(fhir(practitioner_resource(id, &name)))
}

async fn search(
    s: ClinicState,
    u: User,
    q: HashMap<String, String>,
    headers: HeaderMap,
    kind: &'static str,
    action: &'static str,
) -> R<Response> {
    let id = q
        .get("patient")
        .map(|p| p.strip_prefix("Patient/").unwrap_or(p))
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_field", "give ?patient={id}").with_field("patient")
        })?;
    let rec = s.0.read_record(&u, id, None, action).await?;
    let base = base(&headers);
    Ok(fhir_text(bundle(
        &base,
        &format!("{base}/{kind}?patient={id}"),
        resources(&rec, Some(kind)),
    )))
}

/// A searchset Bundle of `resources`, as JSON text. Each entry is written and
/// dropped in turn (a 100-consult record is ~2,000 resources; holding and
/// copying the whole tree was most of `$everything`'s time), and nothing goes
/// through `json!` interpolation, which deep-copies a value via the serializer.
pub fn bundle(base: &str, self_url: &str, resources: Vec<Value>) -> String {
    let mut out = Vec::with_capacity(resources.len() * 320 + 256);
    let head = json!({"resourceType": "Bundle", "type": "searchset", "total": resources.len(),
        "link": [{"relation": "self", "url": self_url}]});
    // `{...}` without its closing brace, then the entries.
    let head = head.to_string();
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"entry\":[");
    for (i, r) in resources.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let url = format!(
            "{base}/{}/{}",
            r["resourceType"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or("")
        );
        let mut e = Map::new();
        e.insert("fullUrl".into(), Value::String(url));
        e.insert("resource".into(), r);
        e.insert("search".into(), json!({"mode": "match"}));
        // Writing into a Vec cannot fail; a Value always serializes.
        let _ = serde_json::to_writer(&mut out, &Value::Object(e));
    }
    out.extend_from_slice(b"]}");
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

/// Every resource of a record (`only`: of one type), patient first.
pub fn resources(rec: &Record, only: Option<&str>) -> Vec<Value> {
    let want = |t: &str| only.is_none_or(|o| o == t);
    let mut out = Vec::new();
    if want("Patient") {
        out.push(patient_resource(rec));
    }
    if want("Practitioner") {
        let mut ids: Vec<&i64> = rec.names.keys().collect();
        ids.sort();
        for id in ids {
            out.push(practitioner_resource(*id, &rec.names[id]));
        }
    }
    let pid = rec.patient.id;
    let consults: HashMap<i64, &Consult> = rec.consults.iter().map(|(k, _)| (k.id, k)).collect();
    if want("Encounter") {
        for (k, dep) in &rec.consults {
            out.push(encounter(k, dep));
        }
    }
    if want("Observation") {
        for o in &rec.observations {
            let Some(v) = crate::vitals::vital(&o.key) else {
                continue;
            };
            out.push(json!({
                "resourceType": "Observation",
                "id": o.id.to_string(),
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs", "display": "Vital Signs"}]}],
                "code": {"coding": [{"system": LOINC, "code": v.loinc, "display": v.display}], "text": v.display},
                "subject": {"reference": format!("Patient/{pid}")},
                "encounter": {"reference": format!("Encounter/{}", o.consult_id)},
                "effectiveDateTime": date_time(o.observed_at),
                "valueQuantity": {"value": o.value, "unit": v.unit, "system": UCUM, "code": v.unit},
            }));
        }
    }
    if want("Condition") {
        for n in &rec.notes {
            let mut code = json!({"text": n.diagnosis});
            if let Some(icd) = &n.icd10 {
                code["coding"] = json!([{"system": ICD10, "code": icd}]);
            }
            out.push(json!({
                "resourceType": "Condition",
                "id": n.id.to_string(),
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                    "code": "encounter-diagnosis"}]}],
                "subject": {"reference": format!("Patient/{pid}")},
                "encounter": {"reference": format!("Encounter/{}", n.consult_id)},
                "recordedDate": date_time(n.created_at),
                "recorder": {"reference": format!("Practitioner/{}", n.author_id)},
            }));
            // Moved in, not copied through `json!`.
            if let Some(r) = out.last_mut() {
                r["code"] = code;
                let note = soap_note(n);
                if note.as_array().is_some_and(|a| !a.is_empty()) {
                    r["note"] = note;
                }
            }
        }
    }
    let by_id: HashMap<i64, &crate::store::records::Prescription> =
        rec.prescriptions.iter().map(|p| (p.id, p)).collect();
    for p in &rec.prescriptions {
        let closed = consults
            .get(&p.consult_id)
            .is_some_and(|k| !k.status.is_open());
        for (i, line) in p.items.iter().enumerate() {
            let n = i + 1;
            let med = json!({"text": line.drug});
            if want("MedicationRequest") {
                let status = if p.superseded {
                    "stopped"
                } else if p.dispensed_at.is_some() || closed {
                    "completed"
                } else {
                    "active"
                };
                let mut r = json!({
                    "resourceType": "MedicationRequest",
                    "id": format!("{}-{n}", p.id),
                    "status": status,
                    "intent": "order",
                    "groupIdentifier": {"system": "urn:cunlink:prescription", "value": format!("{}", p.id)},
                    "medicationCodeableConcept": med,
                    "subject": {"reference": format!("Patient/{pid}")},
                    "encounter": {"reference": format!("Encounter/{}", p.consult_id)},
                    "authoredOn": date_time(p.created_at),
                    "requester": {"reference": format!("Practitioner/{}", p.prescriber_id)},
                    "dosageInstruction": [{
                        "text": format!("{} {} {} × {} d", line.dose, line.route, line.frequency, line.days),
                        "route": {"text": line.route},
                    }],
                    "dispenseRequest": {
                        "quantity": {"value": line.quantity},
                        "expectedSupplyDuration": {"value": line.days, "unit": "d", "system": UCUM, "code": "d"},
                    },
                });
                if let Some(prev) = p.previous_id.and_then(|id| by_id.get(&id)) {
                    // The same line of the previous version, else its first.
                    let m = if n <= prev.items.len() { n } else { 1 };
                    r["priorPrescription"] =
                        json!({"reference": format!("MedicationRequest/{}-{m}", prev.id)});
                }
                out.push(r);
            }
            if want("MedicationDispense")
                && let (Some(by), Some(at)) = (p.dispensed_by, p.dispensed_at)
            {
                out.push(json!({
                    "resourceType": "MedicationDispense",
                    "id": format!("{}-{n}", p.id),
                    "status": "completed",
                    "medicationCodeableConcept": med,
                    "subject": {"reference": format!("Patient/{pid}")},
                    "context": {"reference": format!("Encounter/{}", p.consult_id)},
                    "performer": [{"actor": {"reference": format!("Practitioner/{by}")}}],
                    "authorizingPrescription": [{"reference": format!("MedicationRequest/{}-{n}", p.id)}],
                    "quantity": {"value": line.quantity},
                    "daysSupply": {"value": line.days, "unit": "d", "system": UCUM, "code": "d"},
                    "whenHandedOver": date_time(at),
                }));
            }
        }
    }
    out
}

fn soap_note(n: &crate::store::records::Note) -> Value {
    let parts: Vec<Value> = [
        ("S", &n.subjective),
        ("O", &n.objective),
        ("A", &n.assessment),
        ("P", &n.plan),
    ]
    .into_iter()
    .filter(|(_, t)| !t.is_empty())
    .map(|(k, t)| json!({"text": format!("{k}: {t}")}))
    .collect();
    Value::Array(parts)
}

pub fn patient_resource(rec: &Record) -> Value {
    let p = &rec.patient;
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id.to_string(),
        "name": [{"text": p.name}],
        "gender": p.sex,
        "birthDate": p.birth_date,
        "address": [{"text": rec.village, "city": rec.village}],
    });
    if let Some(phone) = &p.phone {
        r["telecom"] = json!([{"system": "phone", "value": phone}]);
    }
    r
}

pub fn practitioner_resource(id: i64, name: &str) -> Value {
    json!({"resourceType": "Practitioner", "id": id.to_string(), "name": [{"text": name}]})
}

fn encounter(k: &Consult, department: &str) -> Value {
    let (code, display) = if k.video {
        ("VR", "virtual")
    } else {
        ("AMB", "ambulatory")
    };
    let status = match k.status {
        ConsultStatus::Waiting | ConsultStatus::Accepted | ConsultStatus::Scheduled => "planned",
        ConsultStatus::InCall => "in-progress",
        ConsultStatus::Closed => "finished",
        ConsultStatus::Cancelled => "cancelled",
    };
    let mut participant =
        vec![json!({"individual": {"reference": format!("Practitioner/{}", k.village_doctor_id)}})];
    if let Some(d) = k.county_doctor_id {
        participant.push(json!({"individual": {"reference": format!("Practitioner/{d}")}}));
    }
    let mut period = json!({"start": date_time(k.created_at)});
    if let Some(end) = k.closed_at {
        period["end"] = json!(date_time(end));
    }
    json!({
        "resourceType": "Encounter",
        "id": k.id.to_string(),
        "status": status,
        "class": {"system": ACT_CODE, "code": code, "display": display},
        "serviceType": {"text": department},
        "subject": {"reference": format!("Patient/{}", k.patient_id)},
        "participant": participant,
        "period": period,
        "reasonCode": [{"text": k.complaint}],
    })
}

/// A FHIR dateTime in China time: `2026-11-30T09:05:00.123+08:00`.
pub fn date_time(ms: i64) -> String {
    let local = ms + 8 * 3_600_000;
    let days = local.div_euclid(86_400_000);
    let rem = local.rem_euclid(86_400_000);
    let (y, m, d) = cunlink_core::time::civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}+08:00")
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_times_are_china_time() {
        // 2026-11-30T00:00:00Z is 08:00 in China.
        let ms = cunlink_core::time::days_from_civil(2026, 11, 30) * 86_400_000;
        assert_eq!(super::date_time(ms), "2026-11-30T08:00:00.000+08:00");
        assert_eq!(
            super::date_time(ms + 16 * 3_600_000 + 1),
            "2026-12-01T00:00:00.001+08:00"
        );
    }
}
