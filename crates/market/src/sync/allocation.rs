//! Stock between the hub and a village node, as two monotonic counters per
//! variant (docs/market.md, "Village node"):
//!
//! - down: `granted`, every unit the hub ever moved to the village; the node
//!   adds what it has not applied yet (`granted - granted_applied`) to its
//!   local stock;
//! - up: `released`, every unit the node ever gave back; the hub adds what it
//!   has not applied yet (`released - released_applied`) to its online stock.
//!
//! A counter applied twice, or an older one after a newer, adds nothing.

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::{DownKind, SyncError, UpKind, field_i64};
use serde_json::{Value, json};

use super::key_id;

/// `stock + delta` for variant `variant`, refused rather than wrapped.
fn add_stock(conn: &Connection, variant: i64, delta: i64) -> Result<(), SyncError> {
    let stock: Option<i64> = conn
        .prepare_cached("SELECT stock FROM market_variants WHERE id = $1")?
        .query_row([variant], |r| r.get(0))
        .optional()?;
    let Some(stock) = stock else {
        return Err(SyncError::reject(format!("there is no variant {variant}")));
    };
    let new = stock
        .checked_add(delta)
        .ok_or_else(|| SyncError::reject(format!("variant {variant}: stock out of range")))?;
    conn.prepare_cached("UPDATE market_variants SET stock = $1 WHERE id = $2")?
        .execute(params![new, variant])?;
    Ok(())
}

/// Up: the node's `released` counter of a variant.
pub struct ReleasedKind;

impl UpKind for ReleasedKind {
    fn kind(&self) -> &'static str {
        "allocation"
    }
    fn priority(&self) -> u8 {
        1
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let variant = key_id(key, "a variant")?;
        let released: Option<i64> = conn
            .prepare_cached("SELECT released FROM market_node_allocations WHERE variant_id = $1")?
            .query_row([variant], |r| r.get(0))
            .optional()?;
        Ok(released.map(|r| json!({"variant_id": variant, "released": r})))
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let variant = key_id(key, "a variant")?;
        if field_i64(body, "variant_id")? != variant {
            return Err(SyncError::reject("the variant differs from the key"));
        }
        let released = field_i64(body, "released")?;
        let row: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT granted, released_applied FROM market_allocations WHERE village_id = $1 AND variant_id = $2",
            )?
            .query_row(params![village_id, variant], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((granted, applied)) = row else {
            return Err(SyncError::reject(format!(
                "variant {variant} was never allocated to the node's village"
            )));
        };
        if released < 0 || released > granted {
            return Err(SyncError::reject(format!(
                "variant {variant}: released {released} of {granted} granted units"
            )));
        }
        if released <= applied {
            return Ok(());
        }
        add_stock(conn, variant, released - applied)?;
        conn.prepare_cached(
            "UPDATE market_allocations SET released_applied = $1 WHERE village_id = $2 AND variant_id = $3",
        )?
        .execute(params![released, village_id, variant])?;
        Ok(())
    }
}

/// Down: the hub's `granted` counter of each variant allocated to the village.
pub struct GrantedKind;

impl DownKind for GrantedKind {
    fn kind(&self) -> &'static str {
        "allocations"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let mut st = conn.prepare_cached(
            "SELECT variant_id, granted FROM market_allocations WHERE village_id = $1 ORDER BY variant_id",
        )?;
        let rows = st.query_map([village_id], |r| {
            Ok(json!({"variant_id": r.get::<_, i64>(0)?, "granted": r.get::<_, i64>(1)?}))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn apply(&self, conn: &Connection, _village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        for r in list {
            let variant = field_i64(r, "variant_id")?;
            let granted = field_i64(r, "granted")?;
            if granted < 0 {
                return Err(SyncError::reject(format!("variant {variant}: granted < 0")));
            }
            let applied: i64 = conn
                .prepare_cached(
                    "SELECT granted_applied FROM market_node_allocations WHERE variant_id = $1",
                )?
                .query_row([variant], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if granted <= applied {
                continue;
            }
            add_stock(conn, variant, granted - applied)?;
            conn.prepare_cached(
                "INSERT INTO market_node_allocations (variant_id, granted_applied) VALUES ($1, $2)
                 ON CONFLICT (variant_id) DO UPDATE SET granted_applied = excluded.granted_applied",
            )?
            .execute(params![variant, granted])?;
        }
        Ok(())
    }
}
