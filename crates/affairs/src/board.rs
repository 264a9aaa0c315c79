//! Notices and the ledger's last published month on display boards. A
//! board shows assets; its villages are those assets' villages. The same
//! lines feed the board page and the LED controllers' `.txt` form.

use cunlink_web::Locale;

use crate::Affairs;
use crate::store::{ledger, notices};

/// Notices a board shows at most.
const BOARD_NOTICES: i64 = 5;

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, (fen % 100).abs())
}

pub(crate) async fn lines(a: &Affairs, assets: &[i64], locale: Locale) -> Vec<String> {
    let ids = assets.to_vec();
    let now = a.clock.now();
    let zh = locale == Locale::ZhCn;
    let found = a
        .read(move |c| {
            let mut villages: Vec<i64> = Vec::new();
            for id in ids {
                if let Ok(Some(asset)) = cunlink_farm::store::asset(c, id)
                    && let Some(v) = asset.village_id
                    && !villages.contains(&v)
                {
                    villages.push(v);
                }
            }
            let mut out = Vec::new();
            for v in villages {
                // Caller 0: nobody; the board is public, so no read state.
                for n in notices::list(c, 0, Some(v), None, Some(now), BOARD_NOTICES)? {
                    let mark = if n.urgent {
                        if zh { "【紧急】" } else { "[URGENT] " }
                    } else {
                        ""
                    };
                    out.push(format!("{mark}{}", n.title));
                }
                let months = ledger::months(c, v)?;
                if let Some((m, _)) = months.iter().find(|(_, p)| *p) {
                    let entries = ledger::month(c, v, m)?;
                    if let Ok(t) = crate::ledger::totals(&entries) {
                        out.push(if zh {
                            format!(
                                "{m} 收入{}元 支出{}元",
                                yuan(t.income_fen),
                                yuan(t.spending_fen)
                            )
                        } else {
                            format!(
                                "{m} in {} out {} yuan",
                                yuan(t.income_fen),
                                yuan(t.spending_fen)
                            )
                        });
                    }
                }
            }
            Ok(out)
        })
        .await;
    match found {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "board notices failed");
            Vec::new()
        }
    }
}
