//! The clinic domain (医疗): remote consultations between village clinics and
//! county doctors — patients, the department queue, slots, vitals, photos,
//! SOAP notes, prescriptions, records with an audited access log, and a FHIR R4
//! export. The video call itself is the `rtc` crate's; it asks this one who
//! may join ([`Clinic::call_members`]) and says when a call began
//! ([`Clinic::mark_in_call`]).
//!
//! * [`Clinic`]: the handle, opened by [`Clinic::open`] and wired by the binary
//!   as a [`cunlink_web::Domain`] (its tab, strings and routes).
//! * [`store`]: the tables this crate owns (`clinic_*`) and their migrations.
//! * [`access`]: who may read and write what (item 6).
//! * [`model`]: consult states and call members.
//! * [`error`]: the clinic's errors and their one mapping to HTTP answers.
//! * `pages`: the pages under the 医疗 tab.

pub mod access;
pub mod call;
pub mod error;
pub mod fhir;
mod flow;
pub mod input;
pub mod live;
pub mod model;
mod pages;
pub mod photos;
pub mod record;
pub mod routes;
pub mod store;
pub mod sync;
pub mod vitals;

use std::sync::Arc;

use cunlink_core::auth::AuthService;
use cunlink_core::notify::NotifyUsers;
use cunlink_core::routes::Routes;
use cunlink_core::{Config, Db};
use cunlink_farm::Farm;
use cunlink_web::{Domain, KitBuilder, Locale, Tab, WebKit, icon};

pub use error::ClinicError;
pub use model::{CallMembers, ConsultStatus};

/// What the clinic needs from outside: the application database, sign-in, the
/// farm (vitals devices) and the port that notifies users.
pub struct ClinicDeps {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
    pub notify: Arc<dyn NotifyUsers>,
}

/// The clinic domain, opened.
pub struct Clinic {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
    pub notify: Arc<dyn NotifyUsers>,
    /// Queue changes for live pages.
    pub live: live::Live,
    /// The consults' video calls: TURN credentials, room tokens, signaling ([`call`]).
    pub calls: cunlink_rtc::Calls,
}

impl Clinic {
    /// Apply the clinic schema and set up calls (TURN settings from `config`).
    pub fn open(config: &Config, deps: ClinicDeps) -> Result<Arc<Clinic>, ClinicError> {
        let ClinicDeps {
            db,
            auth,
            farm,
            notify,
        } = deps;
        db.migrate("clinic", store::MIGRATIONS)?;
        Ok(Arc::new(Clinic {
            db,
            auth,
            farm,
            notify,
            live: live::Live::default(),
            calls: cunlink_rtc::Calls::new(
                cunlink_rtc::TurnConfig::new(config.turn_secret.clone(), config.turn_urls.clone()),
                call::limits(),
            ),
        }))
    }

    /// Who belongs in consult `consult_id`'s call (user ids), and its state;
    /// `None` if there is no such consult.
    pub async fn call_members(&self, consult_id: i64) -> Result<Option<CallMembers>, ClinicError> {
        self.db
            .call(move |c| {
                let Some(consult) = store::consults::get(c, consult_id)? else {
                    return Ok(None);
                };
                let patient = store::people::patient(c, consult.patient_id)?;
                Ok(Some(CallMembers {
                    village_doctor: consult.village_doctor_id,
                    county_doctor: consult.county_doctor_id,
                    patient_user: patient.and_then(|p| p.user_id),
                    status: consult.status,
                }))
            })
            .await
    }

    /// A call of consult `consult_id` began: accepted or scheduled → in_call
    /// (already in_call: nothing to do). `by_user` must be one of its members.
    /// The consult's FHIR Encounter becomes a video one (class VR).
    pub async fn mark_in_call(&self, consult_id: i64, by_user: i64) -> Result<(), ClinicError> {
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                // A video call needs the county link: a node holds none.
                sync::hub_only(&tx, "video calls with county doctors are held")?;
                let Some(consult) = store::consults::get(&tx, consult_id)? else {
                    return Err(ClinicError::not_found(
                        "unknown_consult",
                        format!("no consult {consult_id}"),
                    ));
                };
                let patient_user =
                    store::people::patient(&tx, consult.patient_id)?.and_then(|p| p.user_id);
                let in_it = consult.village_doctor_id == by_user
                    || consult.county_doctor_id == Some(by_user)
                    || patient_user == Some(by_user);
                if !in_it {
                    return Err(ClinicError::forbidden(
                        "only the consult's doctors and patient join its call",
                    ));
                }
                sync::owns_consult(&tx, consult_id)?;
                match consult.status {
                    ConsultStatus::InCall => return Ok(()),
                    ConsultStatus::Accepted | ConsultStatus::Scheduled => {}
                    s => {
                        return Err(ClinicError::conflict(
                            "consult_not_ready",
                            Some("status"),
                            format!("a {s} consult has no call; it must be accepted or scheduled"),
                        ));
                    }
                }
                store::consults::transition(
                    &tx,
                    consult_id,
                    &[ConsultStatus::Accepted, ConsultStatus::Scheduled],
                    ConsultStatus::InCall,
                    None,
                )?;
                tx.commit()?;
                Ok(())
            })
            .await
    }
}

impl Domain for Clinic {
    fn name(&self) -> &'static str {
        "clinic"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        // The files are part of this crate; its tests catch a broken one.
        let _ = kit.locale(Locale::ZhCn, include_str!("../locales/zh-CN.yml"));
        let _ = kit.locale(Locale::En, include_str!("../locales/en.yml"));
        kit.tab(Tab {
            id: "clinic",
            label: "clinic.tab",
            icon: icon::CLINIC,
            home: pages::HOME,
            order: 300,
            visible: access::can_use,
        });
    }

    fn api_routes(self: Arc<Self>) -> Routes {
        routes::routes(self.clone())
            .merge(fhir::routes(self.clone()))
            .merge(call::api_routes(self))
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        pages::routes(self.clone(), kit.clone()).merge(call::page_routes(self, kit.clone()))
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        sync::register(kinds);
    }

    fn render_metrics(&self, out: &mut String) {
        self.calls.hub.metrics().render(out, "cunlink_clinic_call");
    }
}

#[cfg(test)]
mod tests {
    use cunlink_web::Locale;
    use cunlink_web::i18n::Catalog;

    #[test]
    fn english_has_every_clinic_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
