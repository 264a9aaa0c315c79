//! The app shell's navigation: a tab per domain (农场, 市场, 我的 …) and, inside
//! the current domain, its sub-pages. One markup serves phones (a bar at the
//! bottom) and wide screens (a bar at the side); app.css switches between them.
//!
//! A domain registers its tab with [`crate::KitBuilder::tab`] and its sub-pages
//! with [`crate::KitBuilder::nav`], naming the tab in [`crate::NavEntry::tab`].
//! Which tab is current follows from the path: the tab owning the sub-page whose
//! href is the longest prefix of the path, else one whose sub-page shares the
//! path's first segment (`/farm/assets/3` belongs to the tab of `/farm/herd`).

use cunlink_core::auth::User;

use crate::i18n::Locale;
use crate::kit::{NavEntry, WebKit};

/// A domain's entry in the tab bar.
#[derive(Clone)]
pub struct Tab {
    /// Names the tab in [`NavEntry::tab`] (`"farm"`).
    pub id: &'static str,
    /// Locale key of the label; keep it short (two characters, one word):
    /// six tabs share 360 px.
    pub label: &'static str,
    /// SVG path data in a 24×24 box, drawn with a 2 px stroke in the text
    /// colour (see [`icon`]).
    pub icon: &'static str,
    /// The domain's home page, where the tab leads.
    pub home: &'static str,
    /// Lower comes first.
    pub order: i32,
    /// Who sees the tab (the pages still check the role themselves).
    pub visible: fn(&User) -> bool,
}

/// Tab icons: a few strokes each, drawn for this project.
pub mod icon {
    /// A sprout.
    pub const FARM: &str =
        "M12 21v-9M12 12C12 7 9 5 4 5c0 5 3 7 8 7zM12 14c0-4 3-6 8-6 0 4-3 6-8 6z";
    /// A basket.
    pub const MARKET: &str = "M3 10h18l-2 10H5zM8 10l4-6 4 6M9 14v3M15 14v3";
    /// A cross.
    pub const CLINIC: &str = "M9 3h6v6h6v6h-6v6H9v-6H3V9h6z";
    /// An open book.
    pub const SCHOOL: &str =
        "M12 7v13M12 7C10 5 6 5 3 6v13c3-1 7-1 9 1 2-2 6-2 9-1V6c-3-1-7-1-9 1z";
    /// A hall with columns.
    pub const AFFAIRS: &str = "M3 21h18M5 18v-7M10 18v-7M14 18v-7M19 18v-7M2 10l10-6 10 6z";
    /// A person.
    pub const ME: &str = "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 4-7 8-7s8 3 8 7";
}

/// A link of the tab bar or the sub-nav as the layout shows it.
pub(crate) struct Link<'a> {
    pub href: &'a str,
    pub label: &'a str,
    pub icon: &'a str,
    /// `aria-current`: `"page"` on the page itself, `"true"` on the tab of a
    /// page inside the domain; `None` elsewhere.
    pub current: Option<&'static str>,
    /// Where the page fetches the number shown on this tab (`app.js`).
    pub badge: Option<&'static str>,
}

/// The navigation of one page for one person.
pub(crate) struct Nav<'a> {
    pub tabs: Vec<Link<'a>>,
    /// The current tab's sub-pages the person sees (empty when fewer than two:
    /// the tab alone leads there).
    pub sub: Vec<Link<'a>>,
    /// Label of the current tab (names the sub-nav for screen readers).
    pub sub_label: &'a str,
}

/// Tabs and sub-nav of `path` (without the query) for `user`.
pub(crate) fn nav<'a>(kit: &'a WebKit, user: &User, locale: Locale, path: &str) -> Nav<'a> {
    let visible = kit.tabs_for(user);
    // A page of a tab the person does not see (a 403 on the way) marks nothing.
    let owner = owner(kit, path).filter(|id| visible.iter().any(|t| t.id == *id));
    let tabs = visible
        .iter()
        .map(|t| Link {
            href: t.home,
            label: kit.t(locale, t.label),
            icon: t.icon,
            current: match (Some(t.id) == owner, path == t.home) {
                (true, true) => Some("page"),
                (true, false) => Some("true"),
                (false, _) => None,
            },
            badge: kit.badge_of(t.id),
        })
        .collect::<Vec<_>>();
    let Some(id) = owner else {
        return Nav {
            tabs,
            sub: Vec::new(),
            sub_label: "",
        };
    };
    let entries: Vec<&NavEntry> = kit
        .nav_for(user)
        .into_iter()
        .filter(|n| n.tab == id)
        .collect();
    let here = best_match(entries.iter().map(|n| n.href), path);
    let sub = if entries.len() < 2 {
        Vec::new()
    } else {
        entries
            .iter()
            .map(|n| Link {
                href: n.href,
                label: kit.t(locale, n.label),
                icon: "",
                current: (Some(n.href) == here).then_some("page"),
                badge: None,
            })
            .collect()
    };
    let sub_label = visible
        .iter()
        .find(|t| t.id == id)
        .map_or("", |t| kit.t(locale, t.label));
    Nav {
        tabs,
        sub,
        sub_label,
    }
}

/// The tab `path` belongs to, whoever looks.
fn owner(kit: &WebKit, path: &str) -> Option<&'static str> {
    let inner = &kit.0;
    let hrefs = inner
        .nav
        .iter()
        .map(|n| (n.href, n.tab))
        .chain(inner.tabs.iter().map(|t| (t.home, t.id)));
    if let Some(best) = best_match(hrefs.clone().map(|(h, _)| h), path) {
        return hrefs.clone().find(|(h, _)| *h == best).map(|(_, t)| t);
    }
    let first = first_segment(path);
    hrefs
        .filter(|(h, _)| *h != "/")
        .find(|(h, _)| first_segment(h) == first)
        .map(|(_, t)| t)
}

/// The longest href that is `path` or a parent of it (`/market` for
/// `/market/orders`, never `/market` for `/marketing`); `/` only matches itself.
fn best_match<'h>(hrefs: impl Iterator<Item = &'h str>, path: &str) -> Option<&'h str> {
    hrefs
        .filter(|h| {
            *h == path
                || (*h != "/"
                    && path
                        .strip_prefix(*h)
                        .is_some_and(|rest| rest.starts_with('/')))
        })
        .max_by_key(|h| h.len())
}

fn first_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kit::KitBuilder;
    use cunlink_core::auth::{AuthService, Role};

    /// The kit's own "me" tab plus two domains shaped like farm and market.
    fn kit() -> WebKit {
        let dir = std::env::temp_dir().join(format!("cunlink-shell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = cunlink_core::Db::open(&dir.join("cunlink.db")).unwrap();
        let mut b = KitBuilder::new(AuthService::new(db));
        b.tab(Tab {
            id: "farm",
            label: "farm.tab",
            icon: icon::FARM,
            home: "/",
            order: 100,
            visible: |u| u.role != Role::Buyer,
        });
        b.tab(Tab {
            id: "market",
            label: "market.tab",
            icon: icon::MARKET,
            home: "/market",
            order: 200,
            visible: |_| true,
        });
        for (tab, href, order) in [
            ("farm", "/", 0),
            ("farm", "/farm/herd", 20),
            ("farm", "/alarms", 10),
            ("market", "/market", 40),
            ("market", "/prices", 43),
        ] {
            b.nav(NavEntry {
                tab,
                href,
                label: "x",
                order,
                visible: |_| true,
            });
        }
        b.build()
    }

    fn user(role: Role) -> User {
        User {
            id: 1,
            username: role.as_str().into(),
            role,
            village_id: None,
            village: None,
            locale: "zh-CN".into(),
        }
    }

    fn current<'a>(links: &'a [Link<'a>]) -> Vec<(&'a str, &'static str)> {
        links
            .iter()
            .filter_map(|l| l.current.map(|c| (l.href, c)))
            .collect()
    }

    #[test]
    fn each_role_sees_its_tabs_in_order() {
        let kit = kit();
        let hrefs = |r| -> Vec<&str> {
            let n = nav(&kit, &user(r), Locale::ZhCn, "/market");
            n.tabs.iter().map(|t| t.href).collect()
        };
        assert_eq!(hrefs(Role::Buyer), ["/market", "/me"]);
        assert_eq!(hrefs(Role::Farmer), ["/", "/market", "/me"]);
        assert_eq!(hrefs(Role::Admin), ["/", "/market", "/me"]);
    }

    #[test]
    fn the_tab_of_a_page_is_current_and_its_entry_is_the_page() {
        let kit = kit();
        let farmer = user(Role::Farmer);
        let n = nav(&kit, &farmer, Locale::ZhCn, "/");
        assert_eq!(current(&n.tabs), [("/", "page")]);
        let subs: Vec<&str> = n.sub.iter().map(|l| l.href).collect();
        assert_eq!(subs, ["/", "/alarms", "/farm/herd"], "sub-pages in order");
        assert_eq!(current(&n.sub), [("/", "page")]);
        // A sub-page, and a page below one: the tab stays current.
        let n = nav(&kit, &farmer, Locale::ZhCn, "/alarms/7");
        assert_eq!(current(&n.tabs), [("/", "true")]);
        assert_eq!(current(&n.sub), [("/alarms", "page")]);
        // A page of the domain without its own entry: same first segment.
        let n = nav(&kit, &farmer, Locale::ZhCn, "/farm/assets/3");
        assert_eq!(current(&n.tabs), [("/", "true")]);
        assert_eq!(current(&n.sub), []);
        // The kit's own tab: one entry for a farmer, so no sub-nav row.
        let n = nav(&kit, &farmer, Locale::ZhCn, "/me");
        assert_eq!(current(&n.tabs), [("/me", "page")]);
        assert!(n.sub.is_empty());
        // A page of no tab marks nothing.
        let n = nav(&kit, &farmer, Locale::ZhCn, "/t/abc");
        assert_eq!(current(&n.tabs), []);
    }

    #[test]
    fn a_page_of_a_tab_one_does_not_see_marks_nothing() {
        let kit = kit();
        let n = nav(&kit, &user(Role::Buyer), Locale::ZhCn, "/farm/herd");
        assert_eq!(current(&n.tabs), []);
        assert!(n.sub.is_empty());
    }

    #[test]
    fn a_parent_href_matches_only_at_a_segment_boundary() {
        let hrefs = ["/", "/market", "/market/mine", "/prices"];
        let m = |p| best_match(hrefs.iter().copied(), p);
        assert_eq!(m("/"), Some("/"));
        assert_eq!(m("/market"), Some("/market"));
        assert_eq!(m("/market/orders"), Some("/market"));
        assert_eq!(m("/market/mine"), Some("/market/mine"));
        assert_eq!(m("/marketing"), None);
        assert_eq!(m("/farm/herd"), None);
    }

    #[test]
    fn first_segment_of_paths() {
        assert_eq!(first_segment("/farm/assets/3"), "farm");
        assert_eq!(first_segment("/"), "");
        assert_eq!(first_segment("/me"), "me");
    }
}
