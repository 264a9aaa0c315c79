//! Channel subscriptions: which channels of the county's lesson library each
//! village's school receives. Set on the county hub (county staff for any
//! village, a teacher for their own village's school); a village node gets the
//! list with the node sync (`crate::sync::subscriptions`) and pulls exactly
//! those channels from the hub. On a node the list is read-only (409 `hub_only`).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use cunlink_core::auth::User;
use cunlink_core::routes::Routes;
use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::web::CurrentUser;

use crate::error::SchoolError;
use crate::routes::{R, SchoolState, db, tx};
use crate::{access, input};

/// Most subscriptions one answer lists.
const MAX_LIST: i64 = 1000;

pub(crate) fn routes() -> Routes<SchoolState> {
    Routes::new().route("/api/school/subscriptions", get(list).post(set))
}

/// The village a caller acts for: a teacher's own (another is 403), any for
/// county-wide roles, who must name it.
fn village_for(c: &Connection, u: &User, name: Option<&str>) -> Result<i64, SchoolError> {
    let Some(name) = name else {
        if !u.role.is_county_wide()
            && let Some(v) = u.village_id
        {
            return Ok(v);
        }
        return Err(SchoolError::invalid(
            "missing_field",
            "village",
            "name the village whose school subscribes",
        ));
    };
    let Some(id) = cunlink_core::auth::village_id(c, name)? else {
        return Err(SchoolError::invalid(
            "unknown_village",
            "village",
            format!("there is no village '{name}'"),
        ));
    };
    if !u.role.is_county_wide() && u.village_id != Some(id) {
        return Err(SchoolError::forbidden(
            "a teacher sets the subscriptions of their own village's school",
        ));
    }
    Ok(id)
}

#[derive(Deserialize)]
struct ListQuery {
    village: Option<String>,
}

/// `GET /api/school/subscriptions[?village=NAME]`. `local_channel_id` is the
/// pulled copy on a node, once it is there.
async fn list(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Query(q): Query<ListQuery>,
) -> R<Json<Value>> {
    access::require_teach(&u, "viewing channel subscriptions")?;
    let rows = db(&s.0, move |c| {
        let village = match (&q.village, u.role.is_county_wide()) {
            (None, true) => None,
            (name, _) => Some(village_for(c, &u, name.as_deref())?),
        };
        Ok(rows(c, village)?)
    })
    .await?;
    Ok(Json(json!({ "subscriptions": rows })))
}

fn rows(c: &Connection, village: Option<i64>) -> cunlink_core::sql::Result<Vec<Value>> {
    let sql = format!(
        "SELECT s.id, v.name, s.channel_id, coalesce(p.name, h.name), p.id
         FROM school_subscriptions s
         LEFT JOIN villages v ON v.id = s.village_id
         LEFT JOIN school_channels h ON h.id = s.channel_id AND h.origin_url IS NULL
         LEFT JOIN school_channels p ON p.origin_id = s.channel_id AND p.origin_url IS NOT NULL
         {} ORDER BY s.id LIMIT {MAX_LIST}",
        if village.is_some() {
            "WHERE s.village_id = $1"
        } else {
            ""
        }
    );
    let mut st = c.prepare(&sql)?;
    let map = |r: &cunlink_core::sql::Row| {
        Ok(json!({
            "id": r.get::<_, i64>(0)?,
            "village": r.get::<_, Option<String>>(1)?,
            "channel_id": r.get::<_, i64>(2)?,
            "channel": r.get::<_, Option<String>>(3)?,
            "local_channel_id": r.get::<_, Option<i64>>(4)?,
        }))
    };
    match village {
        Some(v) => st.query_map([v], map)?.collect(),
        None => st.query_map([], map)?.collect(),
    }
}

/// `POST /api/school/subscriptions` `{"village"?, "channel_id", "subscribed"?}`:
/// subscribe (the default) or unsubscribe a village's school. Setting what is
/// already so changes nothing (200).
async fn set(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    access::require_teach(&u, "setting channel subscriptions")?;
    let o = input::object(&body)?;
    let village = input::opt_string(&o, "village", 64)?;
    let channel = input::int(&o, "channel_id")?;
    let on = match o.get("subscribed") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(SchoolError::invalid(
                "not_a_boolean",
                "subscribed",
                "subscribed is true or false",
            )
            .into());
        }
    };
    let (code, out) = tx(&s.0, move |c| {
        crate::sync::require_hub(c, "a village school's channel subscriptions")?;
        let village = village_for(c, &u, village.as_deref())?;
        let known: Option<i64> = c
            .query_row(
                "SELECT id FROM school_channels WHERE id = $1 AND origin_url IS NULL",
                [channel],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_none() {
            return Err(SchoolError::not_found(
                "unknown_channel",
                format!("there is no channel {channel} on this hub"),
            ));
        }
        let have: Option<i64> = c
            .query_row(
                "SELECT id FROM school_subscriptions WHERE village_id = $1 AND channel_id = $2",
                params![village, channel],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match (have, on) {
            (Some(id), true) => (StatusCode::OK, json!({"id": id, "subscribed": true})),
            (None, false) => (StatusCode::OK, json!({"subscribed": false})),
            (Some(id), false) => {
                c.execute("DELETE FROM school_subscriptions WHERE id = $1", [id])?;
                (StatusCode::OK, json!({"id": id, "subscribed": false}))
            }
            (None, true) => {
                c.execute(
                    "INSERT INTO school_subscriptions (village_id, channel_id, created_by, created_at)
                     VALUES ($1, $2, $3, $4)",
                    params![village, channel, u.id, cunlink_core::time::now_ms()],
                )?;
                let id: i64 = c.query_row(
                    "SELECT id FROM school_subscriptions WHERE village_id = $1 AND channel_id = $2",
                    params![village, channel],
                    |r| r.get(0),
                )?;
                (StatusCode::CREATED, json!({"id": id, "subscribed": true}))
            }
        })
    })
    .await?;
    Ok((code, Json(out)).into_response())
}
