//! Open alarms on display boards: the board domain asks for lines through its
//! `BoardSection` trait, the alert domain answers for the board's assets. This
//! adapter lives in the binary so that neither domain depends on the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cunlink_alert::Alerts;
use cunlink_board::{Board, BoardSection};
use cunlink_web::{Locale, WebKit};

pub struct BoardAlarms {
    pub alerts: Arc<Alerts>,
    pub kit: WebKit,
}

impl BoardSection for BoardAlarms {
    fn lines<'a>(
        &'a self,
        board: &'a Board,
        locale: Locale,
    ) -> Pin<Box<dyn Future<Output = Vec<String>> + Send + 'a>> {
        Box::pin(cunlink_alert::pages::board_lines(
            &self.alerts,
            &self.kit,
            &board.assets,
            locale,
        ))
    }
}
