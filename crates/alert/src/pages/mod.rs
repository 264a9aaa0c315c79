//! The alert domain's pages: the alarm inbox (`/alarms`, live over SSE), an
//! alarm's detail with comments and history, the rule form for every rule kind
//! (`/rules`), and what the alert domain adds to shared pages: open alarms on top
//! of the village overview, notification choices and Web Push on `/me`, open
//! alarms on display boards.
//!
//! Pages read through the same store functions as the JSON API and apply the
//! same role checks (`crate::routes::can_*`); the rule form posts to the JSON API
//! itself, so a rule saved from the page is validated exactly like one from a
//! script.

mod actions;
mod assets;
mod detail;
mod inbox;
mod personal;
mod rules;
mod sections;
mod view;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::{get, post};
use cunlink_core::routes::Routes;

use cunlink_core::auth::User;
use cunlink_web::{KitBuilder, Locale, NavEntry, PageError, Slot, WebKit};

use crate::Alerts;

pub use sections::board_lines;

#[derive(Clone)]
pub(crate) struct PagesState {
    pub alerts: Arc<Alerts>,
    pub kit: WebKit,
}

impl FromRef<PagesState> for WebKit {
    fn from_ref(s: &PagesState) -> WebKit {
        s.kit.clone()
    }
}

/// Add the alert domain's strings, navigation entries and page sections.
pub fn register(kit: &mut KitBuilder, alerts: &Arc<Alerts>) {
    // The files are part of this crate; its tests catch a broken one.
    let _ = kit.locale(Locale::ZhCn, include_str!("../../locales/zh-CN.yml"));
    let _ = kit.locale(Locale::En, include_str!("../../locales/en.yml"));
    kit.nav(NavEntry {
        tab: "farm",
        href: "/alarms",
        label: "alert.nav.alarms",
        order: 10,
        visible: crate::routes::can_see_alarms,
    });
    kit.nav(NavEntry {
        tab: "farm",
        href: "/rules",
        label: "alert.nav.rules",
        order: 40,
        visible: crate::routes::can_see_alarms,
    });
    kit.notify_stream("/api/me/notifications/live");
    kit.section(
        Slot::OverviewTop,
        Arc::new(sections::OverviewAlarms(alerts.clone())),
    );
    kit.section(
        Slot::Personal,
        Arc::new(personal::PersonalSection(alerts.clone())),
    );
}

pub fn routes(alerts: Arc<Alerts>, kit: WebKit) -> Routes {
    Routes::new()
        .route("/alarms", get(inbox::page))
        .route("/alarms/{id}", get(detail::page))
        .route("/alarms/{id}/row", get(inbox::row))
        .route("/alarms/{id}/ack", post(actions::ack))
        .route("/alarms/{id}/clear", post(actions::clear))
        .route("/alarms/{id}/assign", post(actions::assign))
        .route("/alarms/{id}/comment", post(actions::comment))
        .route("/rules", get(rules::list))
        .route("/rules/new", get(rules::new))
        .route("/rules/keys", get(rules::keys))
        .route("/rules/{id}", get(rules::edit))
        .route("/rules/{id}/delete", post(rules::delete))
        .route("/me/notifications", post(personal::save_prefs))
        .route("/me/webhooks", post(personal::add_webhook))
        .route("/me/webhooks/{id}/delete", post(personal::remove_webhook))
        .route("/me/dead/{id}/retry", post(personal::retry_dead))
        .route("/alert/static/{hash}/alert.js", get(assets::serve))
        .with_state(PagesState { alerts, kit })
}

/// A refused change is told to the user; a failure is the server's.
pub(crate) fn store_error(e: crate::AlertStoreError) -> PageError {
    use crate::AlertStoreError as E;
    match e {
        E::NoSuchAlarm(_) | E::NoSuchRule(_) => PageError::NotFound,
        e @ (E::NodeAlarm(_) | E::HubOnly) => PageError::BadRequest(e.to_string()),
        e => PageError::internal(e),
    }
}

pub(crate) fn require_alarms(u: &User) -> Result<(), PageError> {
    if crate::routes::can_see_alarms(u) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use cunlink_web::Locale;
    use cunlink_web::i18n::Catalog;

    #[test]
    fn english_has_every_alert_string() {
        let mut c = Catalog::default();
        c.add(Locale::ZhCn, include_str!("../../locales/zh-CN.yml"))
            .unwrap();
        c.add(Locale::En, include_str!("../../locales/en.yml"))
            .unwrap();
        assert_eq!(c.missing(Locale::En), Vec::<String>::new());
    }
}
