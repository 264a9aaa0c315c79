//! The application database: an embedded SQLite file (`cunlink.db`, WAL mode)
//! by default, or PostgreSQL when a `database_url` is configured.
//!
//! Every acknowledged write must be on disk, so SQLite runs with
//! `synchronous=FULL` and PostgreSQL with its default `synchronous_commit=on`.
//! Domains keep their SQL in their own `store` module and reach the database
//! through [`Db::call`], which runs the closure on the blocking pool so the async
//! runtime never waits on disk or network. The closure gets a
//! [`crate::sql::Connection`] whichever backend is underneath: SQLite's one
//! connection behind a mutex, or one from a pool of PostgreSQL connections.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::sql::{self, Backend, Connection};

/// A storage failure. These are operator problems (disk full, corrupt file,
/// database down), not user mistakes: HTTP 500, or 503 while the database is
/// unreachable.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sql(#[from] sql::Error),
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
        source: sql::Error,
    },
    #[error("database task panicked or was cancelled")]
    Join,
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::Sql(e.into())
    }
}

/// So that closures speaking plain SQL errors can run through [`Db::call`].
impl From<DbError> for sql::Error {
    fn from(e: DbError) -> sql::Error {
        match e {
            DbError::Sql(e) => e,
            other => sql::Error::Other(other.to_string()),
        }
    }
}

impl DbError {
    /// The database could not be reached: answer 503, never a false ack.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Sql(e) if e.is_unavailable())
    }
}

/// One schema change of one domain, applied once, in version order. The SQL is
/// SQLite's dialect, rewritten for PostgreSQL by [`sql::translate`]; lines under
/// `-- @postgres` / `-- @sqlite` markers run on that backend only.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Pool figures for `/metrics` and health.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PoolStats {
    pub size: usize,
    pub idle: usize,
    pub in_use: usize,
    pub waiting: usize,
    pub opened_total: u64,
    pub failed_total: u64,
}

struct PgPool {
    url: String,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    open: usize,
    waiting: usize,
    opened_total: u64,
    failed_total: u64,
}

/// How long a caller waits for a free PostgreSQL connection before the request
/// is answered 503.
const CHECKOUT_WAIT: Duration = Duration::from_secs(5);

enum Inner {
    Sqlite { conn: Mutex<Connection>, path: PathBuf },
    Pg(PgPool),
}

/// Handle to the application database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    /// Where domains keep files beside the database (photos, lesson content).
    files: Arc<PathBuf>,
}

impl Db {
    /// Open (creating if needed) the SQLite file at `path` with cunlink's pragmas.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DbError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = open_connection(path)?;
        Ok(Db {
            inner: Arc::new(Inner::Sqlite {
                conn: Mutex::new(Connection::from_sqlite(conn)),
                path: path.to_path_buf(),
            }),
            files: Arc::new(path.parent().unwrap_or(Path::new(".")).to_path_buf()),
        })
    }

    /// Connect to PostgreSQL at `url` with up to `pool_size` connections. One is
    /// opened now, so a wrong URL fails at start-up rather than at first use.
    ///
    /// Files (photos, lesson content) go under `files_dir`; several nodes of one
    /// deployment share it (see docs/scale.md).
    pub fn connect(url: &str, pool_size: usize, files_dir: &Path) -> Result<Db, DbError> {
        let first = Connection::connect_postgres(url)?;
        let pool = PgPool {
            url: url.to_string(),
            max: pool_size.max(1),
            state: Mutex::new(PoolState {
                idle: vec![first],
                open: 1,
                opened_total: 1,
                ..PoolState::default()
            }),
            freed: Condvar::new(),
        };
        Ok(Db {
            inner: Arc::new(Inner::Pg(pool)),
            files: Arc::new(files_dir.to_path_buf()),
        })
    }

    /// The application database `config` names: PostgreSQL at its
    /// `database_url`, else `cunlink.db` in its data directory.
    pub fn from_config(config: &crate::Config) -> Result<Db, DbError> {
        match &config.database_url {
            Some(url) => Db::connect(url, config.database_pool, &config.data_dir),
            None => Db::open(&config.app_db_path()),
        }
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Pg(_) => Backend::Postgres,
        }
    }

    /// The folder for files kept beside the database: the data directory.
    pub fn files_dir(&self) -> &Path {
        &self.files
    }

    /// The SQLite file, or `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &*self.inner {
            Inner::Sqlite { path, .. } => Some(path),
            Inner::Pg(_) => None,
        }
    }

    /// The PostgreSQL URL, or `None` on SQLite.
    pub fn database_url(&self) -> Option<&str> {
        match &*self.inner {
            Inner::Sqlite { .. } => None,
            Inner::Pg(p) => Some(&p.url),
        }
    }

    /// A new connection of the same database outside the pool (for a writer
    /// thread that keeps its own, like telemetry's).
    pub fn open_dedicated(&self) -> Result<Connection, DbError> {
        match &*self.inner {
            Inner::Sqlite { path, .. } => Ok(Connection::from_sqlite(open_connection(path)?)),
            Inner::Pg(p) => Ok(Connection::connect_postgres(&p.url)?),
        }
    }

    pub fn pool_stats(&self) -> PoolStats {
        match &*self.inner {
            Inner::Sqlite { .. } => PoolStats {
                size: 1,
                ..PoolStats::default()
            },
            Inner::Pg(p) => {
                let s = p.state.lock().unwrap_or_else(|e| e.into_inner());
                PoolStats {
                    size: p.max,
                    idle: s.idle.len(),
                    in_use: s.open - s.idle.len(),
                    waiting: s.waiting,
                    opened_total: s.opened_total,
                    failed_total: s.failed_total,
                }
            }
        }
    }

    /// Apply `migrations` of `domain` that this database has not seen yet.
    pub fn migrate(&self, domain: &str, migrations: &[Migration]) -> Result<(), DbError> {
        self.call_blocking(|c| migrate(c, domain, migrations))
    }

    /// Run `f` with a connection on the blocking thread pool.
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

    /// Run `f` with a connection on this thread (CLI commands, start-up, and
    /// code already on the blocking pool).
    pub fn call_blocking<F, R, E>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Connection) -> Result<R, E>,
        E: From<DbError>,
    {
        match &*self.inner {
            Inner::Sqlite { conn, .. } => {
                // A panic inside a closure poisons the mutex; the connection itself
                // is still consistent (SQLite rolled back), so keep serving.
                let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut guard)
            }
            Inner::Pg(pool) => {
                let mut lent = Lent {
                    pool,
                    conn: Some(pool.checkout().map_err(E::from)?),
                };
                let conn = lent.conn.as_mut().ok_or_else(|| E::from(DbError::Join))?;
                f(conn)
            }
        }
    }
}

/// A connection lent by the pool; it goes back even when the closure panics
/// (an open transaction was rolled back by its own drop on the way out), so a
/// panic never shrinks the pool for good.
struct Lent<'a> {
    pool: &'a PgPool,
    conn: Option<Connection>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.pool.checkin(c);
        }
    }
}

impl PgPool {
    fn checkout(&self) -> Result<Connection, DbError> {
        let deadline = Instant::now() + CHECKOUT_WAIT;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while let Some(c) = s.idle.pop() {
                if !c.is_broken() {
                    return Ok(c);
                }
                s.open -= 1;
            }
            if s.open < self.max {
                s.open += 1;
                drop(s);
                return match Connection::connect_postgres(&self.url) {
                    Ok(c) => {
                        self.state.lock().unwrap_or_else(|e| e.into_inner()).opened_total += 1;
                        Ok(c)
                    }
                    Err(e) => {
                        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                        s.open -= 1;
                        s.failed_total += 1;
                        self.freed.notify_one();
                        Err(e.into())
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DbError::Sql(sql::Error::Unavailable(format!(
                    "all {} database connections busy for {}s",
                    self.max,
                    CHECKOUT_WAIT.as_secs()
                ))));
            }
            s.waiting += 1;
            let (g, _) = self
                .freed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner());
            s = g;
            s.waiting -= 1;
        }
    }

    fn checkin(&self, c: Connection) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if c.is_broken() {
            s.open -= 1;
        } else {
            s.idle.push(c);
        }
        self.freed.notify_one();
    }
}

/// Open a SQLite connection with the pragmas every cunlink file uses.
pub fn open_connection(path: &Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=FULL;
         PRAGMA foreign_keys=ON;
         PRAGMA busy_timeout=5000;",
    )?;
    Ok(conn)
}

/// Apply the not-yet-applied `migrations` of `domain`, each in its own transaction.
///
/// On PostgreSQL several nodes may start at once: the deployment-wide write lock
/// every transaction takes makes them apply each migration once, in turn.
pub fn migrate(
    conn: &mut Connection,
    domain: &str,
    migrations: &[Migration],
) -> Result<(), DbError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             domain TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
             applied_at INTEGER NOT NULL, PRIMARY KEY (domain, version))",
    )
    .or_else(|e| {
        // Two nodes creating the table at the same moment: one wins, the other
        // sees a duplicate and carries on.
        if e.is_unique_violation() { Ok(()) } else { Err(e) }
    })?;
    for m in migrations {
        let fail = |source| DbError::Migration {
            domain: domain.to_string(),
            version: m.version,
            name: m.name,
            source,
        };
        let tx = conn.transaction_with_behavior(sql::TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE domain = $1 AND version = $2)",
            sql::params![domain, m.version],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_migrations (domain, version, name, applied_at) VALUES ($1, $2, $3, $4)",
            sql::params![domain, m.version, m.name, crate::time::now_ms()],
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
