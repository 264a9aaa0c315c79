//! What the market syncs between a village node and its hub
//! (`cunlink_core::sync`, docs/market.md "Village node"):
//!
//! - up: the station's orders under their ids ([`order`]), the units the
//!   node gave back from its allocation ([`allocation`]), the parcels it made
//!   with their scans ([`parcel`]), and the hub's orders it handed over
//!   ([`pickup`]);
//! - down, in foreign-key order: the producers, products and variants sold in
//!   the village (its own and the county-wide ones), the village's stations
//!   ([`catalog`]), then the units granted to the village ([`allocation`]),
//!   then the hub's orders waiting for pickup at the village's stations
//!   ([`pickup`]).
//!
//! A variant's `stock` is never synced as such: on the hub it is the online
//! stock, on a node the village's allocation, and units move between the two
//! only through the monotonic counters of [`allocation`].

pub mod allocation;
pub mod catalog;
pub mod order;
pub mod parcel;
pub mod pickup;

use std::sync::Arc;

use cunlink_core::sql::{Connection, OptionalExtension};
use cunlink_core::sync::{SyncError, SyncKinds, field_i64, field_opt_i64};

pub fn register(kinds: &mut SyncKinds) {
    kinds.up(Arc::new(order::OrderKind));
    kinds.up(Arc::new(allocation::ReleasedKind));
    kinds.up(Arc::new(parcel::ParcelKind));
    kinds.up(Arc::new(pickup::PickupKind));
    kinds.down(Arc::new(catalog::ProducerKind));
    kinds.down(Arc::new(catalog::ProductKind));
    kinds.down(Arc::new(catalog::StationKind));
    kinds.down(Arc::new(catalog::VariantKind));
    kinds.down(Arc::new(allocation::GrantedKind));
    kinds.down(Arc::new(pickup::StationOrdersKind));
}

/// The integer id a record's key names.
fn key_id(key: &str, what: &str) -> Result<i64, SyncError> {
    key.parse()
        .map_err(|_| SyncError::reject(format!("'{key}' is not {what} id")))
}

/// The list in field `name` of a record.
fn field_array<'a>(
    body: &'a serde_json::Value,
    name: &str,
) -> Result<&'a Vec<serde_json::Value>, SyncError> {
    cunlink_core::sync::field(body, name)?
        .as_array()
        .ok_or_else(|| SyncError::reject(format!("field '{name}' must be a list")))
}

/// Where a record that travels up names its stations: `home` must be the
/// node's village's (and so must the stored copy's, if any); `other`, if
/// named, must exist.
struct Stations {
    what: &'static str,
    id: i64,
    /// A constant of the calling kind, never input.
    table: &'static str,
    home: &'static str,
    home_name: &'static str,
    other: &'static str,
}

fn station_village(conn: &Connection, station: i64) -> Result<Option<i64>, SyncError> {
    Ok(conn
        .prepare_cached("SELECT village_id FROM market_stations WHERE id = $1")?
        .query_row([station], |r| r.get(0))
        .optional()?)
}

fn check_stations(
    conn: &Connection,
    village_id: i64,
    body: &serde_json::Value,
    s: Stations,
) -> Result<(), SyncError> {
    let home = field_i64(body, s.home)?;
    match station_village(conn, home)? {
        Some(v) if v == village_id => {}
        Some(_) => {
            return Err(SyncError::reject(format!(
                "{} {home} is not in the node's village",
                s.home_name
            )));
        }
        None => return Err(SyncError::reject(format!("there is no station {home}"))),
    }
    let sql = format!("SELECT {} FROM {} WHERE id = $1", s.home, s.table);
    let stored: Option<i64> = conn
        .prepare_cached(&sql)?
        .query_row([s.id], |r| r.get(0))
        .optional()?;
    if let Some(st) = stored {
        if station_village(conn, st)? != Some(village_id) {
            return Err(SyncError::reject(format!(
                "{} {} is another village's",
                s.what, s.id
            )));
        }
    }
    if let Some(other) = field_opt_i64(body, s.other)? {
        if station_village(conn, other)?.is_none() {
            return Err(SyncError::reject(format!("there is no station {other}")));
        }
    }
    Ok(())
}
