//! The web kit every domain builds its pages with.
//!
//! * [`domain`]: the [`Domain`] trait every domain crate's handle implements, so
//!   the binary wires domains as one list.
//! * [`kit`]: what is assembled at wiring time — strings of every domain,
//!   navigation entries, [`Section`]s other domains fill on shared pages, and
//!   [`BoardSection`]s they add to display boards.
//! * [`page`]: the signed-in page extractor ([`PageCtx`], redirects to `/login`),
//!   CSRF checks for forms, page errors.
//! * [`layout`]: the shell a page body is wrapped in; [`shell`]: its domain tabs
//!   and sub-nav.
//! * [`i18n`]: zh-CN and en strings, locale-aware numbers, times and units.
//! * [`assets`], [`compress`], [`pwa`]: embedded static files under hashed URLs,
//!   gzip, the manifest and the service worker.
//! * [`http_client`]: connections to the county hub over HTTP or HTTPS (the
//!   node's sync and the school's pull).
//! * [`routes`]: sign-in, sign-out, language, personal page, administration.
//!
//! A domain adds a page by returning a `Router` whose handlers take [`PageCtx`]
//! and answer with [`layout::page`]; see docs/web.md.

pub mod assets;
pub mod compress;
pub mod domain;
pub mod home;
pub mod http_client;
pub mod i18n;
pub mod kit;
pub mod layout;
pub mod page;
pub mod pwa;
pub mod routes;
pub mod shell;

pub use domain::Domain;
pub use i18n::{Fmt, Locale};
pub use kit::{
    BoardPart, BoardSection, KitBuilder, NavEntry, Section, SectionFuture, Slot, WebKit,
};
pub use layout::{PageOpts, page, public_page};
pub use page::{PageCtx, PageError, Visitor};
pub use shell::{Tab, icon};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_has_every_shell_string() {
        let mut c = i18n::Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
