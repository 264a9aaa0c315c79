//! All SQL of the alert domain: rules and alarms. (The outbox, subscriptions and
//! preferences are in `notify::store`.)

use cunlink_core::sql::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use crate::AlertStoreError;
use crate::rule::{Action, Condition, Escalate, Rule, Severity, Target};

pub const MIGRATIONS: &[cunlink_core::Migration] = &[
    cunlink_core::Migration {
        version: 1,
        name: "alert",
        sql: include_str!("../migrations/sqlite/0001_alert.sql"),
    },
    cunlink_core::Migration {
        version: 2,
        name: "dead_letter_reasons",
        sql: include_str!("../migrations/sqlite/0002_dead_letter_reasons.sql"),
    },
    cunlink_core::Migration {
        version: 3,
        name: "table_names",
        sql: include_str!("../migrations/sqlite/0003_table_names.sql"),
    },
    cunlink_core::Migration {
        version: 4,
        name: "user_notices",
        sql: include_str!("../migrations/sqlite/0004_user_notices.sql"),
    },
    cunlink_core::Migration {
        version: 5,
        name: "multi_node",
        sql: include_str!("../migrations/sqlite/0005_multi_node.sql"),
    },
    cunlink_core::Migration {
        version: 6,
        name: "node_sync",
        sql: include_str!("../migrations/sqlite/0006_node_sync.sql"),
    },
];

const RULE_COLUMNS: &str = "id, name, village_id, severity, target, condition, action, escalate, auto_clear, enabled, builtin, created_at, updated_at";

fn rule_from_row(r: &Row<'_>) -> Result<Rule, AlertStoreError> {
    let id: i64 = r.get(0)?;
    let corrupt = |what: &str, e: String| AlertStoreError::Corrupt {
        id,
        reason: format!("{what}: {e}"),
    };
    let json = |i: usize, what: &str| -> Result<Option<String>, AlertStoreError> {
        r.get::<_, Option<String>>(i)
            .map_err(|e| corrupt(what, e.to_string()))
    };
    let severity: String = r.get(3)?;
    let target: Target = serde_json::from_str(&json(4, "target")?.unwrap_or_default())
        .map_err(|e| corrupt("target", e.to_string()))?;
    let condition: Condition = serde_json::from_str(&json(5, "condition")?.unwrap_or_default())
        .map_err(|e| corrupt("condition", e.to_string()))?;
    let action: Option<Action> = json(6, "action")?
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| corrupt("action", e.to_string()))?;
    let escalate: Option<Escalate> = json(7, "escalate")?
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| corrupt("escalate", e.to_string()))?;
    Ok(Rule {
        id,
        name: r.get(1)?,
        village_id: r.get(2)?,
        severity: severity
            .parse()
            .map_err(|e: crate::rule::RuleError| corrupt("severity", e.message))?,
        target,
        condition,
        action,
        escalate,
        auto_clear: r.get(8)?,
        enabled: r.get(9)?,
        builtin: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

pub fn rules(conn: &Connection) -> Result<Vec<Rule>, AlertStoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE deleted_at IS NULL ORDER BY id"
    ))?;
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(rule_from_row(&r)?);
    }
    Ok(out)
}

pub fn rule(conn: &Connection, id: i64) -> Result<Rule, AlertStoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1 AND deleted_at IS NULL"
    ))?;
    let mut rows = st.query([id])?;
    match rows.next()? {
        Some(r) => rule_from_row(&r),
        None => Err(AlertStoreError::NoSuchRule(id)),
    }
}

/// A rule ready to store (validated by the caller).
pub struct RuleRow<'a> {
    pub name: &'a str,
    pub village_id: Option<i64>,
    pub severity: Severity,
    pub target: &'a Target,
    pub condition: &'a Condition,
    pub action: Option<&'a Action>,
    pub escalate: Option<&'a Escalate>,
    pub auto_clear: bool,
    pub enabled: bool,
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Serialising our own plain data types cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

pub fn insert_rule(
    conn: &Connection,
    row: &RuleRow<'_>,
    by: i64,
    now: i64,
) -> Result<Rule, AlertStoreError> {
    on_hub(conn)?;
    conn.execute(
        "INSERT INTO alert_rules (name, village_id, severity, target, condition, action, escalate, auto_clear, enabled, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        params![
            row.name,
            row.village_id,
            row.severity.as_str(),
            to_json(row.target),
            to_json(row.condition),
            row.action.map(to_json),
            row.escalate.map(to_json),
            row.auto_clear,
            row.enabled,
            by,
            now
        ],
    )?;
    rule(conn, conn.last_insert_rowid()?)
}

pub fn update_rule(
    conn: &Connection,
    id: i64,
    row: &RuleRow<'_>,
    now: i64,
) -> Result<Rule, AlertStoreError> {
    on_hub(conn)?;
    let n = conn.execute(
        "UPDATE alert_rules SET name = $1, village_id = $2, severity = $3, target = $4, condition = $5, action = $6,
                escalate = $7, auto_clear = $8, enabled = $9, updated_at = $10 WHERE id = $11 AND deleted_at IS NULL",
        params![
            row.name,
            row.village_id,
            row.severity.as_str(),
            to_json(row.target),
            to_json(row.condition),
            row.action.map(to_json),
            row.escalate.map(to_json),
            row.auto_clear,
            row.enabled,
            now,
            id
        ],
    )?;
    if n == 0 {
        return Err(AlertStoreError::NoSuchRule(id));
    }
    rule(conn, id)
}

/// Delete a rule. The row stays, hidden, so that its alarms keep their history.
pub fn delete_rule(conn: &Connection, id: i64, now: i64) -> Result<(), AlertStoreError> {
    on_hub(conn)?;
    let n = conn.execute(
        "UPDATE alert_rules SET enabled = 0, deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        params![now, id],
    )?;
    if n == 0 {
        return Err(AlertStoreError::NoSuchRule(id));
    }
    Ok(())
}

/// Alarm states as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Acknowledged,
    Cleared,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Acknowledged => "acknowledged",
            Status::Cleared => "cleared",
        }
    }
}

/// An alarm as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub id: i64,
    pub device: String,
    pub rule: String,
    pub severity: Severity,
    pub status: Status,
    pub started_at: i64,
    pub updated_at: i64,
    pub rule_id: i64,
    pub device_id: i64,
    pub village_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub condition_since: i64,
    pub acknowledged: bool,
    pub acked_at: Option<i64>,
    pub acked_by: Option<String>,
    pub cleared_at: Option<i64>,
    pub cleared_by: Option<String>,
    pub assignee: Option<String>,
    pub count: i64,
    pub details: serde_json::Value,
    pub escalated_at: Option<i64>,
}

const ALARM_COLUMNS: &str = "id, device_name, rule_name, severity, started_at, updated_at, rule_id, device_id, village_id, asset_id, condition_since, acked_at, acked_by, cleared_at, cleared_by, assignee, count, details, escalated_at";

fn alarm_from_row(r: &Row<'_>) -> cunlink_core::sql::Result<Alarm> {
    let severity: String = r.get(3)?;
    let acked_at: Option<i64> = r.get(11)?;
    let cleared_at: Option<i64> = r.get(13)?;
    let details: String = r.get(17)?;
    Ok(Alarm {
        id: r.get(0)?,
        device: r.get(1)?,
        rule: r.get(2)?,
        // Written only from `Severity::as_str`.
        severity: severity.parse().unwrap_or(Severity::Critical),
        status: if cleared_at.is_some() {
            Status::Cleared
        } else if acked_at.is_some() {
            Status::Acknowledged
        } else {
            Status::Active
        },
        started_at: r.get(4)?,
        updated_at: r.get(5)?,
        rule_id: r.get(6)?,
        device_id: r.get(7)?,
        village_id: r.get(8)?,
        asset_id: r.get(9)?,
        condition_since: r.get(10)?,
        acknowledged: acked_at.is_some(),
        acked_at,
        acked_by: r.get(12)?,
        cleared_at,
        cleared_by: r.get(14)?,
        assignee: r.get(15)?,
        count: r.get(16)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        escalated_at: r.get(18)?,
    })
}

/// An alarm changes only where it was raised: its id is in this installation's
/// range (docs/node.md, "Ids"). On the hub a village node's alarm is a copy.
fn raised_here(conn: &Connection, id: i64) -> Result<(), AlertStoreError> {
    let (lo, hi) = cunlink_core::sync::id_range(conn)?;
    if id >= cunlink_core::sync::ID_SPAN && !(lo..hi).contains(&id) {
        return Err(AlertStoreError::NodeAlarm(id));
    }
    Ok(())
}

/// Rules are the county's: on a node they change only by sync.
fn on_hub(conn: &Connection) -> Result<(), AlertStoreError> {
    if cunlink_core::sync::is_node(conn)? {
        return Err(AlertStoreError::HubOnly);
    }
    Ok(())
}

pub fn alarm(conn: &Connection, id: i64) -> Result<Alarm, AlertStoreError> {
    conn.query_row(
        &format!("SELECT {ALARM_COLUMNS} FROM alert_alarms WHERE id = $1"),
        [id],
        alarm_from_row,
    )
    .optional()?
    .ok_or(AlertStoreError::NoSuchAlarm(id))
}

/// Open alarms (not cleared): (rule, device) → (alarm id, condition_since).
pub fn open_alarms(conn: &Connection) -> Result<Vec<(i64, i64, i64, i64)>, AlertStoreError> {
    let mut st = conn.prepare(
        "SELECT rule_id, device_id, id, condition_since FROM alert_alarms WHERE cleared_at IS NULL",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether an alarm was already raised for this episode (open or not).
pub fn episode_seen(
    conn: &Connection,
    rule: i64,
    device: i64,
    since: i64,
) -> Result<bool, AlertStoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM alert_alarms WHERE rule_id = $1 AND device_id = $2 AND condition_since = $3)",
        )?
        .query_row(params![rule, device, since], |r| r.get(0))?)
}

pub struct NewAlarm<'a> {
    pub rule: &'a Rule,
    pub device_id: i64,
    pub device_name: &'a str,
    pub village_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub condition_since: i64,
    pub started_at: i64,
    pub details: &'a serde_json::Value,
    pub escalate_at: Option<i64>,
}

/// Insert a new open alarm; `None` (nothing written) when another node
/// recorded this episode, or opened an alarm for (rule, device), first: the
/// unique indexes `alert_alarms_episode` and `alert_alarms_open` refuse a
/// second one.
pub fn insert_alarm(
    conn: &Connection,
    a: &NewAlarm<'_>,
    now: i64,
) -> Result<Option<i64>, AlertStoreError> {
    // In this installation's id range, so that a village node's alarm keeps its
    // id on the hub (cunlink_core::sync).
    let id = cunlink_core::sync::next_id(conn, "alert_alarms")?;
    let n = conn
        .prepare_cached(
            "INSERT INTO alert_alarms (rule_id, rule_name, device_id, device_name, village_id, asset_id, severity,
                                 condition_since, started_at, updated_at, details, escalate_at, id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            a.rule.id,
            a.rule.name,
            a.device_id,
            a.device_name,
            a.village_id,
            a.asset_id,
            a.rule.severity.as_str(),
            a.condition_since,
            a.started_at,
            now,
            a.details.to_string(),
            a.escalate_at,
            id
        ])?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(id))
}

/// The open alarm of (rule, device), if any (at most one: `alert_alarms_open`).
pub fn open_alarm_of(
    conn: &Connection,
    rule: i64,
    device: i64,
) -> Result<Option<i64>, AlertStoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM alert_alarms WHERE rule_id = $1 AND device_id = $2 AND cleared_at IS NULL",
        )?
        .query_row(params![rule, device], |r| r.get(0))
        .optional()?)
}

/// A new episode of an alarm that is still open: fold it in.
pub fn repeat_alarm(
    conn: &Connection,
    id: i64,
    since: i64,
    details: &serde_json::Value,
    now: i64,
) -> Result<(), AlertStoreError> {
    conn.prepare_cached(
        "UPDATE alert_alarms SET count = count + 1, condition_since = $1, details = $2, updated_at = $3 WHERE id = $4",
    )?
    .execute(params![since, details.to_string(), now, id])?;
    Ok(())
}

/// Returns false when it was already cleared.
pub fn clear_alarm(
    conn: &Connection,
    id: i64,
    by: &str,
    now: i64,
) -> Result<bool, AlertStoreError> {
    raised_here(conn, id)?;
    let n = conn.execute(
        "UPDATE alert_alarms SET cleared_at = $1, cleared_by = $2, updated_at = $1 WHERE id = $3 AND cleared_at IS NULL",
        params![now, by, id],
    )?;
    if n == 0 {
        alarm(conn, id)?;
    }
    Ok(n == 1)
}

pub fn ack_alarm(conn: &Connection, id: i64, by: &str, now: i64) -> Result<bool, AlertStoreError> {
    raised_here(conn, id)?;
    let n = conn.execute(
        "UPDATE alert_alarms SET acked_at = $1, acked_by = $2, updated_at = $1 WHERE id = $3 AND acked_at IS NULL",
        params![now, by, id],
    )?;
    if n == 0 {
        alarm(conn, id)?;
    }
    Ok(n == 1)
}

pub fn assign_alarm(
    conn: &Connection,
    id: i64,
    assignee: Option<&str>,
    now: i64,
) -> Result<(), AlertStoreError> {
    raised_here(conn, id)?;
    let n = conn.execute(
        "UPDATE alert_alarms SET assignee = $1, updated_at = $2 WHERE id = $3",
        params![assignee, now, id],
    )?;
    if n == 0 {
        return Err(AlertStoreError::NoSuchAlarm(id));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub id: i64,
    pub at: i64,
    pub author: String,
    pub text: String,
}

pub fn add_comment(
    conn: &Connection,
    alarm_id: i64,
    author: &str,
    text: &str,
    now: i64,
) -> Result<Comment, AlertStoreError> {
    alarm(conn, alarm_id)?;
    raised_here(conn, alarm_id)?;
    conn.execute(
        "INSERT INTO alert_alarm_comments (alarm_id, at, author, text) VALUES ($1, $2, $3, $4)",
        params![alarm_id, now, author, text],
    )?;
    conn.execute(
        "UPDATE alert_alarms SET updated_at = $1 WHERE id = $2",
        params![now, alarm_id],
    )?;
    Ok(Comment {
        id: conn.last_insert_rowid()?,
        at: now,
        author: author.to_string(),
        text: text.to_string(),
    })
}

pub fn comments(conn: &Connection, alarm_id: i64) -> Result<Vec<Comment>, AlertStoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, at, author, text FROM alert_alarm_comments WHERE alarm_id = $1 ORDER BY id",
    )?;
    let rows = st.query_map([alarm_id], |r| {
        Ok(Comment {
            id: r.get(0)?,
            at: r.get(1)?,
            author: r.get(2)?,
            text: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Filters of the alarm history; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct AlarmFilter {
    pub status: Option<Status>,
    pub device: Option<String>,
    pub village_ids: Option<Vec<i64>>,
    pub asset_id: Option<i64>,
    pub severity: Option<Severity>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: usize,
}

/// Alarms matching `f`, newest first.
pub fn query_alarms(conn: &Connection, f: &AlarmFilter) -> Result<Vec<Alarm>, AlertStoreError> {
    let mut sql = format!("SELECT {ALARM_COLUMNS} FROM alert_alarms WHERE 1 = 1");
    let mut args: Vec<cunlink_core::sql::Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: cunlink_core::sql::Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    match f.status {
        Some(Status::Active) => sql.push_str(" AND cleared_at IS NULL AND acked_at IS NULL"),
        Some(Status::Acknowledged) => {
            sql.push_str(" AND cleared_at IS NULL AND acked_at IS NOT NULL")
        }
        Some(Status::Cleared) => sql.push_str(" AND cleared_at IS NOT NULL"),
        None => {}
    }
    if let Some(d) = &f.device {
        arg(&mut sql, " AND device_name = ?", d.clone().into());
    }
    if let Some(a) = f.asset_id {
        arg(&mut sql, " AND asset_id = ?", a.into());
    }
    if let Some(s) = f.severity {
        arg(&mut sql, " AND severity = ?", s.as_str().to_string().into());
    }
    if let Some(t) = f.since {
        arg(&mut sql, " AND started_at >= ?", t.into());
    }
    if let Some(t) = f.until {
        arg(&mut sql, " AND started_at <= ?", t.into());
    }
    if let Some(v) = &f.village_ids {
        // Ids are integers from our own tables: safe to inline.
        let list: Vec<String> = v.iter().map(|i| i.to_string()).collect();
        sql.push_str(&format!(" AND village_id IN ({})", list.join(",")));
    }
    sql.push_str(&format!(
        " ORDER BY started_at DESC, id DESC LIMIT {}",
        f.limit.max(1)
    ));
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(cunlink_core::sql::params_from_iter(args), alarm_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Open, unacknowledged alarms whose escalation time has come, of those raised
/// here: a village node escalates its own alarms, and the hub's copy of them
/// must not notify a second time.
pub fn due_escalations(conn: &Connection, now: i64) -> Result<Vec<Alarm>, AlertStoreError> {
    let (lo, hi) = cunlink_core::sync::id_range(conn)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ALARM_COLUMNS} FROM alert_alarms WHERE escalate_at IS NOT NULL AND escalated_at IS NULL
           AND escalate_at <= $1 AND cleared_at IS NULL AND acked_at IS NULL AND id >= $2 AND id < $3
           ORDER BY escalate_at LIMIT 100"
    ))?;
    let rows = st.query_map(params![now, lo, hi], alarm_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Claim the escalation of alarm `id`: true for exactly one caller across
/// nodes (the one whose update found it still unescalated, open and
/// unacknowledged); the claimant then queues its deliveries in the same
/// transaction.
pub fn claim_escalation(conn: &Connection, id: i64, now: i64) -> Result<bool, AlertStoreError> {
    Ok(conn.execute(
        "UPDATE alert_alarms SET escalated_at = $1
          WHERE id = $2 AND escalated_at IS NULL AND cleared_at IS NULL AND acked_at IS NULL",
        params![now, id],
    )? == 1)
}
