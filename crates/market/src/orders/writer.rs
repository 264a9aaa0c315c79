//! The order writer: one thread, one connection, the only path that takes stock.
//!
//! Invariant: **answered ⇒ committed.** Requests that queue while a commit is in
//! flight share the next transaction, so one fsync covers many orders. Inside it
//! each order runs in its own SAVEPOINT: its stock checks and decrements, its rows
//! and its idempotency record apply together or not at all, and a refused order
//! (out of stock, unknown product) leaves no trace while its neighbours commit.
//! Stock is taken with `UPDATE … WHERE stock >= n`, so no interleaving can
//! oversell: on SQLite only this thread takes it; on PostgreSQL the writers of
//! several nodes run side by side under READ COMMITTED, where such an UPDATE
//! waits for a concurrent one on the same row and evaluates its condition
//! again on the committed stock. Batches that deadlock with another node's
//! (rows taken in the other order) are rolled back by PostgreSQL and run again.
//!
//! On SQLite an order of one line needs no SAVEPOINT: everything before its stock update
//! only reads, the update is its own check (0 rows = refused, nothing written),
//! and what follows fails only with the storage, which fails the whole batch.
//! Skipping it saves a statement journal copy of every page the order touches.
//!
//! The connection runs with the query planner stability guarantee (QPSG): without
//! it SQLite marks `col = ?` terms of joins as plan-dependent on the bound value,
//! and rusqlite's statement cache clears bindings on every reuse, so each cached
//! join statement was parsed and planned again for every order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cunlink_core::random::Pool;

use cunlink_core::sql::{Connection, TransactionBehavior};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::place::{self, Effects, OrderRequest};
use crate::error::MarketError;
use crate::idem::Answer;
use crate::live::StockChange;
use crate::metrics::MarketMetrics;
use crate::prices::Observation;

/// Most orders per transaction; bounds latency under extreme bursts.
const MAX_BATCH: usize = 1024;

/// Times a batch is run again after a deadlock or serialization failure
/// with another node's writer (PostgreSQL).
const MAX_RETRIES: u32 = 8;

type Attempt = (
    Result<(), MarketError>,
    Vec<Result<Answer, MarketError>>,
    Effects,
);

pub struct Job {
    pub user_id: i64,
    pub key: Option<String>,
    pub hash: String,
    pub req: OrderRequest,
    pub reply: oneshot::Sender<Result<Answer, MarketError>>,
}

pub enum Msg {
    Job(Box<Job>),
    Shutdown,
}

pub struct Writer {
    pub conn: Connection,
    pub rx: mpsc::UnboundedReceiver<Msg>,
    pub live: broadcast::Sender<StockChange>,
    pub prices: mpsc::UnboundedSender<Observation>,
    pub metrics: std::sync::Arc<MarketMetrics>,
    /// Trace codes: OS random bytes fetched in bulk, not a syscall per order.
    pub random: Pool,
    /// Where a new connection comes from when PostgreSQL dropped this one
    /// (a restart); `None`: keep the one we have (SQLite, tests).
    pub reopen: Option<cunlink_core::Db>,
}

impl Writer {
    pub fn new(
        conn: Connection,
        rx: mpsc::UnboundedReceiver<Msg>,
        live: broadcast::Sender<StockChange>,
        prices: mpsc::UnboundedSender<Observation>,
        metrics: std::sync::Arc<MarketMetrics>,
    ) -> Result<Writer, cunlink_core::sql::Error> {
        if let Some(c) = conn.as_sqlite() {
            c.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )?;
        }
        // Multi-line orders' savepoints keep their statement journal in memory.
        conn.execute_batch("PRAGMA temp_store=MEMORY")?;
        Ok(Writer {
            conn,
            rx,
            live,
            prices,
            metrics,
            random: Pool::default(),
            reopen: None,
        })
    }
}

impl Writer {
    pub fn run(mut self) {
        let mut stopping = false;
        while !stopping {
            let Some(first) = self.rx.blocking_recv() else {
                break;
            };
            let mut jobs = Vec::new();
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Job(j) => jobs.push(*j),
                    Msg::Shutdown => {
                        self.rx.close();
                        stopping = true;
                    }
                }
                if jobs.len() < MAX_BATCH {
                    next = self.rx.try_recv().ok();
                }
            }
            if !jobs.is_empty() {
                self.reconnect_if_broken();
                self.commit(jobs);
            }
        }
        tracing::info!("market order writer stopped");
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        let n = jobs.len();
        let mut attempt = 0u32;
        let (outcome, results, effects) = loop {
            let (outcome, results, effects) = self.try_commit(&jobs);
            // PostgreSQL: another node's batch took the same rows in the other
            // order (40P01, deadlock) or could not be serialized (40001). The
            // whole transaction was rolled back, so running it again is safe.
            let busy = matches!(
                &outcome,
                Err(MarketError::Db(cunlink_core::DbError::Sql(e))) if e.is_busy()
            );
            if busy && self.conn.is_postgres() && attempt < MAX_RETRIES {
                attempt += 1;
                tracing::warn!(
                    attempt,
                    orders = n,
                    "order batch conflicted with another node's; retrying"
                );
                self.metrics.retries.inc();
                // A little jitter so two nodes do not collide again in step.
                let jitter = u64::from(self.random.token(1).as_bytes()[0] % 8);
                std::thread::sleep(Duration::from_millis(jitter + 5 * u64::from(attempt)));
                continue;
            }
            break (outcome, results, effects);
        };
        match outcome {
            Ok(()) => {
                self.metrics.observe_commit(n, started.elapsed());
                for c in effects.stock {
                    let _ = self.live.send(c);
                }
                // A batch of orders for one product offers its price once.
                let mut offered = HashSet::new();
                for o in effects.prices {
                    if !offered.contains(&o) {
                        offered.insert(o.clone());
                        let _ = self.prices.send(o);
                    }
                }
                for (job, r) in jobs.into_iter().zip(results) {
                    if r.is_ok() {
                        self.metrics.orders.inc();
                    }
                    let _ = job.reply.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, orders = n, "order batch failed to commit");
                let msg = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(MarketError::Storage(msg.clone())));
                }
            }
        }
    }
}

impl Writer {
    /// A PostgreSQL restart closes this thread's connection for good; the
    /// batch that finds it closed gets a new one (or fails as storage if the
    /// database is still down, and the next batch tries again).
    fn reconnect_if_broken(&mut self) {
        let Some(db) = &self.reopen else { return };
        if !self.conn.is_broken() {
            return;
        }
        match db.open_dedicated() {
            Ok(c) => {
                tracing::info!("market order writer reconnected to the database");
                self.conn = c;
            }
            Err(e) => tracing::warn!(error = %e, "market order writer: database still unavailable"),
        }
    }

    /// One attempt at `jobs` in one transaction: its outcome, each order's
    /// answer, and what the committed orders change outside the database.
    fn try_commit(&mut self, jobs: &[Job]) -> Attempt {
        let mut results: Vec<Result<Answer, MarketError>> = Vec::with_capacity(jobs.len());
        let mut effects = Effects::default();
        // On PostgreSQL the writers of several nodes run side by side, without
        // the deployment-wide write lock: every statement of an order is a
        // conditional update, an insert or the idempotency claim, each safe on
        // its own under READ COMMITTED (see `place::apply`). A failed statement
        // aborts a PostgreSQL transaction, so there every order, one-line ones
        // too, runs in its own SAVEPOINT.
        let pg = self.conn.is_postgres();
        let behavior = if pg {
            TransactionBehavior::Concurrent
        } else {
            TransactionBehavior::Immediate
        };
        let outcome = (|| -> Result<(), MarketError> {
            let tx = self.conn.transaction_with_behavior(behavior)?;
            for job in jobs {
                let guarded = pg || job.req.items.len() > 1;
                if guarded {
                    tx.prepare_cached("SAVEPOINT o")?.execute([])?;
                }
                let mut fx = Effects::default();
                match place::apply(
                    &tx,
                    job.user_id,
                    job.key.as_deref(),
                    &job.hash,
                    &job.req,
                    &mut fx,
                    &mut self.random,
                ) {
                    Ok(a) => {
                        if guarded {
                            tx.prepare_cached("RELEASE o")?.execute([])?;
                        }
                        effects.absorb(fx);
                        results.push(Ok(a));
                    }
                    Err(e @ (MarketError::Db(_) | MarketError::Storage(_))) => return Err(e),
                    Err(e) => {
                        if guarded {
                            tx.prepare_cached("ROLLBACK TO o")?.execute([])?;
                            tx.prepare_cached("RELEASE o")?.execute([])?;
                        }
                        results.push(Err(e));
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })();
        (outcome, results, effects)
    }
}
