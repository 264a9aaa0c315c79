//! The order writer: one thread, one connection, the only path that takes stock.
//!
//! Invariant: **answered ⇒ committed.** Requests that queue while a commit is in
//! flight share the next transaction, so one fsync covers many orders. Inside it
//! each order runs in its own SAVEPOINT: its stock checks and decrements, its rows
//! and its idempotency record apply together or not at all, and a refused order
//! (out of stock, unknown product) leaves no trace while its neighbours commit.
//! Stock is taken with `UPDATE … WHERE stock >= n`, and only this thread takes
//! it, so no interleaving can oversell.
//!
//! An order of one line needs no SAVEPOINT: everything before its stock update
//! only reads, the update is its own check (0 rows = refused, nothing written),
//! and what follows fails only with the storage, which fails the whole batch.
//! Skipping it saves a statement journal copy of every page the order touches.
//!
//! The connection runs with the query planner stability guarantee (QPSG): without
//! it SQLite marks `col = ?` terms of joins as plan-dependent on the bound value,
//! and rusqlite's statement cache clears bindings on every reuse, so each cached
//! join statement was parsed and planned again for every order.

use std::collections::HashSet;
use std::time::Instant;

use cunlink_core::random::Pool;

use cunlink_core::sql::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::place::{self, Effects, OrderRequest};
use crate::error::MarketError;
use crate::idem::Answer;
use crate::live::StockChange;
use crate::metrics::MarketMetrics;
use crate::prices::Observation;

/// Most orders per transaction; bounds latency under extreme bursts.
const MAX_BATCH: usize = 1024;

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
            c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
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
                self.commit(jobs);
            }
        }
        tracing::info!("market order writer stopped");
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        let n = jobs.len();
        let mut results: Vec<Result<Answer, MarketError>> = Vec::with_capacity(n);
        let mut effects = Effects::default();
        let outcome = (|| -> Result<(), MarketError> {
            let tx = self
                .conn
                .transaction_with_behavior(cunlink_core::sql::TransactionBehavior::Immediate)?;
            for job in &jobs {
                let guarded = job.req.items.len() > 1;
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
