//! `/api/alarms`: list, detail, acknowledge, clear, assign, comment, and the
//! live stream of alarm changes.

use cunlink_farm::scope;
use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AlertStoreError;
use crate::alarms::Handling;
use crate::rule::Severity;
use crate::store::{self, AlarmFilter, Status};
use crate::{AlertError, Alerts};
use cunlink_core::ApiError;
use cunlink_core::auth::User;
use cunlink_core::web::CurrentUser;

use super::{AlertState, can_handle_alarms, can_see_alarms, forbid};

#[derive(Deserialize)]
pub(super) struct AlarmQuery {
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
pub(super) fn int_param(
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

/// The `status` filter; `None` for all.
fn parse_status(status: Option<&str>) -> Result<Option<Status>, ApiError> {
    Ok(match status.unwrap_or("all") {
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
    })
}

/// The id of the asset named `name`, or a 404 naming the field.
async fn asset_named(s: &Alerts, name: &str) -> Result<i64, ApiError> {
    let assets = s.farm.assets().await.map_err(ApiError::internal)?;
    assets
        .into_iter()
        .find(|a| a.name == *name)
        .map(|a| a.id)
        .ok_or_else(|| {
            ApiError::not_found("unknown_asset", format!("no asset named '{name}'"))
                .with_field("asset")
        })
}

/// The villages whose alarms the query asks for: the named one (if the caller
/// sees it), every village for the county (`None`), else the caller's own.
async fn villages_asked(
    s: &Alerts,
    user: &User,
    village: Option<&str>,
) -> Result<Option<Vec<i64>>, ApiError> {
    Ok(match (village, user.role.is_county_wide()) {
        (Some(v), _) => {
            let id = s.auth.village_id(v.to_string()).await?.ok_or_else(|| {
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
    })
}

pub(super) async fn list_alarms(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Query(q): Query<AlarmQuery>,
) -> Result<Response, ApiError> {
    if !can_see_alarms(&user) {
        return Err(forbid("see alarms"));
    }
    let status = parse_status(q.status.as_deref())?;
    let severity = q
        .severity
        .as_deref()
        .map(|v| v.parse::<Severity>())
        .transpose()
        .map_err(|e| ApiError::bad_request("bad_severity", e.message).with_field("severity"))?;
    let asset_id = match &q.asset {
        Some(name) => Some(asset_named(&s.0, name).await?),
        None => None,
    };
    let village_ids = villages_asked(&s.0, &user, q.village.as_deref()).await?;
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
            .await
            .map_err(AlertError::from)?;
    Ok(Json(alarms).into_response())
}

async fn visible_alarm(s: &Alerts, user: &User, id: i64) -> Result<store::Alarm, ApiError> {
    if !can_see_alarms(user) {
        return Err(forbid("see alarms"));
    }
    let a = s.alarms.get(id).await.map_err(AlertError::from)?;
    if !scope::can_see(&user, a.village_id) {
        return Err(ApiError::from(AlertError::Store(
            AlertStoreError::NoSuchAlarm(id),
        )));
    }
    Ok(a)
}

pub(super) async fn get_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let alarm = visible_alarm(&s.0, &user, id).await?;
    let comments =
        s.0.db
            .call(move |c| store::comments(c, id))
            .await
            .map_err(AlertError::from)?;
    let mut v = serde_json::to_value(&alarm).map_err(ApiError::internal)?;
    v["comments"] = serde_json::to_value(comments).unwrap_or_default();
    Ok(Json(v).into_response())
}

pub(super) async fn ack_alarm(
    State(s): State<AlertState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    handle_alarm(&s, &user, id, Handling::Ack).await
}

pub(super) async fn clear_alarm(
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
    let (alarm, _) =
        s.0.alarms
            .handle(id, &user.username, h)
            .await
            .map_err(AlertError::from)?;
    Ok(Json(alarm).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    user: Option<String>,
}

pub(super) async fn assign_alarm(
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
    let alarm =
        s.0.alarms
            .assign(id, body.user)
            .await
            .map_err(AlertError::from)?;
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
pub(super) struct CommentBody {
    text: String,
}

pub(super) async fn comment_alarm(
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
    let c =
        s.0.alarms
            .comment(id, &user.username, text)
            .await
            .map_err(AlertError::from)?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

/// Alarm changes as they happen (SSE event `alarm`), for the villages the
/// caller can see.
pub(super) async fn stream_alarms(
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
