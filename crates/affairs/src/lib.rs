//! The village-affairs domain (村务), a skeleton: the shape every domain crate has, with a
//! home page that says what is coming. The village-affairs issue fills it in.
//!
//! * [`Affairs`]: the handle, opened by [`Affairs::open`] and wired by the binary
//!   as a [`cunlink_web::Domain`] (its tab, strings and routes).
//! * [`store`]: the tables this crate owns (`affairs_*`) and their migrations.
//! * [`access`]: who may use the affairs pages.
//! * [`error`]: village affairs' errors and their one mapping to HTTP answers.
//! * `pages`: the home page.

pub mod access;
pub mod error;
mod pages;
pub mod store;

use std::sync::Arc;

use cunlink_core::notify::NotifyUsers;
use cunlink_core::routes::Routes;
use cunlink_core::{Config, Db};
use cunlink_web::{Domain, KitBuilder, Locale, Tab, WebKit, icon};

pub use error::AffairsError;

/// What village affairs needs from outside: the application database and the
/// port that notifies users (implemented by the alert crate).
pub struct AffairsDeps {
    pub db: Db,
    pub notify: Arc<dyn NotifyUsers>,
}

/// The village-affairs domain, opened.
pub struct Affairs {
    pub db: Db,
    pub notify: Arc<dyn NotifyUsers>,
}

impl Affairs {
    /// Apply the affairs schema. No settings yet; `_config` keeps the shape.
    pub fn open(_config: &Config, deps: AffairsDeps) -> Result<Arc<Affairs>, AffairsError> {
        let AffairsDeps { db, notify } = deps;
        db.migrate("affairs", store::MIGRATIONS)?;
        Ok(Arc::new(Affairs { db, notify }))
    }
}

impl Domain for Affairs {
    fn name(&self) -> &'static str {
        "affairs"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        // The files are part of this crate; its tests catch a broken one.
        let _ = kit.locale(Locale::ZhCn, include_str!("../locales/zh-CN.yml"));
        let _ = kit.locale(Locale::En, include_str!("../locales/en.yml"));
        kit.tab(Tab {
            id: "affairs",
            label: "affairs.tab",
            icon: icon::AFFAIRS,
            home: pages::HOME,
            order: 500,
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
    fn english_has_every_affairs_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
