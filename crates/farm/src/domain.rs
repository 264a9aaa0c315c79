//! The farm as a [`Domain`]: what the binary needs to wire it.

use std::sync::Arc;

use cunlink_core::Db;
use cunlink_core::auth::AuthService;
use cunlink_core::routes::Routes;
use cunlink_web::{Domain, KitBuilder, WebKit};
use tokio::sync::watch;

use crate::Farm;

/// What the farm needs from outside: the application database, sign-in, and the
/// MQTT port the listener is bound to (device pages show it).
pub struct FarmDeps {
    pub db: Db,
    pub auth: AuthService,
    pub mqtt_port: u16,
    /// This node's view of the deployment (`cunlink_core::cluster`).
    pub cluster: Arc<cunlink_core::cluster::Cluster>,
}

impl Domain for Farm {
    fn name(&self) -> &'static str {
        "farm"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        crate::pages::register(kit);
    }

    fn api_routes(self: Arc<Self>) -> Routes {
        self.routes()
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        let port = self.mqtt_port;
        crate::pages::routes(self, kit.clone(), port)
    }

    fn spawn_background(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        Farm::spawn_background(&self, shutdown);
    }

    fn shutdown(&self) {
        Farm::shutdown(self);
    }

    fn render_metrics(&self, out: &mut String) {
        Farm::render_metrics(self, out);
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        crate::sync::register(kinds, self);
    }
}

#[cfg(test)]
mod tests {
    use cunlink_web::Locale;
    use cunlink_web::i18n::Catalog;

    #[test]
    fn english_has_every_farm_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
