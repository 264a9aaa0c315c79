//! The application database (`cunlink.db`): one embedded SQLite file in WAL mode.
//!
//! Every acknowledged write must be on disk, so the file runs with
//! `synchronous=FULL`. Domains keep their SQL in their own `store` module and
//! reach SQLite through [`Db::call`], which runs the closure on the blocking pool
//! so the async runtime never waits on disk. Telemetry does *not* live here: it
//! has its own file and writer (see the `farm` crate) so that ingest never blocks
//! accounts, orders or alarms.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// A storage failure. These are operator problems (disk full, corrupt file), not
/// user mistakes, and map to HTTP 500.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("migration {domain}/{version} ({name}) failed: {source}")]
    Migration {
        domain: String,
        version: i64,
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("database task panicked or was cancelled")]
    Join,
}

/// One schema change of one domain, applied once, in version order.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Handle to the application database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl Db {
    /// Open (creating if needed) `path` with cunlink's pragmas.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DbError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = open_connection(path)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Apply `migrations` of `domain` that this file has not seen yet.
    pub fn migrate(&self, domain: &str, migrations: &[Migration]) -> Result<(), DbError> {
        self.call_blocking(|c| migrate(c, domain, migrations))
    }

    /// Run `f` with the connection on the blocking thread pool.
    pub async fn call<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.call_blocking(f))
            .await
            .map_err(|_| E::from(DbError::Join))?
    }

    /// Run `f` with the connection on this thread (CLI commands, start-up).
    pub fn call_blocking<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Connection) -> Result<R, E>,
    {
        // A panic inside a closure poisons the mutex; the connection itself is still
        // consistent (SQLite rolled back), so keep serving.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

/// Open a SQLite connection with the pragmas every cunlink file uses.
pub fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         PRAGMA busy_timeout=5000;",
    )?;
    Ok(conn)
}

/// Apply the not-yet-applied `migrations` of `domain`, each in its own transaction.
pub fn migrate(
    conn: &mut Connection,
    domain: &str,
    migrations: &[Migration],
) -> Result<(), DbError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             domain TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
             applied_at INTEGER NOT NULL, PRIMARY KEY (domain, version))",
    )?;
    for m in migrations {
        let done: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE domain = $1 AND version = $2)",
            rusqlite::params![domain, m.version],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        let fail = |source| DbError::Migration {
            domain: domain.to_string(),
            version: m.version,
            name: m.name,
            source,
        };
        let tx = conn.transaction()?;
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (domain, version, name, applied_at) VALUES ($1, $2, $3, $4)",
            rusqlite::params![domain, m.version, m.name, crate::time::now_ms()],
        )
        .map_err(fail)?;
        tx.commit()?;
        tracing::info!(
            domain,
            version = m.version,
            name = m.name,
            "applied migration"
        );
    }
    Ok(())
}
