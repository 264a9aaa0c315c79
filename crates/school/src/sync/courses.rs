//! Courses and classes come down: the county hub owns them (made and changed
//! there only; a node answers 409 `hub_only`), so a course, an item or a class
//! has the same id on the node, and a statement recorded on the node names the
//! hub's course. A course travels with its items and enrolments, a class with
//! its members (child rows inside their parent's record).
//!
//! A node's copy is made exactly the hub's list; what the hub no longer lists
//! is deleted with its children. Statements made on the node stay (they name
//! the course by id only).

use std::collections::HashSet;

use cunlink_core::sql::{Connection, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, SyncError, field_i64, field_opt_i64};
use serde_json::{Value, json};

use super::field_array;

const CLASSES: Table = Table {
    name: "school_classes",
    columns: &[
        "id",
        "name",
        "school",
        "village_id",
        "teacher_id",
        "created_at",
    ],
};

const COURSES: Table = Table {
    name: "school_courses",
    columns: &[
        "id",
        "title",
        "audience",
        "description",
        "village_id",
        "created_by",
        "created_at",
    ],
};

const ITEMS: Table = Table {
    name: "school_course_items",
    columns: &[
        "id",
        "course_id",
        "position",
        "kind",
        "title",
        "body",
        "sha256",
        "quiz",
        "package",
    ],
};

/// Courses a village learns: its own and the county-wide ones.
const COURSE_SCOPE: &str = "village_id = $1 OR village_id IS NULL";

fn ids(conn: &Connection, sql: &str, arg: i64) -> Result<Vec<i64>, SyncError> {
    let mut st = conn.prepare_cached(sql)?;
    let out = st
        .query_map([arg], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(out)
}

/// Every id of a table on this node (all of them are the hub's).
fn all_ids(conn: &Connection, sql: &str) -> Result<Vec<i64>, SyncError> {
    let mut st = conn.prepare_cached(sql)?;
    let out = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(out)
}

pub struct ClassKind;

impl DownKind for ClassKind {
    fn kind(&self) -> &'static str {
        "school_classes"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let mut list = rows::export(conn, &CLASSES, "village_id = $1", &[&village_id])?;
        for c in &mut list {
            let id = field_i64(c, "id")?;
            let members = ids(
                conn,
                "SELECT user_id FROM school_class_members WHERE class_id = $1 ORDER BY user_id",
                id,
            )?;
            c["members"] = json!(members);
        }
        Ok(list)
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        let mut keep = HashSet::with_capacity(list.len());
        for c in list {
            if field_i64(c, "village_id")? != village_id {
                return Err(SyncError::reject("a class of another village"));
            }
            let id = rows::upsert(conn, &CLASSES, c)?;
            let mut want = Vec::new();
            for m in field_array(c, "members")? {
                want.push(
                    m.as_i64()
                        .ok_or_else(|| SyncError::reject("members are user ids"))?,
                );
            }
            want.sort_unstable();
            want.dedup();
            let have = ids(
                conn,
                "SELECT user_id FROM school_class_members WHERE class_id = $1 ORDER BY user_id",
                id,
            )?;
            if have != want {
                conn.prepare_cached("DELETE FROM school_class_members WHERE class_id = $1")?
                    .execute([id])?;
                for u in &want {
                    conn.prepare_cached(
                        "INSERT INTO school_class_members (class_id, user_id) VALUES ($1, $2)",
                    )?
                    .execute(params![id, u])?;
                }
            }
            keep.insert(id);
        }
        for id in all_ids(conn, "SELECT id FROM school_classes")? {
            if !keep.contains(&id) {
                conn.prepare_cached("DELETE FROM school_class_members WHERE class_id = $1")?
                    .execute([id])?;
                conn.prepare_cached("DELETE FROM school_enrolments WHERE class_id = $1")?
                    .execute([id])?;
                conn.prepare_cached("DELETE FROM school_classes WHERE id = $1")?
                    .execute([id])?;
            }
        }
        Ok(())
    }
}

type Enrolment = (Option<i64>, Option<i64>, i64);

fn enrolments(conn: &Connection, course: i64) -> Result<Vec<Enrolment>, SyncError> {
    let mut st = conn.prepare_cached(
        "SELECT user_id, class_id, at FROM school_enrolments WHERE course_id = $1
         ORDER BY coalesce(user_id, -1), coalesce(class_id, -1)",
    )?;
    let out = st
        .query_map([course], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(out)
}

pub struct CourseKind;

impl DownKind for CourseKind {
    fn kind(&self) -> &'static str {
        "school_courses"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        let mut list = rows::export(conn, &COURSES, COURSE_SCOPE, &[&village_id])?;
        for c in &mut list {
            let id = field_i64(c, "id")?;
            c["items"] = Value::Array(rows::export(conn, &ITEMS, "course_id = $1", &[&id])?);
            let e: Vec<Value> = enrolments(conn, id)?
                .into_iter()
                .map(|(user_id, class_id, at)| {
                    json!({"user_id": user_id, "class_id": class_id, "at": at})
                })
                .collect();
            c["enrolments"] = Value::Array(e);
        }
        Ok(list)
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        let mut keep = HashSet::with_capacity(list.len());
        for c in list {
            if field_opt_i64(c, "village_id")?.is_some_and(|v| v != village_id) {
                return Err(SyncError::reject("a course of another village"));
            }
            let id = rows::upsert(conn, &COURSES, c)?;
            let items = field_array(c, "items")?;
            for it in items {
                if field_i64(it, "course_id")? != id {
                    return Err(SyncError::reject(format!(
                        "an item of course {id} names another course"
                    )));
                }
            }
            rows::replace_all(conn, &ITEMS, "course_id = $1", &[&id], items)?;
            let mut want: Vec<Enrolment> = Vec::new();
            for e in field_array(c, "enrolments")? {
                let user = field_opt_i64(e, "user_id")?;
                let class = field_opt_i64(e, "class_id")?;
                if user.is_some() == class.is_some() {
                    return Err(SyncError::reject(
                        "an enrolment names a user or a class, not both",
                    ));
                }
                want.push((user, class, field_i64(e, "at")?));
            }
            want.sort_by_key(|(u, c, _)| (u.unwrap_or(-1), c.unwrap_or(-1)));
            if enrolments(conn, id)? != want {
                conn.prepare_cached("DELETE FROM school_enrolments WHERE course_id = $1")?
                    .execute([id])?;
                for (user, class, at) in &want {
                    conn.prepare_cached(
                        "INSERT INTO school_enrolments (course_id, user_id, class_id, at) VALUES ($1, $2, $3, $4)",
                    )?
                    .execute(params![id, user, class, at])?;
                }
            }
            keep.insert(id);
        }
        // Every course on a node is the hub's: drop what the hub no longer lists.
        for id in all_ids(conn, "SELECT id FROM school_courses")? {
            if !keep.contains(&id) {
                for sql in [
                    "DELETE FROM school_course_items WHERE course_id = $1",
                    "DELETE FROM school_enrolments WHERE course_id = $1",
                    "DELETE FROM school_courses WHERE id = $1",
                ] {
                    conn.prepare_cached(sql)?.execute([id])?;
                }
            }
        }
        Ok(())
    }
}
