//! Down: the village's groups (with their members) and its newest notices
//! (with who each was sent to). A recipient's read mark is the node's own: the
//! rows carry who a notice was sent to, not who read it, so a resident reading
//! on the hub does not resend the list, and a read at the node stays.

use std::collections::HashSet;

use cunlink_core::sql::{Connection, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, field_i64, field_opt_i64};
use serde_json::Value;

const GROUPS: Table = Table {
    name: "affairs_groups",
    columns: &["id", "village_id", "name"],
};

pub(crate) const NOTICES: Table = Table {
    name: "affairs_notices",
    columns: &[
        "id",
        "village_id",
        "category",
        "title",
        "body",
        "urgent",
        "group_id",
        "expires_at",
        "photos",
        "audio",
        "created_by",
        "created_at",
    ],
};

/// The newest 500 notices of village `$1`: what a node holds, enough for
/// every page, and a bound on the snapshot (each carries its recipients).
pub(crate) const NOTICE_SCOPE: &str = "village_id = $1 AND id IN (SELECT id FROM affairs_notices WHERE village_id = $1 ORDER BY id DESC LIMIT 500)";

fn ids(conn: &Connection, sql: &str, id: i64) -> Result<Vec<i64>, SyncError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `(owner, user)` rows of `sql` over `$1`, as each owner's users in order:
/// one query for a whole snapshot, not one per row.
fn pairs(
    conn: &Connection,
    sql: &str,
    village_id: i64,
) -> Result<std::collections::HashMap<i64, Vec<i64>>, SyncError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map([village_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut out: std::collections::HashMap<i64, Vec<i64>> = std::collections::HashMap::new();
    for row in rows {
        let (owner, user) = row?;
        out.entry(owner).or_default().push(user);
    }
    Ok(out)
}

/// A list of integer ids in field `name`.
fn id_list(body: &Value, name: &str) -> Result<Vec<i64>, SyncError> {
    cunlink_core::sync::field(body, name)?
        .as_array()
        .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| SyncError::reject(format!("field '{name}' must be a list of ids")))
}

/// Make the rows of `(owner_col = owner)` in `table` exactly `want` (user
/// ids), leaving the others' columns (a read mark) alone.
fn set_users(
    conn: &Connection,
    table: &'static str,
    owner_col: &'static str,
    owner: i64,
    want: &[i64],
) -> Result<(), SyncError> {
    let have: HashSet<i64> = ids(
        conn,
        &format!("SELECT user_id FROM {table} WHERE {owner_col} = $1"),
        owner,
    )?
    .into_iter()
    .collect();
    let want_set: HashSet<i64> = want.iter().copied().collect();
    for u in want_set.difference(&have) {
        conn.prepare_cached(&format!(
            "INSERT INTO {table} ({owner_col}, user_id) VALUES ($1, $2)"
        ))?
        .execute(params![owner, u])?;
    }
    for u in have.difference(&want_set) {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE {owner_col} = $1 AND user_id = $2"
        ))?
        .execute(params![owner, u])?;
    }
    Ok(())
}

pub struct GroupKind;

impl DownKind for GroupKind {
    fn kind(&self) -> &'static str {
        "notice_groups"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let mut out = rows::export(conn, &GROUPS, "village_id = $1", &[&village_id])?;
        let mut members = pairs(
            conn,
            "SELECT m.group_id, m.user_id FROM affairs_group_members m
               JOIN affairs_groups g ON g.id = m.group_id
              WHERE g.village_id = $1 ORDER BY m.group_id, m.user_id",
            village_id,
        )?;
        for g in &mut out {
            let id = field_i64(g, "id")?;
            g["members"] = Value::from(members.remove(&id).unwrap_or_default());
        }
        Ok(out)
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        let mut keep = HashSet::new();
        for g in list {
            if field_i64(g, "village_id")? != village_id {
                return Err(SyncError::reject("a group of another village"));
            }
            let id = rows::upsert(conn, &GROUPS, g)?;
            set_users(
                conn,
                "affairs_group_members",
                "group_id",
                id,
                &id_list(g, "members")?,
            )?;
            keep.insert(id);
        }
        // The hub never deletes a group; one no notice names any more goes.
        for id in ids(
            conn,
            "SELECT id FROM affairs_groups WHERE village_id = $1",
            village_id,
        )? {
            if keep.contains(&id) {
                continue;
            }
            let named: bool = conn
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM affairs_notices WHERE group_id = $1)")?
                .query_row([id], |r| r.get(0))?;
            if !named {
                conn.prepare_cached("DELETE FROM affairs_group_members WHERE group_id = $1")?
                    .execute([id])?;
                conn.prepare_cached("DELETE FROM affairs_groups WHERE id = $1")?
                    .execute([id])?;
            }
        }
        Ok(())
    }
}

pub struct NoticeKind;

impl DownKind for NoticeKind {
    fn kind(&self) -> &'static str {
        "notices"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let mut out = rows::export(conn, &NOTICES, NOTICE_SCOPE, &[&village_id])?;
        let mut to = pairs(
            conn,
            &format!(
                "SELECT notice_id, user_id FROM affairs_notice_recipients
                  WHERE notice_id IN (SELECT id FROM affairs_notices WHERE {NOTICE_SCOPE})
                  ORDER BY notice_id, user_id"
            ),
            village_id,
        )?;
        for n in &mut out {
            let id = field_i64(n, "id")?;
            n["recipients"] = Value::from(to.remove(&id).unwrap_or_default());
        }
        Ok(out)
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        let mut keep = HashSet::with_capacity(list.len());
        for n in list {
            let id = field_i64(n, "id")?;
            if field_i64(n, "village_id")? != village_id {
                return Err(SyncError::reject(format!(
                    "notice {id} is another village's"
                )));
            }
            if let Some(g) = field_opt_i64(n, "group_id")? {
                let known: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS(SELECT 1 FROM affairs_groups WHERE id = $1 AND village_id = $2)",
                    )?
                    .query_row(params![g, village_id], |r| r.get(0))?;
                if !known {
                    return Err(SyncError::reject(format!(
                        "notice {id} names group {g}, which the village does not have"
                    )));
                }
            }
            rows::upsert(conn, &NOTICES, n)?;
            set_users(
                conn,
                "affairs_notice_recipients",
                "notice_id",
                id,
                &id_list(n, "recipients")?,
            )?;
            keep.insert(id);
        }
        // Every notice on a node is the hub's (a node writes none): one that
        // left the hub's list (older than the newest 500) goes.
        for id in ids(
            conn,
            "SELECT id FROM affairs_notices WHERE village_id = $1",
            village_id,
        )? {
            if !keep.contains(&id) {
                conn.prepare_cached("DELETE FROM affairs_notice_recipients WHERE notice_id = $1")?
                    .execute([id])?;
                conn.prepare_cached("DELETE FROM affairs_notices WHERE id = $1")?
                    .execute([id])?;
            }
        }
        Ok(())
    }
}
