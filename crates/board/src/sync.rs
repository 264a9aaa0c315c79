//! Down: the display boards of a village's node (docs/node.md), so that the
//! screens in the village keep showing readings while the county link is
//! down. A board belongs to the villages of its assets; a node gets every
//! board that shows one of its village's assets. The hub owns them: boards
//! are made on the hub (`cunlink board create` on a node is refused).

use std::collections::HashSet;
use std::sync::Arc;

use cunlink_core::sql::Connection;
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, SyncKinds};
use serde_json::Value;

const BOARDS: Table = Table {
    name: "boards",
    columns: &[
        "id",
        "slug",
        "name",
        "assets",
        "keys",
        "rotate_secs",
        "line_width",
        "line_count",
        "created_at",
    ],
};

/// Most boards a village's node gets.
const MAX_BOARDS: usize = 200;

pub fn register(kinds: &mut SyncKinds) {
    kinds.down(Arc::new(BoardKind));
}

struct BoardKind;

impl DownKind for BoardKind {
    fn kind(&self) -> &'static str {
        "boards"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let ours: HashSet<i64> = cunlink_farm::store::assets(conn)
            .map_err(|e| SyncError::reject(format!("reading the assets: {e}")))?
            .into_iter()
            .filter(|a| a.village_id == Some(village_id))
            .map(|a| a.id)
            .collect();
        let mut out = Vec::new();
        for b in rows::export(conn, &BOARDS, "1 = 1", &[])? {
            let assets: Vec<i64> = b["assets"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            if assets.iter().any(|a| ours.contains(a)) {
                out.push(b);
                if out.len() == MAX_BOARDS {
                    break;
                }
            }
        }
        Ok(out)
    }
    /// Every board on a node is the hub's: the node's copy becomes the list.
    fn apply(&self, conn: &Connection, _village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for b in list {
            let assets = cunlink_core::sync::field_str(b, "assets")?;
            if serde_json::from_str::<Vec<i64>>(assets).is_err() {
                return Err(SyncError::reject("a board's assets must be a list of ids"));
            }
        }
        rows::replace_all(conn, &BOARDS, "1 = 1", &[], list)
    }
}
