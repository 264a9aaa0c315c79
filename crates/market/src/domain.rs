//! The market as a [`Domain`], and its section on display boards (today's prices).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cunlink_core::Db;
use cunlink_core::auth::AuthService;
use cunlink_core::routes::Routes;
use cunlink_farm::Farm;
use cunlink_web::{BoardPart, BoardSection, Domain, KitBuilder, Locale, WebKit};
use tokio::sync::watch;

use crate::Market;

/// What the market needs from outside: the application database, sign-in, and
/// the farm (trace pages read an asset's readings).
pub struct MarketDeps {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
}

/// How many commodities a board shows.
const BOARD_LINES: usize = 6;

impl Domain for Market {
    fn name(&self) -> &'static str {
        "market"
    }

    fn register(self: Arc<Self>, kit: &mut KitBuilder) {
        crate::pages::register(kit);
        kit.board_section(
            BoardPart {
                class: "prices",
                heading: "board.prices",
            },
            Arc::new(TodayPrices(self)),
        );
    }

    fn api_routes(self: Arc<Self>) -> Routes {
        self.routes()
    }

    fn page_routes(self: Arc<Self>, kit: &WebKit) -> Routes {
        crate::pages::routes(self, kit.clone())
    }

    fn spawn_background(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        Market::spawn_background(&self, shutdown);
    }

    fn shutdown(&self) {
        Market::shutdown(self);
    }

    fn render_metrics(&self, out: &mut String) {
        Market::render_metrics(self, out);
    }

    fn sync_kinds(self: Arc<Self>, kinds: &mut cunlink_core::sync::SyncKinds) {
        crate::sync::register(kinds);
    }
}

/// Today's prices on every display board, below its readings (the lines are few
/// and large); a day without reported prices shows none.
struct TodayPrices(Arc<Market>);

impl BoardSection for TodayPrices {
    fn lines<'a>(
        &'a self,
        kit: &'a WebKit,
        _assets: &'a [i64],
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(async move {
            let today = crate::prices::date_string(crate::prices::today());
            let yuan = kit.t(locale, "market.board.yuan");
            self.0
                .prices
                .today_latest(BOARD_LINES)
                .into_iter()
                .filter(|r| r.date == today)
                .map(|r| {
                    format!(
                        "{} {}{yuan}/{} · {}",
                        r.commodity,
                        crate::pages::yuan(r.price_fen),
                        r.unit,
                        r.market
                    )
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use cunlink_web::Locale;
    use cunlink_web::i18n::Catalog;

    #[test]
    fn english_has_every_market_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
        // The board puts the unit right after the number: English needs the space.
        assert_eq!(c.get(Locale::En, "market.board.yuan"), " yuan");
        assert_eq!(c.get(Locale::ZhCn, "market.board.yuan"), "元");
    }
}
