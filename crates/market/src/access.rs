//! Who may act for what: station operators act only for stations of their own
//! village; farmers act through their producer record.

use cunlink_core::sql::Connection;

use cunlink_core::auth::{Role, User};

use crate::error::MarketError;
use crate::store::{products, stations};

pub use crate::store::stations::Station;

pub fn station(conn: &Connection, id: i64) -> Result<Option<Station>, MarketError> {
    stations::get(conn, id)
}

pub fn station_or_404(conn: &Connection, id: i64, field: &str) -> Result<Station, MarketError> {
    station(conn, id)?.ok_or_else(|| MarketError::Invalid {
        code: "unknown_station",
        field: Some(field.to_string()),
        message: format!("there is no station {id}"),
    })
}

/// Whether `user` operates `station` (admins may act for every station).
pub fn operates(user: &User, station: &Station) -> bool {
    user.role == Role::Admin
        || (user.role == Role::StationOperator && user.village_id == Some(station.village_id))
}

pub fn require_operator_of(user: &User, station: &Station) -> Result<(), MarketError> {
    if operates(user, station) {
        return Ok(());
    }
    Err(MarketError::forbidden(format!(
        "only the operator of station '{}' ({}) may do this",
        station.name, station.village
    )))
}

pub fn require_role(user: &User, roles: &[Role], what: &str) -> Result<(), MarketError> {
    if roles.contains(&user.role) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(MarketError::forbidden(format!(
        "{what} needs the role {}; you are {}",
        names.join(" or "),
        user.role.as_str()
    )))
}

/// The producer record of a farmer, created on first use.
pub fn producer_of(conn: &Connection, user: &User) -> Result<i64, MarketError> {
    require_role(user, &[Role::Farmer, Role::Admin], "selling")?;
    if let Some(id) = products::producer_of_user(conn, user.id)? {
        return Ok(id);
    }
    products::insert_producer(conn, user.id, &user.username, user.village_id)
}

/// Create a station (CLI and admin API).
pub fn create_station(conn: &Connection, village: &str, name: &str) -> Result<i64, MarketError> {
    // A village node takes its stations from the hub, under the hub's ids.
    crate::allocations::refuse_on_node(conn, "creating a station")?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(MarketError::invalid(
            "bad_name",
            "name",
            "a station name must be 1-64 characters",
        ));
    }
    let village_id =
        cunlink_core::auth::AuthService::ensure_village(conn, village).map_err(|e| match e {
            cunlink_core::auth::AuthError::Db(d) => MarketError::Db(d),
            other => MarketError::invalid("bad_village", "village", other.to_string()),
        })?;
    if stations::id_by_name(conn, village_id, name)?.is_some() {
        return Err(MarketError::conflict(
            "station_exists",
            Some("name".into()),
            format!("village '{village}' already has a station named '{name}'"),
        ));
    }
    stations::insert(conn, village_id, name)
}
