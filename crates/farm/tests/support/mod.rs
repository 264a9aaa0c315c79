//! What the telemetry store's tests share: a temp directory that removes
//! itself, the store opened in it, and a runtime to wait for acks on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cunlink_core::config::IngestConfig;
use cunlink_farm::telemetry::{Place, Telemetry};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut raw = [0u8; 8];
        cunlink_core::random::fill(&mut raw);
        let dir = std::env::temp_dir().join(format!(
            "cunlink-telemetry-{tag}-{}-{:x}",
            std::process::id(),
            u64::from_le_bytes(raw)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("telemetry.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // The PostgreSQL database of this directory's store (see `place`) goes too:
        // a shared test server must not fill the disk run after run.
        if let (Ok(base), Some(name)) = (
            std::env::var("CUNLINK_TEST_DATABASE_URL"),
            database_name(&self.db()),
        ) && let Ok(admin) = cunlink_core::sql::Connection::connect_postgres(&base)
        {
            let _ = admin.execute_batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The PostgreSQL database name of the store at `path`.
fn database_name(path: &Path) -> Option<String> {
    use std::hash::{Hash, Hasher};
    std::env::var_os("CUNLINK_TEST_DATABASE_URL")?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    Some(format!("ts_{:016x}", h.finish()))
}

/// Where the store of `path` lives: the file, or with CUNLINK_TEST_DATABASE_URL
/// set, a PostgreSQL database of its own (named after `path`), so that these
/// tests run on both backends.
pub fn place(path: &Path) -> Place {
    let (Ok(base), Some(name)) = (
        std::env::var("CUNLINK_TEST_DATABASE_URL"),
        database_name(path),
    ) else {
        return Place::File(path.to_path_buf());
    };
    let admin = cunlink_core::sql::Connection::connect_postgres(&base)
        .unwrap_or_else(|e| panic!("CUNLINK_TEST_DATABASE_URL {base}: {e}"));
    if let Err(e) = admin.execute_batch(&format!("CREATE DATABASE {name}")) {
        assert!(
            e.to_string().contains("already exists"),
            "creating {name}: {e}"
        );
    }
    let (head, _) = base.rsplit_once('/').expect("a URL ending in /DATABASE");
    Place::Postgres {
        url: format!("{head}/{name}"),
        writer: "test".into(),
    }
}

pub fn open(path: &Path) -> Arc<Telemetry> {
    Telemetry::open_at(&place(path), &IngestConfig::default()).expect("open telemetry store")
}

/// A connection to the store of `path` (either backend), for looking inside.
#[allow(dead_code)] // not every test file looks inside
pub fn conn(path: &Path) -> cunlink_core::sql::Connection {
    place(path)
        .connect()
        .expect("connect to the telemetry store")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
