//! Village affairs as a [`Domain`]: its strings, tab and sub-pages, its
//! section on display boards (and so on the LED text feed), its routes and
//! the escalation task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cunlink_core::Db;
use cunlink_core::auth::AuthService;
use cunlink_core::notify::NotifyUsers;
use cunlink_core::routes::Routes;
use cunlink_web::{
    BoardPart, BoardSection, Domain, KitBuilder, Locale, NavEntry, Tab, WebKit, icon,
};
use tokio::sync::watch;

use crate::{Affairs, access, pages};

/// What village affairs needs from outside: the application database,
/// sign-in and the directory of users, and the port that notifies users
/// (implemented by the alert crate).
pub struct AffairsDeps {
    pub db: Db,
    pub auth: AuthService,
    pub notify: Arc<dyn NotifyUsers>,
}

/// How often the escalation pass runs.
const ESCALATION_EVERY: Duration = Duration::from_secs(60);

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
        // Unread notices on the tab, fetched by the page after it loads.
        kit.tab_badge("affairs", pages::UNREAD);
        for (href, label, order) in [
            (pages::HOME, "affairs.nav.notices", 50),
            ("/affairs/accounts", "affairs.nav.accounts", 51),
            ("/affairs/feedback", "affairs.nav.feedback", 52),
            ("/affairs/votes", "affairs.nav.votes", 53),
        ] {
            kit.nav(NavEntry {
                tab: "affairs",
                href,
                label,
                order,
                visible: access::can_use,
            });
        }
        kit.board_section(
            BoardPart {
                class: "notices",
                heading: "affairs.board.heading",
            },
            Arc::new(BoardNotices(self)),
        );
    }

    fn api_routes(self: Arc<Self>) -> Routes {
        crate::routes::routes(self)
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        pages::routes(self, kit.clone())
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        crate::sync::register(kinds, self.notify.clone());
    }

    fn spawn_background(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ESCALATION_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = self.escalate_now().await {
                            tracing::warn!(error = %e, "feedback escalation pass failed");
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
        });
    }
}

/// The villages' current notices on display boards and the LED text feed.
struct BoardNotices(Arc<Affairs>);

impl BoardSection for BoardNotices {
    fn lines<'a>(
        &'a self,
        _kit: &'a WebKit,
        assets: &'a [i64],
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(crate::board::lines(&self.0, assets, locale))
    }
}
