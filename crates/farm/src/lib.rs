//! The farm domain: assets, devices and their telemetry.
//!
//! * [`ingest`]: ThingsBoard-compatible HTTP and MQTT device APIs, the gateway API
//!   and the ChirpStack integration — every path acks only after commit.
//! * [`telemetry`]: the durable store and its group-commit writer; committed
//!   readings are published on an in-process channel for alerts and live views.
//! * [`registry`]: devices by token, name and DevEUI, in memory.
//! * [`routes`]: the query and device management JSON API; [`params`] parses and
//!   bounds its query parameters in one place.
//! * [`scope`]: village boundaries — who sees which device and asset, where a new
//!   device goes.
//! * [`integrations`]: tokens of network servers (ChirpStack) allowed to post uplinks.
//! * `domain`: [`Farm`] as a [`cunlink_web::Domain`] (registration, routes,
//!   background work, shutdown), the shape every domain crate shares.
//! * [`error`]: farm's errors and their one mapping each to HTTP answers.

mod domain;
pub mod error;
pub mod export;
pub mod import;
pub mod ingest;
pub mod integrations;
pub mod model;
pub mod pages;
pub mod params;
pub mod profiles;
pub mod registry;
pub mod routes;
pub mod rpc;
pub mod scope;
pub mod store;
pub mod sync;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use cunlink_core::auth::AuthService;
use cunlink_core::{Config, Db};

pub use domain::FarmDeps;
pub use error::{FarmError, FarmStoreError};
use ingest::Ingest;
use registry::Registry;
use telemetry::Telemetry;

/// The farm domain, opened: what routes, the MQTT listener and other domains use.
pub struct Farm {
    pub db: Db,
    pub auth: AuthService,
    pub registry: Arc<Registry>,
    pub telemetry: Arc<Telemetry>,
    pub ingest: Arc<Ingest>,
    pub rpc: Arc<rpc::Rpc>,
    /// The MQTT port device pages tell users to connect to.
    pub mqtt_port: u16,
    /// The other nodes of the deployment (one node on SQLite).
    pub cluster: Arc<cunlink_core::cluster::Cluster>,
}

impl Farm {
    /// Apply the farm schema to `db`, load the device registry and open `telemetry.db`.
    pub fn open(config: &Config, deps: FarmDeps) -> Result<Arc<Farm>, FarmError> {
        let FarmDeps {
            db,
            auth,
            mqtt_port,
            cluster,
        } = deps;
        db.migrate("farm", store::MIGRATIONS)?;
        let registry = Arc::new(Registry::load(db.clone())?);
        let telemetry = Telemetry::open_for(&db, config)?;
        let rpc = rpc::Rpc::open(db.clone(), registry.clone(), &cluster)?;
        let ingest = Arc::new(Ingest {
            telemetry: telemetry.clone(),
            registry: registry.clone(),
            rpc: rpc.clone(),
            integrations: Arc::new(integrations::Integrations::new(db.clone())),
        });
        Ok(Arc::new(Farm {
            db,
            auth,
            registry,
            telemetry,
            ingest,
            rpc,
            mqtt_port,
            cluster,
        }))
    }

    /// Routes of the farm domain: device API (ingest) and the JSON API.
    pub fn routes(self: &Arc<Self>) -> cunlink_core::routes::Routes {
        ingest::http::routes(self.ingest.clone()).merge(routes::routes(self.clone()))
    }

    /// Background upkeep: pick up devices changed outside this process.
    pub fn spawn_background(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        self.rpc.spawn_expiry();
        self.rpc.spawn_relay(shutdown.clone());
        telemetry::fanout::spawn(self.telemetry.clone(), self.cluster.clone(), shutdown.clone());
        self.spawn_telemetry_maintenance(shutdown.clone());
        let farm = self.clone();
        // Several nodes: a device registered or changed on another node must be
        // known here within a second (its readings, commands and alerts); the
        // refresh reads only rows changed since the last one.
        let every = if self.cluster.is_shared() {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(30)
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = farm.registry.refresh().await {
                            tracing::warn!(error = %e, "device registry refresh failed");
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
        });
    }

    /// Telemetry upkeep (see [`telemetry::maint`]): a pass within
    /// `CHECK_EVERY` of chunks being sealed (so they are compacted while fresh),
    /// and at least every `MAINTENANCE_EVERY` (retention).
    fn spawn_telemetry_maintenance(
        self: &Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        const CHECK_EVERY: Duration = Duration::from_secs(5);
        const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);
        let farm = self.clone();
        tokio::spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            let mut tick = tokio::time::interval(CHECK_EVERY);
            let mut sealed_seen = u64::MAX;
            let mut last_pass = std::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                let sealed = farm.telemetry.store().stats.chunks_sealed.load(Relaxed);
                if sealed == sealed_seen && last_pass.elapsed() < MAINTENANCE_EVERY {
                    continue;
                }
                sealed_seen = sealed;
                last_pass = std::time::Instant::now();
                if let Err(e) = farm.maintain_telemetry().await {
                    tracing::warn!(error = %e, "telemetry maintenance pass failed; retried at the next one");
                }
            }
        });
    }

    /// One telemetry maintenance pass with the profiles' current retention.
    pub async fn maintain_telemetry(&self) -> Result<telemetry::maint::MaintReport, FarmError> {
        let policies = self.db.call(|c| store::retention_policies(c)).await?;
        let store = self.telemetry.store().clone();
        let report = tokio::task::spawn_blocking(move || {
            store.maintain(&policies, cunlink_core::time::now_ms())
        })
        .await
        .map_err(|e| FarmError::Internal(format!("telemetry maintenance task: {e}")))??;
        if report != telemetry::maint::MaintReport::default() {
            tracing::info!(?report, "telemetry maintenance pass");
        }
        Ok(report)
    }

    /// Device profiles: the keys each kind reports, its reporting interval.
    pub async fn profiles(&self) -> Result<Vec<model::Profile>, FarmError> {
        Ok(self.db.call(|c| store::profiles(c)).await?)
    }

    pub async fn assets(&self) -> Result<Vec<model::Asset>, FarmError> {
        Ok(self.db.call(|c| store::assets(c)).await?)
    }

    pub fn render_metrics(&self, out: &mut String) {
        self.telemetry.render_metrics(out);
        let _ = std::fmt::Write::write_fmt(
            out,
            format_args!(
                "# HELP cunlink_devices Registered devices.\n# TYPE cunlink_devices gauge\ncunlink_devices {}\n",
                self.registry.len()
            ),
        );
    }

    /// Commit what is queued and stop the telemetry writer.
    pub fn shutdown(&self) {
        self.telemetry.shutdown();
    }
}
