//! What the farm syncs between a village node and its hub
//! (`cunlink_core::sync`, docs/node.md): device profiles, the village's assets
//! and its devices (with their access tokens, so that sensors keep reporting to
//! the node while the county link is down) come down. Readings go up apart, as
//! compressed chunks (`telemetry::uplink` and the node crate).

use std::sync::Arc;

use cunlink_core::sql::Connection;
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, SyncKinds, field_opt_i64};
use serde_json::Value;

use crate::Farm;

const PROFILES: Table = Table {
    name: "farm_device_profiles",
    columns: &[
        "id",
        "name",
        "description",
        "keys",
        "reporting_interval_s",
        "measures_core_temp",
        "retention_days",
        "rollup_retention_days",
    ],
};

const ASSETS: Table = Table {
    name: "farm_assets",
    columns: &[
        "id",
        "name",
        "kind",
        "village_id",
        "parent_id",
        "ear_tag",
        "created_at",
    ],
};

const DEVICES: Table = Table {
    name: "farm_devices",
    columns: &[
        "id",
        "name",
        "profile_id",
        "asset_id",
        "gateway_id",
        "is_gateway",
        "token",
        "dev_eui",
        "created_at",
        "updated_at",
        "village_id",
    ],
};

pub fn register(kinds: &mut SyncKinds, farm: Arc<Farm>) {
    kinds.down(Arc::new(Profiles));
    kinds.down(Arc::new(VillageRows {
        table: &ASSETS,
        name: "assets",
        farm: None,
    }));
    kinds.down(Arc::new(VillageRows {
        table: &DEVICES,
        name: "devices",
        farm: Some(farm),
    }));
}

struct Profiles;

impl DownKind for Profiles {
    fn kind(&self) -> &'static str {
        "profiles"
    }
    fn snapshot(&self, conn: &Connection, _village: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &PROFILES, "1 = 1", &[])
    }
    fn apply(&self, conn: &Connection, _village: i64, list: &[Value]) -> Result<(), SyncError> {
        rows::replace_all(conn, &PROFILES, "1 = 1", &[], list)
    }
}

/// Rows of a table with a `village_id`: the village's own.
struct VillageRows {
    table: &'static Table,
    name: &'static str,
    /// Devices: reload the registry after they changed.
    farm: Option<Arc<Farm>>,
}

impl DownKind for VillageRows {
    fn kind(&self) -> &'static str {
        self.name
    }
    fn snapshot(&self, conn: &Connection, village: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, self.table, "village_id = $1", &[&village])
    }
    fn apply(&self, conn: &Connection, village: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            if field_opt_i64(r, "village_id")? != Some(village) {
                return Err(SyncError::reject(format!(
                    "{} of another village",
                    self.name
                )));
            }
        }
        // A node holds only its village's rows: anything else is gone.
        rows::replace_all(conn, self.table, "1 = 1", &[], list)
    }
    fn applied(&self) {
        if let Some(farm) = &self.farm
            && let Err(e) = farm.registry.reload_all()
        {
            tracing::warn!(error = %e, "reloading devices after sync failed");
        }
    }
}
