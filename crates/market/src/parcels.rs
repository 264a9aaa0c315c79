//! Last-mile parcels: created → picked_up → at_county_hub → at_village_station
//! (a pickup code is issued) → collected with that code; or returned. Every scan
//! is an event with time, place and operator.
//!
//! Pickup codes read `shelf-layer-sequence` (e.g. `37-1-6312`), as village
//! stations label their shelves: the operator finds the parcel by the code, and
//! the recipient proves who they are with it.
//!
//! Scope (docs/market.md, "Parcel scope"): a parcel is visible to its recipient,
//! the operators of its origin and destination stations, county staff and admins;
//! to anyone else it does not exist (404). Each scan belongs to whoever holds the
//! parcel at that stage (see [`may_scan`]). The pickup code is shown only to the
//! recipient and the destination (holding) station, never in an event.

use cunlink_core::sql::Connection;
use serde_json::{Value, json};

use cunlink_core::auth::{Role, User};
use cunlink_core::time::{DAY_MS, now_ms};

use crate::access::{self, Station};
use crate::error::MarketError;
use crate::input::{self, Obj};
use crate::store;

const SHELVES: u64 = 60;
/// The arrival event's note; the code itself stays on the parcel row.
const ARRIVED_NOTE: &str = "已到站，取件码已发给收件人";
const LAYERS: u64 = 5;

use store::parcels::add_event;

/// The parcel of a shipped order, from the packing station to the pickup station.
pub fn create_for_order(
    conn: &Connection,
    to: &Station,
    from: Option<&Station>,
    order: i64,
    recipient: i64,
    operator: i64,
) -> Result<i64, MarketError> {
    let name = crate::store::orders::recipient_name(conn, order)?;
    let id = store::parcels::insert(
        conn,
        &store::parcels::NewParcel {
            order_id: Some(order),
            from_station_id: from.map(|s| s.id),
            to_station_id: to.id,
            recipient_user_id: Some(recipient),
            recipient_name: &name.unwrap_or_default(),
            tracking: "",
        },
    )?;
    let place = from
        .map(|s| format!("{} {}", s.village, s.name))
        .unwrap_or_default();
    add_event(
        conn,
        id,
        "created",
        &place,
        Some(operator),
        &format!("order {order}"),
    )?;
    Ok(id)
}

/// `POST /api/market/parcels` (station operator or admin): a parcel from outside
/// (any courier) addressed to a villager at `to_station_id`.
pub fn create(conn: &Connection, user: &User, body: &Obj) -> Result<Value, MarketError> {
    access::require_role(
        user,
        &[Role::StationOperator, Role::CountyStaff, Role::Admin],
        "registering a parcel",
    )?;
    let to = access::station_or_404(
        conn,
        input::int(body, "to_station_id", "to_station_id")?,
        "to_station_id",
    )?;
    // A station operator registers parcels for their own station only; the
    // county's staff register them for any station.
    if !county(user) {
        access::require_operator_of(user, &to)?;
    }
    let recipient_name = input::string(body, "recipient_name", 64)?;
    let recipient_user = input::opt_int(body, "recipient_user_id", "recipient_user_id")?;
    if let Some(u) = recipient_user {
        if !cunlink_core::auth::user_exists(conn, u)? {
            return Err(MarketError::invalid(
                "unknown_user",
                "recipient_user_id",
                format!("there is no user {u}"),
            ));
        }
    }
    let tracking = input::opt_str(body, "tracking", 64)?.unwrap_or("");
    let id = store::parcels::insert(
        conn,
        &store::parcels::NewParcel {
            order_id: None,
            from_station_id: None,
            to_station_id: to.id,
            recipient_user_id: recipient_user,
            recipient_name,
            tracking,
        },
    )?;
    add_event(
        conn,
        id,
        "created",
        input::opt_str(body, "place", 128)?.unwrap_or(""),
        Some(user.id),
        "",
    )?;
    get(conn, user, id)
}

struct Head {
    order_id: Option<i64>,
    from: Option<Station>,
    to: Station,
    recipient_user: Option<i64>,
    status: String,
    code: Option<String>,
}

fn unknown(id: i64) -> MarketError {
    MarketError::not_found("unknown_parcel", format!("there is no parcel {id}"))
}

fn head(conn: &Connection, id: i64) -> Result<Head, MarketError> {
    let Some(row) = store::parcels::head(conn, id)? else {
        return Err(unknown(id));
    };
    Ok(Head {
        order_id: row.order_id,
        from: row
            .from_station_id
            .map(|f| access::station(conn, f))
            .transpose()?
            .flatten(),
        to: access::station_or_404(conn, row.to_station_id, "to_station_id")?,
        recipient_user: row.recipient_user_id,
        status: row.status,
        code: row.pickup_code,
    })
}

/// County staff and admins run the county hub and see every parcel.
fn county(user: &User) -> bool {
    matches!(user.role, Role::CountyStaff | Role::Admin)
}

fn origin_op(user: &User, h: &Head) -> bool {
    h.from.as_ref().is_some_and(|s| access::operates(user, s))
}

fn holding_op(user: &User, h: &Head) -> bool {
    access::operates(user, &h.to)
}

fn recipient(user: &User, h: &Head) -> bool {
    h.recipient_user == Some(user.id)
}

/// Who may see the parcel at all; anyone else gets the 404 of a missing one,
/// so parcel ids of other stations reveal nothing.
fn may_see(user: &User, h: &Head) -> bool {
    recipient(user, h) || origin_op(user, h) || holding_op(user, h) || county(user)
}

/// The pickup code: the recipient and the holding (destination) station only.
fn may_see_code(user: &User, h: &Head) -> bool {
    recipient(user, h) || holding_op(user, h)
}

/// Each scan is made by whoever holds the parcel at that stage:
/// * `picked_up`: the origin station (county staff for a courier's parcel, which has none);
/// * `at_county_hub`: county staff (the hub is the county's);
/// * `at_village_station`: the destination station;
/// * `returned`: the holder: origin station or county staff before the hub,
///   county staff at the hub, the destination station once it waits there.
///
/// Admins may do every scan.
fn may_scan(user: &User, h: &Head, to: &str) -> bool {
    if user.role == Role::Admin {
        return true;
    }
    let staff = user.role == Role::CountyStaff;
    match (h.status.as_str(), to) {
        (_, "picked_up") => origin_op(user, h) || (h.from.is_none() && staff),
        (_, "at_county_hub") => staff,
        (_, "at_village_station") => holding_op(user, h),
        ("created" | "picked_up", "returned") => origin_op(user, h) || staff,
        ("at_county_hub", "returned") => staff,
        ("at_village_station", "returned") => holding_op(user, h),
        _ => false,
    }
}

/// Who may make a scan, for the refusal message.
fn scanner(h: &Head, to: &str) -> String {
    let origin = h
        .from
        .as_ref()
        .map(|s| format!("the operator of the origin station '{}'", s.name))
        .unwrap_or_else(|| "county staff".to_string());
    let holding = format!("the operator of the destination station '{}'", h.to.name);
    match (h.status.as_str(), to) {
        (_, "picked_up") => origin,
        (_, "at_county_hub") | ("at_county_hub", "returned") => "county staff".into(),
        (_, "at_village_station") | ("at_village_station", "returned") => holding,
        _ => format!("{origin} or county staff"),
    }
}

/// `GET /api/market/parcels/{id}`: the parcel and its scans. The pickup code is
/// shown to the recipient and the destination station's operator only.
pub fn get(conn: &Connection, user: &User, id: i64) -> Result<Value, MarketError> {
    let h = head(conn, id)?;
    if !may_see(user, &h) {
        return Err(unknown(id));
    }
    let d = store::parcels::detail(conn, id)?;
    let mut v = json!({
        "id": d.id, "order_id": d.order_id, "from_station_id": d.from_station_id,
        "to_station_id": d.to_station_id, "recipient_user_id": d.recipient_user_id, "recipient_name": d.recipient_name,
        "tracking": d.tracking, "status": d.status, "arrived_at": d.arrived_at,
        "collected_at": d.collected_at, "created_at": d.created_at,
    });
    if may_see_code(user, &h) {
        v["pickup_code"] = json!(h.code);
    }
    let events: Vec<Value> = store::parcels::events(conn, id)?
        .into_iter()
        .map(|e| json!({"at": e.at, "status": e.status, "place": e.place, "operator_id": e.operator_id, "note": e.note}))
        .collect();
    v["events"] = Value::Array(events);
    Ok(v)
}

/// `POST /api/market/parcels/{id}/scan` `{"status", "place"}`.
pub fn scan(conn: &Connection, user: &User, id: i64, body: &Obj) -> Result<Value, MarketError> {
    access::require_role(
        user,
        &[Role::StationOperator, Role::CountyStaff, Role::Admin],
        "scanning a parcel",
    )?;
    let to = input::string(body, "status", 32)?;
    let place = input::opt_str(body, "place", 128)?.unwrap_or("");
    let h = head(conn, id)?;
    if !may_see(user, &h) {
        return Err(unknown(id));
    }
    node_owns(conn, id)?;
    let ok = matches!(
        (h.status.as_str(), to),
        ("created", "picked_up")
            | ("picked_up", "at_county_hub")
            | (
                "created" | "picked_up" | "at_county_hub",
                "at_village_station"
            )
            | (
                "created" | "picked_up" | "at_county_hub" | "at_village_station",
                "returned"
            )
    );
    if ![
        "picked_up",
        "at_county_hub",
        "at_village_station",
        "returned",
    ]
    .contains(&to)
    {
        return Err(MarketError::invalid(
            "unknown_status",
            "status",
            format!(
                "unknown scan '{to}'; expected picked_up, at_county_hub, at_village_station or returned"
            ),
        ));
    }
    if !ok {
        return Err(MarketError::conflict(
            "bad_transition",
            Some("status".into()),
            format!("a parcel that is {} cannot become {to}", h.status),
        ));
    }
    if !may_scan(user, &h, to) {
        return Err(MarketError::forbidden(format!(
            "only {} may scan this parcel {to}",
            scanner(&h, to)
        )));
    }
    let mut note = String::new();
    if to == "at_village_station" {
        let code = issue_code(conn, &h.to)?;
        store::parcels::set_status(conn, id, &h.status, to, Some(&code))?;
        // The recipient sees the code on the parcel (and in "my orders"), never
        // in an event: events are read by every station the parcel passed.
        note = ARRIVED_NOTE.to_string();
    } else {
        store::parcels::set_status(conn, id, &h.status, to, None)?;
    }
    let place = if place.is_empty() && to == "at_village_station" {
        format!("{} {}", h.to.village, h.to.name)
    } else {
        place.to_string()
    };
    add_event(conn, id, to, &place, Some(user.id), &note)?;
    get(conn, user, id)
}

/// On the hub, a parcel a village node made (an id in a node's range) is the
/// node's: it is scanned and collected at the village station and comes up
/// again with its scans (docs/market.md, "Village node"). A scan here would be
/// overwritten by the node's next copy.
fn node_owns(conn: &Connection, id: i64) -> Result<(), MarketError> {
    if id >= cunlink_core::sync::ID_SPAN && !cunlink_core::sync::is_node(conn)? {
        return Err(MarketError::conflict(
            "node_parcel",
            None,
            format!(
                "parcel {id} was registered at a village node; it is scanned and collected there"
            ),
        ));
    }
    Ok(())
}

/// A code not held by another parcel waiting at this station.
fn issue_code(conn: &Connection, station: &Station) -> Result<String, MarketError> {
    for _ in 0..20 {
        let seq = crate::store::stations::next_pickup_seq(conn, station.id)?;
        let mut raw = [0u8; 8];
        cunlink_core::random::fill(&mut raw);
        let r = u64::from_le_bytes(raw);
        let shelf = 1 + r % SHELVES;
        let layer = 1 + (r / SHELVES) % LAYERS;
        let code = format!("{shelf}-{layer}-{}", 1000 + seq.rem_euclid(9000));
        if !store::parcels::code_taken(conn, station.id, &code)? {
            return Ok(code);
        }
    }
    Err(MarketError::conflict(
        "station_full",
        None,
        "no free pickup code at this station",
    ))
}

/// `POST /api/market/parcels/{id}/collect` `{"code"}`: by the destination
/// station's operator (handing it over) or the recipient.
pub fn collect(conn: &Connection, user: &User, id: i64, body: &Obj) -> Result<Value, MarketError> {
    let code = input::string(body, "code", 32)?;
    let h = head(conn, id)?;
    if !may_see(user, &h) {
        return Err(unknown(id));
    }
    if !may_see_code(user, &h) {
        return Err(MarketError::forbidden(format!(
            "only the operator of station '{}' or the recipient may collect this parcel",
            h.to.name
        )));
    }
    node_owns(conn, id)?;
    if h.status != "at_village_station" {
        return Err(MarketError::conflict(
            "not_at_station",
            Some("code".into()),
            format!("the parcel is {}, not waiting at the station", h.status),
        ));
    }
    if h.code.as_deref() != Some(code) {
        return Err(MarketError::invalid(
            "wrong_pickup_code",
            "code",
            format!("pickup code '{code}' does not match this parcel"),
        ));
    }
    store::parcels::set_collected(conn, id)?;
    add_event(
        conn,
        id,
        "collected",
        &format!("{} {}", h.to.village, h.to.name),
        Some(user.id),
        "",
    )?;
    if let Some(order) = h.order_id {
        crate::orders::collected(conn, order, user.id)?;
    }
    get(conn, user, id)
}

/// Longest reminder threshold a client may ask for (`?days=`), in days.
pub const MAX_REMINDER_DAYS: i64 = 365;

/// `days` as a reminder threshold: 0..=[`MAX_REMINDER_DAYS`], else a 400 naming `days`.
pub fn reminder_days(days: i64) -> Result<i64, MarketError> {
    if (0..=MAX_REMINDER_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(MarketError::invalid(
            "bad_days",
            "days",
            format!("days must be 0-{MAX_REMINDER_DAYS}, got {days}"),
        ))
    }
}

/// Parcels waiting at a station for more than `days` days, oldest first.
/// Operators see their own village's stations with the codes (they hold those
/// parcels); county staff see every station without codes; admins see all.
pub fn waiting(conn: &Connection, user: &User, days: i64) -> Result<Vec<Value>, MarketError> {
    access::require_role(
        user,
        &[Role::StationOperator, Role::CountyStaff, Role::Admin],
        "listing reminders",
    )?;
    let days = reminder_days(days)?;
    let village = if user.role == Role::StationOperator {
        // An operator without a village operates no station.
        Some(user.village_id.unwrap_or(-1))
    } else {
        None
    };
    let show_code = user.role != Role::CountyStaff;
    let before = now_ms() - days * DAY_MS;
    Ok(store::parcels::waiting(conn, before, village)?
        .into_iter()
        .map(|w| {
            let code = if show_code { w.pickup_code } else { None };
            json!({"parcel_id": w.id, "recipient_name": w.recipient_name, "pickup_code": code,
                "arrived_at": w.arrived_at, "days_waiting": (now_ms() - w.arrived_at) / DAY_MS, "station_id": w.station_id,
                "station": w.station, "last_reminder_at": w.last_reminder_at})
        })
        .collect())
}

/// The background check: one `reminder` event per waiting parcel per day.
pub fn record_reminders(conn: &Connection, days: i64) -> Result<usize, MarketError> {
    // The setting comes from the environment; keep it in the range a client may ask for.
    let days = days.clamp(0, MAX_REMINDER_DAYS);
    let now = now_ms();
    let below = if cunlink_core::sync::is_node(conn)? {
        i64::MAX
    } else {
        cunlink_core::sync::ID_SPAN
    };
    let ids = store::parcels::due_reminders(conn, now - days * DAY_MS, now - DAY_MS, below)?;
    let mut recorded = 0;
    for id in &ids {
        // Several nodes run this check: the one whose claim lands records it.
        if !store::parcels::set_reminded(conn, *id, now, now - DAY_MS)? {
            continue;
        }
        recorded += 1;
        add_event(
            conn,
            *id,
            "reminder",
            "",
            None,
            &format!("waiting more than {days} days"),
        )?;
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cunlink_core::sql::params;

    #[test]
    fn migration_3_removes_codes_from_old_arrival_notes() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(include_str!("../migrations/sqlite/0001_market.sql"))
            .unwrap();
        for (status, note) in [
            ("at_village_station", "取件码 37-1-6312"),
            ("reminder", "waiting more than 3 days"),
        ] {
            c.execute(
                "INSERT INTO market_parcel_events (parcel_id, at, status, note) VALUES (1, 0, $1, $2)",
                params![status, note],
            )
            .unwrap();
        }
        c.execute_batch(include_str!(
            "../migrations/sqlite/0003_parcel_code_notes.sql"
        ))
        .unwrap();
        let notes: Vec<String> = c
            .prepare("SELECT note FROM market_parcel_events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(notes, [ARRIVED_NOTE, "waiting more than 3 days"]);
    }
}
