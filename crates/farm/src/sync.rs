//! What the farm syncs between a village node and its hub
//! (`cunlink_core::sync`, docs/node.md): device profiles, the village's assets
//! and its devices (with their access tokens, so that sensors keep reporting to
//! the node while the county link is down) come down. Assets and devices made
//! on the node — a sensor added in the village, an ear tag a gateway announced
//! — have ids in the node's range and go up; the hub stores them under the same
//! id, and they come down again with the others. Readings go up apart, as
//! compressed chunks (`telemetry::uplink` and the node crate).

use std::sync::Arc;

use cunlink_core::sql::Connection;
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, ID_SPAN, SyncError, SyncKinds, UpKind, field_opt_i64};
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

/// Rows the hub made (below every node's range): the only ones a snapshot
/// from the hub may delete on a node.
fn hub_made() -> String {
    format!("id < {ID_SPAN}")
}

pub fn register(kinds: &mut SyncKinds, farm: Arc<Farm>) {
    kinds.up(Arc::new(NodeMade {
        table: &ASSETS,
        kind: "asset",
        farm: None,
    }));
    kinds.up(Arc::new(NodeMade {
        table: &DEVICES,
        kind: "device",
        farm: Some(farm.clone()),
    }));
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
        // A node holds only its village's rows: anything else the hub made is
        // gone. Rows made here stay until the hub has them (they come back
        // down in the snapshot then).
        rows::replace_all(conn, self.table, &hub_made(), &[], list)
    }
    fn applied(&self) {
        if let Some(farm) = &self.farm
            && let Err(e) = farm.registry.reload_all()
        {
            tracing::warn!(error = %e, "reloading devices after sync failed");
        }
    }
}

/// An asset or a device made on the node, sent up under its id.
struct NodeMade {
    table: &'static Table,
    kind: &'static str,
    /// Devices: the hub's registry learns them after the batch.
    farm: Option<Arc<Farm>>,
}

impl UpKind for NodeMade {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn priority(&self) -> u8 {
        // Before the alarms and readings that name it (same priority as
        // alarms: the outbox order puts the device first).
        0
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id: i64 = key
            .parse()
            .map_err(|_| SyncError::reject(format!("'{key}' is not an id")))?;
        rows::export_one(conn, self.table, id)
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        if field_opt_i64(body, "village_id")? != Some(village_id) {
            return Err(SyncError::reject(format!(
                "the {} is not of the node's village",
                self.kind
            )));
        }
        let id = field_opt_i64(body, "id")?;
        if id.map(|i| i.to_string()).as_deref() != Some(key) || id < Some(ID_SPAN) {
            return Err(SyncError::reject(format!(
                "a node's {} has an id of the node's range, the same as its key",
                self.kind
            )));
        }
        // A name the hub already uses elsewhere breaks a unique index: the
        // record is refused into the dead letters, the rest flows.
        rows::upsert(conn, self.table, body)?;
        Ok(())
    }
    fn applied(&self) {
        if let Some(farm) = &self.farm
            && let Err(e) = farm.registry.reload_all()
        {
            tracing::warn!(error = %e, "reloading devices after a node's batch failed");
        }
    }
}
