//! What a sensor sends: readings of a key at a time, and the interned key names.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Serialize, Serializer};

/// A device's id in the application database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DeviceId(pub i64);

/// An interned telemetry key ("temperature", "soil_moisture").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

/// A telemetry value. ThingsBoard devices send numbers, booleans and strings;
/// nested JSON is refused at the edge (see `ingest::payload`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Bool(bool),
    Text(Box<str>),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(*v),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Text(_) => None,
        }
    }

    /// The value as a CSV cell or plain text.
    pub fn to_text(&self) -> String {
        match self {
            Value::Num(v) => format_num(*v),
            Value::Bool(b) => b.to_string(),
            Value::Text(s) => s.to_string(),
        }
    }
}

/// Integral values print without a fraction ("42", not "42.0").
pub fn format_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Num(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => s.serialize_i64(*v as i64),
            Value::Num(v) => s.serialize_f64(*v),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Text(t) => s.serialize_str(t),
        }
    }
}

/// One value of one key of one device at one time (ms since epoch, UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub device: DeviceId,
    pub key: KeyId,
    pub ts: i64,
    pub value: Value,
}

/// Key names ↔ small integers, shared by parsers (which intern) and the writer
/// (which persists new names in the same transaction as the first values using them).
/// Ids are dense and assigned in order, so "ids not yet persisted" is a range.
#[derive(Default)]
pub struct Keys {
    inner: RwLock<KeysInner>,
}

#[derive(Default)]
struct KeysInner {
    by_name: HashMap<Arc<str>, KeyId>,
    names: Vec<Arc<str>>,
    /// On PostgreSQL the database hands out key ids (so that two nodes never give
    /// one id two names): `db[local]` is the stored id, -1 until persisted. Empty
    /// on SQLite, where the local id is the stored id.
    db: Vec<i64>,
    by_db: HashMap<i64, KeyId>,
    mapped: bool,
}

impl Keys {
    /// Keys loaded from storage, in id order (ids 0..n).
    pub fn from_names(names: Vec<String>) -> Keys {
        let mut inner = KeysInner::default();
        for n in names {
            let n: Arc<str> = n.into();
            inner
                .by_name
                .insert(n.clone(), KeyId(inner.names.len() as u32));
            inner.names.push(n);
        }
        Keys {
            inner: RwLock::new(inner),
        }
    }

    /// Keys loaded from PostgreSQL: (stored id, name) pairs; local ids are dense in
    /// the order given, stored ids are mapped (see [`Keys::db_id`]).
    pub fn from_db(rows: Vec<(i64, String)>) -> Keys {
        let mut inner = KeysInner {
            mapped: true,
            ..KeysInner::default()
        };
        for (db, n) in rows {
            let n: Arc<str> = n.into();
            let id = KeyId(inner.names.len() as u32);
            inner.by_name.insert(n.clone(), id);
            inner.names.push(n);
            inner.db.push(db);
            inner.by_db.insert(db, id);
        }
        Keys {
            inner: RwLock::new(inner),
        }
    }

    /// The id `key` is stored under; `None` while not persisted yet.
    pub fn db_id(&self, key: KeyId) -> Option<i64> {
        let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if !r.mapped {
            return Some(i64::from(key.0));
        }
        r.db.get(key.0 as usize).copied().filter(|&d| d >= 0)
    }

    /// The local id of a stored key id (interning `name` if this process has not
    /// met it yet); `None` for an id never persisted.
    pub fn from_db_id(&self, db: i64) -> Option<KeyId> {
        let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if !r.mapped {
            return u32::try_from(db).ok().map(KeyId);
        }
        r.by_db.get(&db).copied()
    }

    /// Record the stored id of a key persisted on PostgreSQL.
    pub fn set_db_id(&self, key: KeyId, db: i64) {
        let mut w = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if !w.mapped {
            return;
        }
        let i = key.0 as usize;
        if w.db.len() <= i {
            w.db.resize(i + 1, -1);
        }
        w.db[i] = db;
        w.by_db.insert(db, key);
    }

    /// Keys without a stored id yet (PostgreSQL), with their names.
    pub fn unpersisted(&self) -> Vec<(KeyId, Arc<str>)> {
        let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
        if !r.mapped {
            return Vec::new();
        }
        r.names
            .iter()
            .enumerate()
            .filter(|(i, _)| r.db.get(*i).is_none_or(|&d| d < 0))
            .map(|(i, n)| (KeyId(i as u32), n.clone()))
            .collect()
    }

    pub fn intern(&self, name: &str) -> KeyId {
        if let Some(id) = self.lookup(name) {
            return id;
        }
        let mut w = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = w.by_name.get(name) {
            return *id;
        }
        let id = KeyId(w.names.len() as u32);
        let n: Arc<str> = name.into();
        w.by_name.insert(n.clone(), id);
        w.names.push(n);
        id
    }

    pub fn lookup(&self, name: &str) -> Option<KeyId> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .get(name)
            .copied()
    }

    pub fn name(&self, id: KeyId) -> Option<Arc<str>> {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .names
            .get(id.0 as usize)
            .cloned()
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .names
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names with ids `from..`, for persisting.
    pub fn names_from(&self, from: usize) -> Vec<(u32, Arc<str>)> {
        let r = self.inner.read().unwrap_or_else(|p| p.into_inner());
        r.names
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, n)| (i as u32, n.clone()))
            .collect()
    }
}
