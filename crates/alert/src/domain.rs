//! The alert domain as a [`Domain`], and its section on display boards.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cunlink_core::Db;
use cunlink_core::auth::AuthService;
use cunlink_core::routes::Routes;
use cunlink_farm::Farm;
use cunlink_web::{BoardPart, BoardSection, Domain, KitBuilder, Locale, WebKit};
use tokio::sync::watch;

use crate::Alerts;

/// What the alert domain needs from outside: the application database, sign-in,
/// and the farm (its readings bus, devices and assets).
pub struct AlertDeps {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
}

impl Domain for Alerts {
    fn name(&self) -> &'static str {
        "alert"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        crate::pages::register(kit, &self);
        kit.board_section(
            BoardPart {
                class: "alarms",
                heading: "board.alarms",
            },
            Arc::new(BoardAlarms(self)),
        );
    }

    fn api_routes(self: Arc<Self>) -> Routes {
        self.routes()
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        crate::pages::routes(self, kit.clone())
    }

    fn spawn_background(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        self.start_tasks(shutdown);
    }

    fn render_metrics(&self, out: &mut String) {
        Alerts::render_metrics(self, out);
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        crate::sync::register(kinds, self.engine.clone());
    }
}

/// Open alarms of a board's assets, below its readings.
struct BoardAlarms(Arc<Alerts>);

impl BoardSection for BoardAlarms {
    fn lines<'a>(
        &'a self,
        kit: &'a WebKit,
        assets: &'a [i64],
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(crate::pages::board_lines(&self.0, kit, assets, locale))
    }
}
