//! One SQL interface over SQLite (the embedded default) and PostgreSQL.
//!
//! Domains write their storage code once, against [`Connection`], in the shape
//! rusqlite made familiar (`execute`, `query_row`, `prepare_cached`,
//! `query_map`, `transaction`), with `$N` placeholders and SQLite's value model
//! ([`Value`]). On PostgreSQL the same calls run through tokio-postgres, with
//! SQL rewritten where a SQLite form has a mechanical equivalent
//! ([`translate`]) and `conn.backend()` for the few places that must differ.
//!
//! Write transactions keep SQLite's single-writer meaning on PostgreSQL too: a
//! [`Transaction`] (other than [`TransactionBehavior::Concurrent`]) takes one
//! deployment-wide advisory lock, so read-then-write sequences that were safe
//! behind SQLite's writer lock stay safe across several nodes. Hot paths that
//! need more concurrency use conditional statements and `Concurrent`.

mod pg;
pub mod translate;
mod value;

use std::cell::RefCell;

pub use pg::{block_on, io_runtime};
pub use value::{FromSql, FromSqlError, ToSql, Value, ValueRef};

/// The advisory lock key that stands for SQLite's writer lock.
pub const WRITE_LOCK: i64 = 0x6375_6e6c_696e_6b;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(String, #[source] Option<tokio_postgres::Error>),
    #[error("query returned no rows")]
    NoRows,
    #[error("column {column}: {message}")]
    Column { column: String, message: String },
    #[error("parameter: {0}")]
    Param(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            e => Error::Sqlite(e),
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        Error::pg(e)
    }
}

impl Error {
    fn pg(e: tokio_postgres::Error) -> Error {
        // Unreachable means the socket: closed, or an I/O failure underneath.
        // A value that does not convert is a bug (500), not an outage (503).
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            return Error::Unavailable(e.to_string());
        }
        let msg = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        Error::Postgres(msg, Some(e))
    }

    fn pg_in(e: tokio_postgres::Error, sql: &str) -> Error {
        match Error::pg(e) {
            Error::Postgres(msg, src) => {
                let short: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = short.chars().take(200).collect();
                Error::Postgres(format!("{msg} in `{short}`"), src)
            }
            other => other,
        }
    }

    fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Postgres(_, Some(e)) => e.code().map(|c| c.code()),
            _ => None,
        }
    }

    /// A UNIQUE or PRIMARY KEY constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            }
            _ => self.sqlstate() == Some("23505"),
        }
    }

    /// Any constraint (unique, foreign key, check, not null) refused the write.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::ConstraintViolation
            }
            _ => self.sqlstate().is_some_and(|s| s.starts_with("23")),
        }
    }

    /// The database is out of space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => f.code == rusqlite::ErrorCode::DiskFull,
            _ => self.sqlstate() == Some("53100"),
        }
    }

    /// The database could not be reached (down, restarting, pool exhausted).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_))
            || self
                .sqlstate()
                .is_some_and(|s| s.starts_with("08") || s == "57P01" || s == "57P03")
    }

    /// A mistake in the statement or the data that fails the same way on every
    /// retry (type mismatch, misuse, syntax, undefined table or column).
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                rusqlite::ErrorCode::ConstraintViolation
                    | rusqlite::ErrorCode::TypeMismatch
                    | rusqlite::ErrorCode::ApiMisuse
            ),
            Error::Sqlite(_) => false,
            Error::Column { .. } | Error::Param(_) | Error::NoRows => true,
            _ => self
                .sqlstate()
                .is_some_and(|s| s.starts_with("22") || s.starts_with("23") || s.starts_with("42")),
        }
    }

    /// Another writer held the database too long (SQLite busy, lock timeout).
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::DatabaseBusy || f.code == rusqlite::ErrorCode::DatabaseLocked
            }
            _ => matches!(self.sqlstate(), Some("55P03" | "40001" | "40P01")),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `.optional()` on a single-row query: no row is `Ok(None)`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Parameters of a statement: `params![a, b]`, `[a, b]` of one type, `[]`,
/// `()`, or [`params_from_iter`].
pub trait Params {
    fn values(&self) -> Result<Vec<ValueRef<'_>>>;
}

impl Params for () {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        Ok(Vec::new())
    }
}

impl<T: ToSql> Params for [T] {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        self.iter().map(|v| v.to_sql()).collect()
    }
}

/// `[]`: no parameters (the one array length with no element type to infer).
impl Params for [&(dyn ToSql + Send + Sync); 0] {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        Ok(Vec::new())
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(&self) -> Result<Vec<ValueRef<'_>>> {
                self.iter().map(|v| v.to_sql()).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

impl<P: Params + ?Sized> Params for &P {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        (**self).values()
    }
}

impl Params for Vec<Value> {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        Ok(self.iter().map(Value::as_ref).collect())
    }
}

/// Bind a dynamic list of values.
pub struct ParamsFromIter(Result<Vec<Value>>);

pub fn params_from_iter<I>(iter: I) -> ParamsFromIter
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter.into_iter().map(|v| v.to_sql().map(ValueRef::to_owned)).collect())
}

impl Params for ParamsFromIter {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        match &self.0 {
            Ok(v) => Ok(v.iter().map(Value::as_ref).collect()),
            Err(e) => Err(Error::Param(e.to_string())),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Integer(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// `params![a, b, c]`: a list of parameters of mixed types.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql] };
}
pub use crate::params;

/// Bridges our values into rusqlite's binding.
struct Lite<'a>(ValueRef<'a>);

impl rusqlite::ToSql for Lite<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef as R;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match self.0 {
            ValueRef::Null => R::Null,
            ValueRef::Integer(i) => R::Integer(i),
            ValueRef::Real(f) => R::Real(f),
            ValueRef::Text(s) => R::Text(s.as_bytes()),
            ValueRef::Blob(b) => R::Blob(b),
        }))
    }
}

fn lite_params<'a>(v: &'a [ValueRef<'a>]) -> Vec<Lite<'a>> {
    v.iter().map(|v| Lite(*v)).collect()
}

fn from_lite(v: rusqlite::types::ValueRef<'_>) -> Result<ValueRef<'_>> {
    use rusqlite::types::ValueRef as R;
    Ok(match v {
        R::Null => ValueRef::Null,
        R::Integer(i) => ValueRef::Integer(i),
        R::Real(f) => ValueRef::Real(f),
        R::Text(t) => ValueRef::Text(
            std::str::from_utf8(t).map_err(|e| Error::Other(format!("text is not UTF-8: {e}")))?,
        ),
        R::Blob(b) => ValueRef::Blob(b),
    })
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Pg(RefCell<pg::PgConn>),
}

/// A connection to either backend.
pub struct Connection {
    inner: Inner,
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionBehavior {
    /// SQLite takes the writer lock at the first write; PostgreSQL takes the
    /// deployment-wide write lock at once.
    Deferred,
    /// SQLite takes the writer lock at once; PostgreSQL the write lock.
    Immediate,
    Exclusive,
    /// No deployment-wide write lock on PostgreSQL: for writes whose statements
    /// are safe on their own (appends, conditional updates, upserts).
    Concurrent,
    /// A consistent snapshot for reads.
    ReadOnly,
}

impl Connection {
    pub fn from_sqlite(c: rusqlite::Connection) -> Connection {
        Connection {
            inner: Inner::Sqlite(c),
        }
    }

    /// Connect to PostgreSQL at `url` (`postgres://user@host:port/db`).
    pub fn connect_postgres(url: &str) -> Result<Connection> {
        let client = pg::connect(url)?;
        Ok(Connection {
            inner: Inner::Pg(RefCell::new(pg::PgConn::new(client))),
        })
    }

    /// A SQLite file opened as it is (no pragmas).
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Connection> {
        Ok(Connection::from_sqlite(rusqlite::Connection::open(path)?))
    }

    /// An in-memory SQLite database (unit tests).
    pub fn open_in_memory() -> Result<Connection> {
        Ok(Connection::from_sqlite(rusqlite::Connection::open_in_memory()?))
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// The SQLite connection underneath, for what only SQLite has (backup, pragmas).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Pg(_) => None,
        }
    }

    pub fn as_sqlite_mut(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Pg(_) => None,
        }
    }

    /// SQLite's wait for a busy database; PostgreSQL waits on locks by itself.
    pub fn busy_timeout(&self, d: std::time::Duration) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.busy_timeout(d)?),
            Inner::Pg(_) => Ok(()),
        }
    }

    /// True when the PostgreSQL socket has closed; such a connection is dropped.
    pub fn is_broken(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(_) => false,
            Inner::Pg(c) => c.borrow().client.is_closed(),
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.values()?;
        match &self.inner {
            Inner::Sqlite(c) => {
                Ok(c.prepare_cached(sql)?.execute(rusqlite::params_from_iter(lite_params(&values)))?)
            }
            Inner::Pg(c) => Ok(c.borrow_mut().execute(sql, &values)? as usize),
        }
    }

    /// Run several statements without parameters (schema changes, pragmas).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(&translate::select_dialect(sql, false))?),
            Inner::Pg(c) => c.borrow_mut().batch(&translate::select_dialect(sql, true)),
        }
    }

    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            inner: match &self.inner {
                Inner::Sqlite(c) => StmtInner::Sqlite(c.prepare_cached(sql)?),
                Inner::Pg(c) => StmtInner::Pg { conn: c, sql: sql.to_string() },
            },
        })
    }

    /// The id the last INSERT into a table with an integer key was given
    /// (PostgreSQL: the session's `lastval()`).
    pub fn last_insert_rowid(&self) -> Result<i64> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.last_insert_rowid()),
            Inner::Pg(_) => self.query_row("SELECT lastval()", [], |r| r.get(0)),
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    pub fn changes(&self) -> u64 {
        match &self.inner {
            Inner::Sqlite(c) => c.changes(),
            Inner::Pg(c) => c.borrow().changes,
        }
    }

    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::begin(self, TransactionBehavior::Deferred)
    }

    pub fn transaction_with_behavior(&mut self, b: TransactionBehavior) -> Result<Transaction<'_>> {
        Transaction::begin(self, b)
    }

    /// A read-only snapshot: SQLite's deferred transaction, PostgreSQL's
    /// `REPEATABLE READ READ ONLY` (no write lock).
    pub fn read_transaction(&self) -> Result<Transaction<'_>> {
        Transaction::begin(self, TransactionBehavior::ReadOnly)
    }

    /// A transaction through a shared reference (the caller makes sure no other
    /// transaction is open on this connection).
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        Transaction::begin(self, TransactionBehavior::Deferred)
    }
}

/// An open transaction; rolled back when dropped without [`Transaction::commit`].
pub struct Transaction<'c> {
    conn: &'c Connection,
    done: bool,
}

impl<'c> Transaction<'c> {
    fn begin(conn: &'c Connection, b: TransactionBehavior) -> Result<Transaction<'c>> {
        match &conn.inner {
            Inner::Sqlite(c) => c.execute_batch(match b {
                TransactionBehavior::Deferred
                | TransactionBehavior::Concurrent
                | TransactionBehavior::ReadOnly => "BEGIN DEFERRED",
                TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
                TransactionBehavior::Exclusive => "BEGIN EXCLUSIVE",
            })?,
            Inner::Pg(c) => {
                let mut c = c.borrow_mut();
                if b == TransactionBehavior::ReadOnly {
                    c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
                    return Ok(Transaction { conn, done: false });
                }
                c.batch("BEGIN")?;
                if b != TransactionBehavior::Concurrent {
                    if let Err(e) = c.query("SELECT pg_advisory_xact_lock($1)", &[ValueRef::Integer(WRITE_LOCK)]) {
                        let _ = c.batch("ROLLBACK");
                        return Err(e);
                    }
                }
            }
        }
        Ok(Transaction { conn, done: false })
    }

    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("COMMIT")
    }

    /// End a read-only transaction (releases its snapshot).
    pub fn finish(self) -> Result<()> {
        self.rollback()
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("ROLLBACK")
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

enum StmtInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Pg { conn: &'c RefCell<pg::PgConn>, sql: String },
}

/// A prepared statement.
pub struct Statement<'c> {
    inner: StmtInner<'c>,
}

impl Statement<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        let values = params.values()?;
        match &mut self.inner {
            StmtInner::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(lite_params(&values)))?),
            StmtInner::Pg { conn, sql } => Ok(conn.borrow_mut().execute(sql, &values)? as usize),
        }
    }

    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        let values = params.values()?;
        Ok(Rows {
            inner: match &mut self.inner {
                StmtInner::Sqlite(s) => RowsInner::Sqlite(s.query(rusqlite::params_from_iter(
                    values.iter().map(|v| Lite(*v)).collect::<Vec<_>>(),
                ))?),
                StmtInner::Pg { conn, sql } => {
                    RowsInner::Pg(conn.borrow_mut().query(sql, &values)?.into_iter(), None)
                }
            },
        })
    }

    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(Error::NoRows),
        }
    }

    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<MappedRows<'_, F>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(MappedRows {
            rows: self.query(params)?,
            f,
        })
    }

    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        Ok(self.query(params)?.next()?.is_some())
    }
}

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Pg(std::vec::IntoIter<tokio_postgres::Row>, Option<tokio_postgres::Row>),
}

/// The rows of a query, read one at a time.
pub struct Rows<'s> {
    inner: RowsInner<'s>,
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.inner {
            RowsInner::Sqlite(r) => Ok(r.next()?.map(|r| Row {
                inner: RowInner::Sqlite(r),
            })),
            RowsInner::Pg(it, cur) => {
                *cur = it.next();
                Ok(cur.as_ref().map(|r| Row {
                    inner: RowInner::Pg(r),
                }))
            }
        }
    }
}

/// Rows mapped through a closure, as an iterator.
pub struct MappedRows<'s, F> {
    rows: Rows<'s>,
    f: F,
}

impl<T, F> Iterator for MappedRows<'_, F>
where
    F: FnMut(&Row<'_>) -> Result<T>,
{
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        let f = &mut self.f;
        match self.rows.next() {
            Ok(Some(r)) => Some(f(&r)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

/// One row of a result.
pub struct Row<'r> {
    inner: RowInner<'r>,
}

/// A column by position or by name.
pub trait RowIndex {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Result<usize>;
}

impl RowIndex for usize {
    fn index(&self, _: &mut dyn Iterator<Item = &str>) -> Result<usize> {
        Ok(*self)
    }
}

impl RowIndex for &str {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Result<usize> {
        for (i, n) in names.enumerate() {
            if n.eq_ignore_ascii_case(self) {
                return Ok(i);
            }
        }
        Err(Error::Column {
            column: self.to_string(),
            message: "no such column".into(),
        })
    }
}

impl Row<'_> {
    fn position<I: RowIndex>(&self, idx: I) -> Result<usize> {
        match &self.inner {
            RowInner::Sqlite(r) => {
                let stmt = r.as_ref();
                idx.index(&mut stmt.column_names().into_iter())
            }
            RowInner::Pg(r) => idx.index(&mut r.columns().iter().map(|c| c.name())),
        }
    }

    /// Column `idx` (a position or a name) as `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let i = self.position(idx)?;
        let bad = |message: String| Error::Column {
            column: i.to_string(),
            message,
        };
        match &self.inner {
            RowInner::Sqlite(r) => {
                let v = from_lite(r.get_ref(i)?)?;
                T::column_result(v).map_err(|e| bad(e.0))
            }
            RowInner::Pg(r) => {
                if i >= r.len() {
                    return Err(bad("no such column".into()));
                }
                let cell = pg::cell(r, i).map_err(bad)?;
                T::column_result(cell.value()).map_err(|e| bad(e.0))
            }
        }
    }

    /// Column `idx` as an owned untyped value.
    pub fn get_value<I: RowIndex>(&self, idx: I) -> Result<Value> {
        self.get(idx)
    }

    pub fn column_count(&self) -> usize {
        match &self.inner {
            RowInner::Sqlite(r) => r.as_ref().column_count(),
            RowInner::Pg(r) => r.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_round_trip() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, v REAL, b BLOB, f INTEGER);\n\
             -- @postgres\nTHIS IS NOT SQLITE;\n-- @both\n",
        )
        .unwrap();
        let tx = c.transaction().unwrap();
        tx.execute(
            "INSERT INTO t (name, v, b, f) VALUES ($1, $2, $3, $4)",
            params!["a", 1.5, vec![1u8, 2], true],
        )
        .unwrap();
        let id = tx.last_insert_rowid().unwrap();
        tx.commit().unwrap();
        let (name, v, b, f): (String, f64, Vec<u8>, bool) = c
            .query_row("SELECT name, v, b, f FROM t WHERE id = $1", [id], |r| {
                Ok((r.get(0)?, r.get("v")?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!((name.as_str(), v, b, f), ("a", 1.5, vec![1, 2], true));
        let none = c
            .query_row("SELECT name FROM t WHERE id = $1", [id + 1], |r| r.get::<_, String>(0))
            .optional()
            .unwrap();
        assert_eq!(none, None);
        let names: Vec<String> = c
            .prepare("SELECT name FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(names, ["a"]);
        let dup = c.execute("INSERT INTO t (id, name) VALUES ($1, 'x')", [id]).unwrap_err();
        assert!(dup.is_unique_violation(), "{dup}");
        {
            let tx = c.transaction().unwrap();
            tx.execute("DELETE FROM t", []).unwrap();
        }
        let n: i64 = c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1, "a dropped transaction rolls back");
    }
}
