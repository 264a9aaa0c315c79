//! Today's prices on the display boards: the market's price board feeds the
//! board's `prices` section. Every board shows them below its readings (the
//! lines are few and large); a board without prices reported today shows none.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cunlink_board::{Board, BoardSection};
use cunlink_market::Market;
use cunlink_web::Locale;

/// How many commodities a board shows.
const LINES: usize = 6;

pub struct TodayPrices(pub Arc<Market>);

impl BoardSection for TodayPrices {
    fn lines<'a>(
        &'a self,
        _board: &'a Board,
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(async move {
            let today = cunlink_market::prices::date_string(cunlink_market::prices::today());
            let yuan = if locale == Locale::ZhCn {
                "元"
            } else {
                " yuan"
            };
            self.0
                .prices
                .today_latest(LINES)
                .into_iter()
                .filter(|r| r.date == today)
                .map(|r| {
                    format!(
                        "{} {}{yuan}/{} · {}",
                        r.commodity,
                        cunlink_market::pages::yuan(r.price_fen),
                        r.unit,
                        r.market
                    )
                })
                .collect()
        })
    }
}
