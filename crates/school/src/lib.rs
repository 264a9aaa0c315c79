//! The school domain (学校), a skeleton: the shape every domain crate has, with a
//! home page that says what is coming. The school issue fills it in.
//!
//! * [`School`]: the handle, opened by [`School::open`] and wired by the binary
//!   as a [`cunlink_web::Domain`] (its tab, strings and routes).
//! * [`store`]: the tables this crate owns (`school_*`) and their migrations.
//! * [`access`]: who may use the school pages.
//! * [`error`]: the school's errors and their one mapping to HTTP answers.
//! * `pages`: the home page.

pub mod access;
pub mod error;
mod pages;
pub mod store;

use std::sync::Arc;

use cunlink_core::routes::Routes;
use cunlink_core::{Config, Db};
use cunlink_web::{Domain, KitBuilder, Locale, Tab, WebKit, icon};

pub use error::SchoolError;

/// What the school needs from outside: the application database.
pub struct SchoolDeps {
    pub db: Db,
}

/// The school domain, opened.
pub struct School {
    pub db: Db,
}

impl School {
    /// Apply the school schema. No settings yet; `_config` keeps the shape.
    pub fn open(_config: &Config, deps: SchoolDeps) -> Result<Arc<School>, SchoolError> {
        let SchoolDeps { db } = deps;
        db.migrate("school", store::MIGRATIONS)?;
        Ok(Arc::new(School { db }))
    }
}

impl Domain for School {
    fn name(&self) -> &'static str {
        "school"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        // The files are part of this crate; its tests catch a broken one.
        let _ = kit.locale(Locale::ZhCn, include_str!("../locales/zh-CN.yml"));
        let _ = kit.locale(Locale::En, include_str!("../locales/en.yml"));
        kit.tab(Tab {
            id: "school",
            label: "school.tab",
            icon: icon::SCHOOL,
            home: pages::HOME,
            order: 400,
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
    fn english_has_every_school_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
