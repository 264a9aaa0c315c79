//! The accounts tables' contract for other domains: small reads by id or name
//! that take the caller's connection (or transaction), so a domain can resolve
//! names inside its own transaction without naming `villages` or `users` in
//! its SQL. Batched forms answer a whole list query in one statement.

use std::collections::HashMap;

use crate::sql::{Connection, OptionalExtension, params_from_iter};

/// Ids per statement in the batched lookups, well under SQLite's variable limit.
const BATCH: usize = 500;

/// The name of village `id`, if it exists.
pub fn village_name(conn: &Connection, id: i64) -> crate::sql::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM villages WHERE id = $1")?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// The id of village `name`, if it exists (exact name, no trimming).
pub fn village_id(conn: &Connection, name: &str) -> crate::sql::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM villages WHERE name = $1")?
        .query_row([name], |r| r.get(0))
        .optional()
}

/// Every village name, in name order.
pub fn village_list(conn: &Connection) -> crate::sql::Result<Vec<String>> {
    let mut st = conn.prepare_cached("SELECT name FROM villages ORDER BY name")?;
    st.query_map([], |r| r.get(0))?.collect()
}

/// Every village id (work spread over nodes village by village).
pub fn village_ids(conn: &Connection) -> crate::sql::Result<Vec<i64>> {
    let mut st = conn.prepare_cached("SELECT id FROM villages ORDER BY id")?;
    st.query_map([], |r| r.get(0))?.collect()
}

/// Names of the villages in `ids`; unknown ids are left out.
pub fn village_names(conn: &Connection, ids: &[i64]) -> crate::sql::Result<HashMap<i64, String>> {
    names_by_id(conn, "villages", "name", ids)
}

/// Usernames of the users in `ids` (disabled users too); unknown ids are left out.
pub fn usernames(conn: &Connection, ids: &[i64]) -> crate::sql::Result<HashMap<i64, String>> {
    names_by_id(conn, "users", "username", ids)
}

/// Whether user `id` exists (disabled or not).
pub fn user_exists(conn: &Connection, id: i64) -> crate::sql::Result<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM users WHERE id = $1)")?
        .query_row([id], |r| r.get(0))
}

/// Ids of the enabled county-wide users (admins, county staff): who hears
/// about what a village escalates to the township.
pub fn county_wide_user_ids(conn: &Connection) -> crate::sql::Result<Vec<i64>> {
    let mut st = conn.prepare_cached(
        "SELECT id FROM users WHERE disabled = 0 AND role IN ('admin', 'county_staff') ORDER BY id",
    )?;
    st.query_map([], |r| r.get(0))?.collect()
}

/// How many user accounts exist.
pub fn user_count(conn: &Connection) -> crate::sql::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
}

/// `table` and `column` are constants of this module, never input.
fn names_by_id(
    conn: &Connection,
    table: &str,
    column: &str,
    ids: &[i64],
) -> crate::sql::Result<HashMap<i64, String>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let mut st = conn.prepare(&format!(
            "SELECT id, {column} FROM {table} WHERE id IN ({})",
            marks.join(", ")
        ))?;
        let rows = st.query_map(params_from_iter(chunk.iter()), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, name) = row?;
            out.insert(id, name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut c, "core", super::super::MIGRATIONS).unwrap();
        c.execute(
            "INSERT INTO villages (id, name) VALUES (1, '茶香村'), (2, '县城')",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO users (id, username, password_hash, role, village_id, created_at)
             VALUES (7, 'ana', '', 'farmer', 1, 0), (8, 'bo', '', 'buyer', NULL, 0)",
            [],
        )
        .unwrap();
        c
    }

    #[test]
    fn single_and_batched_lookups_agree() {
        let c = db();
        assert_eq!(village_name(&c, 1).unwrap().as_deref(), Some("茶香村"));
        assert_eq!(village_name(&c, 9).unwrap(), None);
        assert_eq!(village_id(&c, "县城").unwrap(), Some(2));
        assert_eq!(village_list(&c).unwrap().len(), 2);
        let v = village_names(&c, &[2, 1, 2, 99]).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[&2], "县城");
        let u = usernames(&c, &[8, 7, 5]).unwrap();
        assert_eq!((u[&7].as_str(), u[&8].as_str(), u.len()), ("ana", "bo", 2));
        assert!(usernames(&c, &[]).unwrap().is_empty());
        assert!(user_exists(&c, 7).unwrap() && !user_exists(&c, 6).unwrap());
        assert_eq!(user_count(&c).unwrap(), 2);
        // More ids than one statement takes.
        let many: Vec<i64> = (0..1200).collect();
        assert_eq!(village_names(&c, &many).unwrap().len(), 2);
    }
}
