//! Parcels a village node made go up: a parcel registered at the station, or
//! made when a station order shipped, is stored on the hub under the same id,
//! **with its scans in its body** (one record: the scans are only ever read
//! with their parcel, and a parcel is small). The scans get the hub's own row
//! ids; applying the same parcel again changes no row.
//!
//! The node owns such a parcel: on the hub it is not scanned or collected
//! (409 `node_parcel`, [`crate::parcels`]).

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{ID_SPAN, SyncError, UpKind, field_i64, field_opt_i64, field_str};
use serde_json::Value;

use super::{field_array, key_id};

const PARCELS: Table = Table {
    name: "market_parcels",
    columns: &[
        "id",
        "order_id",
        "from_station_id",
        "to_station_id",
        "recipient_user_id",
        "recipient_name",
        "tracking",
        "status",
        "pickup_code",
        "arrived_at",
        "collected_at",
        "last_reminder_at",
        "created_at",
    ],
};

const SCANS: Table = Table {
    name: "market_parcel_events",
    columns: &[
        "id",
        "parcel_id",
        "at",
        "status",
        "place",
        "operator_id",
        "note",
    ],
};

pub struct ParcelKind;

impl UpKind for ParcelKind {
    fn kind(&self) -> &'static str {
        "parcel"
    }
    /// After orders (a parcel names its order), before bulk records.
    fn priority(&self) -> u8 {
        1
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id = key_id(key, "a parcel")?;
        let Some(mut parcel) = rows::export_one(conn, &PARCELS, id)? else {
            return Ok(None);
        };
        parcel["scans"] = Value::Array(rows::export(conn, &SCANS, "parcel_id = $1", &[&id])?);
        Ok(Some(parcel))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = key_id(key, "a parcel")?;
        if field_i64(body, "id")? != id {
            return Err(SyncError::reject("the parcel's id differs from its key"));
        }
        // Below 2^40 is the hub's own range: a node never owns such a parcel.
        if id < ID_SPAN {
            return Err(SyncError::reject(format!(
                "parcel {id} is not in a node's id range"
            )));
        }
        super::check_stations(
            conn,
            village_id,
            body,
            super::Stations {
                what: "parcel",
                id,
                table: "market_parcels",
                home: "to_station_id",
                home_name: "destination station",
                other: "from_station_id",
            },
        )?;
        check_code(conn, id, body)?;
        rows::upsert(conn, &PARCELS, body)?;
        apply_scans(conn, id, field_array(body, "scans")?)?;
        Ok(())
    }
}

/// A pickup code is unique among the parcels waiting at a station; one the hub
/// gave a parcel of its own meanwhile is refused here (a dead letter naming
/// it) rather than failing the whole batch on the unique index.
fn check_code(conn: &Connection, id: i64, body: &Value) -> Result<(), SyncError> {
    if field_str(body, "status")? != "at_village_station" {
        return Ok(());
    }
    let Some(code) = body.get("pickup_code").and_then(Value::as_str) else {
        return Ok(());
    };
    let to = field_i64(body, "to_station_id")?;
    let other: Option<i64> = conn
        .prepare_cached(
            "SELECT id FROM market_parcels WHERE to_station_id = $1 AND pickup_code = $2
             AND status = 'at_village_station' AND id <> $3",
        )?
        .query_row(params![to, code, id], |r| r.get(0))
        .optional()?;
    match other {
        Some(o) => Err(SyncError::reject(format!(
            "pickup code {code} is held by parcel {o} at station {to}"
        ))),
        None => Ok(()),
    }
}

type Scan = (i64, String, String, Option<i64>, String);

/// Make the parcel's scans exactly `scans` (in their order). Left alone when
/// they already are, so that applying the same record again changes no row.
fn apply_scans(conn: &Connection, parcel: i64, scans: &[Value]) -> Result<(), SyncError> {
    let mut want: Vec<Scan> = Vec::with_capacity(scans.len());
    for e in scans {
        want.push((
            field_i64(e, "at")?,
            field_str(e, "status")?.to_string(),
            field_str(e, "place")?.to_string(),
            field_opt_i64(e, "operator_id")?,
            field_str(e, "note")?.to_string(),
        ));
    }
    let have: Vec<Scan> = conn
        .prepare_cached(
            "SELECT at, status, place, operator_id, note FROM market_parcel_events WHERE parcel_id = $1 ORDER BY id",
        )?
        .query_map([parcel], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    if have == want {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM market_parcel_events WHERE parcel_id = $1")?
        .execute([parcel])?;
    for (at, status, place, operator, note) in &want {
        conn.prepare_cached(
            "INSERT INTO market_parcel_events (parcel_id, at, status, place, operator_id, note) VALUES ($1, $2, $3, $4, $5, $6)",
        )?
        .execute(params![parcel, at, status, place, operator, note])?;
    }
    Ok(())
}
