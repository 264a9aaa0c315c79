//! The consultation flow — every write of the clinic, each one transaction:
//! patients, consults (open, accept, schedule, close, cancel), slots, photos,
//! notes, prescriptions and their revisions, dispensing. Pages and the API call
//! these same functions, so a page cannot do what the API refuses.
//!
//! Notices to the other side go through the [`NotifyUsers`] port inside the
//! same transaction; after the commit the dispatcher is woken and the
//! department's live queue told. `registry.rs`: departments, county doctors,
//! patients; `consult.rs`: a consult's course, slots, photos; `rx.rs`: notes,
//! prescriptions, dispensing.

use std::collections::BTreeSet;

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};
use cunlink_core::notify::{NotifyUsers, UserNotice};
use cunlink_core::time::{DAY_MS, china_day, now_ms};

use crate::Clinic;

mod consult;
mod registry;
mod rx;
use crate::access;
use crate::error::ClinicError;
use crate::input::{self, Obj};
use crate::live::QueueChange;
use crate::model::{ConsultStatus, SEXES};
use crate::store::consults::{self, Consult};
use crate::store::people::{self, NewPatient, Patient};
use crate::store::records::{self, Line, NewNote};
use crate::vitals;

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
}

fn plain(answer: Value) -> Done {
    Done {
        answer,
        change: None,
        notified: false,
    }
}

/// The consult and its patient, if `user` may read it; else 404.
pub(crate) fn consult_for_write(
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
    // One owner per record (docs/clinic.md, "Village node").
    crate::sync::owns_consult(c, id)?;
    Ok((consult, patient))
}

fn open_or_conflict(consult: &Consult) -> Result<(), ClinicError> {
    if consult.status.is_open() {
        Ok(())
    } else {
        Err(ClinicError::conflict(
            "consult_closed",
            Some("consult"),
            format!(
                "the consult is {}; it takes no more notes, photos or prescriptions",
                consult.status
            ),
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
    let user_ids: Vec<i64> = users
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if user_ids.is_empty() {
        return Ok(false);
    }
    let n = notify.enqueue(
        c,
        &UserNotice {
            user_ids,
            source: "clinic",
            title,
            body,
            url,
            urgent: false,
        },
    )?;
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
    let who = [
        Some(consult.village_doctor_id),
        consult.county_doctor_id,
        patient.user_id,
    ]
    .into_iter()
    .flatten()
    .filter(|u| *u != by.id);
    tell(
        c,
        notify,
        who,
        title.to_string(),
        format!(
            "#{} {} ({status}) · {}",
            consult.id, patient.name, by.username
        ),
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
    let who = [
        Some(consult.village_doctor_id),
        consult.county_doctor_id,
        patient.user_id,
    ]
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
