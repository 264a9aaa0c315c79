//! The audit log (`audit_log`, owned by core): admin actions and sensitive
//! reads. Other domains add entries through [`record`], on their own
//! connection or transaction, so an entry commits or rolls back with the change
//! it describes.

use crate::sql::{Connection, params};

use crate::time::now_ms;

/// Add an entry: who (`None`: the system, e.g. the demo seeder), what
/// (`domain.verb`, e.g. `demo.market`) and a short detail.
pub fn record(
    conn: &Connection,
    user_id: Option<i64>,
    action: &str,
    detail: &str,
) -> crate::sql::Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, user_id, action, detail) VALUES ($1, $2, $3, $4)",
    )?
    .execute(params![now_ms(), user_id, action, detail])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_entry_is_stored() {
        let mut c = crate::sql::Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut c, "core", crate::auth::MIGRATIONS).unwrap();
        super::record(&c, None, "demo.market", "seeded").unwrap();
        let (user, action, detail): (Option<i64>, String, String) = c
            .query_row("SELECT user_id, action, detail FROM audit_log", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(
            (user, action.as_str(), detail.as_str()),
            (None, "demo.market", "seeded")
        );
    }
}
