//! The clinic domain (医疗), a skeleton: the shape every domain crate has, with a
//! home page that says what is coming. The clinic issue fills it in.
//!
//! * [`Clinic`]: the handle, opened by [`Clinic::open`] and wired by the binary
//!   as a [`cunlink_web::Domain`] (its tab, strings and routes).
//! * [`store`]: the tables this crate owns (`clinic_*`) and their migrations.
//! * [`access`]: who may use the clinic pages.
//! * [`error`]: the clinic's errors and their one mapping to HTTP answers.
//! * `pages`: the home page.

pub mod access;
pub mod error;
mod pages;
pub mod store;

use std::sync::Arc;

use cunlink_core::routes::Routes;
use cunlink_core::{Config, Db};
use cunlink_web::{Domain, KitBuilder, Locale, Tab, WebKit, icon};

pub use error::ClinicError;

/// What the clinic needs from outside: the application database.
pub struct ClinicDeps {
    pub db: Db,
}

/// The clinic domain, opened.
pub struct Clinic {
    pub db: Db,
}

impl Clinic {
    /// Apply the clinic schema. No settings yet; `_config` keeps the shape.
    pub fn open(_config: &Config, deps: ClinicDeps) -> Result<Arc<Clinic>, ClinicError> {
        let ClinicDeps { db } = deps;
        db.migrate("clinic", store::MIGRATIONS)?;
        Ok(Arc::new(Clinic { db }))
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

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        pages::routes(kit.clone())
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
