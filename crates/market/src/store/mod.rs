//! The market's tables (`market_*`), one file per entity. Domain files call
//! these typed functions instead of writing SQL, and nothing here names
//! another crate's table: village and user names come from core's contract
//! (`cunlink_core::auth::village_name`, `usernames`, …) on the same
//! connection, so a caller's transaction covers both.
//!
//! Every market table is read and written here and nowhere else (the order
//! writer's SAVEPOINTs and a migration test aside): one file per entity, plus
//! [`placing`], the writer's hot-path statements, kept `prepare_cached`.

pub mod allocations;
pub mod batches;
pub mod idem;
pub mod live;
pub mod orders;
pub mod parcels;
pub mod photos;
pub mod placing;
pub mod prices;
pub mod products;
pub mod stations;

/// Ids as a SQL list (integers, so no quoting); "0" for none, which no row has.
pub(crate) fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "0".into();
    }
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    ids.join(",")
}
