//! SOAP notes, prescriptions and their revisions, dispensing.

use super::*;

impl Clinic {
    /// `POST /api/clinic/consults/{id}/notes`: a SOAP note with a diagnosis.
    pub async fn add_note(&self, user: &User, id: i64, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, _| {
            let (consult, patient) = consult_for_write(c, &user, id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden(
                    "only the consult's doctors write its notes",
                ));
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
                        return Err(ClinicError::invalid(
                            "invalid_icd10",
                            "icd10",
                            "'icd10' must be an ICD-10 code such as J06.9",
                        ));
                    }
                    other => other,
                },
            };
            // A consult's notes are read whole: refuse past the cap, so the
            // record stays bounded (nothing is written).
            if records::count_for_consult(c, "clinic_notes", id)? >= records::MAX_NOTES {
                return Err(ClinicError::conflict(
                    "too_many_notes",
                    None,
                    format!("a consult holds at most {} notes", records::MAX_NOTES),
                ));
            }
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
                return Err(ClinicError::forbidden(
                    "only the consult's doctors prescribe",
                ));
            }
            open_or_conflict(&consult)?;
            let items = parse_lines(&body)?;
            rx_room(c, id)?;
            let (rx, version) = records::insert_prescription(c, id, user.id, None, &items)?;
            let notified = tell_rx(c, notify, &consult, &patient, &user, rx)?;
            Ok(Done {
                answer: json!({"id": rx, "version": version}),
                change: None,
                notified,
            })
        })
        .await
    }

    /// `POST /api/clinic/prescriptions/{id}/revise`: the next version; the
    /// previous one stays readable, superseded.
    pub async fn revise(&self, user: &User, id: i64, body: Obj) -> Result<Value, ClinicError> {
        let user = user.clone();
        self.write(move |c, notify| {
            let prev = records::prescription(c, id)?.ok_or_else(|| {
                ClinicError::not_found("unknown_prescription", format!("no prescription {id}"))
            })?;
            let (consult, patient) = consult_for_write(c, &user, prev.consult_id)?;
            if !access::can_treat(&user, &consult, &patient) {
                return Err(ClinicError::forbidden(
                    "only the consult's doctors revise its prescriptions",
                ));
            }
            open_or_conflict(&consult)?;
            if prev.superseded {
                return Err(ClinicError::conflict(
                    "prescription_superseded",
                    None,
                    "revise the latest version of this prescription",
                ));
            }
            if prev.dispensed_at.is_some() {
                return Err(ClinicError::conflict(
                    "prescription_dispensed",
                    None,
                    "a dispensed prescription cannot be revised; write a new one",
                ));
            }
            let items = parse_lines(&body)?;
            rx_room(c, consult.id)?;
            let (rx, version) =
                records::insert_prescription(c, consult.id, user.id, Some(&prev), &items)?;
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
            let rx = records::prescription(c, id)?.ok_or_else(|| {
                ClinicError::not_found("unknown_prescription", format!("no prescription {id}"))
            })?;
            let (_, patient) = consult_for_write(c, &user, rx.consult_id)?;
            if access::village_doctor(&user) != Some(patient.village_id) {
                return Err(ClinicError::forbidden(
                    "prescriptions are dispensed by the patient's village clinic",
                ));
            }
            if rx.superseded {
                return Err(ClinicError::conflict(
                    "prescription_superseded",
                    None,
                    "a later version replaced this prescription",
                ));
            }
            if !records::dispense(c, id, user.id)? {
                return Err(ClinicError::conflict(
                    "already_dispensed",
                    None,
                    "this prescription was dispensed already",
                ));
            }
            Ok(plain(
                json!({"id": id, "dispensed_by": user.username, "dispensed_at": now_ms()}),
            ))
        })
        .await
    }
}

/// `items`: 1..=30 lines, each with every field; days and quantity positive.
fn parse_lines(body: &Obj) -> Result<Vec<Line>, ClinicError> {
    let Some(Value::Array(items)) = body.get("items") else {
        return Err(ClinicError::invalid(
            "missing_field",
            "items",
            "'items' must be a list of prescription lines",
        ));
    };
    if items.is_empty() || items.len() > MAX_LINES {
        return Err(ClinicError::invalid(
            "invalid_field",
            "items",
            format!("a prescription has 1 to {MAX_LINES} lines"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(o) = item else {
            return Err(ClinicError::invalid(
                "invalid_field",
                format!("items[{i}]"),
                "each line must be an object",
            ));
        };
        let f = |name: &str| format!("items[{i}].{name}");
        let text = |name: &str, max: usize| -> Result<String, ClinicError> {
            input::text(o, name, max)
                .map(str::to_string)
                .map_err(|e| rename(e, f(name)))
        };
        let num = |name: &str, max: i64| -> Result<i64, ClinicError> {
            match o.get(name) {
                None | Some(Value::Null) => Err(ClinicError::invalid(
                    "missing_field",
                    f(name),
                    format!("'{name}' is required"),
                )),
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

/// 409 `too_many_prescriptions` when `consult_id` already holds the most
/// prescription rows (every version counts) a consult may.
fn rx_room(c: &Connection, consult_id: i64) -> Result<(), ClinicError> {
    if records::count_for_consult(c, "clinic_prescriptions", consult_id)?
        >= records::MAX_PRESCRIPTIONS
    {
        return Err(ClinicError::conflict(
            "too_many_prescriptions",
            None,
            format!(
                "a consult holds at most {} prescriptions (every version counts)",
                records::MAX_PRESCRIPTIONS
            ),
        ));
    }
    Ok(())
}

fn rename(e: ClinicError, field: String) -> ClinicError {
    match e {
        ClinicError::Invalid { code, message, .. } => ClinicError::Invalid {
            code,
            field,
            message,
        },
        other => other,
    }
}

/// ICD-10 shape: a letter, two digits (or digit + letter for some chapters),
/// an optional dot and up to four more.
fn is_icd10(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 3
        || !b[0].is_ascii_uppercase()
        || !b[1].is_ascii_digit()
        || !b[2].is_ascii_alphanumeric()
    {
        return false;
    }
    match &b[3..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric)
        }
        _ => false,
    }
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
