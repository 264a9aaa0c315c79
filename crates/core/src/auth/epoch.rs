//! Reading the `auth_epoch` counter (migration 0002) cheaply on every cached
//! credential lookup.
//!
//! It has its own read-only connection so that the check never waits behind the
//! application database's mutex (the very queue the credential cache exists to
//! avoid). In WAL mode a read does not wait for writers; the connection has no
//! busy timeout, so in the rare case SQLite answers "busy" the check fails and
//! the caller asks the database as if nothing were cached (correct, only slower).
//!
//! On PostgreSQL there is no epoch: several nodes change credentials, and a
//! read of the counter would cost the same round trip as the lookup itself, so
//! every lookup asks the database ([`Epoch::current`] is always `None`).

use std::path::PathBuf;
use std::sync::Mutex;

use crate::sql::Connection;

pub(crate) struct Epoch {
    path: Option<PathBuf>,
    conn: Mutex<Option<Connection>>,
}

impl Epoch {
    pub fn new(path: Option<PathBuf>) -> Self {
        Epoch {
            path,
            conn: Mutex::new(None),
        }
    }

    /// The counter now, or `None` when it cannot be read (then trust no cache).
    pub fn current(&self) -> Option<i64> {
        self.path.as_ref()?;
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

    fn open(&self) -> crate::sql::Result<Connection> {
        let path = self.path.as_ref().ok_or(crate::sql::Error::NoRows)?;
        let c = Connection::from_sqlite(rusqlite::Connection::open(path)?);
        c.execute_batch("PRAGMA query_only=ON; PRAGMA busy_timeout=0;")?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_counter_and_sees_other_connections_bump_it() {
        let dir = std::env::temp_dir().join(format!("cunlink-epoch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cunlink.db");
        let db = crate::Db::open(&path).unwrap();
        db.migrate("core", crate::auth::MIGRATIONS).unwrap();
        let e = Epoch::new(Some(path.clone()));
        let before = e.current().unwrap();
        let started = std::time::Instant::now();
        for _ in 0..10_000 {
            assert_eq!(e.current(), Some(before));
        }
        let per_read = started.elapsed() / 10_000;
        // Another connection (another process, in real life) revokes a session.
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute_batch(
                "INSERT INTO users (username, password_hash, role, created_at) VALUES ('a', 'x', 'farmer', 0);
                 INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ('h', 1, 'c', 0, 1);
                 DELETE FROM sessions;",
            )
            .unwrap();
        assert_eq!(e.current(), Some(before + 1));
        eprintln!("auth epoch read: {per_read:?}");
        assert!(per_read < std::time::Duration::from_millis(1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
