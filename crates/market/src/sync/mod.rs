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

use cunlink_core::sync::{SyncError, SyncKinds};

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
