//! The alert JSON API: rules, alarms (list, detail, ack, clear, assign,
//! comment, live stream) and each user's notification settings.

use cunlink_farm::scope;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use cunlink_core::routes::Routes;
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AlertStoreError;
use crate::Alerts;
use crate::alarms::Handling;
use crate::notify::prefs::Prefs;
use crate::notify::store as nstore;
use crate::rule::{Condition, RuleInput, Severity, Target};
use crate::store::{self, AlarmFilter, Status};
use cunlink_core::ApiError;
use cunlink_core::auth::{AuthService, Role, User};
use cunlink_core::time::now_ms;
use cunlink_core::web::CurrentUser;

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

fn forbid(what: &str) -> ApiError {
    ApiError::forbidden(format!("your role cannot {what}"))
}

// ---- rules ----

async fn list_rules(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarm rules"));
    }
    let rules = s.0.db.call(|c| store::rules(c)).await?;
    let visible: Vec<_> = rules
        .into_iter()
        .filter(|r| user.can_see_village(r.village_id))
        .collect();
    Ok(Json(visible).into_response())
}

async fn visible_rule(s: &Alerts, user: &User, id: i64) -> Result<crate::rule::Rule, ApiError> {
    let rule = s.db.call(move |c| store::rule(c, id)).await?;
    if !user.can_see_village(rule.village_id) {
        return Err(ApiError::from(AlertStoreError::NoSuchRule(id)));
    }
    Ok(rule)
}

async fn get_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarm rules"));
    }
    Ok(Json(visible_rule(&s.0, &user, id).await?).into_response())
}

/// Parse and check a rule body against the farm; the village it belongs to.
async fn checked_input(
    s: &Alerts,
    user: &User,
    body: &[u8],
) -> Result<(RuleInput, Option<i64>), ApiError> {
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request("invalid_rule", format!("the rule is not valid: {e}"))
    };
    let raw: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    crate::rule::check_numbers(&raw)?;
    let input: RuleInput = serde_json::from_value(raw).map_err(invalid)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::bad_request(
            "invalid_rule",
            "a rule needs a name of 1 to 128 characters",
        )
        .with_field("name"));
    }
    input.condition.check()?;
    let village_id = if user.role.is_county_wide() {
        match &input.village {
            Some(v) => Some(s.auth.village_id(v.clone()).await?.ok_or_else(|| {
                ApiError::bad_request("unknown_village", format!("no village named '{v}'"))
                    .with_field("village")
            })?),
            None => None,
        }
    } else {
        // Farmers write rules for their own village only.
        if user.village_id.is_none() {
            return Err(forbid("write rules without belonging to a village"));
        }
        user.village_id
    };
    if let Some(esc) = &input.escalate {
        if esc.to.is_empty() || esc.after_s == 0 {
            return Err(ApiError::bad_request(
                "invalid_rule",
                "escalate needs after_s > 0 and at least one user in 'to'",
            )
            .with_field("escalate"));
        }
        let found = s.auth.users_by_names(esc.to.clone()).await?;
        if let Some(missing) = esc
            .to
            .iter()
            .find(|n| !found.iter().any(|u| &u.username == *n))
        {
            return Err(ApiError::bad_request(
                "unknown_user",
                format!("escalate.to names '{missing}', who is not a user"),
            )
            .with_field("escalate.to"));
        }
    }
    if let Some(a) = &input.action {
        if a.rpc.method.trim().is_empty() || a.rpc.method.len() > 128 {
            return Err(ApiError::bad_request(
                "invalid_rule",
                "action.rpc.method must be 1 to 128 bytes",
            )
            .with_field("action.rpc.method"));
        }
    }
    check_target(s, &input.target, &input.condition, village_id).await?;
    Ok((input, village_id))
}

/// The target must exist and every key the condition reads must be one its
/// devices report (or their profiles declare).
async fn check_target(
    s: &Alerts,
    target: &Target,
    condition: &Condition,
    village_id: Option<i64>,
) -> Result<(), ApiError> {
    let found = s
        .target_keys(
            target,
            // A rule without a village is county-wide (only county roles write those).
            village_id.map_or(crate::Scope::County, |v| crate::Scope::Village(Some(v))),
        )
        .await
        .map_err(ApiError::internal)?;
    if !found.exists {
        let (what, name) = match target {
            Target::Device(n) => ("device", n),
            Target::Asset(n) => ("asset", n),
            Target::Profile(n) => ("device profile", n),
            Target::AssetKind(n) => ("asset kind", n),
        };
        return Err(ApiError::bad_request(
            "unknown_target",
            format!("the target names {what} '{name}', which does not exist here"),
        )
        .with_field("target"));
    }
    let keys = condition.keys();
    for (i, key) in keys.iter().enumerate() {
        if !found.keys.contains(*key) {
            let field = match condition {
                Condition::Threshold { .. } => format!("condition.conditions[{i}].key"),
                Condition::HerdFever(_) if i == 1 => "condition.activity_key".to_string(),
                _ => "condition.key".to_string(),
            };
            let known: Vec<&str> = found.keys.iter().map(String::as_str).collect();
            return Err(ApiError::bad_request(
                "unknown_key",
                format!(
                    "no device of this target reports '{key}'; known keys: {}",
                    if known.is_empty() {
                        "none yet".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .with_field(field));
        }
    }
    Ok(())
}

async fn create_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !can_manage_rules(&user) {
        return Err(forbid("write alarm rules"));
    }
    let (input, village_id) = checked_input(&s.0, &user, &body).await?;
    let uid = user.id;
    let rule =
        s.0.db
            .call(move |c| store::insert_rule(c, &row(&input, village_id), uid, now_ms()))
            .await?;
    s.0.engine.reload();
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

fn row(input: &RuleInput, village_id: Option<i64>) -> store::RuleRow<'_> {
    store::RuleRow {
        name: input.name.trim(),
        village_id,
        severity: input.severity,
        target: &input.target,
        condition: &input.condition,
        action: input.action.as_ref(),
        escalate: input.escalate.as_ref(),
        auto_clear: input.auto_clear,
        enabled: input.enabled,
    }
}

async fn update_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !can_manage_rules(&user) {
        return Err(forbid("write alarm rules"));
    }
    let existing = visible_rule(&s.0, &user, id).await?;
    if existing.village_id.is_none() && !user.role.is_county_wide() {
        return Err(forbid("change county-wide rules"));
    }
    let (input, village_id) = checked_input(&s.0, &user, &body).await?;
    let rule =
        s.0.db
            .call(move |c| store::update_rule(c, id, &row(&input, village_id), now_ms()))
            .await?;
    s.0.engine.reload();
    Ok(Json(rule).into_response())
}

async fn delete_rule(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    if !can_manage_rules(&user) {
        return Err(forbid("delete alarm rules"));
    }
    let existing = visible_rule(&s.0, &user, id).await?;
    if existing.builtin {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "builtin_rule",
            "the built-in herd-fever rule cannot be deleted; disable it with \"enabled\": false",
        )
        .with_field("id"));
    }
    if existing.village_id.is_none() && !user.role.is_county_wide() {
        return Err(forbid("delete county-wide rules"));
    }
    s.0.db
        .call(move |c| store::delete_rule(c, id, now_ms()))
        .await?;
    s.0.engine.reload();
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- alarms ----

#[derive(Deserialize)]
struct AlarmQuery {
    status: Option<String>,
    device: Option<String>,
    severity: Option<String>,
    asset: Option<String>,
    village: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

/// Most alarms one list answer holds.
const MAX_LIST: i64 = 5000;
/// Latest time an alarm query may name: the end of year 9999, in ms.
const MAX_TS: i64 = 253_402_300_799_999;

/// A whole-number query parameter in `lo..=hi`, or a 400 naming it. Taken as
/// text so that `-1`, `1e3` and `9223372036854775808` all get the same answer.
fn int_param(
    v: Option<&str>,
    field: &'static str,
    lo: i64,
    hi: i64,
) -> Result<Option<i64>, ApiError> {
    let Some(v) = v else {
        return Ok(None);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            format!("{field} must be a whole number from {lo} to {hi}"),
        )
        .with_field(field)),
    }
}

async fn list_alarms(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<AlarmQuery>,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarms"));
    }
    let status = match q.status.as_deref().unwrap_or("all") {
        "all" => None,
        "active" => Some(Status::Active),
        "acknowledged" => Some(Status::Acknowledged),
        "cleared" => Some(Status::Cleared),
        other => {
            return Err(ApiError::bad_request(
                "bad_status",
                format!("unknown status '{other}'; expected active, acknowledged, cleared or all"),
            )
            .with_field("status"));
        }
    };
    let severity = q
        .severity
        .as_deref()
        .map(|v| v.parse::<Severity>())
        .transpose()
        .map_err(|e| ApiError::bad_request("bad_severity", e.message).with_field("severity"))?;
    let asset_id = match &q.asset {
        Some(name) => {
            let assets = s.0.farm.assets().await.map_err(ApiError::internal)?;
            Some(
                assets
                    .into_iter()
                    .find(|a| a.name == *name)
                    .map(|a| a.id)
                    .ok_or_else(|| {
                        ApiError::not_found("unknown_asset", format!("no asset named '{name}'"))
                            .with_field("asset")
                    })?,
            )
        }
        None => None,
    };
    let village_ids = match (&q.village, user.role.is_county_wide()) {
        (Some(v), _) => {
            let id = s.0.auth.village_id(v.clone()).await?.ok_or_else(|| {
                ApiError::not_found("unknown_village", format!("no village named '{v}'"))
                    .with_field("village")
            })?;
            if !user.can_see_village(Some(id)) {
                return Err(forbid("see another village's alarms"));
            }
            Some(vec![id])
        }
        (None, true) => None,
        (None, false) => Some(user.village_id.into_iter().collect()),
    };
    let since = int_param(q.since.as_deref(), "since", 0, MAX_TS)?;
    let until = int_param(q.until.as_deref(), "until", 0, MAX_TS)?;
    if let (Some(a), Some(b)) = (since, until)
        && a > b
    {
        return Err(
            ApiError::bad_request("bad_parameter", "since is after until").with_field("since"),
        );
    }
    let limit = int_param(q.limit.as_deref(), "limit", 1, MAX_LIST)?.unwrap_or(500);
    let filter = AlarmFilter {
        status,
        device: q.device,
        village_ids,
        asset_id,
        severity,
        since,
        until,
        // In 1..=MAX_LIST: fits.
        limit: limit as usize,
    };
    let alarms =
        s.0.db
            .call(move |c| store::query_alarms(c, &filter))
            .await?;
    Ok(Json(alarms).into_response())
}

async fn visible_alarm(s: &Alerts, user: &User, id: i64) -> Result<store::Alarm, ApiError> {
    if !can_see_alarms(user) {
        return Err(forbid("see alarms"));
    }
    let a = s.alarms.get(id).await?;
    if !scope::can_see(&user, a.village_id) {
        return Err(ApiError::from(AlertStoreError::NoSuchAlarm(id)));
    }
    Ok(a)
}

async fn get_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let alarm = visible_alarm(&s.0, &user, id).await?;
    let comments = s.0.db.call(move |c| store::comments(c, id)).await?;
    let mut v = serde_json::to_value(&alarm).map_err(ApiError::internal)?;
    v["comments"] = serde_json::to_value(comments).unwrap_or_default();
    Ok(Json(v).into_response())
}

async fn ack_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    handle_alarm(&s, &user, id, Handling::Ack).await
}

async fn clear_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    handle_alarm(&s, &user, id, Handling::Clear).await
}

/// Acknowledge or clear; doing it twice is not an error (the alarm is answered as it is).
async fn handle_alarm(
    s: &AlertState,
    user: &User,
    id: i64,
    h: Handling,
) -> Result<Response, ApiError> {
    visible_alarm(&s.0, user, id).await?;
    if !can_handle_alarms(user) {
        return Err(forbid(match h {
            Handling::Ack => "acknowledge alarms",
            Handling::Clear => "clear alarms",
        }));
    }
    let (alarm, _) = s.0.alarms.handle(id, &user.username, h).await?;
    Ok(Json(alarm).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    user: Option<String>,
}

async fn assign_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<AssignBody>,
) -> Result<Response, ApiError> {
    let alarm = visible_alarm(&s.0, &user, id).await?;
    if !can_handle_alarms(&user) {
        return Err(forbid("assign alarms"));
    }
    if let Some(name) = &body.user {
        // Someone of another village is answered like no one at all: the
        // answer must not tell which usernames exist elsewhere.
        if !may_be_assigned(&s.0, &alarm, name).await? {
            return Err(ApiError::bad_request(
                "unknown_user",
                format!("no user named '{name}' who can see this alarm"),
            )
            .with_field("user"));
        }
    }
    let alarm = s.0.alarms.assign(id, body.user).await?;
    Ok(Json(alarm).into_response())
}

/// Whether `name` may take `alarm` on: a user who sees alarms, of the
/// alarm's village (or county-wide). The API and the page ask the same.
pub(crate) async fn may_be_assigned(
    s: &Alerts,
    alarm: &store::Alarm,
    name: &str,
) -> Result<bool, cunlink_core::DbError> {
    let found = s.auth.users_by_names(vec![name.to_string()]).await?;
    Ok(found
        .iter()
        .any(|u| u.username == name && can_see_alarms(u) && scope::can_see(&u, alarm.village_id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
}

async fn comment_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<CommentBody>,
) -> Result<Response, ApiError> {
    visible_alarm(&s.0, &user, id).await?;
    let text = body.text.trim().to_string();
    if text.is_empty() || text.chars().count() > 2000 {
        return Err(
            ApiError::bad_request("bad_comment", "a comment is 1 to 2000 characters")
                .with_field("text"),
        );
    }
    let c = s.0.alarms.comment(id, &user.username, text).await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// Alarm changes as they happen (SSE event `alarm`), for the villages the
/// caller can see.
async fn stream_alarms(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarms"));
    }
    let rx = s.0.alarms.subscribe();
    let stream = BroadcastStream::new(rx).filter_map(move |msg| {
        let alarm = msg.ok()?;
        if !scope::can_see(&user, alarm.village_id) {
            return None;
        }
        let data = serde_json::to_string(&*alarm).ok()?;
        Some(Ok::<_, Infallible>(
            Event::default().event("alarm").data(data),
        ))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

// ---- notification settings ----

async fn get_prefs(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    mine(&s, move |c| nstore::prefs(c, user.id)).await
}

async fn put_prefs(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request(
            "invalid_preferences",
            format!("the preferences are not valid: {e}"),
        )
    };
    let raw: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
    crate::notify::prefs::check_numbers(&raw).map_err(|(field, msg)| {
        ApiError::bad_request("invalid_preferences", msg).with_field(field)
    })?;
    let p: Prefs = serde_json::from_value(raw).map_err(invalid)?;
    p.check().map_err(|(field, msg)| {
        ApiError::bad_request("invalid_preferences", msg).with_field(field)
    })?;
    let saved = p.clone();
    s.0.db
        .call(move |c| nstore::put_prefs(c, user.id, &p))
        .await?;
    Ok(Json(saved).into_response())
}

async fn vapid_key(State(s): State<AlertState>) -> Response {
    Json(serde_json::json!({ "public_key": s.0.notifier.vapid.public_b64 })).into_response()
}

#[derive(Deserialize)]
struct PushKeys {
    p256dh: String,
    auth: String,
}

/// The browser's `PushSubscription.toJSON()`.
#[derive(Deserialize)]
struct PushBody {
    endpoint: String,
    keys: PushKeys,
}

async fn add_push(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: PushBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_subscription",
            format!("expected a PushSubscription JSON: {e}"),
        )
    })?;
    check_notify_url(&s.0, &b.endpoint, "invalid_subscription", "endpoint").await?;
    // Encrypting a test message checks both keys now rather than at the first alarm.
    if let Err(e) = crate::notify::webpush::encrypt(&b.keys.p256dh, &b.keys.auth, b"{}") {
        let field = match e {
            crate::notify::webpush::PushError::BadAuth => "keys.auth",
            _ => "keys.p256dh",
        };
        return Err(ApiError::bad_request("invalid_subscription", e.to_string()).with_field(field));
    }
    let id =
        s.0.db
            .call(move |c| {
                nstore::add_push(
                    c,
                    user.id,
                    &b.endpoint,
                    &b.keys.p256dh,
                    &b.keys.auth,
                    now_ms(),
                )
            })
            .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn list_pushes(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    mine(&s, move |c| nstore::pushes_of(c, user.id)).await
}

async fn remove_push(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let not_yours = format!("no push subscription {id} of yours");
    remove_mine(&s, "unknown_subscription", not_yours, move |c| {
        nstore::remove_push(c, id, Some(user.id))
    })
    .await
}

/// The caller's own settings, as JSON.
async fn mine<T, F>(s: &AlertState, f: F) -> Result<Response, ApiError>
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(&rusqlite::Connection) -> Result<T, AlertStoreError> + Send + 'static,
{
    let v = s.0.db.call(move |c| f(c)).await?;
    Ok(Json(v).into_response())
}

/// Delete one of the caller's things: 204, or 404 when it is not theirs.
async fn remove_mine<F>(
    s: &AlertState,
    code: &'static str,
    not_yours: String,
    f: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&rusqlite::Connection) -> Result<bool, AlertStoreError> + Send + 'static,
{
    if !s.0.db.call(move |c| f(c)).await? {
        return Err(ApiError::not_found(code, not_yours).with_field("id"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    url: String,
}

async fn add_webhook(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: WebhookBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_webhook", format!("expected {{\"url\": ...}}: {e}"))
    })?;
    let url = b.url.trim().to_string();
    check_notify_url(&s.0, &url, "invalid_webhook", "url").await?;
    let hook =
        s.0.db
            .call(move |c| nstore::add_webhook(c, user.id, &url, now_ms()))
            .await?;
    Ok((StatusCode::CREATED, Json(hook)).into_response())
}

/// A webhook or push URL must be http(s) and reach only addresses the
/// configuration allows (see `notify::net`); refused with 400 naming `field`.
async fn check_notify_url(
    s: &Alerts,
    url: &str,
    code: &'static str,
    field: &'static str,
) -> Result<(), ApiError> {
    use crate::notify::net::TargetError;
    s.notifier.check_target(url).await.map_err(|e| {
        let code = match e {
            TargetError::BadUrl => code,
            TargetError::Unresolved => "unresolved_host",
            TargetError::Private => "private_address",
        };
        ApiError::bad_request(code, format!("{field} {e}")).with_field(field)
    })
}

async fn list_webhooks(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    mine(&s, move |c| nstore::webhooks_of(c, user.id)).await
}

async fn remove_webhook(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let not_yours = format!("no webhook {id} of yours");
    remove_mine(&s, "unknown_webhook", not_yours, move |c| {
        nstore::remove_webhook(c, id, user.id)
    })
    .await
}

/// Admins see every dead letter; others their own.
fn scope(user: &User) -> Option<i64> {
    (user.role != Role::Admin).then_some(user.id)
}

async fn dead_letters(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    let who = scope(&user);
    mine(&s, move |c| nstore::dead(c, who)).await
}

async fn retry_dead(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let who = scope(&user);
    let ok =
        s.0.db
            .call(move |c| nstore::revive(c, id, who, now_ms()))
            .await?;
    if !ok {
        return Err(ApiError::not_found(
            "unknown_dead_letter",
            format!("no dead letter {id} of yours"),
        )
        .with_field("id"));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": id, "status": "pending" })),
    )
        .into_response())
}
