//! SQL of courses, classes, enrolment, statements and SCORM calls.

use cunlink_core::time::now_ms;
use cunlink_core::sql::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize)]
pub struct Course {
    pub id: i64,
    pub title: String,
    pub audience: String,
    pub description: String,
    pub village_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: i64,
    pub course_id: i64,
    pub position: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub sha256: Option<String>,
    /// Quiz questions (JSON), answers included: never sent to learners as is.
    #[serde(skip)]
    pub quiz: Option<String>,
    /// SCORM: the package's folder and launch file.
    pub package: Option<String>,
}

/// One quiz question as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Question {
    /// `single`, `multiple` or `fill`.
    pub kind: String,
    pub prompt: String,
    #[serde(default)]
    pub options: Vec<String>,
    /// Option indexes (single/multiple) or accepted texts (fill).
    pub answer: serde_json::Value,
    #[serde(default)]
    pub feedback_right: String,
    #[serde(default)]
    pub feedback_wrong: String,
}

pub fn create_course(
    c: &Connection,
    title: &str,
    audience: &str,
    description: &str,
    village_id: Option<i64>,
    user_id: i64,
) -> cunlink_core::sql::Result<i64> {
    // In this installation's id range: a course made on a village node keeps
    // its id on the hub (docs/school.md, "Village nodes").
    let id = cunlink_core::sync::next_id(c, "school_courses")?;
    c.execute(
        "INSERT INTO school_courses (id, title, audience, description, village_id, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![id, title, audience, description, village_id, user_id, now_ms()],
    )?;
    Ok(id)
}

fn course_row(r: &cunlink_core::sql::Row) -> cunlink_core::sql::Result<Course> {
    Ok(Course {
        id: r.get(0)?,
        title: r.get(1)?,
        audience: r.get(2)?,
        description: r.get(3)?,
        village_id: r.get(4)?,
    })
}

pub fn course(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Course>> {
    c.query_row(
        "SELECT id, title, audience, description, village_id FROM school_courses WHERE id = $1",
        [id],
        course_row,
    )
    .optional()
}

pub fn courses(c: &Connection, limit: i64) -> cunlink_core::sql::Result<Vec<Course>> {
    let mut st = c.prepare(
        "SELECT id, title, audience, description, village_id FROM school_courses ORDER BY id LIMIT $1",
    )?;
    st.query_map([limit.clamp(0, 1000)], course_row)?.collect()
}

#[allow(clippy::too_many_arguments)]
pub fn add_item(
    c: &Connection,
    course_id: i64,
    kind: &str,
    title: &str,
    body: &str,
    sha256: Option<&str>,
    quiz: Option<&str>,
    package: Option<&str>,
) -> cunlink_core::sql::Result<i64> {
    // The next position in the same statement as the insert, so two items
    // added at once (on two nodes) do not read the same maximum.
    let id = cunlink_core::sync::next_id(c, "school_course_items")?;
    c.execute(
        "INSERT INTO school_course_items (id, course_id, position, kind, title, body, sha256, quiz, package)
         SELECT $1, $2, coalesce(max(position), 0) + 1, $3, $4, $5, $6, $7, $8
           FROM school_course_items WHERE course_id = $2",
        params![id, course_id, kind, title, body, sha256, quiz, package],
    )?;
    Ok(id)
}

fn item_row(r: &cunlink_core::sql::Row) -> cunlink_core::sql::Result<Item> {
    Ok(Item {
        id: r.get(0)?,
        course_id: r.get(1)?,
        position: r.get(2)?,
        kind: r.get(3)?,
        title: r.get(4)?,
        body: r.get(5)?,
        sha256: r.get(6)?,
        quiz: r.get(7)?,
        package: r.get(8)?,
    })
}

const ITEM_COLS: &str = "id, course_id, position, kind, title, body, sha256, quiz, package";

pub fn items(c: &Connection, course_id: i64) -> cunlink_core::sql::Result<Vec<Item>> {
    let mut st = c.prepare(&format!(
        "SELECT {ITEM_COLS} FROM school_course_items WHERE course_id = $1 ORDER BY position LIMIT 500"
    ))?;
    st.query_map([course_id], item_row)?.collect()
}

pub fn item(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<Item>> {
    c.query_row(
        &format!("SELECT {ITEM_COLS} FROM school_course_items WHERE id = $1"),
        [id],
        item_row,
    )
    .optional()
}

pub fn create_class(
    c: &Connection,
    name: &str,
    school: &str,
    village_id: Option<i64>,
    teacher_id: i64,
) -> cunlink_core::sql::Result<i64> {
    c.execute(
        "INSERT INTO school_classes (name, school, village_id, teacher_id, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        params![name, school, village_id, teacher_id, now_ms()],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// The teacher who created class `id` (`None`: no such class or no teacher).
pub fn class_teacher(c: &Connection, id: i64) -> cunlink_core::sql::Result<Option<i64>> {
    Ok(c.query_row(
        "SELECT teacher_id FROM school_classes WHERE id = $1",
        [id],
        |r| r.get::<_, Option<i64>>(0),
    )
    .optional()?
    .flatten())
}

/// (id, name, school, village_id) of a class.
pub fn class(
    c: &Connection,
    id: i64,
) -> cunlink_core::sql::Result<Option<(i64, String, String, Option<i64>)>> {
    c.query_row(
        "SELECT id, name, school, village_id FROM school_classes WHERE id = $1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .optional()
}

pub fn add_member(c: &Connection, class_id: i64, user_id: i64) -> cunlink_core::sql::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO school_class_members (class_id, user_id) VALUES ($1, $2)",
        params![class_id, user_id],
    )?;
    Ok(())
}

pub fn enrol(
    c: &Connection,
    course_id: i64,
    user_id: Option<i64>,
    class_id: Option<i64>,
) -> cunlink_core::sql::Result<()> {
    c.execute(
        "INSERT OR IGNORE INTO school_enrolments (course_id, user_id, class_id, at) VALUES ($1, $2, $3, $4)",
        params![course_id, user_id, class_id, now_ms()],
    )?;
    Ok(())
}

/// Whether `user_id` is enrolled in the course, in person or through a class.
pub fn enrolled(c: &Connection, course_id: i64, user_id: i64) -> cunlink_core::sql::Result<bool> {
    c.query_row(
        "SELECT EXISTS (SELECT 1 FROM school_enrolments e
           LEFT JOIN school_class_members m ON m.class_id = e.class_id
           WHERE e.course_id = $1 AND (e.user_id = $2 OR m.user_id = $2))",
        params![course_id, user_id],
        |r| r.get(0),
    )
}

/// Ids of everyone enrolled (in person or through a class).
pub fn learners(c: &Connection, course_id: i64) -> cunlink_core::sql::Result<Vec<i64>> {
    let mut st = c.prepare(
        "SELECT DISTINCT coalesce(e.user_id, m.user_id) FROM school_enrolments e
         LEFT JOIN school_class_members m ON m.class_id = e.class_id
         WHERE e.course_id = $1 AND coalesce(e.user_id, m.user_id) IS NOT NULL LIMIT 5000",
    )?;
    st.query_map([course_id], |r| r.get(0))?.collect()
}

/// A learning statement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Statement {
    pub uuid: String,
    #[serde(default)]
    pub node: String,
    pub actor: String,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub course_id: Option<i64>,
    #[serde(default)]
    pub item_id: Option<i64>,
    pub verb: String,
    #[serde(default)]
    pub score: Option<i64>,
    #[serde(default)]
    pub max_score: Option<i64>,
    #[serde(default)]
    pub detail: String,
    pub at: i64,
}

/// Store a statement once: true when it was new.
pub fn put_statement(c: &Connection, s: &Statement) -> cunlink_core::sql::Result<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO school_statements
           (uuid, node, actor, user_id, course_id, item_id, verb, score, max_score, detail, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        params![
            s.uuid,
            s.node,
            s.actor,
            s.user_id,
            s.course_id,
            s.item_id,
            s.verb,
            s.score,
            s.max_score,
            s.detail,
            s.at
        ],
    )?;
    Ok(n == 1)
}

/// Statements made here and not yet acknowledged upstream, oldest first.
pub fn unsent(c: &Connection, limit: i64) -> cunlink_core::sql::Result<Vec<Statement>> {
    let mut st = c.prepare(
        "SELECT uuid, node, actor, user_id, course_id, item_id, verb, score, max_score, detail, at
         FROM school_statements WHERE sent = 0 AND node = '' ORDER BY at LIMIT $1",
    )?;
    st.query_map([limit.clamp(0, 1000)], |r| {
        Ok(Statement {
            uuid: r.get(0)?,
            node: r.get(1)?,
            actor: r.get(2)?,
            user_id: r.get(3)?,
            course_id: r.get(4)?,
            item_id: r.get(5)?,
            verb: r.get(6)?,
            score: r.get(7)?,
            max_score: r.get(8)?,
            detail: r.get(9)?,
            at: r.get(10)?,
        })
    })?
    .collect()
}

pub fn mark_sent(c: &Connection, uuids: &[String]) -> cunlink_core::sql::Result<()> {
    let mut st = c.prepare("UPDATE school_statements SET sent = 1 WHERE uuid = $1")?;
    for u in uuids {
        st.execute([u])?;
    }
    Ok(())
}

/// Per learner of a course: (user_id, items done, best score sum, max sum).
pub fn progress(c: &Connection, course_id: i64, user_id: i64) -> cunlink_core::sql::Result<(i64, i64, i64)> {
    let done: i64 = c.query_row(
        "SELECT count(DISTINCT item_id) FROM school_statements
         WHERE course_id = $1 AND user_id = $2 AND verb IN ('completed', 'answered')",
        params![course_id, user_id],
        |r| r.get(0),
    )?;
    let (score, max): (i64, i64) = c.query_row(
        "SELECT coalesce(sum(best), 0), coalesce(sum(mx), 0) FROM (
           SELECT max(score) AS best, max(max_score) AS mx FROM school_statements
           WHERE course_id = $1 AND user_id = $2 AND verb = 'answered' GROUP BY item_id) AS per_item",
        params![course_id, user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((done, score, max))
}

/// Statements counted here by node (the county's view).
pub fn statement_counts(c: &Connection) -> cunlink_core::sql::Result<Vec<(String, String, i64)>> {
    let mut st = c.prepare(
        "SELECT node, verb, count(*) FROM school_statements GROUP BY node, verb ORDER BY node, verb LIMIT 1000",
    )?;
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

pub fn record_scorm_call(
    c: &Connection,
    user_id: i64,
    item_id: i64,
    call: &str,
    element: &str,
    value: &str,
) -> cunlink_core::sql::Result<()> {
    c.execute(
        "INSERT INTO school_scorm_calls (user_id, item_id, call, element, value, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        params![user_id, item_id, call, element, value, now_ms()],
    )?;
    Ok(())
}
