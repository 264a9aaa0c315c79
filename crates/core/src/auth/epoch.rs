//! Reading the `auth_epoch` counter (migration 0002) cheaply on every cached
//! credential lookup.
//!
//! It has its own read-only connection so that the check never waits behind the
//! application database's mutex (the very queue the credential cache exists to
//! avoid). In WAL mode a read does not wait for writers; the connection has no
//! busy timeout, so in the rare case SQLite answers "busy" the check fails and
//! the caller asks the database as if nothing were cached (correct, only slower).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

pub(crate) struct Epoch {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl Epoch {
    pub fn new(path: PathBuf) -> Self {
        Epoch {
            path,
            conn: Mutex::new(None),
        }
    }

    /// The counter now, or `None` when it cannot be read (then trust no cache).
    pub fn current(&self) -> Option<i64> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = self.open().ok();
        }
        let conn = slot.as_ref()?;
        let read = conn
            .prepare_cached("SELECT value FROM auth_epoch WHERE id = 1")
            .and_then(|mut st| st.query_row([], |r| r.get(0)));
        match read {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "auth epoch unreadable; credential cache bypassed");
                // Reopen next time (the file may have been replaced or migrated).
                *slot = None;
                None
            }
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open(&self.path)?;
        c.execute_batch("PRAGMA query_only=ON; PRAGMA busy_timeout=0;")?;
        Ok(c)
    }
}
