//! The school domain (学校): lesson channels stored by content hash and pulled
//! over weak links from an upstream hub, and courses with quizzes, SCORM
//! packages and learning statements that flow upstream. User docs:
//! docs/school.md.
//!
//! * [`School`]: the handle, opened by [`School::open`] and wired by the binary
//!   as a [`cunlink_web::Domain`] (its tab, strings, routes, the scheduled pull).
//! * [`content`]: content files on disk, named by SHA-256, with chunk hashes.
//! * [`serve`]: Range/ETag/immutable answers for stored bytes.
//! * [`export`]: a channel's published metadata as one gzipped, resumable file.
//! * [`pull`]: fetching a channel from an upstream (HTTP) or a folder (USB).
//! * [`courses`], [`scorm`], [`statements`]: courses, SCORM 1.2 import,
//!   learning statements.
//! * [`subscriptions`], [`sync`]: the channels each village's school gets, and
//!   what a village node syncs with its hub.
//! * [`store`]: the tables this crate owns (`school_*`) and their migrations.
//! * [`access`]: who may do what; [`error`]: errors and their HTTP mapping.

pub mod access;
pub mod content;
mod course_pages;
pub mod course_store;
pub mod courses;
pub mod error;
pub mod export;
mod input;
pub mod live;
mod pages;
pub mod pairings;
pub mod pull;
mod reader;
mod routes;
pub mod scorm;
pub mod serve;
pub mod statements;
pub mod store;
pub mod subscriptions;
pub mod sync;

use std::sync::Arc;

use cunlink_core::auth::AuthService;
use cunlink_core::routes::Routes;
use cunlink_core::{Config, Db, SchoolSettings};
use cunlink_web::{Domain, KitBuilder, Locale, NavEntry, Tab, WebKit, icon};

pub use error::SchoolError;
pub(crate) use sync::subscriptions::channels as subscriptions_of;

/// What the school needs from outside: the application database and the
/// accounts (the API's callers).
pub struct SchoolDeps {
    pub db: Db,
    pub auth: AuthService,
}

/// The school domain, opened.
pub struct School {
    pub db: Db,
    pub auth: AuthService,
    pub content: content::Store,
    pub exports: export::Exports,
    pub settings: SchoolSettings,
    /// Wakes the statement sender after a learning statement is stored.
    pub statements_wake: tokio::sync::Notify,
    /// Wakes the scheduled pull when a node's subscriptions came down.
    pub pull_wake: tokio::sync::Notify,
    /// The live classes' SFU ([`live`]).
    pub live: live::Live,
}

impl School {
    /// Apply the school schema and find the content store in the data dir.
    pub fn open(config: &Config, deps: SchoolDeps) -> Result<Arc<School>, SchoolError> {
        let SchoolDeps { db, auth } = deps;
        db.migrate("school", store::MIGRATIONS)?;
        let content = content::Store::new(&config.data_dir);
        Ok(Arc::new(School {
            db,
            auth,
            exports: export::Exports::new(content.clone()),
            content,
            settings: config.school.clone(),
            statements_wake: tokio::sync::Notify::new(),
            pull_wake: tokio::sync::Notify::new(),
            live: live::Live::start(config)?,
        }))
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
        let _ = kit.locale(Locale::ZhCn, include_str!("../locales/live.zh-CN.yml"));
        let _ = kit.locale(Locale::En, include_str!("../locales/live.en.yml"));
        kit.tab(Tab {
            id: "school",
            label: "school.tab",
            icon: icon::SCHOOL,
            home: pages::HOME,
            order: 400,
            visible: access::can_use,
        });
        for (order, (href, label)) in (0i32..).zip(pages::NAV) {
            kit.nav(NavEntry {
                tab: "school",
                href,
                label,
                order: order * 10,
                visible: access::can_use,
            });
        }
    }

    fn api_routes(self: Arc<Self>) -> Routes {
        routes::routes(self)
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        pages::routes(self, kit.clone())
    }

    fn spawn_background(self: Arc<Self>, shutdown: tokio::sync::watch::Receiver<bool>) {
        pull::schedule::spawn(self.clone(), shutdown.clone());
        statements::spawn_sender(self, shutdown);
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        sync::register(&self, kinds);
    }

    fn render_metrics(&self, out: &mut String) {
        self.live.sfu.metrics().render(out, "cunlink_school_live");
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

    #[test]
    fn english_has_every_live_class_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/live.zh-CN.yml")).unwrap();
        c.add(Locale::En, include_str!("../locales/live.en.yml")).unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
