//! Farm SQL in the application database: assets, device profiles, devices.

use cunlink_core::sql::{Connection, OptionalExtension, params};

use crate::FarmStoreError;
use crate::model::{Asset, AssetKind, Device, MAX_NAME_CHARS, Profile, ProfileKey};
use crate::telemetry::DeviceId;
use cunlink_core::time::now_ms;

pub const MIGRATIONS: &[cunlink_core::Migration] = &[
    cunlink_core::Migration {
        version: 1,
        name: "farm",
        sql: include_str!("../migrations/sqlite/0001_farm.sql"),
    },
    cunlink_core::Migration {
        version: 2,
        name: "rpc",
        sql: include_str!("../migrations/sqlite/0002_rpc.sql"),
    },
    cunlink_core::Migration {
        version: 3,
        name: "device_village",
        sql: include_str!("../migrations/sqlite/0003_device_village.sql"),
    },
    cunlink_core::Migration {
        version: 4,
        name: "integrations",
        sql: include_str!("../migrations/sqlite/0004_integrations.sql"),
    },
    cunlink_core::Migration {
        version: 5,
        name: "table_names",
        sql: include_str!("../migrations/sqlite/0005_table_names.sql"),
    },
    cunlink_core::Migration {
        version: 6,
        name: "retention",
        sql: include_str!("../migrations/sqlite/0006_retention.sql"),
    },
    cunlink_core::Migration {
        version: 7,
        name: "node_sync",
        sql: include_str!("../migrations/sqlite/0007_node_sync.sql"),
    },
];

/// Retention of every device whose profile limits it (for the telemetry maintenance pass).
pub fn retention_policies(
    conn: &Connection,
) -> Result<Vec<crate::telemetry::maint::Policy>, FarmStoreError> {
    let mut st = conn.prepare(
        "SELECT d.id, p.retention_days, p.rollup_retention_days FROM farm_devices d
         JOIN farm_device_profiles p ON p.id = d.profile_id
         WHERE p.retention_days IS NOT NULL OR p.rollup_retention_days IS NOT NULL",
    )?;
    let rows = st.query_map([], |r| {
        Ok(crate::telemetry::maint::Policy {
            device: crate::telemetry::DeviceId(r.get(0)?),
            retention_days: r
                .get::<_, Option<i64>>(1)?
                .map(|d| d.clamp(0, u32::MAX as i64) as u32),
            rollup_retention_days: r
                .get::<_, Option<i64>>(2)?
                .map(|d| d.clamp(0, u32::MAX as i64) as u32),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What it takes to register a device.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    pub name: String,
    pub profile: Option<String>,
    pub asset: Option<String>,
    pub asset_kind: Option<AssetKind>,
    pub village: Option<String>,
    pub gateway_id: Option<DeviceId>,
    pub is_gateway: bool,
    pub dev_eui: Option<String>,
    /// For devices created by a gateway: its asset id, used when `asset` is None.
    pub asset_id: Option<i64>,
    /// For devices created by a gateway: its village id, used when `village` is None.
    pub village_id: Option<i64>,
    /// Belongs to no village, on purpose (admins and county staff only; the
    /// callers check the role). Without it a device needs a village.
    pub county_level: bool,
}

const DEVICE_SELECT: &str = "SELECT d.id, d.name, p.name, d.asset_id, a.name, d.village_id, d.gateway_id, d.is_gateway, d.token, d.dev_eui, d.created_at
     FROM farm_devices d JOIN farm_device_profiles p ON p.id = d.profile_id LEFT JOIN farm_assets a ON a.id = d.asset_id";

fn device_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Device> {
    Ok(Device {
        id: DeviceId(r.get(0)?),
        name: r.get(1)?,
        profile: r.get(2)?,
        asset_id: r.get(3)?,
        asset: r.get(4)?,
        village_id: r.get(5)?,
        gateway_id: r.get::<_, Option<i64>>(6)?.map(DeviceId),
        is_gateway: r.get(7)?,
        token: r.get(8)?,
        dev_eui: r.get(9)?,
        created_at: r.get(10)?,
    })
}

fn check_name(name: &str) -> Result<&str, FarmStoreError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(FarmStoreError::BadName);
    }
    Ok(name)
}

/// The id of profile `name`, creating an empty profile if it is new.
pub fn ensure_profile(conn: &Connection, name: &str) -> Result<i64, FarmStoreError> {
    let name = check_name(name)?;
    conn.execute(
        "INSERT OR IGNORE INTO farm_device_profiles (name) VALUES ($1)",
        [name],
    )?;
    Ok(conn.query_row(
        "SELECT id FROM farm_device_profiles WHERE name = $1",
        [name],
        |r| r.get(0),
    )?)
}

/// The id of asset `name` in `village_id` (`None`: county-level), creating it (of
/// `kind`) if the name is new. Asset names are unique across the county (other
/// domains name assets), so a name taken in another village is refused without
/// saying where.
pub fn ensure_asset(
    conn: &Connection,
    name: &str,
    kind: AssetKind,
    village_id: Option<i64>,
) -> Result<i64, FarmStoreError> {
    let name = check_name(name)?;
    // Insert-if-absent in one statement, then read whichever row won: two callers
    // (or nodes) naming a new asset at once get one asset, not a unique violation.
    // In this installation's id range: an asset made on a village node keeps
    // its id on the hub (cunlink_core::sync).
    let id = cunlink_core::sync::next_id(conn, "farm_assets")?;
    conn.execute(
        "INSERT INTO farm_assets (id, name, kind, village_id, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO NOTHING",
        params![id, name, kind.as_str(), village_id, now_ms()],
    )?;
    match asset_by_name(conn, name)? {
        Some((id, home)) if home == village_id => Ok(id),
        _ => Err(FarmStoreError::AssetElsewhere(name.to_string())),
    }
}

/// Id and village of the asset named `name`.
pub fn asset_by_name(
    conn: &Connection,
    name: &str,
) -> Result<Option<(i64, Option<i64>)>, FarmStoreError> {
    Ok(conn
        .query_row(
            "SELECT id, village_id FROM farm_assets WHERE name = $1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The asset id and village of a new device: see [`NewDevice`] and docs/devices.md.
fn place(tx: &Connection, new: &NewDevice) -> Result<(Option<i64>, Option<i64>), FarmStoreError> {
    let village_id = match &new.village {
        Some(v) => Some(
            cunlink_core::auth::AuthService::ensure_village(tx, v)
                .map_err(|e| FarmStoreError::Village(e.to_string()))?,
        ),
        None => new.village_id,
    };
    if new.county_level && village_id.is_some() {
        return Err(FarmStoreError::CountyLevelWithVillage);
    }
    let Some(asset) = &new.asset else {
        if village_id.is_none() && !new.county_level {
            return Err(FarmStoreError::VillageRequired);
        }
        return Ok((new.asset_id, village_id));
    };
    let asset = check_name(asset)?;
    if village_id.is_none() && !new.county_level {
        // No village named: an existing asset brings its own (a county-level asset
        // only for the county-wide callers that may name no village at all).
        return match asset_by_name(tx, asset)? {
            Some((id, Some(home))) => Ok((Some(id), Some(home))),
            _ => Err(FarmStoreError::VillageRequired),
        };
    }
    let kind = new.asset_kind.unwrap_or(AssetKind::Field);
    Ok((Some(ensure_asset(tx, asset, kind, village_id)?), village_id))
}

pub fn create_device(conn: &mut Connection, new: &NewDevice) -> Result<Device, FarmStoreError> {
    let name = check_name(&new.name)?.to_string();
    let dev_eui = match &new.dev_eui {
        Some(e) => Some(
            crate::model::parse_dev_eui(e).ok_or_else(|| FarmStoreError::BadDevEui(e.clone()))?,
        ),
        None => None,
    };
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM farm_devices WHERE name = $1)",
        [&name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(FarmStoreError::DeviceExists(name));
    }
    if let Some(eui) = &dev_eui {
        let taken: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM farm_devices WHERE dev_eui = $1)",
            [eui],
            |r| r.get(0),
        )?;
        if taken {
            return Err(FarmStoreError::DevEuiTaken(eui.clone()));
        }
    }
    let (asset_id, village_id) = place(&tx, new)?;
    let profile_name = new.profile.clone().unwrap_or_else(|| {
        if new.is_gateway {
            "gateway".into()
        } else {
            "default".into()
        }
    });
    let profile_id = ensure_profile(&tx, &profile_name)?;
    let token = cunlink_core::random::token(24);
    let now = now_ms();
    // In this installation's id range (see the asset above).
    let id = cunlink_core::sync::next_id(&tx, "farm_devices")?;
    tx.execute(
        "INSERT INTO farm_devices (name, profile_id, asset_id, gateway_id, is_gateway, token, dev_eui, created_at, updated_at, village_id, id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
        params![name, profile_id, asset_id, new.gateway_id.map(|g| g.0), new.is_gateway, token, dev_eui, now, village_id, id],
    )?;
    let dev = tx.query_row(
        &format!("{DEVICE_SELECT} WHERE d.id = $1"),
        [id],
        device_from_row,
    )?;
    tx.commit()?;
    Ok(dev)
}

pub fn all_devices(conn: &Connection) -> Result<Vec<Device>, FarmStoreError> {
    let mut st = conn.prepare(&format!("{DEVICE_SELECT} ORDER BY d.id"))?;
    let rows = st.query_map([], device_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Devices created or changed at or after `since` (ms).
pub fn devices_changed_since(conn: &Connection, since: i64) -> Result<Vec<Device>, FarmStoreError> {
    let mut st = conn.prepare(&format!(
        "{DEVICE_SELECT} WHERE d.updated_at >= $1 ORDER BY d.id"
    ))?;
    let rows = st.query_map([since], device_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn device_where(
    conn: &Connection,
    column: &str,
    value: &str,
) -> Result<Option<Device>, FarmStoreError> {
    let col = match column {
        "token" => "d.token",
        "name" => "d.name",
        "dev_eui" => "d.dev_eui",
        _ => return Ok(None),
    };
    Ok(conn
        .query_row(
            &format!("{DEVICE_SELECT} WHERE {col} = $1"),
            [value],
            device_from_row,
        )
        .optional()?)
}

/// Give a device a new random token; the old one stops working.
pub fn rotate_token(conn: &Connection, name: &str) -> Result<Device, FarmStoreError> {
    let token = cunlink_core::random::token(24);
    let n = conn.execute(
        "UPDATE farm_devices SET token = $1, updated_at = $2 WHERE name = $3",
        params![token, now_ms(), name],
    )?;
    if n == 0 {
        return Err(FarmStoreError::NoSuchDevice(name.to_string()));
    }
    device_where(conn, "name", name)?.ok_or_else(|| FarmStoreError::NoSuchDevice(name.to_string()))
}

pub fn assets(conn: &Connection) -> Result<Vec<Asset>, FarmStoreError> {
    let mut st = conn.prepare(
        "SELECT id, name, kind, village_id, parent_id, ear_tag FROM farm_assets ORDER BY name",
    )?;
    let rows = st.query_map([], asset_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A row of `SELECT id, name, kind, village_id, parent_id, ear_tag FROM farm_assets`.
fn asset_from_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Asset> {
    let kind: String = r.get(2)?;
    Ok(Asset {
        id: r.get(0)?,
        name: r.get(1)?,
        // Written only from `AssetKind::as_str`.
        kind: kind.parse().unwrap_or(AssetKind::Other),
        village_id: r.get(3)?,
        parent_id: r.get(4)?,
        ear_tag: r.get(5)?,
    })
}

const PROFILE_COLS: &str = "id, name, keys, reporting_interval_s, measures_core_temp, retention_days, rollup_retention_days";

fn profile_row(r: &cunlink_core::sql::Row<'_>) -> cunlink_core::sql::Result<Profile> {
    let keys: String = r.get(2)?;
    Ok(Profile {
        id: r.get(0)?,
        name: r.get(1)?,
        // Written by our migrations as a JSON array; an edited row lists no keys.
        keys: serde_json::from_str::<Vec<ProfileKey>>(&keys).unwrap_or_default(),
        reporting_interval_s: r.get::<_, i64>(3)?.clamp(1, u32::MAX as i64) as u32,
        measures_core_temp: r.get(4)?,
        retention_days: r
            .get::<_, Option<i64>>(5)?
            .map(|d| d.clamp(0, u32::MAX as i64) as u32),
        rollup_retention_days: r
            .get::<_, Option<i64>>(6)?
            .map(|d| d.clamp(0, u32::MAX as i64) as u32),
    })
}

pub fn profiles(conn: &Connection) -> Result<Vec<Profile>, FarmStoreError> {
    let mut st = conn.prepare(&format!(
        "SELECT {PROFILE_COLS} FROM farm_device_profiles ORDER BY name"
    ))?;
    let rows = st.query_map([], profile_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One profile by its name (one indexed row, not the whole table).
pub fn profile_by_name(conn: &Connection, name: &str) -> Result<Option<Profile>, FarmStoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {PROFILE_COLS} FROM farm_device_profiles WHERE name = $1"),
            [name],
            profile_row,
        )
        .optional()?)
}

/// One asset by id.
pub fn asset(conn: &Connection, id: i64) -> Result<Option<Asset>, FarmStoreError> {
    Ok(conn
        .query_row(
            "SELECT id, name, kind, village_id, parent_id, ear_tag FROM farm_assets WHERE id = $1",
            [id],
            asset_from_row,
        )
        .optional()?)
}
