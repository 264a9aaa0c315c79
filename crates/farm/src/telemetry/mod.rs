//! Telemetry: the durable store of readings and the queue in front of its writer.
//!
//! Producers (HTTP, MQTT, ChirpStack, the demo) call [`Telemetry::write`] or
//! [`Telemetry::enqueue`]; one writer thread group-commits (see [`writer`]); after
//! each commit the readings are published on [`Telemetry::subscribe`] for live
//! views and the alert engine.

pub mod codec;
pub mod compact;
pub mod fanout;
pub mod health;
pub mod maint;
pub mod metrics;
pub mod pg;
pub mod query;
pub mod rollup;
pub mod store;
pub mod uplink;
pub mod value;
pub mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

pub use health::{WriterHealth, WriterState};
pub use metrics::IngestMetrics;
pub use store::{Place, TelemetryStoreError, TsStore};
pub use value::{DeviceId, KeyId, Reading, Value};
pub use writer::{Attribute, CommitError, Committed};

/// What to do when the queue in front of the writer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Refuse at once (HTTP answers 503 + Retry-After).
    Reject,
    /// Wait for room (an MQTT connection stops reading its socket meanwhile).
    Wait,
}

/// Why a write was not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the ingest queue is full; retry shortly")]
    Overloaded,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// A pending acknowledgement: resolves once the job's transaction committed.
pub type Ack = oneshot::Receiver<Result<(), CommitError>>;

pub struct Telemetry {
    store: Arc<TsStore>,
    tx: mpsc::UnboundedSender<writer::Msg>,
    permits: Arc<Semaphore>,
    capacity: usize,
    bus: broadcast::Sender<Arc<Committed>>,
    pub metrics: Arc<IngestMetrics>,
    pub health: Arc<WriterHealth>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Exclusive lock on `telemetry.db.lock` while this process writes the store:
    /// the writer keeps series and buffers in memory, so a second writer (another
    /// server, `cunlink import` while the server runs) would corrupt them.
    lock: Mutex<Option<std::fs::File>>,
}

impl Telemetry {
    /// The store of a deployment: `telemetry.db` in the data directory on SQLite,
    /// the `telemetry` schema of the same database on PostgreSQL.
    pub fn open_for(
        db: &cunlink_core::Db,
        config: &cunlink_core::Config,
    ) -> Result<Arc<Telemetry>, TelemetryStoreError> {
        match db.database_url() {
            None => {
                // A village node keeps what it commits for the hub (`uplink`).
                let node = db.call_blocking(|c| {
                    cunlink_core::sync::node_self(c).map_err(cunlink_core::DbError::from)
                })?;
                Self::open_opts(
                    &Place::File(config.telemetry_db_path()),
                    &config.ingest,
                    node.is_some(),
                )
            }
            Some(url) => Self::open_at(
                &Place::Postgres {
                    url: url.to_string(),
                    writer: pg::writer_id(&config.data_dir),
                },
                &config.ingest,
            ),
        }
    }

    /// Open the store at `path`, replay its log and start the writer thread.
    pub fn open(
        path: &Path,
        cfg: &cunlink_core::config::IngestConfig,
    ) -> Result<Arc<Telemetry>, TelemetryStoreError> {
        Self::open_at(&Place::File(path.to_path_buf()), cfg)
    }

    /// Open the store at `place`, replay (this writer's part of) its log and start
    /// the writer thread.
    pub fn open_at(
        place: &Place,
        cfg: &cunlink_core::config::IngestConfig,
    ) -> Result<Arc<Telemetry>, TelemetryStoreError> {
        Self::open_opts(place, cfg, false)
    }

    fn open_opts(
        place: &Place,
        cfg: &cunlink_core::config::IngestConfig,
        uplink: bool,
    ) -> Result<Arc<Telemetry>, TelemetryStoreError> {
        // PostgreSQL: the writer's session advisory lock plays this part (`pg`).
        let lock = match place {
            Place::File(path) => Some(Self::lock_file(path)?),
            Place::Postgres { .. } => None,
        };
        let opened = TsStore::open_at(place)?;
        tracing::info!(
            place = ?place_label(place),
            series = opened.store.series_count(),
            log_rows = opened.log_rows,
            replayed_points = opened.replayed_points,
            "telemetry store open"
        );
        Self::start(opened, lock, cfg, uplink)
    }

    fn lock_file(path: &Path) -> Result<std::fs::File, TelemetryStoreError> {
        let lock_path = path.with_extension("db.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(TelemetryStoreError::Lock)?;
        if let Err(e) = lock.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => {
                    TelemetryStoreError::InUse(lock_path.display().to_string())
                }
                std::fs::TryLockError::Error(e) => TelemetryStoreError::Lock(e),
            });
        }
        Ok(lock)
    }

    fn start(
        opened: store::Opened,
        lock: Option<std::fs::File>,
        cfg: &cunlink_core::config::IngestConfig,
        uplink: bool,
    ) -> Result<Arc<Telemetry>, TelemetryStoreError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (bus, _) = broadcast::channel(1024);
        let metrics = Arc::new(IngestMetrics::default());
        let health = Arc::new(WriterHealth::default());
        let w = writer::Writer::new(
            opened.writer_conn,
            opened.store.clone(),
            rx,
            bus.clone(),
            metrics.clone(),
            health.clone(),
            writer::Knobs {
                max_batch_values: cfg.max_batch_values,
                checkpoint_every: std::time::Duration::from_secs(cfg.checkpoint_secs),
                give_up: std::time::Duration::from_secs(cfg.writer_give_up_secs),
                uplink,
            },
        );
        let thread_health = health.clone();
        let handle = std::thread::Builder::new()
            .name("telemetry-writer".into())
            .spawn(move || {
                // A panic must not end the thread silently: every later write would
                // get 503 while the process looks alive.
                let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run()));
                let reason = match ended {
                    Ok(Ok(())) => return,
                    Ok(Err(reason)) => reason,
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        format!("panicked: {what}")
                    }
                };
                tracing::error!(%reason, "telemetry writer stopped; no reading can be stored until cunlink restarts");
                thread_health.mark_down(reason);
            })
            .map_err(TelemetryStoreError::WriterThread)?;
        let capacity = cfg.queue_values.max(1);
        Ok(Arc::new(Telemetry {
            store: opened.store,
            tx,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            bus,
            metrics,
            health,
            writer: Mutex::new(Some(handle)),
            lock: Mutex::new(lock),
        }))
    }

    pub fn store(&self) -> &Arc<TsStore> {
        &self.store
    }

    /// Queue readings and attributes as one all-or-nothing job; the returned
    /// [`Ack`] resolves after they are committed.
    pub async fn enqueue(
        &self,
        readings: Vec<Reading>,
        attributes: Vec<Attribute>,
        admission: Admission,
    ) -> Result<Ack, WriteError> {
        let n = (readings.len() + attributes.len()).clamp(1, self.capacity) as u32;
        let permit = match admission {
            Admission::Reject => {
                self.permits
                    .clone()
                    .try_acquire_many_owned(n)
                    .map_err(|e| match e {
                        tokio::sync::TryAcquireError::NoPermits => WriteError::Overloaded,
                        tokio::sync::TryAcquireError::Closed => WriteError::ShuttingDown,
                    })?
            }
            Admission::Wait => self
                .permits
                .clone()
                .acquire_many_owned(n)
                .await
                .map_err(|_| WriteError::ShuttingDown)?,
        };
        let (ack_tx, ack_rx) = oneshot::channel();
        let job = writer::Job {
            readings,
            attributes,
            ack: Some(ack_tx),
            permit: Some(permit),
        };
        self.tx
            .send(writer::Msg::Job(job))
            .map_err(|_| WriteError::ShuttingDown)?;
        Ok(ack_rx)
    }

    /// Queue and wait for the commit.
    pub async fn write(
        &self,
        readings: Vec<Reading>,
        attributes: Vec<Attribute>,
        admission: Admission,
    ) -> Result<(), WriteError> {
        let ack = self.enqueue(readings, attributes, admission).await?;
        settle(ack).await
    }

    /// Committed readings, as they commit. A slow subscriber misses batches
    /// (`RecvError::Lagged`) rather than slowing ingest.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Committed>> {
        self.bus.subscribe()
    }

    /// Hand readings another node committed to this node's listeners (SSE,
    /// the alert engine), as if committed here.
    pub fn relay_remote(&self, c: Committed) {
        if self.bus.receiver_count() > 0 {
            let _ = self.bus.send(Arc::new(c));
        }
    }

    /// Values waiting for the writer.
    pub fn queued_values(&self) -> usize {
        self.capacity - self.permits.available_permits().min(self.capacity)
    }

    pub fn render_metrics(&self, out: &mut String) {
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics.queue_values.set(self.queued_values() as u64);
        self.metrics.render(out);
        let (up, failing) = match self.health.state() {
            WriterState::Ok => (1, 0),
            WriterState::Failing { .. } => (1, 1),
            WriterState::Down { .. } => (0, 1),
        };
        let _ = std::fmt::Write::write_fmt(
            out,
            format_args!(
                "# HELP cunlink_telemetry_writer_up 1 while the telemetry writer runs; 0 once it stopped (the process then exits).\n# TYPE cunlink_telemetry_writer_up gauge\ncunlink_telemetry_writer_up {up}\n\
                 # HELP cunlink_telemetry_writer_failing 1 while the latest telemetry commit failed.\n# TYPE cunlink_telemetry_writer_failing gauge\ncunlink_telemetry_writer_failing {failing}\n"
            ),
        );
        let st = &self.store.stats;
        let g = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = std::fmt::Write::write_fmt(
                out,
                format_args!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"),
            );
        };
        g(
            out,
            "cunlink_telemetry_series",
            "Series (device, key) known.",
            self.store.series_count() as u64,
        );
        g(
            out,
            "cunlink_telemetry_buffered_points",
            "Points not yet sealed into chunks.",
            self.store.buffered_points() as u64,
        );
        g(
            out,
            "cunlink_telemetry_chunks_sealed",
            "Chunks sealed since start.",
            st.chunks_sealed.load(Relaxed),
        );
        g(
            out,
            "cunlink_telemetry_points_sealed",
            "Points sealed into chunks since start.",
            st.points_sealed.load(Relaxed),
        );
        g(
            out,
            "cunlink_telemetry_chunk_bytes",
            "Bytes of chunks sealed since start.",
            st.chunk_bytes.load(Relaxed),
        );
        g(
            out,
            "cunlink_telemetry_log_bytes",
            "Bytes appended to the log since start.",
            st.log_bytes.load(Relaxed),
        );
    }

    /// Commit everything already queued, then stop the writer. Later writes fail
    /// with [`WriteError::ShuttingDown`].
    pub fn shutdown(&self) {
        let _ = self.tx.send(writer::Msg::Shutdown);
        self.permits.close();
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        // Closing the file releases the lock: the store may now be opened again.
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Where the store is, for the log (never the PostgreSQL URL: it may hold a password).
fn place_label(place: &Place) -> String {
    match place {
        Place::File(p) => p.display().to_string(),
        Place::Postgres { writer, .. } => format!("postgresql schema telemetry, writer {writer}"),
    }
}

/// Wait for an [`Ack`].
pub async fn settle(ack: Ack) -> Result<(), WriteError> {
    match ack.await {
        Ok(r) => r.map_err(WriteError::from),
        // The writer dropped the job without answering: it stopped.
        Err(_) => Err(WriteError::ShuttingDown),
    }
}
