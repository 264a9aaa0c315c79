//! Paired classrooms: a city class with one to three rural classes, their
//! weekly timetable, and the next class's materials (a channel) which the
//! scheduled pull fetches in the day before the class. The live class itself
//! is not built yet.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use cunlink_core::routes::Routes;
use cunlink_core::time::{DAY_MS, TZ_OFFSET_MS, now_ms};
use cunlink_core::web::CurrentUser;

use crate::course_store as cs;
use crate::error::SchoolError;
use crate::routes::{R, SchoolState, db, tx};
use crate::{access, input};

/// Slots in one pairing's timetable (the reads show this many).
pub const MAX_SLOTS: i64 = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Slot {
    pub id: i64,
    pub weekday: i64,
    pub start_min: i64,
    pub minutes: i64,
    pub subject: String,
    pub channel_id: Option<i64>,
}

impl Slot {
    pub fn start(&self) -> String {
        format!("{:02}:{:02}", self.start_min / 60, self.start_min % 60)
    }

    /// The next start of this slot at or after `now` (ms), China time.
    pub fn next_start(&self, now: i64) -> i64 {
        let local = now + TZ_OFFSET_MS;
        let day = local.div_euclid(DAY_MS);
        // 1970-01-01 was a Thursday (weekday 4).
        let today = (day + 3).rem_euclid(7) + 1;
        let mut ahead = (self.weekday - today).rem_euclid(7);
        let start_of = |d: i64| d * DAY_MS + self.start_min * 60_000 - TZ_OFFSET_MS;
        if ahead == 0 && start_of(day) < now {
            ahead = 7;
        }
        start_of(day + ahead)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Pairing {
    pub id: i64,
    pub name: String,
    /// (class id, name, school); the city class first.
    pub classes: Vec<(i64, String, String)>,
    pub slots: Vec<Slot>,
}

pub fn pairing(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Pairing>> {
    let Some((name, city)): Option<(String, i64)> = c
        .query_row(
            "SELECT name, city_class_id FROM school_pairings WHERE id = $1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut classes = Vec::new();
    if let Some((cid, n, s, _)) = cs::class(c, city)? {
        classes.push((cid, n, s));
    }
    let mut st = c.prepare(
        "SELECT class_id FROM school_pairing_classes WHERE pairing_id = $1 ORDER BY class_id",
    )?;
    let ids: Vec<i64> = st
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for cid in ids {
        if let Some((cid, n, s, _)) = cs::class(c, cid)? {
            classes.push((cid, n, s));
        }
    }
    let mut st = c.prepare(
        "SELECT id, weekday, start_min, minutes, subject, channel_id FROM school_timetable
         WHERE pairing_id = $1 ORDER BY weekday, start_min LIMIT 100", // MAX_SLOTS
    )?;
    let slots = st
        .query_map([id], |r| {
            Ok(Slot {
                id: r.get(0)?,
                weekday: r.get(1)?,
                start_min: r.get(2)?,
                minutes: r.get(3)?,
                subject: r.get(4)?,
                channel_id: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(Pairing {
        id,
        name,
        classes,
        slots,
    }))
}

/// The city class of pairing `id`.
pub fn city_class(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<i64>> {
    c.query_row(
        "SELECT city_class_id FROM school_pairings WHERE id = $1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// Refuse unless `u` may run the pairing whose city class is `city`: county-wide
/// roles, or the city class's own teacher. The city class hears the rural
/// classrooms in the live class, so pairing someone else's class as "city"
/// would let a teacher listen in on another village's classroom.
fn require_city_teacher(
    c: &Connection,
    u: &cunlink_core::auth::User,
    city: i64,
) -> Result<(), SchoolError> {
    if u.role.is_county_wide() || cs::class_teacher(c, city)? == Some(u.id) {
        Ok(())
    } else {
        Err(SchoolError::forbidden(
            "only the city class's teacher or county staff may pair it or change its timetable",
        ))
    }
}

pub fn pairing_ids(c: &Connection, limit: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = c.prepare("SELECT id FROM school_pairings ORDER BY id LIMIT $1")?;
    st.query_map([limit.clamp(0, 500)], |r| r.get(0))?.collect()
}

pub fn create(
    c: &Connection,
    name: &str,
    city: i64,
    rural: &[i64],
    user_id: i64,
) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO school_pairings (name, city_class_id, created_by, created_at) VALUES ($1, $2, $3, $4)",
        params![name, city, user_id, now_ms()],
    )?;
    let id = c.last_insert_rowid()?;
    for r in rural {
        c.execute(
            "INSERT INTO school_pairing_classes (pairing_id, class_id) VALUES ($1, $2)",
            params![id, r],
        )?;
    }
    Ok(id)
}

pub fn add_slot(
    c: &Connection,
    pairing: i64,
    weekday: i64,
    start_min: i64,
    minutes: i64,
    subject: &str,
    channel: Option<i64>,
) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO school_timetable (pairing_id, weekday, start_min, minutes, subject, channel_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![pairing, weekday, start_min, minutes, subject, channel],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// Channels named by timetable slots that start within `horizon_ms` of `now`:
/// the materials the scheduled pull fetches before the class.
pub fn due_channels(c: &Connection, now: i64, horizon_ms: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = c.prepare(
        "SELECT id, weekday, start_min, minutes, subject, channel_id FROM school_timetable
         WHERE channel_id IS NOT NULL LIMIT 1000",
    )?;
    let slots: Vec<Slot> = st
        .query_map([], |r| {
            Ok(Slot {
                id: r.get(0)?,
                weekday: r.get(1)?,
                start_min: r.get(2)?,
                minutes: r.get(3)?,
                subject: r.get(4)?,
                channel_id: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut out: Vec<i64> = slots
        .iter()
        .filter(|s| s.next_start(now) - now <= horizon_ms)
        .filter_map(|s| s.channel_id)
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub(crate) fn routes() -> Routes<SchoolState> {
    Routes::new()
        .route("/api/school/pairings", post(create_pairing))
        .route("/api/school/pairings/{id}", get(show))
        .route("/api/school/pairings/{id}/timetable", post(add_timetable))
}

async fn create_pairing(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    body: Bytes,
) -> R<Response> {
    access::require_teach(&u, "pairing classes")?;
    let o = input::object(&body)?;
    let name = input::string(&o, "name", 100)?;
    let city = input::int(&o, "city_class_id")?;
    let rural: Vec<i64> = o
        .get("rural_class_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default();
    let mut distinct = rural.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if rural.is_empty() || rural.len() > 3 || distinct.len() != rural.len() || rural.contains(&city)
    {
        return Err(SchoolError::invalid(
            "bad_classes",
            "rural_class_ids",
            "a pairing has one to three rural classes, each once, none the city class",
        )
        .into());
    }
    let id = tx(&s.0, move |c| {
        for (field, cid) in std::iter::once(("city_class_id", city))
            .chain(rural.iter().map(|&r| ("rural_class_ids", r)))
        {
            if cs::class(c, cid)?.is_none() {
                return Err(SchoolError::invalid(
                    "unknown_class",
                    field,
                    format!("there is no class {cid}"),
                ));
            }
        }
        require_city_teacher(c, &u, city)?;
        Ok(create(c, &name, city, &rural, u.id)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn show(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
) -> R<Json<Value>> {
    access::require_use(&u)?;
    let p = db(&s.0, move |c| Ok(pairing(c, id)?))
        .await?
        .ok_or_else(|| {
            SchoolError::not_found("unknown_pairing", format!("there is no pairing {id}"))
        })?;
    let now = now_ms();
    let next = p.slots.iter().min_by_key(|s| s.next_start(now));
    Ok(Json(json!({
        "pairing": p,
        "next": next.map(|s| json!({"slot": s, "starts_at": s.next_start(now)})),
    })))
}

async fn add_timetable(
    State(s): State<SchoolState>,
    CurrentUser(u): CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> R<Response> {
    access::require_teach(&u, "changing a timetable")?;
    let o = input::object(&body)?;
    let weekday = input::int(&o, "weekday")?;
    if !(1..=7).contains(&weekday) {
        return Err(
            SchoolError::invalid("bad_weekday", "weekday", "weekday is 1 (Monday) to 7").into(),
        );
    }
    let start = input::string(&o, "start", 5)?;
    let start_min = start
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
        .filter(|(h, m)| (0..24).contains(h) && (0..60).contains(m))
        .map(|(h, m)| h * 60 + m)
        .ok_or_else(|| SchoolError::invalid("bad_start", "start", "start is HH:MM"))?;
    let minutes = input::opt_int(&o, "minutes")?.unwrap_or(40);
    if !(5..=240).contains(&minutes) {
        return Err(SchoolError::invalid(
            "bad_minutes",
            "minutes",
            "a class lasts 5 to 240 minutes",
        )
        .into());
    }
    let subject = input::string(&o, "subject", 50)?;
    let channel = input::opt_int(&o, "channel_id")?;
    let slot = tx(&s.0, move |c| {
        let city = city_class(c, id)?.ok_or_else(|| {
            SchoolError::not_found("unknown_pairing", format!("there is no pairing {id}"))
        })?;
        require_city_teacher(c, &u, city)?;
        // Reads show at most MAX_SLOTS; more could never be seen.
        let n: i64 = c.query_row(
            "SELECT count(*) FROM school_timetable WHERE pairing_id = $1",
            [id],
            |r| r.get(0),
        )?;
        if n >= MAX_SLOTS {
            return Err(SchoolError::invalid(
                "too_many_slots",
                "weekday",
                format!("a timetable has at most {MAX_SLOTS} slots"),
            ));
        }
        if let Some(ch) = channel
            && crate::store::channel(c, ch)?.is_none()
        {
            return Err(SchoolError::invalid(
                "unknown_channel",
                "channel_id",
                format!("there is no channel {ch}"),
            ));
        }
        Ok(add_slot(
            c, id, weekday, start_min, minutes, &subject, channel,
        )?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": slot}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_start_wraps_the_week() {
        // 2026-11-30 is a Monday; 09:00 China time.
        let monday_9 = cunlink_core::time::days_from_civil(2026, 11, 30) * DAY_MS + 9 * 3_600_000
            - TZ_OFFSET_MS;
        let slot = |weekday, start_min| Slot {
            id: 1,
            weekday,
            start_min,
            minutes: 40,
            subject: String::new(),
            channel_id: None,
        };
        // Wednesday 10:00: two days and one hour ahead.
        assert_eq!(
            slot(3, 600).next_start(monday_9) - monday_9,
            2 * DAY_MS + 3_600_000
        );
        // Monday 08:00 has passed: next week.
        assert_eq!(
            slot(1, 480).next_start(monday_9) - monday_9,
            7 * DAY_MS - 3_600_000
        );
        // Monday 09:00: now.
        assert_eq!(slot(1, 540).next_start(monday_9), monday_9);
    }
}
