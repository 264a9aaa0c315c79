//! What the telemetry store's tests share: a temp directory that removes
//! itself, the store opened in it, and a runtime to wait for acks on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cunlink_core::config::IngestConfig;
use cunlink_farm::telemetry::Telemetry;

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
    }
}

pub fn open(path: &Path) -> Arc<Telemetry> {
    Telemetry::open(path, &IngestConfig::default()).expect("open telemetry store")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
