//! The alert JSON API: rules, alarms (list, detail, ack, clear, assign,
//! comment, live stream) and each user's notification settings.

mod alarms;
mod feed;
mod notify;
mod rules;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::routing::{get, post};
use cunlink_core::routes::Routes;

pub(crate) use self::alarms::may_be_assigned;
use self::alarms::{
    ack_alarm, assign_alarm, clear_alarm, comment_alarm, get_alarm, list_alarms, stream_alarms,
};
use self::feed::{list_feed, live, read_feed};
use self::notify::{
    add_push, add_webhook, dead_letters, get_prefs, list_pushes, list_webhooks, put_prefs,
    remove_push, remove_webhook, retry_dead, vapid_key,
};
use self::rules::{create_rule, delete_rule, get_rule, list_rules, update_rule};
use crate::Alerts;
use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, Role, User};

#[derive(Clone)]
pub struct AlertState(pub Arc<Alerts>);

impl FromRef<AlertState> for AuthService {
    fn from_ref(s: &AlertState) -> AuthService {
        s.0.auth.clone()
    }
}

pub fn routes(alerts: Arc<Alerts>) -> Routes {
    Routes::new()
        .route("/api/rules", get(list_rules).post(create_rule))
        .route(
            "/api/rules/{id}",
            get(get_rule).put(update_rule).delete(delete_rule),
        )
        .route("/api/alarms", get(list_alarms))
        .route("/api/alarms/stream", get(stream_alarms))
        .route("/api/alarms/{id}", get(get_alarm))
        .route("/api/alarms/{id}/ack", post(ack_alarm))
        .route("/api/alarms/{id}/clear", post(clear_alarm))
        .route("/api/alarms/{id}/assign", post(assign_alarm))
        .route("/api/alarms/{id}/comments", post(comment_alarm))
        .route("/api/me/notifications", get(get_prefs).put(put_prefs))
        .route("/api/me/notifications/feed", get(list_feed))
        .route("/api/me/notifications/live", get(live))
        .route("/api/me/notifications/{id}/read", post(read_feed))
        .route("/api/push/vapid-public-key", get(vapid_key))
        .route("/api/push/subscriptions", get(list_pushes).post(add_push))
        .route(
            "/api/push/subscriptions/{id}",
            axum::routing::delete(remove_push),
        )
        .route("/api/webhooks", get(list_webhooks).post(add_webhook))
        .route("/api/webhooks/{id}", axum::routing::delete(remove_webhook))
        .route("/api/notifications/dead", get(dead_letters))
        .route("/api/notifications/{id}/retry", post(retry_dead))
        .with_state(AlertState(alerts))
}

/// Alarms and rules concern people who run farms; buyers in town do not see them.
pub(crate) fn can_see_alarms(u: &User) -> bool {
    u.role != Role::Buyer
}

/// Acknowledge, assign, clear: farmers, the county, and village doctors/vets.
pub(crate) fn can_handle_alarms(u: &User) -> bool {
    matches!(
        u.role,
        Role::Admin | Role::CountyStaff | Role::Farmer | Role::Doctor
    )
}

pub(crate) fn can_manage_rules(u: &User) -> bool {
    matches!(u.role, Role::Admin | Role::CountyStaff | Role::Farmer)
}

pub(super) fn forbid(what: &str) -> ApiError {
    ApiError::forbidden(format!("your role cannot {what}"))
}
