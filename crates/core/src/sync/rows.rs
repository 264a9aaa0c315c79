//! Rows as JSON objects, for the kinds whose record is one table row: export
//! on one side, insert-or-replace (and, down, delete what is gone) on the other.
//! Column lists are constants of the calling domain, never input.

use serde_json::{Map, Value as Json};

use super::SyncError;
use crate::sql::{Connection, ToSql, Value, params_from_iter};

/// A synced table: its name and columns, `id` first.
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

impl Table {
    fn select(&self) -> String {
        format!("SELECT {} FROM {}", self.columns.join(", "), self.name)
    }
}

fn to_json(v: Value) -> Result<Json, SyncError> {
    Ok(match v {
        Value::Null => Json::Null,
        Value::Integer(i) => Json::from(i),
        Value::Real(f) => Json::from(f),
        Value::Text(s) => Json::from(s),
        Value::Blob(_) => return Err(SyncError::reject("binary columns are not synced")),
    })
}

fn from_json(v: &Json, column: &str) -> Result<Value, SyncError> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().ok_or_else(|| {
                SyncError::reject(format!("column '{column}' holds a number out of range"))
            })?),
        },
        Json::String(s) => Value::Text(s.clone()),
        _ => {
            return Err(SyncError::reject(format!(
                "column '{column}' must be a scalar"
            )));
        }
    })
}

/// Rows of `t` matching `filter` (an SQL condition over `args`, `$1`…), in id order.
pub fn export(
    conn: &Connection,
    t: &Table,
    filter: &str,
    args: &[&dyn ToSql],
) -> Result<Vec<Json>, SyncError> {
    let sql = format!("{} WHERE {filter} ORDER BY id", t.select());
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(args)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut m = Map::new();
        for (i, c) in t.columns.iter().enumerate() {
            m.insert((*c).to_string(), to_json(r.get::<_, Value>(i)?)?);
        }
        out.push(Json::Object(m));
    }
    Ok(out)
}

/// The row of `t` with `id`, if any.
pub fn export_one(conn: &Connection, t: &Table, id: i64) -> Result<Option<Json>, SyncError> {
    Ok(export(conn, t, "id = $1", &[&id])?.pop())
}

/// Insert `row`, or replace the row with its id. Every column of `t` must be in
/// `row` (a missing one is a rejected record, not a NULL).
pub fn upsert(conn: &Connection, t: &Table, row: &Json) -> Result<i64, SyncError> {
    let obj = row
        .as_object()
        .ok_or_else(|| SyncError::reject("a row must be a JSON object"))?;
    let mut vals = Vec::with_capacity(t.columns.len());
    for c in t.columns {
        let v = obj
            .get(*c)
            .ok_or_else(|| SyncError::reject(format!("field '{c}' is missing")))?;
        vals.push(from_json(v, c)?);
    }
    let Value::Integer(id) = vals[0] else {
        return Err(SyncError::reject("field 'id' must be an integer"));
    };
    let marks: Vec<String> = (1..=vals.len()).map(|i| format!("${i}")).collect();
    let sets: Vec<String> = t.columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
        t.name,
        t.columns.join(", "),
        marks.join(", "),
        sets.join(", ")
    );
    conn.prepare_cached(&sql)?.execute(params_from_iter(vals))?;
    Ok(id)
}

/// Make the rows of `t` matching `scope` exactly `rows`: upsert each, delete the
/// others in scope. Down-sync on a node, where the hub owns the table.
pub fn replace_all(
    conn: &Connection,
    t: &Table,
    scope: &str,
    args: &[&dyn ToSql],
    rows: &[Json],
) -> Result<(), SyncError> {
    let mut keep = std::collections::HashSet::with_capacity(rows.len());
    for r in rows {
        keep.insert(upsert(conn, t, r)?);
    }
    let sql = format!("SELECT id FROM {} WHERE {scope}", t.name);
    let gone: Vec<i64> = {
        let mut st = conn.prepare_cached(&sql)?;
        let ids = st.query_map(args, |r| r.get::<_, i64>(0))?;
        let mut out = Vec::new();
        for id in ids {
            let id = id?;
            if !keep.contains(&id) {
                out.push(id);
            }
        }
        out
    };
    let del = format!("DELETE FROM {} WHERE id = $1", t.name);
    for id in gone {
        conn.prepare_cached(&del)?.execute([id])?;
    }
    Ok(())
}
