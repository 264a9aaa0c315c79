//! The line under the tabs of a village node's pages while the hub is
//! unreachable: since when, and how much waits to be sent.

use std::sync::RwLock;

use cunlink_web::Locale;

/// What the line needs, kept fresh by the runner (pages do no I/O for it).
#[derive(Debug, Default, Clone, Copy)]
pub struct Snapshot {
    pub offline_since: Option<i64>,
    pub pending_up: u64,
}

#[derive(Default)]
pub struct Line(RwLock<Snapshot>);

impl Line {
    pub fn set(&self, s: Snapshot) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    pub fn get(&self) -> Snapshot {
        *self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn render(&self, locale: Locale) -> Option<String> {
        let s = self.get();
        let since = s.offline_since?;
        let at = china_time(since);
        Some(match locale {
            Locale::ZhCn => format!(
                "与县平台断开：自 {at} 起离线。本村照常使用，{} 条记录待上传，恢复联网后自动同步。",
                s.pending_up
            ),
            Locale::En => format!(
                "Offline from the county hub since {at}. Everything here keeps working; {} records wait to be sent and will sync when the link is back.",
                s.pending_up
            ),
        })
    }
}

/// `MM-DD HH:MM` in China time (UTC+8, no daylight saving).
fn china_time(ms: i64) -> String {
    let local = ms.saturating_add(8 * 3_600_000);
    let day = local.div_euclid(86_400_000);
    let (_, m, d) = cunlink_core::time::civil_from_days(day);
    let mins = local.rem_euclid(86_400_000) / 60_000;
    format!("{m:02}-{d:02} {:02}:{:02}", mins / 60, mins % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_nothing_online_and_since_when_offline() {
        let l = Line::default();
        assert_eq!(l.render(Locale::ZhCn), None);
        // 2026-11-30 12:30 UTC is 20:30 in China.
        l.set(Snapshot {
            offline_since: Some(1_796_041_800_000),
            pending_up: 12,
        });
        let zh = l.render(Locale::ZhCn).unwrap();
        assert!(zh.contains("11-30 20:30") && zh.contains("12 条"), "{zh}");
        assert!(l.render(Locale::En).unwrap().contains("since 11-30 20:30"));
    }
}
