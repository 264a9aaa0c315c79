//! Who may do what in the clinic (issue 11 item 6), in one place.
//!
//! * The tab: doctors, villagers (patients), and those who oversee (admins,
//!   county staff). A patient's own account of another role reaches its record
//!   through `/clinic/me` all the same.
//! * A patient's **record** (consults, notes, prescriptions, observations,
//!   photos): the patient's own account, the doctors of the patient's village,
//!   doctors assigned to one of the patient's consults, and admins. Not county
//!   staff, station operators, farmers, buyers or teachers. Anyone else is told
//!   the record does not exist (404), whatever their role.
//! * A **waiting** consult is also readable by the county doctors of its
//!   department, who must see the complaint to take it.
//! * Treating (notes, prescriptions, closing): the doctors of the patient's
//!   village and the county doctor who took the consult.

use cunlink_core::sql::Connection;

use cunlink_core::auth::{Role, User};

use crate::model::ConsultStatus;
use crate::store::consults::{self, Consult};
use crate::store::people::{self, Patient};

/// Whether `user` sees the clinic tab and may open its pages.
pub fn can_use(user: &User) -> bool {
    matches!(
        user.role,
        Role::Doctor | Role::Admin | Role::CountyStaff | Role::Villager
    )
}

/// A doctor of a village (who opens consults there).
pub fn village_doctor(user: &User) -> Option<i64> {
    (user.role == Role::Doctor)
        .then_some(user.village_id)
        .flatten()
}

/// The department of a county doctor (a doctor without a village, linked to one).
pub fn county_department(conn: &Connection, user: &User) -> cunlink_core::sql::Result<Option<i64>> {
    if user.role != Role::Doctor || user.village_id.is_some() {
        return Ok(None);
    }
    people::doctor_department(conn, user.id)
}

/// Item 6: may `user` read `patient`'s record?
pub fn can_read_patient(
    conn: &Connection,
    user: &User,
    patient: &Patient,
) -> cunlink_core::sql::Result<bool> {
    if user.role == Role::Admin || patient.user_id == Some(user.id) {
        return Ok(true);
    }
    if user.role != Role::Doctor {
        return Ok(false);
    }
    if user.village_id == Some(patient.village_id) {
        return Ok(true);
    }
    consults::assigned(conn, patient.id, user.id)
}

/// May `user` read this consult: the record's readers, and while it waits,
/// the county doctors of its department.
pub fn can_read_consult(
    conn: &Connection,
    user: &User,
    consult: &Consult,
    patient: &Patient,
) -> cunlink_core::sql::Result<bool> {
    if can_read_patient(conn, user, patient)? {
        return Ok(true);
    }
    Ok(consult.status == ConsultStatus::Waiting
        && county_department(conn, user)? == Some(consult.department_id))
}

/// May `user` write notes and prescriptions on, or close, this consult.
pub fn can_treat(user: &User, consult: &Consult, patient: &Patient) -> bool {
    user.role == Role::Doctor
        && (user.village_id == Some(patient.village_id)
            || consult.county_doctor_id == Some(user.id))
}
