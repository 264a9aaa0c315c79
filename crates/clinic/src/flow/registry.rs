//! Departments, county doctors and patients.

use super::*;

impl Clinic {
    /// `POST /api/clinic/departments`: admins.
    pub async fn create_department(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        if user.role != Role::Admin {
            return Err(ClinicError::forbidden("only admins create departments"));
        }
        self.write(move |c, _| {
            crate::sync::hub_only(c, "departments are created")?;
            let name = input::text(&body, "name", 64)?;
            if people::department_by_name(c, name)?.is_some() {
                return Err(ClinicError::conflict(
                    "department_exists",
                    Some("name"),
                    format!("department '{name}' exists"),
                ));
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
            .ok_or_else(|| {
                ClinicError::invalid("unknown_user", "user", format!("no user named '{name}'"))
            })?;
        self.assign_department(doctor, department).await
    }

    /// Make `doctor` (role doctor, no village) a county doctor of `department`,
    /// created if new. For the admin API and the demo.
    pub async fn assign_department(
        &self,
        doctor: User,
        department: String,
    ) -> Result<Value, ClinicError> {
        if doctor.role != Role::Doctor || doctor.village_id.is_some() {
            return Err(ClinicError::invalid(
                "not_a_county_doctor",
                "user",
                "a county doctor is an account with role doctor and no village",
            ));
        }
        self.write(move |c, _| {
            crate::sync::hub_only(c, "county doctors are assigned")?;
            let dep = people::link_county_doctor(c, doctor.id, &department)?;
            Ok(plain(
                json!({"user": doctor.username, "department": department, "department_id": dep}),
            ))
        })
        .await
    }

    /// `POST /api/clinic/patients`: a village doctor (their village) or an admin.
    pub async fn create_patient(&self, user: &User, body: Obj) -> Result<Value, ClinicError> {
        if user.role != Role::Admin && access::village_doctor(user).is_none() {
            return Err(ClinicError::forbidden(
                "patients are registered by village doctors and admins",
            ));
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
                    .cloned()
                    .ok_or_else(|| {
                        ClinicError::invalid(
                            "unknown_user",
                            "user",
                            format!("no user named '{name}'"),
                        )
                    })?,
            ),
        };
        let user = user.clone();
        self.write(move |c, _| {
            let name = input::text(&body, "name", 64)?;
            let sex = input::text(&body, "sex", 10)?;
            if !SEXES.contains(&sex) {
                return Err(ClinicError::invalid(
                    "invalid_field",
                    "sex",
                    "'sex' must be male, female, other or unknown",
                ));
            }
            let birth_date = input::past_date(&body, "birth_date", china_day(now_ms()))?;
            let village = input::text(&body, "village", 64)?;
            let village_id = cunlink_core::auth::village_id(c, village)?.ok_or_else(|| {
                ClinicError::invalid(
                    "unknown_village",
                    "village",
                    format!("no village named '{village}'"),
                )
            })?;
            if user.role != Role::Admin && user.village_id != Some(village_id) {
                return Err(ClinicError::forbidden(
                    "a village doctor registers patients of their own village",
                ));
            }
            let phone = input::opt_text(&body, "phone", 32)?;
            if let Some(p) = phone
                && !p
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | '-' | ' '))
            {
                return Err(ClinicError::invalid(
                    "invalid_field",
                    "phone",
                    "'phone' may hold digits, spaces, + and - only",
                ));
            }
            // The linked account reads the whole record and joins calls, so it
            // must be a resident of the patient's village: not a doctor, not a
            // county-wide account (admin, county staff), not another village's.
            let user_id = match account {
                None => None,
                Some(a)
                    if a.role != Role::Doctor
                        && !a.role.is_county_wide()
                        && a.village_id == Some(village_id) =>
                {
                    Some(a.id)
                }
                Some(a) => {
                    return Err(ClinicError::invalid(
                        "invalid_field",
                        "user",
                        format!(
                            "'{}' cannot be this patient's account: it must be a resident of \
                             the patient's village, not a doctor or county-wide account",
                            a.username
                        ),
                    ));
                }
            };
            let id = people::insert_patient(
                c,
                &NewPatient {
                    name,
                    sex,
                    birth_date,
                    village_id,
                    phone,
                    user_id,
                    created_by: user.id,
                },
            )?;
            Ok(plain(json!({"id": id})))
        })
        .await
    }
}
