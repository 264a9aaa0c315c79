//! The kit assembled at wiring time: strings of every domain, the navigation, and
//! the sections other domains contribute to shared pages (the village overview,
//! the personal page, the display boards). Domains add to it through
//! [`KitBuilder`] in their [`crate::Domain::register`]; pages read it through
//! [`WebKit`], which is cheap to clone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cunlink_core::auth::{AuthService, User};

use crate::i18n::{Catalog, Locale, LocaleFileError};
use crate::page::PageCtx;
use crate::shell::Tab;

/// A sub-page of a domain, listed in its tab's sub-nav.
#[derive(Clone)]
pub struct NavEntry {
    /// The [`Tab::id`] of the domain tab the page belongs to (`"farm"`).
    pub tab: &'static str,
    pub href: &'static str,
    /// Locale key of the label.
    pub label: &'static str,
    /// Lower comes first.
    pub order: i32,
    /// Who sees the entry (the route still checks the role itself).
    pub visible: fn(&User) -> bool,
}

/// HTML a section renders; empty renders nothing.
pub type SectionFuture<'a> = Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// A part of a shared page that another domain fills: open alarms at the top of
/// the village overview, notification choices on the personal page.
/// The HTML it returns is inserted as is, so it must escape what it shows
/// (render it with an askama template).
pub trait Section: Send + Sync {
    fn render<'a>(&'a self, ctx: &'a PageCtx) -> SectionFuture<'a>;
}

/// Where a [`Section`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Top of the village overview, above the assets (open alarms first).
    OverviewTop,
    /// The personal page, below the language choice (notification choices).
    Personal,
}

/// Lines another domain adds to a display board below its readings (open alarms
/// of the board's assets, today's prices). Plain text: the board escapes it and
/// also sends it to LED controllers as fixed-width text.
pub trait BoardSection: Send + Sync {
    /// Lines for a board showing `assets` (asset ids); none renders nothing.
    fn lines<'a>(
        &'a self,
        kit: &'a WebKit,
        assets: &'a [i64],
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>>;
}

/// Where a [`BoardSection`] shows: its CSS class on the board page and the
/// locale key of its heading.
#[derive(Debug, Clone, Copy)]
pub struct BoardPart {
    pub class: &'static str,
    pub heading: &'static str,
}

pub(crate) struct Inner {
    pub auth: AuthService,
    pub catalog: Catalog,
    pub tabs: Vec<Tab>,
    pub nav: Vec<NavEntry>,
    pub sections: Vec<(Slot, Arc<dyn Section>)>,
    pub board: Vec<(BoardPart, Arc<dyn BoardSection>)>,
    /// (tab id, URL answering `{"count": N}`): a number shown on the tab.
    pub badges: Vec<(&'static str, &'static str)>,
    /// A line under the tabs of every signed-in page while it has something
    /// to say (a village node offline: since when, what waits to be sent).
    pub status_line: Option<StatusLine>,
    /// An SSE stream of the signed-in user's notifications that every page
    /// listens to and shows as system notifications (alert's local channel).
    pub notify_stream: Option<&'static str>,
}

/// See [`KitBuilder::status_line`]: cheap (no I/O), called per page.
pub type StatusLine = Arc<dyn Fn(crate::i18n::Locale) -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub struct WebKit(pub(crate) Arc<Inner>);

pub struct KitBuilder {
    inner: Inner,
}

impl KitBuilder {
    /// A kit with the shell's own strings and navigation.
    pub fn new(auth: AuthService) -> KitBuilder {
        let mut b = KitBuilder {
            inner: Inner {
                auth,
                catalog: Catalog::default(),
                tabs: Vec::new(),
                nav: Vec::new(),
                sections: Vec::new(),
                board: Vec::new(),
                badges: Vec::new(),
                status_line: None,
                notify_stream: None,
            },
        };
        // The kit's own files are part of this crate; a broken one fails its tests.
        let _ = b.locale(Locale::ZhCn, include_str!("../locales/zh-CN.yml"));
        let _ = b.locale(Locale::En, include_str!("../locales/en.yml"));
        b.tab(Tab {
            id: "me",
            label: "nav.me",
            icon: crate::shell::icon::ME,
            home: "/me",
            order: 900,
            visible: |_| true,
        });
        b.nav(NavEntry {
            tab: "me",
            href: "/me",
            label: "nav.settings",
            order: 900,
            visible: |_| true,
        });
        b.nav(NavEntry {
            tab: "me",
            href: "/admin/users",
            label: "nav.admin",
            order: 950,
            visible: |u| u.role.is_county_wide(),
        });
        b
    }

    /// Add a domain's strings for `locale` (flat YAML, see [`crate::i18n`]).
    pub fn locale(&mut self, locale: Locale, text: &str) -> Result<&mut Self, LocaleFileError> {
        self.inner.catalog.add(locale, text)?;
        Ok(self)
    }

    /// A domain's tab in the tab bar (phones: bottom bar; wide screens: side bar).
    pub fn tab(&mut self, tab: Tab) -> &mut Self {
        self.inner.tabs.push(tab);
        self
    }

    /// A count on the tab `tab` (unread notices): the page fetches `url`
    /// after it loads (`{"count": N}`, same origin) and shows N when above 0,
    /// so no page waits for another domain's count.
    pub fn tab_badge(&mut self, tab: &'static str, url: &'static str) -> &mut Self {
        self.inner.badges.push((tab, url));
        self
    }

    /// A sub-page of the tab named by `entry.tab`.
    pub fn nav(&mut self, entry: NavEntry) -> &mut Self {
        self.inner.nav.push(entry);
        self
    }

    pub fn section(&mut self, slot: Slot, section: Arc<dyn Section>) -> &mut Self {
        self.inner.sections.push((slot, section));
        self
    }

    /// Show `line` under the tabs of every signed-in page whenever it answers
    /// `Some` (one provider: the village node's link state).
    pub fn status_line(&mut self, line: StatusLine) -> &mut Self {
        self.inner.status_line = Some(line);
        self
    }

    /// Every signed-in page opens `path` (an SSE stream of `notify` events
    /// carrying a Web Push payload) and shows each event as a notification
    /// when the user allowed them.
    pub fn notify_stream(&mut self, path: &'static str) -> &mut Self {
        self.inner.notify_stream = Some(path);
        self
    }

    /// A section of every display board, shown in registration order.
    pub fn board_section(&mut self, part: BoardPart, section: Arc<dyn BoardSection>) -> &mut Self {
        self.inner.board.push((part, section));
        self
    }

    pub fn build(mut self) -> WebKit {
        self.inner.tabs.sort_by_key(|t| t.order);
        self.inner.nav.sort_by_key(|n| n.order);
        let tabs = &self.inner.tabs;
        for n in &self.inner.nav {
            if !tabs.iter().any(|t| t.id == n.tab) {
                // Wiring mistake: the entry would never be shown.
                tracing::warn!(
                    href = n.href,
                    tab = n.tab,
                    "navigation entry of an unregistered tab"
                );
            }
        }
        WebKit(Arc::new(self.inner))
    }
}

impl WebKit {
    pub fn auth(&self) -> &AuthService {
        &self.0.auth
    }

    pub fn catalog(&self) -> &Catalog {
        &self.0.catalog
    }

    pub fn t<'a>(&'a self, locale: Locale, key: &'a str) -> &'a str {
        self.0.catalog.get(locale, key)
    }

    /// Where `/` should send `user` instead, when the `/` entry of the navigation
    /// is not for them: the first entry they see. `None`: `/` is theirs.
    pub fn home_for(&self, user: &User) -> Option<&'static str> {
        let root = self.0.nav.iter().find(|n| n.href == "/")?;
        if (root.visible)(user) {
            return None;
        }
        self.0
            .nav
            .iter()
            .find(|n| n.href != "/" && (n.visible)(user))
            .map(|n| n.href)
    }

    /// Navigation entries `user` sees.
    pub fn nav_for(&self, user: &User) -> Vec<&NavEntry> {
        self.0.nav.iter().filter(|n| (n.visible)(user)).collect()
    }

    /// The count URL of tab `id`, if it has one (see [`KitBuilder::tab_badge`]).
    pub fn badge_of(&self, id: &str) -> Option<&'static str> {
        self.0
            .badges
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, u)| *u)
    }

    /// Tabs `user` sees, in order.
    pub fn tabs_for(&self, user: &User) -> Vec<&Tab> {
        self.0.tabs.iter().filter(|t| (t.visible)(user)).collect()
    }

    /// The status line for a page now, if any.
    pub fn status_line(&self, locale: crate::i18n::Locale) -> Option<String> {
        self.0.status_line.as_ref().and_then(|f| f(locale))
    }

    pub fn notify_stream(&self) -> Option<&'static str> {
        self.0.notify_stream
    }

    /// The display-board sections, in registration order.
    pub fn board_sections(&self) -> impl Iterator<Item = &(BoardPart, Arc<dyn BoardSection>)> {
        self.0.board.iter()
    }

    /// Render every section of `slot`, in wiring order, concatenated.
    pub async fn render_slot(&self, slot: Slot, ctx: &PageCtx) -> String {
        let mut out = String::new();
        for (s, section) in &self.0.sections {
            if *s == slot {
                out.push_str(&section.render(ctx).await);
            }
        }
        out
    }
}
