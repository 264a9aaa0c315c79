//! Courses and classes between a node and its hub. Classes are the hub's (made
//! and changed there only; a node answers 409 `hub_only`) and come down. A
//! course belongs to where it was made: the hub's come down, a node's (ids in
//! its range) go up, and each side refuses changes to the other's. Either way
//! a course, an item or a class has the same id on both sides, and a statement
//! names its course by that id. A course travels with its items and
//! enrolments, a class with its members (child rows inside their parent's
//! record).
//!
//! A node's copy of the hub's courses is made exactly the hub's list; what the
//! hub no longer lists is deleted with its children. Statements stay (they
//! name the course by id only).

use std::collections::HashSet;

use cunlink_core::sql::{Connection, OptionalExtension, params};
use cunlink_core::sync::rows::{self, Table};
use cunlink_core::sync::{DownKind, ID_SPAN, SyncError, UpKind, field_i64, field_opt_i64};
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

/// Course `id`'s record: its row with its items and enrolments.
fn course_record(conn: &Connection, mut c: Value) -> Result<Value, SyncError> {
    let id = field_i64(&c, "id")?;
    c["items"] = Value::Array(rows::export(conn, &ITEMS, "course_id = $1", &[&id])?);
    let e: Vec<Value> = enrolments(conn, id)?
        .into_iter()
        .map(|(user_id, class_id, at)| json!({"user_id": user_id, "class_id": class_id, "at": at}))
        .collect();
    c["enrolments"] = Value::Array(e);
    Ok(c)
}

/// Store course record `c` (row, items, enrolments) exactly as given. On the
/// hub `check_refs` also holds each enrolment to the node's village.
fn apply_course(conn: &Connection, c: &Value, check_refs: Option<i64>) -> Result<i64, SyncError> {
    let id = rows::upsert(conn, &COURSES, c)?;
    let items = field_array(c, "items")?;
    for it in items {
        if field_i64(it, "course_id")? != id {
            return Err(SyncError::reject(format!(
                "an item of course {id} names another course"
            )));
        }
        let item = field_i64(it, "id")?;
        let of: Option<i64> = conn
            .prepare_cached("SELECT course_id FROM school_course_items WHERE id = $1")?
            .query_row([item], |r| r.get(0))
            .optional()?;
        if of.is_some_and(|o| o != id) {
            return Err(SyncError::reject(format!(
                "item {item} is another course's"
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
        if let Some(village) = check_refs {
            let (sql, what, x) = match (user, class) {
                (Some(u), _) => ("SELECT village_id FROM users WHERE id = $1", "user", u),
                (_, Some(k)) => (
                    "SELECT village_id FROM school_classes WHERE id = $1",
                    "class",
                    k,
                ),
                _ => unreachable!("one of the two, checked above"),
            };
            let v: Option<Option<i64>> = conn
                .prepare_cached(sql)?
                .query_row([x], |r| r.get(0))
                .optional()?;
            if v != Some(Some(village)) {
                return Err(SyncError::reject(format!(
                    "enrolled {what} {x} is not of the node's village"
                )));
            }
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
    Ok(id)
}

/// The hub's courses a village learns: its own and the county-wide ones; not
/// the courses nodes made (they are the nodes', and went up).
const COURSE_SCOPE: &str = "(village_id = $1 OR village_id IS NULL) AND id < 1099511627776";

pub struct CourseKind;

impl DownKind for CourseKind {
    fn kind(&self) -> &'static str {
        "school_courses"
    }
    fn snapshot(&self, conn: &Connection, village_id: i64) -> Result<Vec<Value>, SyncError> {
        rows::export(conn, &COURSES, COURSE_SCOPE, &[&village_id])?
            .into_iter()
            .map(|c| course_record(conn, c))
            .collect()
    }
    fn apply(&self, conn: &Connection, village_id: i64, list: &[Value]) -> Result<(), SyncError> {
        let mut keep = HashSet::with_capacity(list.len());
        for c in list {
            if field_opt_i64(c, "village_id")?.is_some_and(|v| v != village_id) {
                return Err(SyncError::reject("a course of another village"));
            }
            if field_i64(c, "id")? >= ID_SPAN {
                return Err(SyncError::reject(
                    "a course a node made is not the hub's to send",
                ));
            }
            keep.insert(apply_course(conn, c, None)?);
        }
        // The hub's courses on a node are exactly the list; the node's own
        // (ids from 2^40) are left alone.
        for id in all_ids(
            conn,
            "SELECT id FROM school_courses WHERE id < 1099511627776",
        )? {
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

/// Courses made on a village node go up, with their items and enrolments, and
/// keep their ids on the hub (where only the node changes them).
pub struct CourseUpKind;

impl UpKind for CourseUpKind {
    fn kind(&self) -> &'static str {
        "school_course"
    }
    /// Before statements (5), which may name the course.
    fn priority(&self) -> u8 {
        4
    }
    fn export(&self, conn: &Connection, key: &str) -> Result<Option<Value>, SyncError> {
        let id: i64 = key
            .parse()
            .map_err(|_| SyncError::reject(format!("'{key}' is not a course id")))?;
        match rows::export_one(conn, &COURSES, id)? {
            Some(c) => Ok(Some(course_record(conn, c)?)),
            None => Ok(None),
        }
    }
    fn apply(
        &self,
        conn: &Connection,
        village_id: i64,
        key: &str,
        body: &Value,
    ) -> Result<(), SyncError> {
        let id = field_i64(body, "id")?;
        if key.parse::<i64>().ok() != Some(id) {
            return Err(SyncError::reject("the course's id differs from its key"));
        }
        if id < ID_SPAN {
            return Err(SyncError::reject(format!(
                "course {id} is the hub's, not a node's"
            )));
        }
        if field_opt_i64(body, "village_id")? != Some(village_id) {
            return Err(SyncError::reject(format!(
                "course {id} is not of the node's village"
            )));
        }
        let stored: Option<Option<i64>> = conn
            .prepare_cached("SELECT village_id FROM school_courses WHERE id = $1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        if stored.is_some_and(|v| v != Some(village_id)) {
            return Err(SyncError::reject(format!(
                "course {id} is another village's"
            )));
        }
        apply_course(conn, body, Some(village_id))?;
        Ok(())
    }
}
