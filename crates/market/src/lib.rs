//! The market domain: producers and products, village service stations, orders
//! (with assisted ordering and honest payment state), last-mile parcels with
//! pickup codes, the price board, live sales and traceability pages.
//!
//! Orders take stock through one group-commit writer thread ([`orders::writer`]);
//! everything else runs on the application database through [`cunlink_core::Db`].

pub mod access;
pub mod allocations;
pub mod catalog;
pub mod dates;
mod domain;
pub mod error;
pub mod idem;
pub mod input;
pub mod live;
pub mod metrics;
pub mod orders;
pub mod pages;
pub mod parcels;
pub mod photos;
pub mod pickups;
pub mod prices;
pub mod query;
pub mod routes;
pub mod store;
pub mod sync;
pub mod trace;
pub mod trace_read;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use cunlink_core::auth::AuthService;
use cunlink_core::{Db, Migration};
use cunlink_farm::Farm;

pub use domain::MarketDeps;
pub use error::MarketError;
use idem::Answer;
use orders::place::OrderRequest;
use orders::writer::{Job, Msg, Writer};
use prices::{Observation, PriceBoard};

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "market",
        sql: include_str!("../migrations/sqlite/0001_market.sql"),
    },
    Migration {
        version: 2,
        name: "photos",
        sql: include_str!("../migrations/sqlite/0002_photos.sql"),
    },
    Migration {
        version: 3,
        name: "parcel_code_notes",
        sql: include_str!("../migrations/sqlite/0003_parcel_code_notes.sql"),
    },
    Migration {
        version: 4,
        name: "node_sync",
        sql: include_str!("../migrations/sqlite/0004_node_sync.sql"),
    },
    Migration {
        version: 5,
        name: "node_parcels_pickups",
        sql: include_str!("../migrations/sqlite/0005_node_parcels_pickups.sql"),
    },
];

/// Settings the binary may change.
#[derive(Debug, Clone)]
pub struct MarketConfig {
    /// Parcels waiting at a station longer than this raise a reminder.
    pub reminder_days: i64,
    /// How often the background check looks for them.
    pub reminder_every: Duration,
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig::with_reminder_days(
            cunlink_core::MarketSettings::default().parcel_reminder_days,
        )
    }
}

impl MarketConfig {
    /// `days` from the configuration (`CUNLINK_PARCEL_REMINDER_DAYS`).
    pub fn with_reminder_days(days: i64) -> Self {
        MarketConfig {
            // Within what a client may ask for, so the configured value is never refused.
            reminder_days: days.clamp(0, parcels::MAX_REMINDER_DAYS),
            reminder_every: Duration::from_secs(3600),
        }
    }
}

pub struct Market {
    pub db: Db,
    pub auth: AuthService,
    pub farm: Arc<Farm>,
    pub prices: Arc<PriceBoard>,
    pub live: broadcast::Sender<live::StockChange>,
    pub metrics: Arc<metrics::MarketMetrics>,
    pub config: MarketConfig,
    /// Bounded, cached telemetry reads of the public trace pages.
    pub trace_reads: trace_read::TraceReads,
    orders: mpsc::UnboundedSender<Msg>,
    observations: Mutex<Option<mpsc::UnboundedReceiver<Observation>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Market {
    /// Apply the schema, load the price board and start the order writer, with
    /// the market settings of `config`.
    pub fn open(
        config: &cunlink_core::Config,
        deps: MarketDeps,
    ) -> Result<Arc<Market>, MarketError> {
        Market::open_with(
            MarketConfig::with_reminder_days(config.market.parcel_reminder_days),
            deps,
        )
    }

    /// [`Market::open`] with settings given directly (tests shorten the reminder period).
    pub fn open_with(config: MarketConfig, deps: MarketDeps) -> Result<Arc<Market>, MarketError> {
        let MarketDeps { db, auth, farm } = deps;
        db.migrate("market", MIGRATIONS)?;
        let prices = Arc::new(db.call_blocking(|c| PriceBoard::load(c))?);
        let conn = db.open_dedicated()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (obs_tx, obs_rx) = mpsc::unbounded_channel();
        let (live, _) = broadcast::channel(4096);
        let metrics = Arc::new(metrics::MarketMetrics::default());
        let mut w = Writer::new(conn, rx, live.clone(), obs_tx, metrics.clone())?;
        w.reopen = Some(db.clone());
        let handle = std::thread::Builder::new()
            .name("market-writer".into())
            .spawn(move || w.run())
            .map_err(|e| MarketError::Storage(format!("starting the order writer: {e}")))?;
        Ok(Arc::new(Market {
            db,
            auth,
            farm,
            prices,
            live,
            metrics,
            config,
            trace_reads: trace_read::TraceReads::default(),
            orders: tx,
            observations: Mutex::new(Some(obs_rx)),
            writer: Mutex::new(Some(handle)),
        }))
    }

    /// Queue an order for the writer; resolves once it is committed or refused.
    pub async fn place(
        &self,
        user_id: i64,
        key: Option<String>,
        hash: String,
        req: OrderRequest,
    ) -> Result<Answer, MarketError> {
        let (reply, rx) = oneshot::channel();
        self.orders
            .send(Msg::Job(Box::new(Job {
                user_id,
                key,
                hash,
                req,
                reply,
            })))
            .map_err(|_| MarketError::WriterGone)?;
        rx.await.map_err(|_| MarketError::WriterGone)?
    }

    /// Photo files: `photos/` beside the application database.
    pub fn photo_dir(&self) -> std::path::PathBuf {
        self.db.files_dir().join("photos")
    }

    pub fn routes(self: &Arc<Self>) -> cunlink_core::routes::Routes {
        routes::routes(self.clone())
    }

    /// Background work: prices derived from orders, and parcel reminders.
    pub fn spawn_background(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let rx = self
            .observations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut rx) = rx {
            let m = self.clone();
            tokio::spawn(async move {
                while let Some(o) = rx.recv().await {
                    if let Err(e) = m.observe(o).await {
                        tracing::warn!(error = %e, "recording an order price failed");
                    }
                }
            });
        }
        let m = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(m.config.reminder_every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let days = m.config.reminder_days;
                        match m.db.call(move |c| parcels::record_reminders(c, days)).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(parcels = n, days, "parcel pickup reminders recorded"),
                            Err(e) => tracing::warn!(error = %e, "parcel reminder check failed"),
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
        });
    }

    /// An order's price becomes the day's price at the producer's village market,
    /// unless the board shows that price already.
    async fn observe(&self, o: Observation) -> Result<(), MarketError> {
        let village = o.village_id;
        let market: Option<String> = self
            .db
            .call(move |c| cunlink_core::auth::village_name(c, village).map_err(MarketError::from))
            .await?;
        let Some(market) = market else { return Ok(()) };
        if self.prices.shows(&o.commodity, &market, o.price_fen) {
            return Ok(());
        }
        let applied = self
            .db
            .call(move |c| {
                let tx = c.transaction()?;
                let a = prices::record(
                    &tx,
                    &prices::Report {
                        commodity: &o.commodity,
                        market: &market,
                        price_fen: o.price_fen,
                        unit: &o.unit,
                        day: prices::today(),
                        source: "order",
                        reporter: None,
                    },
                )?;
                tx.commit()?;
                Ok::<_, MarketError>(a)
            })
            .await?;
        applied.to_board(&self.prices);
        Ok(())
    }

    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
    }

    /// Commit what is queued and stop the order writer.
    pub fn shutdown(&self) {
        let _ = self.orders.send(Msg::Shutdown);
        if let Some(h) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }
}
