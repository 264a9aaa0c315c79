//! A consult ready for a call, made through the clinic's store (the clinic's
//! own API makes them in its flow tests): a village doctor, a county doctor who
//! accepted it, a patient with a linked villager account, and outsiders.
//! Shared by the call API tests and the browser call test.

use cunlink_clinic::ConsultStatus;
use cunlink_clinic::store::{consults, people};
use cunlink_core::auth::{AuthService, Role};

use crate::common::TestApp;

/// One caller: their username (password `a-password`), API token and user id.
pub struct Who {
    pub name: String,
    pub token: String,
    pub id: i64,
}

pub struct CallFixture {
    pub consult: i64,
    pub village_doctor: Who,
    pub county_doctor: Who,
    pub patient: Who,
    /// A doctor of the same village who is not in this consult.
    pub other_doctor: Who,
    pub farmer: Who,
}

pub async fn who(app: &TestApp, name: &str, role: Role, village: Option<&str>) -> Who {
    let token = app.user(name, role, village).await;
    let auth = app.server.as_ref().unwrap().auth.clone();
    let id = auth.user_by_api_token(&token).await.unwrap().unwrap().id;
    Who {
        name: name.to_string(),
        token,
        id,
    }
}

/// A consult of `village` whose village doctor is `vdoc`, taken (accepted) by
/// `cdoc` when given, with `patient_user` linked.
pub async fn consult(
    auth: &AuthService,
    village: &str,
    vdoc: i64,
    cdoc: Option<i64>,
    patient_user: Option<i64>,
) -> i64 {
    let v = auth
        .village_id(village.to_string())
        .await
        .unwrap()
        .expect("village exists");
    auth.db()
        .call(move |c| {
            let dept = people::ensure_department(c, "内科")?;
            if let Some(cdoc) = cdoc {
                people::link_county_doctor(c, cdoc, "内科")?;
            }
            let patient = people::insert_patient(
                c,
                &people::NewPatient {
                    name: "王大爷",
                    sex: "male",
                    birth_date: "1950-03-01",
                    village_id: v,
                    phone: None,
                    user_id: patient_user,
                    created_by: vdoc,
                },
            )?;
            let id = consults::insert(c, patient, dept, vdoc, "头晕三天")?;
            if cdoc.is_some() {
                consults::transition(
                    c,
                    id,
                    &[ConsultStatus::Waiting],
                    ConsultStatus::Accepted,
                    cdoc,
                )?;
            }
            Ok::<_, cunlink_clinic::ClinicError>(id)
        })
        .await
        .expect("consult made")
}

pub async fn call_fixture(app: &TestApp) -> CallFixture {
    let village_doctor = who(app, "village-doc", Role::Doctor, Some("茶香村")).await;
    let county_doctor = who(app, "county-doc", Role::Doctor, None).await;
    let patient = who(app, "patient-wang", Role::Villager, Some("茶香村")).await;
    let other_doctor = who(app, "other-doc", Role::Doctor, Some("茶香村")).await;
    let farmer = who(app, "farmer-li", Role::Farmer, Some("茶香村")).await;
    let auth = app.server.as_ref().unwrap().auth.clone();
    let consult = consult(
        &auth,
        "茶香村",
        village_doctor.id,
        Some(county_doctor.id),
        Some(patient.id),
    )
    .await;
    CallFixture {
        consult,
        village_doctor,
        county_doctor,
        patient,
        other_doctor,
        farmer,
    }
}
