//! Accounts a village node gets from its hub (docs/node.md): its county and
//! village rows, and the village's users with their password hashes, so that
//! villagers sign in at the node while the county link is down. The hub owns
//! them: a change made on the node is replaced at the next sync.

use std::sync::Arc;

use serde_json::Value;

use crate::sql::Connection;
use crate::sync::rows::{self, Table};
use crate::sync::{DownKind, SyncError, SyncKinds, field_i64, field_opt_i64};

const COUNTIES: Table = Table {
    name: "counties",
    columns: &["id", "name"],
};
const VILLAGES: Table = Table {
    name: "villages",
    columns: &["id", "county_id", "name"],
};
const USERS: Table = Table {
    name: "users",
    columns: &[
        "id",
        "username",
        "password_hash",
        "role",
        "village_id",
        "locale",
        "disabled",
        "created_at",
    ],
};

pub fn register(kinds: &mut SyncKinds) {
    kinds.down(Arc::new(Places));
    kinds.down(Arc::new(Users));
}

/// The village's row and its county's, as one list (`{"county": …}` first).
struct Places;

impl DownKind for Places {
    fn kind(&self) -> &'static str {
        "villages"
    }
    fn snapshot(&self, conn: &Connection, village: i64) -> Result<Vec<Value>, SyncError> {
        let mut out = Vec::new();
        let v = rows::export(conn, &VILLAGES, "id = $1", &[&village])?;
        if let Some(county) = v.first().and_then(|v| v["county_id"].as_i64()) {
            out.extend(rows::export(conn, &COUNTIES, "id = $1", &[&county])?);
        }
        out.extend(v);
        Ok(out)
    }
    fn apply(&self, conn: &Connection, village: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            if r.get("county_id").is_some() {
                if field_i64(r, "id")? != village {
                    return Err(SyncError::reject("a village other than the node's"));
                }
                rows::upsert(conn, &VILLAGES, r)?;
            } else {
                rows::upsert(conn, &COUNTIES, r)?;
            }
        }
        Ok(())
    }
}

struct Users;

impl DownKind for Users {
    fn kind(&self) -> &'static str {
        "users"
    }
    fn snapshot(&self, conn: &Connection, village: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &USERS, "village_id = $1", &[&village])
    }
    fn apply(&self, conn: &Connection, village: i64, list: &[Value]) -> Result<(), SyncError> {
        let mut keep = std::collections::HashSet::with_capacity(list.len());
        for r in list {
            if field_opt_i64(r, "village_id")? != Some(village) {
                return Err(SyncError::reject("a user of another village"));
            }
            keep.insert(field_i64(r, "id")?);
        }
        // Users the hub no longer lists lose their sessions and tokens first
        // (they refer to the user row).
        let gone: Vec<i64> = {
            let mut st = conn.prepare_cached("SELECT id FROM users")?;
            let ids = st.query_map([], |r| r.get::<_, i64>(0))?;
            let mut out = Vec::new();
            for id in ids {
                let id = id?;
                if !keep.contains(&id) {
                    out.push(id);
                }
            }
            out
        };
        for id in &gone {
            conn.execute("DELETE FROM sessions WHERE user_id = $1", [id])?;
            conn.execute("DELETE FROM api_tokens WHERE user_id = $1", [id])?;
        }
        rows::replace_all(conn, &USERS, "1 = 1", &[], list)
    }
}
